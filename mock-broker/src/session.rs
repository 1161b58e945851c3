//! One device connection from accept to close: handshakes, CONNECT and its verdicts, then the
//! MQTT session with keepalive, topic rights, rate limit and cloud-side commands.
//!
//! Every way a connection ends is a [`CloseReason`] in the transcript. A misbehaving client
//! only ever ends its own connection.

use crate::auth::{self, Identity};
use crate::events::{CloseReason, ConnId, ConnectSummary, EventKind, PacketSummary};
use crate::fault::armory::{ConnFaults, ReplyFate};
use crate::fault::shaping::{ShapedStream, Shaping};
use crate::fault::{Fault, FaultSpec, Reply};
use crate::handshake::{Cause, Established, Failed, HandshakeFaults, Handshaker};
use crate::hub::{Command, DeviceKey, Resume, StoredSession};
use crate::keepalive;
use crate::mqtt;
use crate::mqtt::{Connack, ConnackCode, Connect, Packet, Publish, QoS, Suback, SubackCode, Subscribe};
use crate::mux;
use crate::policy::{OversizeReaction, Policy, Qos2PublishReaction};
use crate::rules::Rule;
use crate::server::{self, Shared};
use crate::subscriptions::Subscriptions;
use crate::topics;
use crate::transport::{Listener, Transport};
use crate::verdict::Verdict;
use crate::wire::{PacketIo, ReadError};
use bytes::Bytes;
use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until, timeout};

/// How long the broker waits for its own close to go out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// The window of the verdict budget (`Policy::verdicts_per_second`).
const BUDGET_WINDOW: Duration = Duration::from_secs(1);
/// The S-KICK notice sent on `/ext/notify` to a kicked connection whose `ext` has bit 1 set.
const KICK_NOTICE: &str = r#"{"title":"kick","content":"Kicked by the same device"}"#;
/// How long a blackholed or half-open connection is held before the broker lets it go, so a
/// fault never holds a socket for ever: longer than the longest keepalive cut (1.5 x 1200 s).
pub(crate) const FAULT_HOLD: Duration = Duration::from_secs(1800 + 60);

/// Serves one accepted TCP connection to its end, by the `policy` it was accepted with. One
/// not `admitted` (over `Policy::max_connections`) is recorded and closed at once.
pub(crate) async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    listener: Listener,
    shared: Arc<Shared>,
    policy: Arc<Policy>,
    admitted: bool,
) {
    let conn = shared.next_conn_id();
    shared.bus.emit(conn, EventKind::Accepted { listener, peer });
    if !admitted {
        let limit = policy.max_connections;
        let message = format!("{limit} connections are open, the most the broker serves at once (--max-connections)");
        shared
            .bus
            .emit(conn, EventKind::Closed { reason: CloseReason::Limit { limit: "max_connections".into(), message } });
        return;
    }
    let _ = tcp.set_nodelay(true);
    let shaping = Arc::new(Shaping::default());
    let tcp = ShapedStream::new(tcp, shaping.clone());
    let mut shutdown = shared.shutdown.clone();
    let faults = shared.faults.attach(conn);
    let budget = Mutex::new(VerdictBudget::new(policy.verdicts_per_second));
    let mut link = Link { conn, io: None, shared: shared.clone(), policy, listener, faults, shaping, budget };
    let reason = tokio::select! {
        reason = link.run(tcp) => reason,
        _ = server::stopped(&mut shutdown) => CloseReason::Shutdown,
    };
    // Boxed: the future of a live connection should not carry the close's.
    Box::pin(link.finish(reason)).await;
}

/// The connection before and after its session: owns the packet stream once it exists.
struct Link {
    conn: ConnId,
    io: Option<PacketIo>,
    shared: Arc<Shared>,
    /// The policy when the connection was accepted: a later change applies to later
    /// connections only.
    policy: Arc<Policy>,
    /// The listener it arrived on; the transport is known once the handshakes are done.
    listener: Listener,
    /// This connection's view of the armed faults.
    faults: ConnFaults,
    /// The switches of the byte-level faults (trickle, close after N bytes, reset).
    shaping: Arc<Shaping>,
    /// How many verdicts this connection may still record this second.
    budget: Mutex<VerdictBudget>,
}

/// The per-connection verdict budget (`Policy::verdicts_per_second`): the first N verdicts of
/// each one-second window are recorded; the rest are counted, and the count (with their
/// rules) is recorded as one `suppressed` event before the next window's first verdict or
/// the close. A flood on one connection thus costs the bus at most N + 1 verdict events a
/// second, and the subscribers watching other connections do not fall behind.
struct VerdictBudget {
    per_second: u32,
    window: Option<Instant>,
    spent: u32,
    suppressed: u64,
    rules: BTreeSet<&'static str>,
}

impl VerdictBudget {
    fn new(per_second: u32) -> VerdictBudget {
        VerdictBudget { per_second, window: None, spent: 0, suppressed: 0, rules: BTreeSet::new() }
    }

    /// Takes a verdict on `rule` at `now`: whether to record it, and the summary of the
    /// previous window's suppressed verdicts, due first.
    fn take(&mut self, rule: Rule, now: Instant) -> (bool, Option<EventKind>) {
        let mut due = None;
        if self.window.is_none_or(|start| now.duration_since(start) >= BUDGET_WINDOW) {
            due = self.summary();
            self.window = Some(now);
            self.spent = 0;
        }
        if self.spent < self.per_second {
            self.spent += 1;
            return (true, due);
        }
        self.suppressed += 1;
        self.rules.insert(rule.id());
        (false, due)
    }

