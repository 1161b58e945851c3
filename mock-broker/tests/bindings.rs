//! The bindings of `bindings/` against the built binary: the Python package's tests
//! (`python3 -m pytest bindings/python`, the pytest plugin included) and the Node package's
//! (`node --test` over `bindings/node/test/`), each with `MOCK_BROKER` naming this build's
//! `mock-broker`, paho-mqtt and MQTT.js as the device clients.
//!
//! Compiled with the `interop` feature only: `cargo xtask test` installs pytest, paho-mqtt and
//! MQTT.js and turns it on.
#![cfg(feature = "interop")]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::interop_dependency_path;

/// The Python tests the run must pass, all of them.
const PYTHON_TESTS: usize = 12;
/// The Node tests the run must pass, all of them.
const NODE_TESTS: usize = 11;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the crate lies in the workspace").to_path_buf()
}

/// Runs a test command at the repository's root against this build's binary; its output, once
/// it has succeeded.
fn run(mut command: Command, what: &str) -> String {
    command.current_dir(repository()).env("MOCK_BROKER", env!("CARGO_BIN_EXE_mock-broker"));
    let output = command.output().unwrap_or_else(|e| panic!("running {what}: {e}"));
    let text = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{what} failed ({}):\n{text}", output.status);
    text
}

#[test]
fn the_python_bindings_and_pytest_plugin_pass_their_tests() {
    let mut pytest = Command::new("python3");
    pytest
        .args(["-m", "pytest", "bindings/python", "-q", "-p", "no:cacheprovider"])
        .env("PYTHONPATH", interop_dependency_path("MOCK_BROKER_INTEROP_PYTHONPATH"))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let output = run(pytest, "pytest bindings/python");
    let summary = format!("{PYTHON_TESTS} passed in ");
    assert!(output.lines().any(|line| line.starts_with(&summary)), "expected `{summary}...`:\n{output}");
}

#[test]
fn the_node_bindings_pass_their_tests() {
    // The files by name: Node 20 takes a directory, later releases take glob patterns instead.
    let dir = repository().join("bindings").join("node").join("test");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".test.js"))
        .collect();
    files.sort();
    let mut node = Command::new("node");
    node.args(["--test", "--test-reporter=tap"])
        .args(&files)
        .env("NODE_PATH", interop_dependency_path("MOCK_BROKER_INTEROP_NODE_PATH"));
    let output = run(node, "node --test bindings/node/test");
    for line in [format!("# pass {NODE_TESTS}"), "# fail 0".to_string()] {
        assert!(output.lines().any(|l| l == line), "expected `{line}`:\n{output}");
    }
}
