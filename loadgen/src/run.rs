//! A run's flags and its phases in order: connect, hold, publish; then the JSON result.

use crate::connection::{self, Dialed, Idle, Plan};
use crate::dial::Dialer;
use crate::identity::{self, Device};
use crate::link::Link;
use crate::publish;
use crate::stats::{StageAccount, StageSummary};
use crate::target::Target;
use anyhow::{Context, ensure};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// ws://HOST:PORT/PATH, wss://..., tcp://HOST:PORT or tls://HOST:PORT
    #[arg(long)]
    url: String,
    /// The CA certificate (PEM) to trust, for wss and tls
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Connections to open
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Handshakes in flight at once
    #[arg(long, default_value_t = 100)]
    in_flight: usize,
    /// A device PRODUCT_KEY/DEVICE_NAME/SECRET (repeatable, one per connection); without it,
    /// generated devices (`loadgen registry` writes them for the mock broker)
    #[arg(long)]
    device: Vec<String>,
    /// Keepalive to declare, seconds; with --keepalive-max, spread over the range
    #[arg(long, default_value_t = 60)]
    keepalive: u16,
    #[arg(long)]
    keepalive_max: Option<u16>,
    /// Seconds each connection has for all its stages
    #[arg(long, default_value_t = 10.0)]
    connect_timeout: f64,
    /// Seconds the whole connect phase may take; attempts not started by then are not made
    #[arg(long, default_value_t = 120.0)]
    connect_phase_timeout: f64,
    /// Seconds to hold the connections idle after the connect phase
    #[arg(long, default_value_t = 0.0)]
    hold: f64,
    /// Seconds to publish (measured, after --warmup)
    #[arg(long, default_value_t = 0.0)]
    publish: f64,
    /// Seconds of publishing before the measurement starts
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// QoS of the publishes: 0 or 1
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    qos: u8,
    /// Unacknowledged QoS 1 messages per connection (QoS 0: messages per write)
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// Payload bytes of each PUBLISH
    #[arg(long, default_value_t = 64)]
    payload: usize,
    /// Messages per second over all connections (default: as fast as possible)
    #[arg(long)]
    rate: Option<f64>,
}

/// The JSON printed on stdout.
#[derive(Serialize)]
struct Output {
    url: String,
    connections: usize,
    in_flight: usize,
    connect: ConnectReport,
    hold: Option<HoldReport>,
    publish: Option<publish::Report>,
}

#[derive(Serialize)]
struct ConnectReport {
    attempted: usize,
    /// From the first attempt to the last attempt's end.
    elapsed_s: f64,
    /// Successful connections per second of `elapsed_s`.
    rate_per_s: f64,
    #[serde(flatten)]
    stages: StageSummary,
}

#[derive(Serialize)]
struct HoldReport {
    seconds: f64,
    /// Connections still open at the end of the hold.
    open_at_end: usize,
    pings: u64,
    pongs: u64,
    /// Connections that ended while idle (during the connect phase or the hold).
    lost: usize,
    lost_examples: Vec<String>,
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).with_context(|| format!("--{flag} {value}: not a number of seconds"))
}