    /// The `suppressed` event owed, if any verdicts were suppressed.
    fn summary(&mut self) -> Option<EventKind> {
        if self.suppressed == 0 {
            return None;
        }
        let rules = std::mem::take(&mut self.rules).into_iter().map(str::to_string).collect();
        Some(EventKind::Suppressed { verdicts: std::mem::take(&mut self.suppressed), rules })
    }
}

/// An authenticated CONNECT: what the session needs of it.
struct Login {
    identity: Identity,
    keep_alive: u16,
    clean_session: bool,
    /// The session-present flag a fault imposes on CONNACK.
    session_present: Option<bool>,
}

impl Link {
    async fn run(&mut self, tcp: ShapedStream) -> CloseReason {
        // Boxed: what the handshakes and the CONNECT took is freed once the device is in, so
        // that an idle session's future carries none of it.
        let login = match Box::pin(self.login(tcp)).await {
            Ok(login) => login,
            Err(reason) => return reason,
        };
        let (tx, rx) = mpsc::channel(self.policy.outbound_queue.max(1));
        let mut session = Session::new(self, login, rx);
        let reason = session.run(tx).await;
        session.leave();
        reason
    }

    /// Everything before the session: the accept faults, the handshakes and the CONNECT
    /// within the connect deadline, authentication, and the CONNACK of a refusal.
    async fn login(&mut self, mut tcp: ShapedStream) -> Result<Login, CloseReason> {
        if let Some(fault) = self.shared.faults.at_accept(&mut self.faults) {
            return Err(self.on_accept(fault, &mut tcp).await);
        }
        let limit = self.policy.connect_timeout;
        let (transport, connect) = match timeout(limit, self.open(tcp)).await {
            Err(_) => return Err(CloseReason::ConnectTimeout { timeout_ms: millis(limit) }),
            Ok(opened) => opened?,
        };
        self.emit(EventKind::Connect(summarize(&connect)));
        let report = auth::authenticate(&connect, transport, &self.shared.registry(), &self.policy);
        for verdict in report.verdicts {
            self.emit(EventKind::Verdict(verdict));
        }
        let outcome = report.outcome.map(|identity| {
            self.faults.identify(DeviceKey::new(identity.product_key.clone(), identity.device_name.clone()));
            let fate = self.shared.faults.connect(&mut self.faults);
            (identity, fate)
        });
        let (code, rule) = match outcome {
            Ok((_, fate)) if fate.refuse.is_some() => {
                let code = fate.refuse.and_then(ConnackCode::from_u8).unwrap_or(ConnackCode::ServerUnavailable);
                (code, "fault refuse_connect".to_string())
            }
            Err(refusal) => (refusal.code, refusal.rule.id().to_string()),
            Ok((identity, fate)) => {
                // Authenticated: from now on packets may be as large as the packet limit.
                if let Some(io) = self.io.as_mut() {
                    io.set_max_packet_len(self.policy.max_packet_len());
                }
                return Ok(Login {
                    identity,
                    keep_alive: connect.keep_alive,
                    clean_session: connect.clean_session,
                    session_present: fate.session_present,
                });
            }
        };
        self.send_now(&Packet::Connack(Connack { session_present: false, code })).await?;
        Err(CloseReason::Refused { code, rule })
    }

    /// Handshakes (after sniffing the transport on the mux), then the first packet, which
    /// must be CONNECT. Returns the transport served with the CONNECT.
    async fn open(&mut self, tcp: ShapedStream) -> Result<(Transport, Connect), CloseReason> {
        let policy = &self.policy;
        let handshaker = Handshaker {
            tls: self.shared.tls.as_ref(),
            ws_paths: &policy.ws_paths,
            max_packet_len: policy.max_connect_packet_len(),
            max_ws_message_len: policy.max_ws_message_len(),
            tls_timeout: policy.tls_handshake_timeout,
            ws_timeout: policy.ws_upgrade_timeout,
            faults: HandshakeFaults { faults: &self.shared.faults, view: &self.faults },
        };
        let established = match self.listener {
            Listener::Transport(transport) => handshaker.establish(tcp, transport).await,
            Listener::Mux => {
                let (bus, conn) = (&self.shared.bus, self.conn);
                mux::establish(&handshaker, tcp, |transport| bus.emit(conn, EventKind::Sniffed { transport })).await
            }
        };
        let Established { io, transport, handshake, verdicts } = match established {
            Ok(established) => established,
            Err(Failed { message, verdicts, cause }) => {
                for verdict in verdicts {
                    self.emit(EventKind::Verdict(verdict));
                }
                return Err(match cause {
                    Cause::Handshake => CloseReason::HandshakeFailed { message },
                    Cause::Fault => CloseReason::Faulted { fault: message },
                    Cause::Violation(rule) => CloseReason::Violation { rule: rule.id().to_string(), message },
                    Cause::ClientClosed => CloseReason::ClientClosed,
                    Cause::Timeout { stage, after } => {
                        CloseReason::HandshakeTimeout { stage: stage.into(), timeout_ms: millis(after) }
                    }
                });
            }
        };
        self.emit(EventKind::Handshake(Box::new(handshake)));
        for verdict in verdicts {
            self.emit(EventKind::Verdict(verdict));
        }
        let io = self.io.insert(io);
        match io.read().await {
            Ok(Some(Packet::Connect(connect))) => Ok((transport, connect)),
            Ok(Some(other)) => Err(CloseReason::Violation {
                rule: "MQTT-3.1.0-1".into(),
                message: format!("the first packet must be CONNECT, got {}", other.name()),
            }),
            Ok(None) => Err(CloseReason::ClientClosed),
            // The CONNECT cap, not the packet limit, bounds what an unauthenticated client
            // makes the broker buffer.
            Err(ReadError::Violation(v)) if v.statement == mqtt::SIZE_LIMIT => Err(CloseReason::Limit {
                limit: "max_connect_len".into(),
                message: format!("{}; before CONNACK the limit is the CONNECT cap (--max-connect-len)", v.message),
            }),
            Err(ReadError::OversizePublish { len, .. }) => Err(CloseReason::Violation {
                rule: "MQTT-3.1.0-1".into(),
                message: format!("the first packet must be CONNECT, got a PUBLISH of {len} bytes"),
            }),
            Err(ReadError::Violation(v)) if v.connack.is_some() => {
                let code = v.connack.unwrap_or(ConnackCode::UnacceptableProtocol);
                self.emit(EventKind::Verdict(
                    Verdict::fail(Rule::AProtocol, "MQTT 3.1 (MQIsdp/3) or 3.1.1 (MQTT/4)", v.message.clone())
                        .with_detail(format!("[{}]", v.statement)),
                ));
                self.send_now(&Packet::Connack(Connack { session_present: false, code })).await?;
                Err(CloseReason::Refused { code, rule: Rule::AProtocol.id().to_string() })
            }
            Err(e) => Err(self.read_failed(e)),
        }
    }

