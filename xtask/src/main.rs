//! `cargo xtask`: the project's tasks, in Rust so they run wherever cargo does.
//!
//! - `cargo xtask test`: installs the third-party interop clients (paho-mqtt for Python,
//!   MQTT.js for Node) into `target/interop/`, then runs every test of the workspace.
//! - `cargo xtask interop-deps`: only the install step.

mod interop;
#[cfg(test)]
mod tidy;

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("test") => {
            let deps = interop::install(&root)?;
            let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cargo.current_dir(&root).args(["test", "--workspace", "--all-targets"]).args(&args[1..]);
            deps.apply(&mut cargo);
            run(&mut cargo)
        }
        Some("interop-deps") => interop::install(&root).map(|deps| println!("{deps}")),
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
  interop-deps    only install the interop clients (paho-mqtt, MQTT.js)";

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
