//! One case run's plumbing: a broker of its own, the client started against it, the events
//! watched until the case has seen enough, then the client stopped and the transcript kept.
//!
//! A case (1) [`Harness::start`]s with a [`Setup`], (2) steps through events until its
//! deciding moment, (3) [`Harness::finish`]es, which stops the client and shuts the broker
//! down so that the transcript is complete, and (4) judges the [`Finished`] transcript.
//!
//! A transcript with a gap (the harness's event subscriber fell behind the broker's bus and
//! lost events) is never judged: the case becomes an `Error`, the kit's failure, whatever
//! the case concluded on what it saw ([`Finished::into_result`]).

use super::{CaseContext, Timing};
use crate::child::{self, Client};
use crate::contract::{CaseEnv, Identity};
use crate::outcome::{CaseResult, CaseVerdict, ClientRun};
use mock_broker::auth::SignMethod;
use mock_broker::events::{ConnectSummary, StreamError};
use mock_broker::fault::{FaultSpec, Scope};
use mock_broker::tls::ServerCert;
use mock_broker::{Broker, CloseReason, ConnId, Event, EventKind, EventStream, Policy, Rule, Verdict};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};

/// How long events are still read after the client has exited: what the broker saw of its
/// last moments may arrive just after the exit.
const EXIT_DRAIN: Duration = Duration::from_millis(300);
/// How long the broker may take to answer a CONNECT it has received.
const CONNACK_WAIT: Duration = Duration::from_secs(5);
/// How long the last events may take to arrive once the broker has shut down.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);
/// The longest line of the client's output an explanation quotes.
const QUOTE_CHARS: usize = 200;

/// What a case run needs from its broker and hands its client.
pub struct Setup {
    pub identity: Identity,
    pub sign_method: SignMethod,
    /// The keepalive hint (`IOT_KEEPALIVE`).
    pub keepalive: u16,
    /// How long the client should stay connected (`IOT_STAY_SECONDS`, rounded up).
    pub stay: Duration,
    pub policy: Policy,
    /// A given certificate and the CA PEM the client trusts; `None` mints a good one.
    pub certificate: Option<(ServerCert, String)>,
    /// Faults armed on the client's device before the client starts.
    pub faults: Vec<FaultSpec>,
}

impl Setup {
    /// A fresh identity, the context's first sign method, the default keepalive hint, and a
    /// policy that judges `rules` strictly (see [`policy_judging`]).
    pub fn judging(ctx: &CaseContext, rules: &[Rule]) -> Setup {
        Setup {
            identity: Identity::random(),
            sign_method: ctx.sign_method(),
            keepalive: super::KEEPALIVE_HINT,
            stay: ctx.timing.connect + ctx.timing.settle,
            policy: policy_judging(rules),
            certificate: None,
            faults: Vec::new(),
        }
    }
}

/// The platform's default policy, with the limits of rules *other* than `rules` opened up
/// where the policy allows it (the keepalive range, the clientId length), so that breaking
/// one of those does not refuse the CONNECT before the case's own rules are checked.
pub fn policy_judging(rules: &[Rule]) -> Policy {
    let mut policy = Policy::default();
    if !rules.contains(&Rule::AKeepalive) {
        // 0 stays refused: it turns keepalive off, and a session without one is never cut.
        policy.keepalive_range = (1, u16::MAX);
    }
    if !rules.contains(&Rule::ACidLen) {
        // As long as an MQTT string allows: no clientId can break it.
        policy.client_id_max_chars = usize::from(u16::MAX);
    }
    policy
}

/// Arms `spec` on `broker`, a fault for every connection narrowed to the device of
/// `identity` (the case's client); an error is the kit's failure, as a sentence.
async fn arm_on(broker: &Broker, identity: &Identity, spec: FaultSpec) -> Result<(), String> {
    let spec = match spec.scope {
        Scope::All => spec.device(&identity.product_key, &identity.device_name),
        _ => spec,
    };
    broker.arm(spec).await.map(drop).map_err(|e| format!("arming a fault: {e}"))
}