    /// Records an event; a verdict only within the connection's verdict budget.
    fn emit(&self, kind: EventKind) {
        if let EventKind::Verdict(verdict) = &kind {
            let (record, due) =
                self.budget.lock().unwrap_or_else(|e| e.into_inner()).take(verdict.rule, Instant::now());
            if let Some(summary) = due {
                self.shared.bus.emit(self.conn, summary);
            }
            if !record {
                return;
            }
        }
        self.shared.bus.emit(self.conn, kind);
    }

    /// A fault that takes the connection at accept, before any handshake.
    async fn on_accept(&mut self, fault: Fault, tcp: &mut ShapedStream) -> CloseReason {
        match fault {
            Fault::Reset => self.shaping.reset(),
            Fault::Blackhole => {
                let mut sink = [0u8; 4096];
                let _ =
                    timeout(FAULT_HOLD, async { while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {} }).await;
            }
            Fault::HalfOpen => sleep(FAULT_HOLD).await,
            _ => {}
        }
        CloseReason::Faulted { fault: fault.to_string() }
    }

    /// The close a read failure causes, after the verdict of the platform rule it breaks:
    /// T-WS for a text frame or a frame that breaks RFC 6455, S-PAYLOAD for an oversize PUBLISH or WebSocket message.
    fn read_failed(&self, e: ReadError) -> CloseReason {
        match &e {
            ReadError::TextFrame { utf8 } => self.emit(EventKind::Verdict(
                Verdict::fail(
                    Rule::TWs,
                    "MQTT in binary WebSocket frames",
                    if *utf8 { "a text frame" } else { "a text frame, not even valid UTF-8" },
                )
                .with_detail("MQTT over WebSocket travels in binary frames only; the connection is closed"),
            )),
            ReadError::FrameViolation(broken) => self.emit(EventKind::Verdict(
                Verdict::fail(Rule::TWs, "WebSocket frames as RFC 6455 defines them", broken.clone())
                    .with_detail("the client's WebSocket framing is broken; the connection is closed"),
            )),
            ReadError::OversizePublish { .. } | ReadError::MessageTooLong { .. } => {
                self.emit(EventKind::Verdict(oversize_verdict(&e, self.policy.payload_limit)));
            }
            ReadError::Violation(_) | ReadError::Io(_) => {}
        }
        read_failure(e)
    }

    /// Writes a packet into the outbound buffer and records it; it goes out at the next
    /// [`Link::flush`], or at once when the buffer is full. A reply goes through the reply
    /// faults first (withheld, delayed). The rare paths are boxed, so that the futures of a
    /// connection's session stay small.
    async fn send(&mut self, packet: &Packet) -> Result<(), CloseReason> {
        if let Some(reply) = Reply::of_packet(packet.name()) {
            match self.shared.faults.reply(&mut self.faults, reply) {
                ReplyFate::Send => {}
                ReplyFate::Delay(by) => Box::pin(self.delay(by)).await?,
                // A withheld CONNACK leaves the client waiting on a link that answers nothing.
                ReplyFate::Withhold if reply == Reply::Connack => return Err(Box::pin(self.blackhole()).await),
                ReplyFate::Withhold => return Ok(()),
            }
        }
        let Some(io) = self.io.as_mut() else {
            return Err(CloseReason::TransportError { message: "no stream to write to".into() });
        };
        self.shared.bus.emit(self.conn, EventKind::PacketOut(PacketSummary::of(packet)));
        if let Err(e) = io.write(packet) {
            return Err(CloseReason::TransportError { message: format!("writing {}: {e}", packet.name()) });
        }
        if io.wants_flush() {
            Box::pin(self.flush()).await?;
        }
        Ok(())
    }

