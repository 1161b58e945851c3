//! `cargo xtask bench`: the kit's mock broker against mosquitto on this machine, scenario by
//! scenario, each figure repeated (`--runs`, 3 by default) with a fresh broker pinned to core 0
//! and `loadgen` pinned to core 1; a console table and a JSON file. `cargo xtask bench micro`
//! runs the criterion benches of `mock-broker` instead.

mod brokers;
mod certs;
mod control;
mod generator;
mod procfs;
mod report;
mod scenarios;
mod suite;

use anyhow::{Context, bail};
use report::Figure;
use scenarios::{Bench, Outcome};
use std::path::{Path, PathBuf};

pub const HELP: &str = "usage: cargo xtask bench [OPTIONS]
       cargo xtask bench micro [ARGS]   run the criterion benches of mock-broker (cargo bench -p mock-broker ARGS)

Compares the kit's mock broker with mosquitto (when installed: apt-get install mosquitto) on
this machine: each run starts a fresh broker pinned to core 0 and the load generator pinned to
core 1, and reads both processes' CPU time and the broker's VmRSS from /proc.

options:
  --runs N       repeat every figure N times (default 3; connect rates swing 2x between runs)
  --only LIST    run only these scenarios (comma-separated; leaves out `suite` unless named)
  --no-suite     leave out the conformance suite's wall time
  --quick        1 run and smaller counts, to try it out
  --out FILE     the JSON report (default target/bench/bench.json)

scenarios:
  connect-ws     2000 connections over ws, 100 handshakes in flight: rate and p50/p90/p99
                 (targets: rate >= 3x mosquitto, p99 <= 1/8 of mosquitto's)
  connect-wss    the same over wss, one P-256 certificate for both brokers (target: rate >= 5x)
  idle-ws        1000 idle connections: (RSS held - RSS fresh) / 1000 (target: <= 1.0x)
  idle-wss       the same over wss (target: <= 0.8x)
  ingest-qos1    10 devices, QoS 1, 64-byte payloads, as fast as acknowledged: msg/s
                 (target: >= 1.5x); the kit's GET /stats must count every message
  idle-19k       19,000 idle ws connections to the kit for 60 s: broker CPU (target < 5 %), RSS
  fd-limit       the kit under prlimit --nofile=1000 and 1100 connections: refused clearly,
                 still serving once some close (a check: one run)
  suite          conformance --profile quick (target < 10 s) and full (<= 130 s)";

struct Options {
    runs: usize,
    only: Option<Vec<String>>,
    suite: bool,
    quick: bool,
    out: Option<PathBuf>,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options { runs: 3, only: None, suite: true, quick: false, out: None };
    let mut runs_given = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().cloned().with_context(|| format!("{flag} needs a value\n\n{HELP}"));
        match arg.as_str() {
            "--runs" => {
                let text = value("--runs")?;
                options.runs =
                    text.parse().ok().filter(|n| *n > 0).with_context(|| format!("--runs {text:?}: not a count"))?;
                runs_given = true;
            }
            "--only" => {
                let list: Vec<String> = value("--only")?.split(',').map(|s| s.trim().to_string()).collect();
                if let Some(unknown) = list.iter().find(|s| !scenarios::ALL.contains(&s.as_str())) {
                    bail!("--only: no scenario {unknown:?}; the scenarios are {}", scenarios::ALL.join(", "));
                }
                options.only = Some(list);
            }
            "--no-suite" => options.suite = false,
            "--quick" => options.quick = true,
            "--out" => options.out = Some(PathBuf::from(value("--out")?)),
            other => bail!("unknown option {other:?}\n\n{HELP}"),
        }
    }
    if options.quick && !runs_given {
        options.runs = 1;
    }
    Ok(options)
}

impl Options {
    fn selected(&self) -> Vec<&'static str> {
        scenarios::ALL
            .into_iter()
            .filter(|s| match &self.only {
                Some(only) => only.iter().any(|o| o == s),
                None => *s != "suite" || self.suite,
            })
            .collect()
    }
}

