//! The bench's scenarios: what each starts, what it asks of the generator, and which
//! figures it takes from every run. Each run starts fresh brokers; the kit and mosquitto
//! alternate within a run, so that drift of the machine hits both alike.

use super::brokers::{self, Kind, KitOptions, Running};
use super::certs::Certs;
use super::control;
use super::generator::{self, GenRun};
use super::report::{Figure, Target};
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::time::Duration;

/// Every scenario, in the order they run.
pub const ALL: [&str; 8] =
    ["connect-ws", "connect-wss", "idle-ws", "idle-wss", "ingest-qos1", "idle-19k", "fd-limit", "suite"];

/// What every scenario needs.
pub struct Bench {
    pub kit: PathBuf,
    pub loadgen: PathBuf,
    pub mosquitto: Option<PathBuf>,
    pub certs: Certs,
    pub registry: PathBuf,
    pub dir: PathBuf,
    pub runs: usize,
    pub quick: bool,
    pub ticks: f64,
}

/// A scenario's outcome: its figures and what the reader should know.
#[derive(Default)]
pub struct Outcome {
    pub figures: Vec<Figure>,
    pub notes: Vec<String>,
    /// Set when a check failed (not a missed target): the bench then exits non-zero.
    pub failed: Option<String>,
}

/// The devices the registry must hold for these scenarios.
pub fn devices_needed(selected: &[&str], quick: bool) -> usize {
    let mut needed = connect_count(quick).max(IDLE_CONNECTIONS);
    if selected.contains(&"idle-19k") {
        needed = needed.max(idle_19k_count(quick));
    }
    if selected.contains(&"fd-limit") {
        needed = needed.max(FD_LIMIT + FD_EXCESS);
    }
    needed
}

fn connect_count(quick: bool) -> usize {
    if quick { 500 } else { 2000 }
}

fn idle_19k_count(quick: bool) -> usize {
    if quick { 5000 } else { 19_000 }
}

const IDLE_CONNECTIONS: usize = 1000;
const FD_LIMIT: usize = 1000;
const FD_EXCESS: usize = 100;
const INGEST_DEVICES: usize = 10;
/// QoS 1 messages each ingest device keeps unacknowledged (loadgen's default window).
const INGEST_WINDOW: usize = 16;

/// A warm-up generator run before the measured one: its arguments for a broker, and what
/// to do with the warm-up's and the measured run's results.
type WarmUp<'a> = (&'a dyn Fn(&Running) -> Vec<String>, &'a dyn Fn(Kind, &GenRun, &GenRun));

impl Bench {
    pub fn run(&self, name: &str) -> anyhow::Result<Outcome> {
        match name {
            "connect-ws" => self.connect(name, false),
            "connect-wss" => self.connect(name, true),
            "idle-ws" => self.idle(name, false),
            "idle-wss" => self.idle(name, true),
            "ingest-qos1" => self.ingest(name),
            "idle-19k" => self.idle_19k(name),
            "fd-limit" => self.fd_limit(name),
            other => bail!("unknown scenario {other:?}"),
        }
    }

    fn kinds(&self) -> Vec<Kind> {
        if self.mosquitto.is_some() { vec![Kind::Kit, Kind::Mosquitto] } else { vec![Kind::Kit] }
    }

    fn start(&self, kind: Kind, options: &KitOptions<'_>) -> anyhow::Result<Running> {
        match (kind, &self.mosquitto) {
            (Kind::Kit, _) => brokers::start_kit(&self.kit, options, &self.certs, &self.dir),
            (Kind::Mosquitto, Some(bin)) => brokers::start_mosquitto(bin, &self.certs, &self.dir),
            (Kind::Mosquitto, None) => bail!("mosquitto is not installed"),
        }
    }