    /// The delay fault: what is buffered goes out, then the reply waits `by`.
    async fn delay(&mut self, by: Duration) -> Result<(), CloseReason> {
        self.flush().await?;
        sleep(by).await;
        Ok(())
    }

    /// Writes a packet and everything before it out at once: for a packet after which the
    /// connection ends or waits.
    async fn send_now(&mut self, packet: &Packet) -> Result<(), CloseReason> {
        self.send(packet).await?;
        self.flush().await
    }

    /// Writes out what the outbound buffer holds, with the write deadline: done before the
    /// connection waits for anything.
    async fn flush(&mut self) -> Result<(), CloseReason> {
        self.write_with("the packets buffered", PacketIo::flush).await
    }

    /// Runs `write` on the stream, if there is one, within the write deadline: a client that
    /// does not read is closed naming `write_timeout`. A write that failed or was cut short
    /// may have left a frame half written, so the stream is dropped: nothing more is written
    /// to it, not even a close frame.
    async fn write_with(
        &mut self,
        what: &str,
        write: impl AsyncFnOnce(&mut PacketIo) -> std::io::Result<()>,
    ) -> Result<(), CloseReason> {
        let Some(io) = self.io.as_mut() else { return Ok(()) };
        let limit = self.policy.write_timeout;
        let written = match timeout(limit, write(io)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CloseReason::TransportError { message: format!("writing {what}: {e}") }),
            Err(_) => Err(CloseReason::Limit {
                limit: "write_timeout".into(),
                message: format!(
                    "writing {what} took over {} ms: the client does not read (--write-timeout)",
                    limit.as_millis()
                ),
            }),
        };
        if written.is_err() {
            self.io = None;
        }
        written
    }

    /// The blackhole fault: reads whatever arrives (recording each packet), answers nothing,
    /// until the client gives up or [`FAULT_HOLD`] passes.
    async fn blackhole(&mut self) -> CloseReason {
        if let Err(reason) = self.flush().await {
            return reason;
        }
        let (bus, conn) = (&self.shared.bus, self.conn);
        if let Some(io) = self.io.as_mut() {
            let swallow = async {
                while let Ok(Some(packet)) = io.read().await {
                    bus.emit(conn, EventKind::PacketIn(PacketSummary::of(&packet)));
                }
            };
            let _ = timeout(FAULT_HOLD, swallow).await;
        }
        CloseReason::Faulted { fault: Fault::Blackhole.to_string() }
    }

    /// Carries out an action or shaping fault on a live connection; `Err` ends it.
    async fn perform(&mut self, fault: Fault) -> Result<Option<Publish>, CloseReason> {
        let faulted = |fault: &Fault| Err(CloseReason::Faulted { fault: fault.to_string() });
        match &fault {
            Fault::Close => return faulted(&fault),
            Fault::Reset => {
                self.shaping.reset();
                self.io = None;
                return faulted(&fault);
            }
            Fault::Blackhole => return Err(self.blackhole().await),
            Fault::HalfOpen => {
                self.flush().await?;
                sleep(FAULT_HOLD).await;
                return faulted(&fault);
            }
            Fault::Trickle { bytes, every_ms } => self.shaping.trickle(*bytes, Duration::from_millis(*every_ms)),
            Fault::CloseAfterBytes { bytes } => self.shaping.close_after(*bytes),
            Fault::SplitFrames { at } => {
                if let Some(io) = self.io.as_mut() {
                    io.split_frames(at.clone());
                }
            }
            Fault::WsPing | Fault::WsClose { .. } => {
                // On tcp and tls there are no frames: nothing to send.
                if !self.io.as_ref().is_some_and(PacketIo::is_websocket) {
                    return Ok(None);
                }
                if let Fault::WsClose { code } = fault {
                    self.write_with("a close frame", async |io| io.close_frame(code).await).await?;
                    return faulted(&fault);
                }
                self.write_with("a ping frame", PacketIo::ping_frame).await?;
            }
            Fault::Downlink { topic, payload, qos } => {
                return Ok(Some(Publish {
                    dup: false,
                    qos: FaultSpec::downlink_qos(*qos),
                    retain: false,
                    topic: topic.clone(),
                    packet_id: None,
                    payload: Bytes::from(payload.clone()),
                }));
            }
            // Kicks need the session (the notice); the other layers never reach here.
            _ => {}
        }
        Ok(None)
    }

    async fn finish(mut self, reason: CloseReason) {
        if let Some(io) = self.io.as_mut() {
            let _ = timeout(CLOSE_TIMEOUT, io.close()).await;
        }
        let owed = self.budget.get_mut().unwrap_or_else(|e| e.into_inner()).summary();
        if let Some(summary) = owed {
            self.emit(summary);
        }
        self.emit(EventKind::Closed { reason });
    }
}

/// The S-PAYLOAD fail for a message too long to buffer.
fn oversize_verdict(e: &ReadError, payload_limit: usize) -> Verdict {
    let expected = format!("payload of at most {payload_limit} bytes");
    match e {
        ReadError::MessageTooLong { size, limit } => Verdict::fail(
            Rule::SPayload,
            expected,
            format!("a WebSocket message of {size} bytes, over the message limit of {limit} bytes"),
        )
        .with_detail(
            "the WebSocket layer refuses it before its MQTT is read (taken for an oversize PUBLISH, the only \
             packet that large); the connection is closed whatever the oversize reaction",
        ),
        other => Verdict::fail(Rule::SPayload, expected, other.to_string())
            .with_detail("its payload is over the limit whatever its topic; the packet is not buffered"),
    }
}

