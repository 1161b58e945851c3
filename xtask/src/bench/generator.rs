//! Running `loadgen` pinned to core 1 while reading the broker and the generator at each
//! phase line it prints (`loadgen: phase NAME`), so that CPU shares cover exactly a phase.

use super::procfs::{self, Reading};
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// One run of the generator: its JSON and the readings at each phase line.
pub struct GenRun {
    pub json: serde_json::Value,
    /// By phase name (`connect-start`, `hold-end`...): the broker's and the generator's readings.
    pub phases: BTreeMap<String, (Reading, Reading)>,
    /// The broker's reading just before the generator started.
    pub before: Reading,
    /// What the generator printed besides phase lines, and readings that failed.
    pub log: Vec<String>,
}

impl GenRun {
    fn reading(&self, phase: &str) -> anyhow::Result<&(Reading, Reading)> {
        self.phases.get(phase).with_context(|| format!("no reading at phase {phase}: {}", self.log.join(" | ")))
    }

    /// The broker's and the generator's CPU share (of one core) from phase `from` to `to`.
    pub fn cpu(&self, from: &str, to: &str, ticks: f64) -> anyhow::Result<(f64, f64)> {
        let (a, b) = (self.reading(from)?, self.reading(to)?);
        Ok((procfs::cpu_share(&a.0, &b.0, ticks), procfs::cpu_share(&a.1, &b.1, ticks)))
    }

    /// The broker's RSS at a phase, KiB.
    pub fn broker_rss(&self, phase: &str) -> anyhow::Result<u64> {
        self.reading(phase)?.0.rss_kib.with_context(|| format!("the broker had no VmRSS at phase {phase}"))
    }

    /// A number in the JSON by its path (`connect.rate_per_s`), 0 when absent.
    pub fn number(&self, path: &str) -> f64 {
        path.split('.').fold(&self.json, |v, key| &v[key]).as_f64().unwrap_or(0.0)
    }
}

/// Runs `loadgen run ARGS` pinned to core 1, reading process `broker` at every phase line;
/// the generator is killed if it outlives `limit`.
pub fn run(loadgen: &Path, args: &[String], broker: u32, limit: Duration) -> anyhow::Result<GenRun> {
    let before = procfs::read(broker)?;
    let mut child = Command::new("taskset")
        .args(["-c", "1"])
        .arg(loadgen)
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", loadgen.display()))?;
    let pid = child.id();
    let stderr = child.stderr.take().context("no stderr pipe")?;
    let mut stdout = child.stdout.take().context("no stdout pipe")?;
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).map(|_| text)
    });
    let (finished, finished_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let timed_out = finished_rx.recv_timeout(limit).is_err();
        if timed_out {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        timed_out
    });
    let mut phases = BTreeMap::new();
    let mut messages = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line?;
        match line.strip_prefix("loadgen: phase ") {
            Some(name) => match procfs::read(broker).and_then(|b| Ok((b, procfs::read(pid)?))) {
                Ok(readings) => drop(phases.insert(name.to_string(), readings)),
                Err(e) => messages.push(format!("at phase {name}: {e:#}")),
            },
            None => messages.push(line),
        }
    }
    let status = child.wait()?;
    let _ = finished.send(());
    let killed = watchdog.join().unwrap_or(false);
    let text = out.join().map_err(|_| anyhow::anyhow!("stdout reader failed"))??;
    if killed {
        bail!("loadgen ran past its limit of {limit:?} and was killed (a stuck broker?)");
    }
    if !status.success() {
        bail!("loadgen failed ({status}): {}", messages.join(" | "));
    }
    let json = serde_json::from_str(&text).with_context(|| format!("loadgen's output is not JSON: {text:.200}"))?;
    Ok(GenRun { json, phases, before, log: messages })
}