/// What one step of watching produced.
pub enum Step {
    Event(Arc<Event>),
    /// The client exited; events are still read for a moment after.
    Exited,
    /// The deadline passed (or, after an exit, the moment of events after it).
    Deadline,
}

/// The client's first CONNECT and how the broker answered it.
pub struct FirstConnect {
    pub conn: ConnId,
    pub connect: ConnectSummary,
    /// `None` when the broker did not answer in time.
    pub end: Option<ConnectEnd>,
}

/// The broker's answer to a CONNECT.
pub enum ConnectEnd {
    /// CONNACK 0: the device is online.
    Online,
    /// The connection closed without going online (a refusal, mostly).
    Closed(CloseReason),
}

/// A running case: its broker, its client, the events so far.
pub struct Harness {
    broker: Broker,
    events: EventStream,
    transcript: Vec<Arc<Event>>,
    client: Client,
    /// A second instance of the client with the same identity (the kick-war case).
    twin: Option<Client>,
    /// Where the snapshot's part of the transcript ends, when a case says so before its end.
    pinned: Option<usize>,
    exited: Option<Instant>,
    env: CaseEnv,
    spawned: Instant,
    timing: Timing,
    connect_delay: Option<Duration>,
    lost_events: u64,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// Starts the broker and the client. An error is the kit's failure, as a sentence.
    pub async fn start(ctx: &CaseContext, setup: Setup) -> Result<Harness, String> {
        let Setup { identity, sign_method, keepalive, stay, policy, certificate, faults } = setup;
        let transport = ctx.transport;
        let mut builder = Broker::builder()
            .device(&identity.product_key, &identity.device_name, identity.secret.clone())
            .transports(&[transport])
            .policy(Policy { reveal_signatures: ctx.reveal_signatures, ..policy });
        if let Some((cert, ca_pem)) = certificate {
            builder = builder.certificate(cert, ca_pem);
        }
        let broker = builder.start().await.map_err(|e| format!("starting the mock broker: {e}"))?;
        let dir = tempfile::Builder::new()
            .prefix("conformance-")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?;
        let ca_file = match broker.ca_pem() {
            Some(pem) if transport.is_tls() => {
                let path = dir.path().join("ca.pem");
                std::fs::write(&path, pem).map_err(|e| format!("writing {}: {e}", path.display()))?;
                Some(path)
            }
            _ => None,
        };
        let url = broker.url(transport).ok_or_else(|| format!("the broker serves no {transport} listener"))?;
        let env = CaseEnv {
            url,
            transport,
            identity,
            sign_method,
            keepalive,
            ca_file,
            stay_seconds: stay.as_secs() + u64::from(stay.subsec_nanos() > 0),
        };
        let events = broker.events();
        for spec in faults {
            arm_on(&broker, &env.identity, spec).await?;
        }
        let client = child::spawn(&ctx.client, &env).map_err(|e| e.to_string())?;
        Ok(Harness {
            broker,
            events,
            transcript: Vec::new(),
            client,
            twin: None,
            pinned: None,
            exited: None,
            env,
            spawned: Instant::now(),
            timing: ctx.timing,
            connect_delay: None,
            lost_events: 0,
            _dir: dir,
        })
    }