fn read_failure(e: ReadError) -> CloseReason {
    match e {
        ReadError::Io(message) => CloseReason::TransportError { message },
        other => CloseReason::Violation { rule: other.rule(), message: other.to_string() },
    }
}

fn summarize(c: &Connect) -> ConnectSummary {
    ConnectSummary {
        protocol: c.protocol,
        client_id: c.client_id.clone(),
        username: c.username.clone(),
        password_len: c.password.as_ref().map(Bytes::len),
        keep_alive: c.keep_alive,
        clean_session: c.clean_session,
        will: c.will.is_some(),
    }
}

/// How long a new login of a cleanSession=0 device waits for the session of the connection it
/// kicks (S-KICK with S-CLEAN). The old connection hands it over as soon as it reads the kick,
/// unless a write to its own client blocks it: then it leaves after at most the write timeout.
/// Past this wait the new session starts with the old subscriptions only.
fn handover_timeout(write_timeout: Duration) -> Duration {
    write_timeout.saturating_add(CLOSE_TIMEOUT)
}

/// A duration in whole milliseconds, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An authenticated device's MQTT session.
struct Session<'a> {
    link: &'a mut Link,
    /// The mqttClientId's `ext` param (bit 1 asks for the S-KICK notice): all the session
    /// needs of the identity beside its key, so the rest is not held while it runs.
    ext: u32,
    key: DeviceKey,
    /// The same key, shared with each uplink the log keeps.
    device: Arc<DeviceKey>,
    keep_alive: u16,
    /// cleanSession=0: the session outlives the connection (S-CLEAN).
    persistent: bool,
    subscriptions: Subscriptions,
    /// QoS 1 downlinks sent and not yet acknowledged, in the order sent.
    inflight: VecDeque<Publish>,
    commands: mpsc::Receiver<Command>,
    /// The packet id used last for a downlink.
    last_packet_id: u16,
    /// True once the session has left the hub (handed over, stored or dropped).
    left: bool,
    /// The session-present flag a fault imposes on CONNACK.
    session_present: Option<bool>,
}

