//! The third-party MQTT clients the interop tests drive: paho-mqtt (Python) and MQTT.js
//! (Node), pinned, installed from the package registries into `target/interop/`; beside
//! paho-mqtt, pytest, which runs the Python bindings' tests (`bindings/python`).
//!
//! The tests find them through `MOCK_BROKER_INTEROP_PYTHONPATH` and
//! `MOCK_BROKER_INTEROP_NODE_PATH`; without those variables they fail and say to run
//! `cargo xtask test`.

use crate::run;
use anyhow::Context;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pinned paho-mqtt release.
const PAHO: &str = "paho-mqtt==2.1.0";
/// The pinned pytest release (the Python bindings' tests, `mock-broker/tests/bindings.rs`).
const PYTEST: &str = "pytest==8.4.2";
/// The pinned MQTT.js release.
const MQTTJS: &str = "mqtt@5.16.0";

/// Where the installed clients are.
pub struct InteropDeps {
    python_path: PathBuf,
    node_path: PathBuf,
}

impl InteropDeps {
    /// Points a test run at the installed clients.
    pub fn apply(&self, command: &mut Command) {
        command.env("MOCK_BROKER_INTEROP_PYTHONPATH", &self.python_path);
        command.env("MOCK_BROKER_INTEROP_NODE_PATH", &self.node_path);
    }
}

impl fmt::Display for InteropDeps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "export MOCK_BROKER_INTEROP_PYTHONPATH={}", self.python_path.display())?;
        write!(f, "export MOCK_BROKER_INTEROP_NODE_PATH={}", self.node_path.display())
    }
}

/// Installs both clients unless the pinned versions are already there.
pub fn install(root: &Path) -> anyhow::Result<InteropDeps> {
    let base = root.join("target").join("interop");
    let python_path = base.join("python");
    let node_prefix = base.join("node");
    let paho_marker = python_path.join(format!(".installed-{PAHO}-{PYTEST}"));
    if !paho_marker.exists() {
        eprintln!("xtask: installing {PAHO} and {PYTEST} into {}", python_path.display());
        run(Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade", "--target"])
            .arg(&python_path)
            .args([PAHO, PYTEST]))?;
        std::fs::write(&paho_marker, "").context("marking the paho-mqtt and pytest install")?;
    }
    let mqttjs_marker = node_prefix.join(format!(".installed-{MQTTJS}"));
    if !mqttjs_marker.exists() {
        eprintln!("xtask: installing {MQTTJS} into {}", node_prefix.display());
        std::fs::create_dir_all(&node_prefix)?;
        run(Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--no-save", "--no-package-lock", "--prefix"])
            .arg(&node_prefix)
            .arg(MQTTJS))?;
        std::fs::write(&mqttjs_marker, "").context("marking the MQTT.js install")?;
    }
    Ok(InteropDeps { python_path, node_path: node_prefix.join("node_modules") })
}