pub fn run(root: &Path, target_dir: &Path, args: &[String]) -> anyhow::Result<()> {
    match args.first().map(String::as_str) {
        Some("micro") => {
            return crate::run(crate::cargo().current_dir(root).args(["bench", "-p", "mock-broker"]).args(&args[1..]));
        }
        Some("--help" | "-h") => {
            println!("{HELP}");
            return Ok(());
        }
        _ => {}
    }
    let options = parse(args)?;
    let selected = options.selected();
    eprintln!("xtask: building mock-broker, loadgen, conformance and fixture-client (release)");
    let mut build = crate::cargo();
    build.current_dir(root).args([
        "build",
        "--release",
        "-p",
        "mock-broker",
        "--bin",
        "mock-broker",
        "-p",
        "loadgen",
        "--bin",
        "loadgen",
    ]);
    if selected.contains(&"suite") {
        build.args(["-p", "conformance", "--bin", "conformance", "-p", "fixtures", "--bin", "fixture-client"]);
    }
    crate::run(&mut build)?;
    let bin = target_dir.join("release");

    let mut notes = Vec::new();
    let dir = tempfile::Builder::new().prefix("xtask-bench-").tempdir()?;
    let mosquitto = brokers::find_mosquitto();
    match &mosquitto {
        Some(path) => notes.push(format!("mosquitto: {} ({})", path.display(), mosquitto_version(path))),
        None => notes.push(
            "mosquitto is not installed: the kit was measured alone (apt-get install mosquitto to compare)".into(),
        ),
    }
    if mosquitto.is_some() && running_as_root() {
        // mosquitto drops to its own user before it reads the wss key.
        share_with_mosquitto_user(dir.path())?;
        notes.push(
            "mosquitto ran as root and dropped to user mosquitto, so the bench's temporary certificate \
             directory was made readable to all users (0755, files 0644)"
                .into(),
        );
    }
    if mosquitto.is_some() {
        notes.push(
            "mosquitto (libwebsockets) advances WebSocket handshakes on a 100 ms tick: that shapes its \
             connect latencies, it is not the bench's doing"
                .into(),
        );
    }
    let certs = certs::mint(dir.path())?;
    let registry = dir.path().join("registry.toml");
    let devices = scenarios::devices_needed(&selected, options.quick);
    crate::run(
        std::process::Command::new(bin.join("loadgen")).arg("registry").arg(devices.to_string()).arg(&registry),
    )?;
    notes.push(format!(
        "the kit: --registry of {devices} generated devices, --rate-limit 4294967295 (S-RATE off), ws and wss \
         only, the bench's certificate (--cert/--key/--ca); mosquitto: allow_anonymous, max_connections -1, \
         max_inflight_messages 0, max_queued_messages 0"
    ));
    let bench = Bench {
        kit: bin.join("mock-broker"),
        loadgen: bin.join("loadgen"),
        mosquitto,
        certs,
        registry,
        dir: dir.path().to_path_buf(),
        runs: options.runs,
        quick: options.quick,
        ticks: procfs::ticks_per_second(),
    };

    let mut figures: Vec<Figure> = Vec::new();
    let mut failures = Vec::new();
    for name in &selected {
        let runs = if *name == "fd-limit" { 1 } else { options.runs };
        eprintln!("xtask: bench {name} ({runs} run(s))");
        let outcome = if *name == "suite" { suite::run(&bin, options.runs, dir.path()) } else { bench.run(name) };
        match outcome {
            Ok(Outcome { figures: f, notes: n, failed }) => {
                figures.extend(f);
                notes.extend(n);
                failures.extend(failed.map(|f| format!("{name}: {f}")));
            }
            Err(e) => failures.push(format!("{name}: {e:#}")),
        }
    }
    for figure in &mut figures {
        figure.judge();
    }
    print!("{}", report::table(&figures));
    println!();
    let judged: Vec<_> = figures.iter().filter_map(|f| f.met).collect();
    println!("targets met: {} of {}", judged.iter().filter(|m| **m).count(), judged.len());
    println!(
        "A figure whose generator used >= 90 % of its core is marked (lower bound): the generator, not the broker, may have been the limit."
    );
    for note in &notes {
        println!("- {note}");
    }
    for failure in &failures {
        println!("FAILED {failure}");
    }
    let out = options.out.clone().unwrap_or_else(|| target_dir.join("bench").join("bench.json"));
    write_json(&out, &options, &selected, &figures, &notes, &failures)?;
    println!("wrote {}", out.display());
    if !failures.is_empty() {
        bail!("{} scenario(s) failed", failures.len());
    }
    Ok(())
}

fn write_json(
    out: &Path,
    options: &Options,
    selected: &[&str],
    figures: &[Figure],
    notes: &[String],
    failures: &[String],
) -> anyhow::Result<()> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let json = serde_json::json!({
        "runs": options.runs,
        "quick": options.quick,
        "scenarios": selected,
        "figures": figures,
        "notes": notes,
        "failures": failures,
    });
    std::fs::write(out, serde_json::to_string_pretty(&json)?).with_context(|| format!("writing {}", out.display()))
}

fn mosquitto_version(path: &Path) -> String {
    let output = std::process::Command::new(path).arg("-h").output();
    let text = output.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    text.lines().find(|l| l.contains("version")).unwrap_or("version unknown").trim().to_string()
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn share_with_mosquitto_user(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).context("opening the bench directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_select_scenarios() {
        assert_eq!(parse(&[]).unwrap().selected(), scenarios::ALL);
        assert!(!parse(&args(&["--no-suite"])).unwrap().selected().contains(&"suite"));
        let only = parse(&args(&["--only", "connect-ws,fd-limit"])).unwrap();
        assert_eq!(only.selected(), ["connect-ws", "fd-limit"]);
        let quick = parse(&args(&["--quick"])).unwrap();
        assert_eq!((quick.runs, quick.quick), (1, true));
        assert_eq!(parse(&args(&["--quick", "--runs", "2"])).unwrap().runs, 2);
    }

    #[test]
    fn bad_options_are_named() {
        let only = parse(&args(&["--only", "connect-tcp"])).err().unwrap().to_string();
        assert!(only.contains("no scenario \"connect-tcp\""), "{only}");
        assert!(parse(&args(&["--runs", "0"])).err().unwrap().to_string().contains("not a count"));
        assert!(parse(&args(&["--runs"])).err().unwrap().to_string().contains("needs a value"));
        assert!(parse(&args(&["--fast"])).err().unwrap().to_string().contains("unknown option"));
    }
}