impl<'a> Session<'a> {
    fn new(link: &'a mut Link, login: Login, commands: mpsc::Receiver<Command>) -> Session<'a> {
        let Login { identity, keep_alive, clean_session, session_present } = login;
        let Identity { product_key, device_name, ext, .. } = identity;
        let key = DeviceKey::new(product_key, device_name);
        Session {
            link,
            ext,
            device: Arc::new(key.clone()),
            key,
            keep_alive,
            persistent: !clean_session,
            subscriptions: Subscriptions::default(),
            inflight: VecDeque::new(),
            commands,
            last_packet_id: 0,
            left: false,
            session_present,
        }
    }

    fn shared(&self) -> &Shared {
        &self.link.shared
    }

    fn verdict(&self, verdict: Verdict) {
        self.link.emit(EventKind::Verdict(verdict));
    }

    async fn run(&mut self, tx: mpsc::Sender<Command>) -> CloseReason {
        // Boxed: the login's state (a kick, a handover, a resumed session) is not carried
        // through the session by every connection's task.
        if let Err(reason) = Box::pin(self.start(tx)).await {
            return reason;
        }
        self.serve().await
    }

    /// Logs in with the hub (S-KICK, S-CLEAN), sends CONNACK, resumes a stored session and
    /// carries out the faults due at once.
    async fn start(&mut self, tx: mpsc::Sender<Command>) -> Result<(), CloseReason> {
        let conn = self.link.conn;
        let login = self.shared().hub.login(&self.key, conn, tx, !self.persistent);
        if let Some((old, old_tx)) = login.previous {
            self.verdict(
                Verdict::warn(
                    Rule::SKick,
                    "one connection per device",
                    format!("a second login while connection #{old} is online"),
                )
                .with_detail(format!("connection #{old} is kicked")),
            );
            let _ = old_tx.send(Command::Kick { by: conn }).await;
        }
        // S-CLEAN: the stored session, or the kicked connection's, before CONNACK.
        let resumed = match login.resume {
            Resume::Fresh => None,
            Resume::Stored(stored) => Some(stored),
            Resume::Handover { state, subscriptions } => {
                match timeout(handover_timeout(self.link.policy.write_timeout), state).await {
                    Ok(Ok(stored)) => Some(stored),
                    _ => Some(StoredSession { subscriptions, ..StoredSession::default() }),
                }
            }
        };
        let session_present = self.session_present.unwrap_or(resumed.is_some());
        let code = ConnackCode::Accepted;
        self.link.send(&Packet::Connack(Connack { session_present, code })).await?;
        self.link.faults.online(self.key.clone(), Instant::now());
        self.link.emit(EventKind::Online {
            product_key: self.key.product_key.clone(),
            device_name: self.key.device_name.clone(),
            session_present,
        });
        if let Some(stored) = resumed {
            self.resume(stored).await?;
        }
        let due = self.link.shared.faults.now(&mut self.link.faults);
        self.faults(due).await
    }

    /// Takes a stored session over: its subscriptions, then its messages in order, the
    /// unacknowledged ones again with DUP=1 under their packet ids [MQTT-4.4.0-1].
    async fn resume(&mut self, stored: StoredSession) -> Result<(), CloseReason> {
        self.subscriptions = stored.subscriptions;
        self.last_packet_id = stored.last_packet_id;
        let resumed = &self.subscriptions;
        self.link.shared.hub.update_subscriptions(&self.key, self.link.conn, |mirror| *mirror = resumed.clone());
        for publish in stored.messages {
            match publish.packet_id {
                Some(_) => {
                    let publish = Publish { dup: true, ..publish };
                    self.inflight.push_back(publish.clone());
                    self.link.send(&Packet::Publish(publish)).await?;
                }
                None => self.deliver(publish).await?,
            }
        }
        Ok(())
    }

    /// The session loop: K-TIMER starts at CONNACK and each inbound packet resets it.
    ///
    /// One timer serves the keepalive: a packet only moves `last`; when the timer fires at
    /// the cut an older `last` gave, the cut is worked out again from the newest `last` and
    /// the timer re-armed if that lies ahead. A busy connection thus touches the timer wheel
    /// about once per keepalive period, not once per packet.
    async fn serve(&mut self) -> CloseReason {
        let epoch = self.shared().epoch;
        let check = self.link.policy.keepalive_check;
        let mut last = Instant::now();
        let keepalive = sleep_until(keepalive::cut_at(check, epoch, last, self.keep_alive));
        tokio::pin!(keepalive);
        loop {
            let fault_due = self.shared().faults.next_due(&self.link.faults);
            // The replies to packets that arrived together leave together, once all are read.
            if !self.link.io.as_ref().is_some_and(PacketIo::has_buffered_packet)
                && let Err(reason) = self.link.flush().await
            {
                return reason;
            }
            let io = self.link.io.as_mut().expect("a session has a stream");
            tokio::select! {
                read = io.read() => {
                    let packet = match read {
                        Ok(Some(packet)) => packet,
                        Ok(None) => return CloseReason::ClientClosed,
                        // S-PAYLOAD beyond the packet limit: judged from the fixed header;
                        // with `drop` the reader skips the packet's bytes as they come.
                        Err(e @ ReadError::OversizePublish { .. })
                            if self.link.policy.oversize == OversizeReaction::Drop =>
                        {
                            self.verdict(oversize_verdict(&e, self.link.policy.payload_limit));
                            continue;
                        }
                        Err(e) => return self.link.read_failed(e),
                    };
                    last = Instant::now();
                    self.link.shared.bus.emit(self.link.conn, EventKind::PacketIn(PacketSummary::of(&packet)));
                    let name = packet.name();
                    // Boxed: what handling a packet awaits is not carried by an idle task.
                    if let Err(reason) = Box::pin(self.handle(packet)).await {
                        return reason;
                    }
                    let due = self.link.shared.faults.packet_in(&mut self.link.faults, name);
                    if let Err(reason) = self.faults(due).await {
                        return reason;
                    }
                }
                _ = sleep_until_some(fault_due) => {
                    let due = self.link.shared.faults.timed(&mut self.link.faults, Instant::now());
                    if let Err(reason) = self.faults(due).await {
                        return reason;
                    }
                }
                command = self.commands.recv() => {
                    // Boxed, like the faults: commands are rare next to packets.
                    if let Err(reason) = Box::pin(self.obey(command)).await {
                        return reason;
                    }
                }
                () = &mut keepalive => {
                    let cut = keepalive::cut_at(check, epoch, last, self.keep_alive);
                    if cut > Instant::now() {
                        keepalive.as_mut().reset(cut);
                        continue;
                    }
                    let silent_ms = (Instant::now() - last).as_millis() as u64;
                    self.verdict(Verdict::fail(
                        Rule::KTimeout,
                        format!("a packet within 1.5 x {} s = {} ms", self.keep_alive, keepalive::allowed_silence(self.keep_alive).as_millis()),
                        format!("silent for {silent_ms} ms"),
                    ));
                    return CloseReason::KeepaliveTimeout { keep_alive_s: self.keep_alive, silent_ms };
                }
            }
        }
    }

    async fn handle(&mut self, packet: Packet) -> Result<(), CloseReason> {
        match packet {
            Packet::Publish(publish) => self.uplink(publish).await,
            Packet::Subscribe(subscribe) => self.subscribe(subscribe).await,
            Packet::Unsubscribe(unsubscribe) => {
                for filter in &unsubscribe.filters {
                    self.subscriptions.remove(filter);
                }
                let filters = &unsubscribe.filters;
                self.link.shared.hub.update_subscriptions(&self.key, self.link.conn, |mirror| {
                    for filter in filters {
                        mirror.remove(filter);
                    }
                });
                self.link.send(&Packet::Unsuback(unsubscribe.packet_id)).await
            }
            Packet::Pingreq => self.link.send(&Packet::Pingresp).await,
            Packet::Disconnect => Err(CloseReason::ClientDisconnect),
            Packet::Connect(_) => Err(CloseReason::Violation {
                rule: "MQTT-3.1.0-2".into(),
                message: "a second CONNECT on the same connection".into(),
            }),
            // A QoS 1 downlink is done once acknowledged.
            Packet::Puback(id) => {
                self.inflight.retain(|p| p.packet_id != Some(id));
                Ok(())
            }
            // The broker never starts a QoS 2 flow.
            Packet::Pubrec(_) | Packet::Pubrel(_) | Packet::Pubcomp(_) => Ok(()),
            // The decoder refuses server-only packets from a client.
            Packet::Connack(_) | Packet::Suback(_) | Packet::Unsuback(_) | Packet::Pingresp => Ok(()),
        }
    }

    /// A device's PUBLISH: S-QOS, A-WILL-RETAIN, S-PAYLOAD, S-RATE, S-TOPIC-OWN, in that order.
    async fn uplink(&mut self, publish: Publish) -> Result<(), CloseReason> {
        let policy = &self.link.policy;
        let topic = publish.topic.as_str();
        if publish.qos == QoS::ExactlyOnce {
            self.verdict(Verdict::fail(Rule::SQos, "QoS 0 or 1", format!("QoS 2 PUBLISH on {topic}")));
            return match policy.qos2_publish {
                Qos2PublishReaction::Close => {
                    Err(CloseReason::Violation { rule: Rule::SQos.id().into(), message: "QoS 2 PUBLISH".into() })
                }
                Qos2PublishReaction::Drop => Ok(()),
            };
        }
        if publish.retain {
            self.verdict(
                Verdict::warn(Rule::AWillRetain, "RETAIN 0", format!("RETAIN 1 on {topic}"))
                    .with_detail("retained messages are not supported; delivered as not retained"),
            );
        }
        if publish.payload.len() > policy.payload_limit {
            self.verdict(Verdict::fail(
                Rule::SPayload,
                format!("payload of at most {} bytes", policy.payload_limit),
                format!("{} bytes on {topic}", publish.payload.len()),
            ));
            if policy.oversize == OversizeReaction::Close {
                return Err(CloseReason::Violation {
                    rule: Rule::SPayload.id().into(),
                    message: "payload over the limit".into(),
                });
            }
            return self.ack(&publish).await;
        }
        if !self.within_rate() {
            return self.ack(&publish).await;
        }
        let allowed =
            topics::check_publish(&self.link.shared.registry(), &self.key.product_key, &self.key.device_name, topic);
        if let Err(reason) = allowed {
            self.verdict(Verdict::fail(Rule::SPubDeny, "a topic the device may publish to", topic).with_detail(reason));
            if !self.link.policy.puback_denied_publish {
                return Ok(());
            }
            return self.ack(&publish).await;
        }
        self.shared().uplinks.record(self.link.conn, &self.device, &publish);
        self.ack(&publish).await
    }

    async fn ack(&mut self, publish: &Publish) -> Result<(), CloseReason> {
        match publish.packet_id {
            Some(id) if publish.qos == QoS::AtLeastOnce => self.link.send(&Packet::Puback(id)).await,
            _ => Ok(()),
        }
    }

    /// S-RATE: counts the message in the device's sliding one-second window, kept by the hub
    /// across its connections; false (with a verdict the first time after an accepted one)
    /// when the device is over its rate and the message is dropped.
    fn within_rate(&mut self) -> bool {
        let limit = self.link.policy.uplink_rate_per_second;
        let rate = self.link.shared.hub.count_uplink(&self.key, limit);
        if rate.first_dropped {
            self.verdict(
                Verdict::fail(
                    Rule::SRate,
                    format!("at most {limit} messages per second"),
                    format!("message {} within one second", rate.count),
                )
                .with_detail("the excess is dropped; the connection stays"),
            );
        }
        rate.accepted
    }

    /// S-SUB-DENY (topic rights, then the subscription limit) and S-QOS for each filter,
    /// then SUBACK. The hub learns the new subscriptions before the SUBACK goes out, so a
    /// cloud-side publish after it is routed by them.
    async fn subscribe(&mut self, subscribe: Subscribe) -> Result<(), CloseReason> {
        let mut codes = Vec::with_capacity(subscribe.filters.len());
        let mut added = Vec::new();
        let limit = self.link.policy.max_subscriptions;
        for (filter, qos) in subscribe.filters {
            let shared = &self.link.shared;
            if let Err(reason) =
                topics::check_subscribe(&shared.registry(), &self.key.product_key, &self.key.device_name, &filter)
            {
                self.verdict(
                    Verdict::fail(Rule::SSubDeny, "a topic the device may subscribe to", filter).with_detail(reason),
                );
                codes.push(SubackCode::Failure);
                continue;
            }
            if self.subscriptions.len() >= limit && !self.subscriptions.contains(&filter) {
                self.verdict(
                    Verdict::fail(Rule::SSubDeny, format!("at most {limit} subscriptions per device"), filter)
                        .with_detail(format!(
                            "the device holds {limit} subscriptions, the most the broker keeps \
                             (max_subscriptions, --max-subscriptions; assumed: the platform's limit is unknown)"
                        )),
                );
                codes.push(SubackCode::Failure);
                continue;
            }
            let granted = if qos == QoS::ExactlyOnce {
                let grant = self.link.policy.qos2_subscribe_grant;
                self.verdict(
                    Verdict::warn(Rule::SQos, "QoS 0 or 1", format!("QoS 2 subscription to {filter}"))
                        .with_detail(format!("granted QoS {}", grant as u8)),
                );
                grant
            } else {
                qos
            };
            // A repeated filter replaces the old subscription and its QoS [MQTT-3.8.4-3].
            self.subscriptions.insert(filter.clone(), granted);
            added.push((filter, granted));
            codes.push(SubackCode::Granted(granted));
        }
        self.link.shared.hub.update_subscriptions(&self.key, self.link.conn, |mirror| {
            for (filter, qos) in added {
                mirror.insert(filter, qos);
            }
        });
        self.link.send(&Packet::Suback(Suback { packet_id: subscribe.packet_id, codes })).await
    }

    /// Carries out the faults due now, in order; none is the common case, and costs nothing.
    async fn faults(&mut self, due: Vec<Fault>) -> Result<(), CloseReason> {
        if due.is_empty() {
            return Ok(());
        }
        // Boxed: the faults' futures are large, and an idle session should not carry them.
        Box::pin(self.perform_all(due)).await
    }

    async fn perform_all(&mut self, due: Vec<Fault>) -> Result<(), CloseReason> {
        for fault in due {
            if fault == Fault::Kick {
                self.kicked(0).await?;
            }
            if let Some(downlink) = self.link.perform(fault).await? {
                self.deliver(downlink).await?;
            }
        }
        Ok(())
    }

    async fn obey(&mut self, command: Option<Command>) -> Result<(), CloseReason> {
        match command {
            Some(Command::Faults) => {
                let due = self.link.shared.faults.now(&mut self.link.faults);
                self.faults(due).await
            }
            Some(Command::Deliver(publish)) => self.deliver(*publish).await,
            Some(Command::Kick { by }) => self.kicked(by).await,
            Some(Command::Close) | None => Err(CloseReason::ClosedByCloud),
        }
    }

    /// S-KICK: the notice on `/ext/notify` where the device asked for it, then the close.
    async fn kicked(&mut self, by: ConnId) -> Result<(), CloseReason> {
        // The successor waits for this session's state: it goes before the notice.
        self.hand_off();
        if self.ext & 0b10 != 0 {
            let notice = Publish {
                dup: false,
                qos: QoS::AtMostOnce,
                retain: false,
                topic: "/ext/notify".into(),
                packet_id: None,
                payload: Bytes::from_static(KICK_NOTICE.as_bytes()),
            };
            self.link.send_now(&Packet::Publish(notice)).await?;
        }
        Err(CloseReason::Kicked { by })
    }

    /// A downlink: sent at the lower of its QoS and the granted QoS [MQTT-3.8.4-6] when a
    /// subscription matches its topic, else recorded as undelivered. A QoS 1 downlink stays
    /// in flight until its PUBACK.
    async fn deliver(&mut self, mut publish: Publish) -> Result<(), CloseReason> {
        let Some(qos) = self.subscriptions.downlink_qos(&publish.topic, publish.qos) else {
            self.link.emit(EventKind::Undelivered {
                topic: publish.topic,
                reason: "the device has not subscribed to it".into(),
            });
            return Ok(());
        };
        publish.qos = qos;
        publish.packet_id = None;
        if qos == QoS::AtLeastOnce {
            let Some(id) = self.next_packet_id() else {
                self.link.emit(EventKind::Undelivered {
                    topic: publish.topic,
                    reason: "65535 downlinks are unacknowledged: no packet id is free".into(),
                });
                return Ok(());
            };
            publish.packet_id = Some(id);
            self.inflight.push_back(publish.clone());
        }
        self.link.send(&Packet::Publish(publish)).await
    }

    /// The next packet id not in flight, if one is free.
    fn next_packet_id(&mut self) -> Option<u16> {
        if self.inflight.len() >= usize::from(u16::MAX) {
            return None;
        }
        loop {
            self.last_packet_id = self.last_packet_id.checked_add(1).unwrap_or(1);
            let id = self.last_packet_id;
            if !self.inflight.iter().any(|p| p.packet_id == Some(id)) {
                return Some(id);
            }
        }
    }

    /// Leaves the hub, once. A cleanSession=0 session hands over its subscriptions, its
    /// unacknowledged downlinks and the downlinks still queued for it (in its command
    /// channel, which is closed first so that no more arrive): to the login that kicked it,
    /// or to the hub's store. A clean session's queued downlinks are undelivered.
    fn hand_off(&mut self) {
        if std::mem::replace(&mut self.left, true) {
            return;
        }
        self.commands.close();
        let mut late = Vec::new();
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Deliver(publish) = command {
                late.push(*publish);
            }
        }
        let mut session = None;
        if self.persistent {
            let mut messages: VecDeque<Publish> = std::mem::take(&mut self.inflight);
            for publish in late {
                match self.subscriptions.downlink_qos(&publish.topic, publish.qos) {
                    Some(QoS::AtLeastOnce) => messages.push_back(Publish { packet_id: None, ..publish }),
                    _ => self.undelivered(publish.topic),
                }
            }
            session = Some(StoredSession {
                subscriptions: std::mem::take(&mut self.subscriptions),
                messages,
                last_packet_id: self.last_packet_id,
            });
        } else {
            for publish in late {
                self.undelivered(publish.topic);
            }
        }
        self.link.shared.hub.logout(Some(&self.key), self.link.conn, session);
    }

    fn undelivered(&self, topic: String) {
        self.link.emit(EventKind::Undelivered { topic, reason: "the connection closed".into() });
    }

    /// Leaves the hub (see [`Session::hand_off`]) if it has not yet.
    fn leave(mut self) {
        self.hand_off();
    }
}

/// Sleeps until `deadline`; for ever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