    /// Starts the case ([`Harness::start`]) and waits until the client is online after its
    /// first CONNECT. `Err` is the case's whole result when it cannot get there: the kit failed
    /// to start (error), the client sent no CONNECT ([`Finished::without_connect`]), the broker
    /// did not answer (error), or the first CONNECT did not go online (not run, naming the rule
    /// that refused it, so `purpose` could not be judged; the measures `also` are kept).
    pub async fn start_online(
        ctx: &CaseContext,
        setup: Setup,
        purpose: &str,
        also: impl FnOnce(&FirstConnect) -> Vec<(&'static str, Value)>,
    ) -> Result<(Harness, FirstConnect), CaseResult> {
        let mut harness = Harness::start(ctx, setup).await.map_err(CaseResult::error)?;
        let Some(first) = harness.first_connect().await else {
            let finished = harness.finish().await;
            let conclusion = finished.without_connect();
            return Err(finished.into_result(conclusion));
        };
        let why = match &first.end {
            Some(ConnectEnd::Online) => return Ok((harness, first)),
            Some(ConnectEnd::Closed(CloseReason::Refused { code, rule })) => {
                format!("the broker refused the CONNECT at {rule} (CONNACK 0x{:02x})", code.as_u8())
            }
            Some(ConnectEnd::Closed(other)) => format!("the connection ended ({})", other.label()),
            None => {
                let finished = harness.finish().await;
                return Err(
                    finished.into_result(Conclusion::new(CaseVerdict::Error, "the broker did not answer the CONNECT"))
                );
            }
        };
        let measures = also(&first);
        let finished = harness.finish().await;
        let text = format!("not reached: {why} before the client went online, so {purpose}");
        let conclusion =
            measures.into_iter().fold(Conclusion::new(CaseVerdict::NotRun, text), |c, (k, v)| c.measure(k, v));
        Err(finished.into_result(conclusion))
    }

    /// Waits (up to `closed_within`) for connection `conn` to close, then (up to `patience`)
    /// for the client to come back online: the new connection's id, `None` if either wait ran
    /// out. The cases that end a connection on purpose and watch the next one use it.
    pub async fn next_online(&mut self, conn: ConnId, closed_within: Duration, patience: Duration) -> Option<ConnId> {
        let closed = |e: &Event| e.conn == conn && matches!(e.kind, EventKind::Closed { .. });
        self.until(Instant::now() + closed_within, closed).await?;
        let online = self.until(Instant::now() + patience, |e| matches!(e.kind, EventKind::Online { .. })).await?;
        Some(online.conn)
    }

    /// Starts a second instance of the client with the same identity and environment. What
    /// follows is a race between two processes, so the snapshot pins the transcript up to here.
    pub fn spawn_twin(&mut self, client: &crate::child::ClientCommand) -> Result<(), String> {
        self.pinned = Some(self.transcript.len());
        self.twin = Some(child::spawn(client, &self.env).map_err(|e| e.to_string())?);
        Ok(())
    }

    /// Arms `spec` on the client's device; an error is the kit's failure, as a sentence.
    pub async fn arm(&self, spec: FaultSpec) -> Result<(), String> {
        arm_on(&self.broker, &self.env.identity, spec).await
    }

    /// When the client was started.
    pub fn spawned(&self) -> Instant {
        self.spawned
    }

    /// The next event, the client's exit, or the deadline, whichever comes first. Events
    /// already queued come before the exit.
    pub async fn step(&mut self, deadline: Instant) -> Step {
        loop {
            let limit = self.exited.map_or(deadline, |at| deadline.min(at + EXIT_DRAIN));
            let running = self.exited.is_none();
            tokio::select! {
                biased;
                received = self.events.recv() => match received {
                    Ok(event) => {
                        if matches!(event.kind, EventKind::Connect(_)) && self.connect_delay.is_none() {
                            self.connect_delay = Some(self.spawned.elapsed());
                        }
                        self.transcript.push(event.clone());
                        return Step::Event(event);
                    }
                    Err(StreamError::Lagged(lost)) => self.lost_events += lost,
                    // We own the broker, so its bus outlives us; treat a close as the end.
                    Err(StreamError::Closed) => return Step::Deadline,
                },
                _ = self.client.wait(), if running => {
                    self.exited = Some(Instant::now());
                    return Step::Exited;
                }
                _ = sleep_until(limit) => return Step::Deadline,
            }
        }
    }

    /// Steps until an event `pred` accepts (returned) or the deadline (`None`). A client
    /// exit ends the wait once the events after it are read.
    pub async fn until(&mut self, deadline: Instant, mut pred: impl FnMut(&Event) -> bool) -> Option<Arc<Event>> {
        loop {
            match self.step(deadline).await {
                Step::Event(event) if pred(&event) => return Some(event),
                Step::Event(_) | Step::Exited => continue,
                Step::Deadline => return None,
            }
        }
    }

    /// Waits for the client's first CONNECT (within the connect timeout from the start) and
    /// the broker's answer to it. When the broker closed the connection instead of letting
    /// the device online, the client gets the settle time to react (print why, exit), so that
    /// its output tail shows its side of the refusal.
    pub async fn first_connect(&mut self) -> Option<FirstConnect> {
        let deadline = self.spawned + self.timing.connect;
        let event = self.until(deadline, |e| matches!(e.kind, EventKind::Connect(_))).await?;
        let EventKind::Connect(connect) = &event.kind else { unreachable!("until returned a CONNECT") };
        let (conn, connect) = (event.conn, connect.clone());
        let answered = Instant::now() + CONNACK_WAIT;
        let end = self
            .until(answered, |e| {
                e.conn == conn && matches!(e.kind, EventKind::Online { .. } | EventKind::Closed { .. })
            })
            .await
            .map(|e| match &e.kind {
                EventKind::Closed { reason } => ConnectEnd::Closed(reason.clone()),
                _ => ConnectEnd::Online,
            });
        if let Some(ConnectEnd::Closed(_)) = end {
            self.until(Instant::now() + self.timing.settle, |_| false).await;
        }
        Some(FirstConnect { conn, connect, end })
    }

    /// Stops the client, shuts the broker down and collects the rest of the transcript.
    pub async fn finish(self) -> Finished {
        let Harness {
            broker,
            mut events,
            mut transcript,
            client,
            twin,
            pinned,
            env,
            timing,
            connect_delay,
            mut lost_events,
            ..
        } = self;
        let watched = pinned.unwrap_or(transcript.len());
        let twin = match twin {
            Some(twin) => Some(twin.stop(timing.grace).await),
            None => None,
        };
        let stopped = client.stop(timing.grace).await;
        broker.shutdown().await;
        let _ = tokio::time::timeout(SHUTDOWN_DRAIN, async {
            loop {
                match events.recv().await {
                    Ok(event) => transcript.push(event),
                    Err(StreamError::Lagged(lost)) => lost_events += lost,
                    Err(StreamError::Closed) => break,
                }
            }
        })
        .await;
        let mut measured = BTreeMap::new();
        let id = &env.identity;
        measured.insert(
            "identity".to_owned(),
            json!({"product_key": id.product_key, "device_name": id.device_name, "client_id": id.client_id}),
        );
        measured.insert("sign_method_asked".to_owned(), json!(env.sign_method.name()));
        if let Some(delay) = connect_delay {
            measured.insert("connect_delay_ms".to_owned(), json!(delay.as_millis() as u64));
        }
        if stopped.killed {
            measured.insert(
                "client_stop".to_owned(),
                json!(format!("SIGKILL after {} s grace", timing.grace.as_secs_f64())),
            );
        }
        if lost_events > 0 {
            measured.insert("events_lost".to_owned(), json!(lost_events));
        }
        if let Some(twin) = twin {
            measured.insert("twin_exit".to_owned(), json!(twin.run.exit_code));
        }
        Finished {
            client: stopped.run,
            transcript,
            watched,
            asked: format!("{} over {}", env.sign_method.name(), env.transport),
            identity: env.identity,
            measured,
            connect_timeout: timing.connect,
            lost_events,
        }
    }
}

/// A case run that is over: what the client did and what the broker saw.
pub struct Finished {
    pub client: ClientRun,
    /// Every event of the case: those it read while watching, then those collected while the
    /// client was stopped and the broker shut down.
    pub transcript: Vec<Arc<Event>>,
    /// How many events of the transcript the case read while watching.
    watched: usize,
    /// The identity the client was handed.
    pub identity: Identity,
    /// Values every case reports (identity, connect delay...); cases add their own.
    pub measured: BTreeMap<String, Value>,
    /// What the client was asked for beyond its identity: "hmacsha1 over tcp".
    asked: String,
    connect_timeout: Duration,
    /// Events the harness missed: a gap in the transcript, which makes the case an error.
    lost_events: u64,
}

/// A case's judgement, before it is joined with the run's record.
pub struct Conclusion {
    pub verdict: CaseVerdict,
    pub explanation: String,
    pub findings: Vec<Verdict>,
    pub measured: Vec<(&'static str, Value)>,
}

impl Conclusion {
    pub fn new(verdict: CaseVerdict, explanation: impl Into<String>) -> Conclusion {
        Conclusion { verdict, explanation: explanation.into(), findings: Vec::new(), measured: Vec::new() }
    }

