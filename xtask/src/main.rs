//! `cargo xtask`: the project's tasks, in Rust so they run wherever cargo does.
//!
//! - `cargo xtask test`: installs the third-party interop clients (paho-mqtt for Python,
//!   MQTT.js for Node) into `target/interop/`, then runs every test of the workspace, the
//!   interop tests (feature `interop`) included, then the doctests (which `--all-targets`
//!   leaves out).
//! - `cargo xtask interop-deps`: only the install step.
//! - `cargo xtask conformance [CLIENT] [FLAGS] [-- CLIENT ARGS]`: builds the fixture clients
//!   and runs the conformance suite against
//!   `CLIENT`, a path or a fixture name (the reference fixture by default). The suite's own
//!   `--help` lists its flags; its exit code is the task's.
//! - `cargo xtask fuzz [SECONDS]`: a bounded pass of the coverage-guided fuzz targets of
//!   `fuzz/` (cargo-fuzz, nightly), SECONDS per target; skipped, saying why, without nightly.
//! - `cargo xtask bench [OPTIONS]`: the kit's mock broker against mosquitto (connect rates,
//!   idle memory, ingest, 19k idle connections, the fd limit, the suite's wall time) with the
//!   `loadgen` load generator; `cargo xtask bench micro` runs mock-broker's criterion benches.
//! - `cargo xtask rules`: writes `RULES.md`, the rules reference, from the code's rule tables
//!   and the conformance catalogue (`conformance --rules-reference`).

mod bench;
mod fuzz;
mod interop;
#[cfg(test)]
mod tidy;

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("test") => {
            let deps = interop::install(&root)?;
            let mut tests = cargo();
            tests.current_dir(&root).args(["test", "--workspace", "--all-targets"]);
            tests.args(["--features", "mock-broker/interop,conformance/interop"]).args(&args[1..]);
            deps.apply(&mut tests);
            run(&mut tests)?;
            // `--all-targets` leaves out the doctests (the crate docs' tutorial): run them too.
            run(cargo().current_dir(&root).args(["test", "--workspace", "--doc"]))
        }
        Some("interop-deps") => interop::install(&root).map(|deps| println!("{deps}")),
        Some("conformance") => conformance(&root, &args[1..]),
        Some("rules") => rules(&root),
        Some("fuzz") => fuzz::run(&root, &args[1..]),
        Some("bench") => bench::run(&root, &target_dir(&root), &args[1..]),
        Some(other) => bail!("unknown task {other:?}\n\n{USAGE}"),
        None => {
            println!("{USAGE}");
            Ok(())
        }
    }
}

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  test [ARGS]     install the interop clients into target/interop, then cargo test --workspace
                  (ARGS go to the run of every target; the doctests run after it)
  interop-deps    only install the interop clients (paho-mqtt, MQTT.js)
  conformance [CLIENT] [FLAGS] [-- CLIENT ARGS]
                  run the conformance suite against CLIENT (a path, or a fixture name;
                  default: the reference fixture); `cargo xtask conformance --help` for flags
  fuzz [SECONDS]  run each coverage-guided fuzz target for SECONDS (default 60; needs nightly,
                  skipped without it)
  bench [OPTIONS] compare the mock broker with mosquitto (connect rates, memory, ingest...);
                  `cargo xtask bench --help` for the scenarios; `bench micro`: criterion benches
  rules           write RULES.md, the rules reference, from the rule tables and the catalogue";

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Builds the `conformance` and `fixture-client` binaries (cargo shows its progress: a first
/// build takes minutes, and silence would look like a hang), then runs the suite with
/// `--fixture-bin` pointing at the fixture client. The suite's exit code becomes ours.
fn conformance(root: &Path, args: &[String]) -> anyhow::Result<()> {
    eprintln!("xtask: building the conformance suite and the fixture client");
    let build = ["build", "-p", "conformance", "--bin", "conformance", "-p", "fixtures", "--bin", "fixture-client"];
    run(cargo().current_dir(root).args(build))?;
    let bin = target_dir(root).join("debug");
    // The suite runs in the caller's directory, where a client path or --out DIR is relative to.
    let mut suite = Command::new(bin.join("conformance"));
    suite.arg("--fixture-bin").arg(bin.join("fixture-client"));
    let status = suite.args(args).status().with_context(|| format!("starting {suite:?}"))?;
    std::process::exit(status.code().unwrap_or(2));
}

/// Writes `RULES.md` at the root: what `conformance --rules-reference` prints.
fn rules(root: &Path) -> anyhow::Result<()> {
    let mut generator = cargo();
    generator.current_dir(root).args([
        "run",
        "-q",
        "-p",
        "conformance",
        "--bin",
        "conformance",
        "--",
        "--rules-reference",
    ]);
    // Build errors go straight to the terminal; only the reference is captured.
    let output = generator.stderr(Stdio::inherit()).output().with_context(|| format!("starting {generator:?}"))?;
    if !output.status.success() {
        bail!("{generator:?} failed: {}", output.status);
    }
    let path = root.join("RULES.md");
    std::fs::write(&path, &output.stdout).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Where cargo builds: `CARGO_TARGET_DIR`, else `target/` at the root.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives inside the workspace").to_path_buf()
}

/// Runs a command, failing with its command line when it fails.
fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}