fn phase(name: &str) {
    eprintln!("loadgen: phase {name}");
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let target = Target::parse(&args.url)?;
    let keepalive = (args.keepalive, args.keepalive_max.unwrap_or(args.keepalive));
    ensure!(keepalive.0 <= keepalive.1, "--keepalive-max {} is below --keepalive {}", keepalive.1, keepalive.0);
    ensure!(args.in_flight > 0, "--in-flight must be at least 1");
    ensure!((1..=65_535).contains(&args.window), "--window must be 1..=65535 (QoS 1 packet identifiers are 16 bits)");
    ensure!(args.rate.is_none_or(|r| r > 0.0 && r.is_finite()), "--rate must be a positive number");
    let ca = match &args.ca {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("reading --ca {}", path.display()))?),
        None => None,
    };
    let devices = identity::devices(&args.device, args.connections)?;
    let plan = Arc::new(Plan {
        dialer: Dialer::new(target, ca.as_deref()).await?,
        handshakes: Semaphore::new(args.in_flight),
        connect_timeout: seconds(args.connect_timeout, "connect-timeout")?,
        phase_deadline: Instant::now() + seconds(args.connect_phase_timeout, "connect-phase-timeout")?,
        keepalive,
    });
    let (hold, publish_for) = (seconds(args.hold, "hold")?, seconds(args.publish, "publish")?);
    let spec = publish::Spec {
        qos1: args.qos == 1,
        window: args.window,
        payload: args.payload,
        rate: args.rate,
        warmup: seconds(args.warmup, "warmup")?,
        measure: publish_for,
    };

    phase("connect-start");
    let (dialed_tx, mut dialed_rx) = mpsc::unbounded_channel();
    let (release_tx, release_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    for (index, device) in devices.iter().take(args.connections).enumerate() {
        let task = connection::run(index, device.clone(), plan.clone(), dialed_tx.clone(), release_rx.clone());
        tasks.spawn(async move { (index, task.await) });
    }
    drop(dialed_tx);
    let mut account = StageAccount::default();
    let mut last = started;
    // Each attempt reports once, by its own deadline (within the phase's) or not at all.
    let reports_by = plan.phase_deadline + plan.connect_timeout;
    for _ in 0..args.connections {
        let Ok(Some(dialed)) = tokio::time::timeout_at(reports_by, dialed_rx.recv()).await else { break };
        match dialed {
            Dialed::Connected(times) => account.success(&times),
            Dialed::Failed(error) => account.failure(&error),
            Dialed::NotStarted => account.not_started(),
        }
        last = Instant::now();
    }
    phase("connect-end");
    let elapsed = (last - started).as_secs_f64();
    let stages = account.summary();
    let connect = ConnectReport {
        attempted: args.connections,
        elapsed_s: elapsed,
        rate_per_s: stages.connected as f64 / elapsed.max(f64::EPSILON),
        stages,
    };

    if !hold.is_zero() {
        phase("hold-start");
        tokio::time::sleep(hold).await;
        phase("hold-end");
    }
    release_tx.send_replace(true);
    let (links, idle) = collect(tasks, &devices).await;
    let hold = (!hold.is_zero()).then(|| HoldReport {
        seconds: hold.as_secs_f64(),
        open_at_end: links.len(),
        pings: idle.iter().map(|i| i.pings).sum(),
        pongs: idle.iter().map(|i| i.pongs).sum(),
        lost: idle.iter().filter(|i| i.lost.is_some()).count(),
        lost_examples: idle.iter().filter_map(|i| i.lost.clone()).take(3).collect(),
    });
    let publish = if publish_for.is_zero() {
        None
    } else {
        phase("publish-start");
        let report = publish::run(links, &spec, || phase("publish-measure")).await;
        phase("publish-end");
        Some(report)
    };
    let output =
        Output { url: args.url, connections: args.connections, in_flight: args.in_flight, connect, hold, publish };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

/// Joins every connection task (each returns promptly once released), in connection order.
async fn collect(
    mut tasks: JoinSet<(usize, (Option<Link>, Idle))>,
    devices: &[Device],
) -> (Vec<(Link, Device)>, Vec<Idle>) {
    let mut done = Vec::new();
    while let Ok(Some(joined)) = tokio::time::timeout(Duration::from_secs(10), tasks.join_next()).await {
        done.extend(joined.ok());
    }
    done.sort_by_key(|(index, _)| *index);
    let mut links = Vec::new();
    let mut idle = Vec::new();
    for (index, (link, counts)) in done {
        links.extend(link.map(|l| (l, devices[index].clone())));
        idle.push(counts);
    }
    (links, idle)
}