    fn kit_options(&self) -> KitOptions<'_> {
        KitOptions { registry: &self.registry, max_connections: None, control: false, nofile: None }
    }

    fn url(&self, broker: &Running, wss: bool) -> Vec<String> {
        let mut args = vec!["--url".to_string(), if wss { broker.wss.clone() } else { broker.ws.clone() }];
        if wss {
            args.extend(["--ca".to_string(), self.certs.ca.display().to_string()]);
        }
        args
    }

    /// Runs the generator against a fresh broker of each kind, `runs` times; `measure`
    /// turns one run into one value per figure and the generator's CPU share. With
    /// `warm_up`, a first generator run with those arguments goes before the measured one,
    /// on the same broker; `warmed` is told the broker's reading before and after it.
    #[allow(clippy::too_many_arguments)]
    fn compare(
        &self,
        figures: Vec<Figure>,
        options: &KitOptions<'_>,
        kinds: &[Kind],
        warm_up: Option<WarmUp<'_>>,
        args: impl Fn(&Running) -> Vec<String>,
        measure: impl Fn(Kind, &Running, &GenRun) -> anyhow::Result<(Vec<f64>, f64)>,
        outcome: &mut Outcome,
    ) -> anyhow::Result<()> {
        let mut figures = figures;
        for run in 0..self.runs {
            for &kind in kinds {
                let broker = self.start(kind, options)?;
                let warm = match warm_up {
                    Some((warm_args, _)) => Some(
                        generator::run(&self.loadgen, &warm_args(&broker), broker.pid, Duration::from_secs(60))
                            .with_context(|| format!("warm-up {} against {}", run + 1, kind.name()))?,
                    ),
                    None => None,
                };
                let result = generator::run(&self.loadgen, &args(&broker), broker.pid, Duration::from_secs(300))
                    .with_context(|| format!("run {} against {}", run + 1, kind.name()))?;
                if let (Some((_, warmed)), Some(warm)) = (warm_up, &warm) {
                    warmed(kind, warm, &result);
                }
                let (values, generator_cpu) = measure(kind, &broker, &result)?;
                for (figure, value) in figures.iter_mut().zip(values) {
                    match kind {
                        Kind::Kit => {
                            figure.kit.push(value);
                            figure.generator_cpu.push(generator_cpu);
                        }
                        Kind::Mosquitto => figure.mosquitto.push(value),
                    }
                }
                if let Some(note) = connect_failures(&result) {
                    outcome.notes.push(format!("run {} on {}: {note}", run + 1, kind.name()));
                }
            }
        }
        outcome.figures.extend(figures);
        Ok(())
    }

    fn connect(&self, name: &str, wss: bool) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome::default();
        let figures = vec![
            Figure::new(name, "rate", "conn/s").target(Target::RatioAtLeast(if wss { 5.0 } else { 3.0 })),
            Figure::new(name, "p50", "ms"),
            Figure::new(name, "p90", "ms"),
            if wss {
                Figure::new(name, "p99", "ms")
            } else {
                Figure::new(name, "p99", "ms").target(Target::RatioAtMost(0.125))
            },
            Figure::new(name, "broker CPU", "% of a core"),
        ];
        let n = connect_count(self.quick);
        let args = |b: &Running| {
            let mut args = self.url(b, wss);
            args.extend(["--connections".into(), n.to_string(), "--in-flight".into(), "100".into()]);
            args
        };
        let measure = |_: Kind, _: &Running, run: &GenRun| {
            let (broker_cpu, generator_cpu) = run.cpu("connect-start", "connect-end", self.ticks)?;
            let values = ["rate_per_s", "latency.p50_ms", "latency.p90_ms", "latency.p99_ms"]
                .map(|key| run.number(&format!("connect.{key}")));
            Ok(([values.as_slice(), &[broker_cpu * 100.0]].concat(), generator_cpu))
        };
        self.compare(figures, &self.kit_options(), &self.kinds(), None, args, measure, &mut outcome)?;
        outcome.notes.push(format!("{name}: {n} connections, 100 handshakes in flight"));
        Ok(outcome)
    }

    fn idle(&self, name: &str, wss: bool) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome::default();
        let target = if wss { 0.8 } else { 1.0 };
        let figures = vec![Figure::new(name, "RSS per connection", "KiB").target(Target::RatioAtMost(target))];
        let hold = if self.quick { "2" } else { "3" };
        let args = |b: &Running| {
            let mut args = self.url(b, wss);
            args.extend(["--connections", "1000", "--hold", hold].map(String::from));
            args
        };
        let measure = |_: Kind, _: &Running, run: &GenRun| {
            let held = run.broker_rss("hold-start")?.max(run.broker_rss("hold-end")?);
            let connected = run.number("connect.connected").max(1.0);
            let (_, generator_cpu) = run.cpu("hold-start", "hold-end", self.ticks)?;
            Ok((
                vec![
                    held.saturating_sub(run.before.rss_kib.context("the fresh broker had no VmRSS")?) as f64
                        / connected,
                ],
                generator_cpu,
            ))
        };
        // The kit keeps a bounded history of its events, which grows until it is full and
        // then stays that size: it is filled first (a device publishing QoS 0), so that the
        // figure is what one more connection costs a broker that has run a while, and the
        // history's own cost is reported apart. mosquitto gets the same warm-up.
        let warm_args = |b: &Running| {
            let mut args = self.url(b, false);
            args.extend(["--connections", "1", "--publish", "1", "--qos", "0", "--payload", "64"].map(String::from));
            args
        };
        let history = std::cell::RefCell::new(Vec::new());
        let warmed = |kind: Kind, warm: &GenRun, measured: &GenRun| {
            if let (Kind::Kit, Some(fresh), Some(full)) = (kind, warm.before.rss_kib, measured.before.rss_kib) {
                history.borrow_mut().push(full.saturating_sub(fresh) as f64 / 1024.0);
            }
        };
        let warm_up: WarmUp<'_> = (&warm_args, &warmed);
        self.compare(figures, &self.kit_options(), &self.kinds(), Some(warm_up), args, measure, &mut outcome)?;
        let history: Vec<String> = history.into_inner().iter().map(|mib| format!("{mib:.1}")).collect();
        outcome.notes.push(format!(
            "{name}: each broker first takes 1 s of QoS 0 publishes from one device, which fills the kit's event \
             history (65 536 events; it then stays that size); then (VmRSS with {IDLE_CONNECTIONS} connections \
             held - VmRSS before they connected) / connections. The kit's history full, as VmRSS after the \
             warm-up - VmRSS fresh: {} MiB",
            history.join(" / ")
        ));
        Ok(outcome)
    }

    fn ingest(&self, name: &str) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome::default();
        let figures = vec![
            Figure::new(name, "rate", "msg/s").target(Target::RatioAtLeast(1.5)),
            Figure::new(name, "broker CPU", "% of a core"),
        ];
        let seconds = if self.quick { "2" } else { "5" };
        let args = |b: &Running| {
            let mut args = self.url(b, false);
            let flags = ["--publish", seconds, "--warmup", "1", "--qos", "1", "--payload", "64"];
            args.extend(flags.map(String::from));
            let (devices, window) = (INGEST_DEVICES.to_string(), INGEST_WINDOW.to_string());
            args.extend(["--connections".into(), devices, "--window".into(), window]);
            args
        };
        let checks = std::cell::RefCell::new(Vec::new());
        let measure = |kind: Kind, broker: &Running, run: &GenRun| {
            let (broker_cpu, generator_cpu) = run.cpu("publish-measure", "publish-end", self.ticks)?;
            if kind == Kind::Kit {
                checks.borrow_mut().push(events_check(broker, run));
            }
            Ok((vec![run.number("publish.rate_per_s"), broker_cpu * 100.0], generator_cpu))
        };
        let options = KitOptions { control: true, ..self.kit_options() };
        self.compare(figures, &options, &self.kinds(), None, args, measure, &mut outcome)?;
        outcome.notes.push(format!(
            "{name}: {INGEST_DEVICES} devices over ws, QoS 1, 64-byte payloads, {INGEST_WINDOW} in flight per device, \
             {seconds} s measured after 1 s of warm-up; the kit with --control for GET /stats"
        ));
        for check in checks.into_inner() {
            match check {
                Ok(line) => outcome.notes.push(format!("{name}: {line}")),
                Err(e) => {
                    outcome.notes.push(format!("{name}: EVENTS CHECK FAILED: {e:#}"));
                    outcome.failed.get_or_insert(format!("{e:#}"));
                }
            }
        }
        Ok(outcome)
    }

    fn idle_19k(&self, name: &str) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome::default();
        let n = idle_19k_count(self.quick);
        let hold = if self.quick { 15 } else { 60 };
        let figures = vec![
            Figure::new(name, "connected", "connections").target(Target::AtLeast(n as f64)),
            Figure::new(name, "broker CPU over the hold", "% of a core").target(Target::Below(5.0)),
            Figure::new(name, "broker RSS held", "MiB"),
            Figure::new(name, "connect rate", "conn/s"),
        ];
        let args = |b: &Running| {
            let mut args = self.url(b, false);
            args.extend(
                [
                    "--connections",
                    &n.to_string(),
                    "--keepalive",
                    "30",
                    "--keepalive-max",
                    "60",
                    "--hold",
                    &hold.to_string(),
                ]
                .map(String::from),
            );
            args
        };
        let measure = |_: Kind, _: &Running, run: &GenRun| {
            let (broker_cpu, generator_cpu) = run.cpu("hold-start", "hold-end", self.ticks)?;
            let rss = run.broker_rss("hold-end")? as f64 / 1024.0;
            Ok((
                vec![run.number("hold.open_at_end"), broker_cpu * 100.0, rss, run.number("connect.rate_per_s")],
                generator_cpu,
            ))
        };
        let options = KitOptions { max_connections: Some(20_000), ..self.kit_options() };
        self.compare(figures, &options, &[Kind::Kit], None, args, measure, &mut outcome)?;
        outcome.notes.push(format!(
            "{name}: {n} ws connections (keepalive 30..60 s, the generator pinging) held {hold} s; the kit with \
             --max-connections 20000; mosquitto not measured here"
        ));
        Ok(outcome)
    }

    fn fd_limit(&self, name: &str) -> anyhow::Result<Outcome> {
        let mut outcome = Outcome::default();
        let options = KitOptions { control: true, nofile: Some(FD_LIMIT), ..self.kit_options() };
        let broker = brokers::start_kit(&self.kit, &options, &self.certs, &self.dir)?;
        let control = broker.control.clone().context("the kit's ready file has no control URL")?;
        let total = FD_LIMIT + FD_EXCESS;
        let over = generator::run(
            &self.loadgen,
            &[
                self.url(&broker, false),
                ["--connections", &total.to_string(), "--connect-timeout", "3", "--hold", "2"]
                    .map(String::from)
                    .to_vec(),
            ]
            .concat(),
            broker.pid,
            Duration::from_secs(120),
        )?;
        let (status, _) = control::get(&control, "/events/wait?event=accept_failed&since=0&timeout_ms=3000")?;
        let warned =
            std::fs::read_to_string(&broker.stderr).unwrap_or_default().contains("accepting connections failed");
        let after = generator::run(
            &self.loadgen,
            &[self.url(&broker, false), ["--connections", "5"].map(String::from).to_vec()].concat(),
            broker.pid,
            Duration::from_secs(60),
        )?;
        let refused = total as f64 - over.number("connect.connected");
        let mut figure = |label: &str, unit: &str, value: f64, target: Option<Target>| {
            let mut f = Figure::new(name, label, unit);
            f.target = target;
            f.kit.push(value);
            outcome.figures.push(f);
        };
        figure(&format!("refused of {total}"), "connections", refused, Some(Target::AtLeast(1.0)));
        figure(
            "stderr says accepting connections failed",
            "yes=1",
            f64::from(u8::from(warned)),
            Some(Target::AtLeast(1.0)),
        );
        figure("accept_failed event", "yes=1", f64::from(u8::from(status == 200)), Some(Target::AtLeast(1.0)));
        figure("served after the others closed", "of 5", after.number("connect.connected"), Some(Target::AtLeast(5.0)));
        outcome.notes.push(format!(
            "{name}: the kit under prlimit --nofile={FD_LIMIT}:{FD_LIMIT} with --control; {total} connections \
             (3 s each), held 2 s; then 5 new ones; failures of the first: {}",
            over.json["connect"]["errors"]
        ));
        Ok(outcome)
    }
}

