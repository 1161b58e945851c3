//! `cargo xtask fuzz [SECONDS]`: a bounded pass of the coverage-guided fuzz targets in
//! `fuzz/` (cargo-fuzz, libFuzzer), `SECONDS` per target (60 by default).
//!
//! cargo-fuzz needs a nightly toolchain. Without one the pass is skipped, saying why: the
//! property-based stream fuzzer (`mock-broker/tests/stream_fuzz.rs`) still runs in
//! `cargo test`. cargo-fuzz itself is installed from crates.io when missing
//! (`cargo install cargo-fuzz --locked`; if that fails, the pass is skipped, saying so). Each target starts from its committed seed corpus
//! (`fuzz/corpus/TARGET/`, read only) and writes what it learns to a scratch corpus under the
//! target directory, so the committed one stays as generated. A crash fails the task and
//! leaves its input in `fuzz/artifacts/TARGET/`.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The targets of `fuzz/Cargo.toml`, in the order they run.
pub const TARGETS: [&str; 4] = ["mqtt_decode", "client_id", "ws_frames", "connection"];

/// Seconds per target when none is given.
const DEFAULT_SECONDS: u64 = 60;

/// Builds every target, then runs each for `seconds`.
pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let seconds = match args.first() {
        Some(s) => s.parse::<u64>().with_context(|| format!("SECONDS must be a whole number, not {s:?}"))?,
        None => DEFAULT_SECONDS,
    };
    if let Err(why) = nightly() {
        println!("xtask fuzz: the coverage-guided pass is skipped: {why}");
        println!(
            "xtask fuzz: (cargo-fuzz needs a nightly toolchain; the property-based stream fuzzer still runs in cargo test)"
        );
        return Ok(());
    }
    if !quiet(nightly_cargo().args(["fuzz", "--version"])) {
        eprintln!("xtask fuzz: installing cargo-fuzz from crates.io");
        let status = Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]).status();
        if !status.is_ok_and(|s| s.success()) {
            println!("xtask fuzz: the coverage-guided pass is skipped: `cargo install cargo-fuzz --locked` failed");
            return Ok(());
        }
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    eprintln!("xtask fuzz: building the targets");
    crate::run(nightly_cargo().current_dir(root).args(["fuzz", "build", "--sanitizer", "none"]))?;
    for target in TARGETS {
        let scratch = target_dir.join("fuzz-corpus").join(target);
        std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
        let seeds = root.join("fuzz").join("corpus").join(target);
        eprintln!("xtask fuzz: {target} for {seconds} s");
        let mut fuzz = nightly_cargo();
        fuzz.current_dir(root).args(["fuzz", "run", "--sanitizer", "none", target]).arg(&scratch).arg(&seeds);
        // A hang is an input that takes over 10 s; a run ends after `seconds`.
        fuzz.args(["--", &format!("-max_total_time={seconds}"), "-timeout=10", "-print_final_stats=1"]);
        crate::run(&mut fuzz)?;
    }
    println!("xtask fuzz: {} targets ran {seconds} s each without a crash", TARGETS.len());
    Ok(())
}

/// `cargo +nightly`: through rustup's proxy, whatever cargo runs this task.
fn nightly_cargo() -> Command {
    let mut cargo = Command::new("cargo");
    cargo.arg("+nightly").env_remove("RUSTUP_TOOLCHAIN");
    cargo
}

/// Whether `cargo +nightly` works; the reason when not.
fn nightly() -> Result<(), String> {
    match nightly_cargo().arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!("`cargo +nightly` fails: {}", String::from_utf8_lossy(&out.stderr).trim())),
        Err(e) => Err(format!("`cargo` cannot be started through rustup: {e}")),
    }
}

/// Whether a command succeeds, its output hidden.
fn quiet(command: &mut Command) -> bool {
    command.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}