    pub fn with_findings(mut self, findings: Vec<Verdict>) -> Conclusion {
        self.findings = findings;
        self
    }

    pub fn measure(mut self, key: &'static str, value: Value) -> Conclusion {
        self.measured.push((key, value));
        self
    }
}

impl Finished {
    /// The case result: the conclusion, the measured values, the client run, the transcript
    /// (split where the case stopped watching) and the identity it was run with.
    ///
    /// When events were lost, the transcript has a gap and the conclusion cannot be trusted:
    /// the verdict is `Error` and the explanation says how many were lost, then what the case
    /// would have concluded.
    pub fn into_result(mut self, mut conclusion: Conclusion) -> CaseResult {
        if self.lost_events > 0 {
            conclusion.explanation = format!(
                "the kit lost {} events of this case's transcript (its event subscriber fell behind), so the \
                 client is not judged; on the events it saw, the case would have said {:?}: {}",
                self.lost_events, conclusion.verdict, conclusion.explanation
            );
            conclusion.verdict = CaseVerdict::Error;
        }
        let stopping = self.transcript.split_off(self.watched);
        let mut measured = self.measured;
        measured.extend(conclusion.measured.into_iter().map(|(k, v)| (k.to_owned(), v)));
        CaseResult {
            verdict: conclusion.verdict,
            explanation: conclusion.explanation,
            findings: conclusion.findings,
            measured,
            client: Some(self.client),
            transcript: self.transcript,
            stopping,
            identities: vec![self.identity],
        }
    }