/// A note when some connections of a run failed, with the counts by stage.
fn connect_failures(run: &GenRun) -> Option<String> {
    let connect = &run.json["connect"];
    let errors = connect["errors"].as_object().filter(|e| !e.is_empty());
    let not_started = connect["not_started"].as_u64().unwrap_or(0);
    (errors.is_some() || not_started > 0).then(|| {
        format!(
            "{} of {} connected; failures by stage {}, not started {not_started}, e.g. {}",
            connect["connected"], connect["attempted"], connect["errors"], connect["error_examples"]
        )
    })
}

/// The kit's record of an ingest run: `GET /stats` must count at least as many `packet_in`
/// events as the generator had PUBACKs, or events were dropped silently.
fn events_check(broker: &Running, run: &GenRun) -> anyhow::Result<String> {
    let control = broker.control.as_deref().context("the kit's ready file has no control URL")?;
    let (status, body) = control::get(control, "/stats")?;
    if status != 200 {
        bail!(
            "GET /stats answered {status} ({body:.120}): this kit has no /stats route, so dropped events cannot be ruled out"
        );
    }
    let stats: serde_json::Value = serde_json::from_str(&body).context("GET /stats is not JSON")?;
    let events = &stats["events"];
    let count = |path: &str, packet: &str| {
        events[path][packet].as_u64().with_context(|| format!("GET /stats has no events.{path}.{packet}"))
    };
    let (publish_in, puback_out) = (count("packets_in", "PUBLISH")?, count("packets_out", "PUBACK")?);
    let acked = run.number("publish.acked_total") as u64;
    // The generator stops with up to a window of messages unacknowledged per device: the
    // broker may have read and acknowledged those too, never fewer than were acknowledged.
    let unacked = (INGEST_DEVICES * INGEST_WINDOW) as u64;
    let line = format!(
        "PUBLISH read {publish_in} and PUBACK sent {puback_out} by the transcript's counts vs {acked} messages \
         acknowledged to the generator (emitted {} events in all, history {})",
        events["emitted"], events["history"]
    );
    if puback_out < acked || puback_out > acked + unacked || publish_in < puback_out {
        bail!("the transcript does not account for every message: {line}");
    }
    Ok(line)
}