    /// The events of connection `conn`.
    pub fn events_of(&self, conn: ConnId) -> impl Iterator<Item = &Event> {
        self.transcript.iter().map(Arc::as_ref).filter(move |e| e.conn == conn)
    }

    /// The broker's verdicts on `rules` for connection `conn`, in order.
    pub fn verdicts_on(&self, conn: ConnId, rules: &[Rule]) -> Vec<Verdict> {
        self.events_of(conn)
            .filter_map(|e| match &e.kind {
                EventKind::Verdict(v) if rules.contains(&v.rule) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    /// The reason each connection closed, in order.
    pub fn closes(&self) -> impl Iterator<Item = (ConnId, &CloseReason)> {
        self.transcript.iter().filter_map(|e| match &e.kind {
            EventKind::Closed { reason } => Some((e.conn, reason)),
            _ => None,
        })
    }

    /// How the client ended, in words: "exit code 3", "killed by a signal".
    pub fn exit(&self) -> String {
        match self.client.exit_code {
            Some(code) => format!("exit code {code}"),
            None => "ended by a signal".to_owned(),
        }
    }

    /// The last line the client printed (stderr first), shortened, if any.
    pub fn last_words(&self) -> Option<String> {
        [&self.client.stderr_tail, &self.client.stdout_tail].into_iter().find_map(|tail| {
            let line = tail.lines().rev().find(|l| !l.trim().is_empty() && !l.ends_with("earlier lines omitted]"))?;
            let mut line = line.trim().to_owned();
            if line.chars().count() > QUOTE_CHARS {
                line = format!("{}...", line.chars().take(QUOTE_CHARS).collect::<String>());
            }
            Some(line)
        })
    }

    /// The judgement when the broker never read a CONNECT: not run when the broker closed a
    /// connection for a WebSocket text frame first (the `websocket` case fails that) or the
    /// client exited with code 77 (unsupported, see [`super::methods`]), else a fail saying
    /// why there was none.
    pub fn without_connect(&self) -> Conclusion {
        if let Some((conn, what)) = self.closes().find_map(|(conn, reason)| text_frame(reason).map(|what| (conn, what)))
        {
            return Conclusion::new(
                CaseVerdict::NotRun,
                format!(
                    "not reached: the broker closed connection #{conn} for {what} (T-WS) before reading a CONNECT; \
                     the case websocket says why"
                ),
            );
        }
        let code = self.client.exit_code;
        if !self.client.stopped_by_suite && code == Some(super::methods::UNSUPPORTED_EXIT) {
            let mut text = super::methods::exited(code, &self.asked);
            if let Some(words) = self.last_words() {
                text.push_str(&format!("; its last output: {words}"));
            }
            return Conclusion::new(CaseVerdict::NotRun, text);
        }
        Conclusion::new(CaseVerdict::Fail, self.no_connect())
    }

    /// Why there was no CONNECT: the client exited, or the connect timeout passed; what its
    /// connections ran into; its last words.
    pub fn no_connect(&self) -> String {
        let mut text = if self.client.stopped_by_suite {
            format!("no CONNECT within {} s", self.connect_timeout.as_secs_f64())
        } else {
            format!("the client exited ({}) before sending a CONNECT", self.exit())
        };
        let attempts: Vec<String> = self
            .closes()
            .filter(|(_, reason)| !matches!(reason, CloseReason::Shutdown))
            .map(|(conn, reason)| match reason {
                CloseReason::HandshakeFailed { message } => format!("connection #{conn}: {message}"),
                CloseReason::Violation { rule, message } => format!("connection #{conn}: {message} ({rule})"),
                CloseReason::TransportError { message } => format!("connection #{conn}: {message}"),
                other => format!("connection #{conn}: {}", other.label()),
            })
            .collect();
        if attempts.is_empty() {
            text.push_str("; it never connected to the broker");
        } else {
            text.push_str(&format!("; {}", attempts.join("; ")));
        }
        if let Some(words) = self.last_words() {
            text.push_str(&format!("; its last output: {words}"));
        }
        text
    }
}

/// How the broker's WebSocket layer words a text frame whose bytes are not UTF-8: MQTT bytes
/// sent as text often are not, and such a frame is refused before T-WS can name it.
const UTF8_ERROR: &str = "UTF-8";

/// What a close says about a WebSocket text frame (T-WS), if it was caused by one: a frame the
/// broker read and refused naming T-WS, or one the WebSocket layer refused as invalid UTF-8.
pub fn text_frame(reason: &CloseReason) -> Option<String> {
    match reason {
        CloseReason::Violation { rule, message } if rule == Rule::TWs.id() => Some(format!("a text frame ({message})")),
        CloseReason::TransportError { message } if message.contains(UTF8_ERROR) => {
            Some(format!("a text frame that is not even UTF-8 ({message})"))
        }
        _ => None,
    }
}

/// One verdict as a sentence: `A-SECUREMODE: expected ...; received ... (detail)`.
pub fn explain(verdict: &Verdict) -> String {
    let assumed = if verdict.assumed { " (assumed)" } else { "" };
    let mut text = format!("{}{assumed}: expected {}; received {}", verdict.rule, verdict.expected, verdict.received);
    if !verdict.detail.is_empty() {
        text.push_str(&format!(" ({})", verdict.detail));
    }
    text
}

/// The CONNECT's values worth reporting.
pub fn connect_measures(connect: &ConnectSummary) -> Vec<(&'static str, Value)> {
    vec![
        ("mqtt_client_id", json!(connect.client_id)),
        ("username", json!(connect.username)),
        ("keepalive_declared", json!(connect.keep_alive)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_opens_only_the_limits_of_other_rules() {
        let strict = Policy::default();
        let keepalive = policy_judging(&[Rule::AKeepalive]);
        assert_eq!(keepalive.keepalive_range, strict.keepalive_range);
        assert_eq!(keepalive.client_id_max_chars, usize::from(u16::MAX));
        let cid = policy_judging(&[Rule::ACidFormat, Rule::ACidLen]);
        assert_eq!(cid.keepalive_range, (1, u16::MAX));
        assert_eq!(cid.client_id_max_chars, strict.client_id_max_chars);
    }

    #[test]
    fn a_verdict_reads_as_one_sentence() {
        let verdict = Verdict::fail(Rule::ASecuremode, "securemode=3 over ws", "securemode=2").with_detail("why");
        assert_eq!(
            explain(&verdict),
            "A-SECUREMODE (assumed): expected securemode=3 over ws; received securemode=2 (why)"
        );
    }

    fn finished(client: ClientRun, transcript: Vec<Arc<Event>>) -> Finished {
        Finished {
            client,
            watched: transcript.len(),
            transcript,
            identity: Identity::generate(1),
            measured: BTreeMap::new(),
            asked: "hmacsha1 over ws".into(),
            connect_timeout: Duration::from_secs(10),
            lost_events: 0,
        }
    }

    #[test]
    fn a_transcript_with_a_gap_is_the_kits_error_not_a_pass() {
        let whole = finished(ClientRun::default(), vec![]);
        let pass = || Conclusion::new(CaseVerdict::Pass, "all good");
        assert_eq!(whole.into_result(pass()).verdict, CaseVerdict::Pass);
        let gap = Finished { lost_events: 12, ..finished(ClientRun::default(), vec![]) };
        let result = gap.into_result(pass());
        assert_eq!(result.verdict, CaseVerdict::Error);
        assert!(result.explanation.starts_with("the kit lost 12 events"), "{}", result.explanation);
        assert!(result.explanation.ends_with("Pass: all good"), "{}", result.explanation);
    }

    #[test]
    fn an_exit_77_before_connecting_is_unsupported_not_a_failure() {
        let unsupported =
            ClientRun { exit_code: Some(77), stderr_tail: "no hmacsha1 here\n".into(), ..ClientRun::default() };
        let conclusion = finished(unsupported, vec![]).without_connect();
        assert_eq!(conclusion.verdict, CaseVerdict::NotRun);
        assert_eq!(
            conclusion.explanation,
            "unsupported: the client exited with code 77 before connecting when asked for hmacsha1 over ws; \
             its last output: no hmacsha1 here"
        );
        let broken = ClientRun { exit_code: Some(3), ..ClientRun::default() };
        assert_eq!(finished(broken, vec![]).without_connect().verdict, CaseVerdict::Fail);
    }

    #[test]
    fn no_connect_says_how_the_client_ended_and_quotes_its_last_words() {
        let exited = ClientRun {
            exit_code: Some(2),
            stderr_tail: "[3 earlier lines omitted]\nerror: IOT_URL: unsupported scheme\n\n".into(),
            ..ClientRun::default()
        };
        assert_eq!(
            finished(exited, vec![]).no_connect(),
            "the client exited (exit code 2) before sending a CONNECT; it never connected to the broker; \
             its last output: error: IOT_URL: unsupported scheme"
        );
        let silent = ClientRun { stopped_by_suite: true, stdout_tail: "waiting\n".into(), ..ClientRun::default() };
        let handshake = Arc::new(Event {
            conn: 1,
            at: Duration::ZERO,
            kind: EventKind::Closed { reason: CloseReason::HandshakeFailed { message: "TLS handshake: eof".into() } },
        });
        assert_eq!(
            finished(silent, vec![handshake]).no_connect(),
            "no CONNECT within 10 s; connection #1: TLS handshake: eof; its last output: waiting"
        );
    }
}
