//! A non-Rust client of the control endpoint: `tests/control/test_control.py` (Python's
//! standard library only) starts the built `mock-broker --control`, arms a fault over HTTP,
//! logs a device in over MQTT, reads and long-polls events, rotates a secret and shuts the
//! broker down; then plays the worked scenario `examples/scenarios/platform-restart.toml` and
//! logs in through its CONNACK 0x03 storm. Skipped, saying so, only where there is no
//! `python3`.

use std::process::Command;

#[test]
fn python_drives_the_control_endpoint() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/control/test_control.py");
    let output = match Command::new("python3")
        .arg(script)
        .env("MOCK_BROKER", env!("CARGO_BIN_EXE_mock-broker"))
        .env("MOCK_BROKER_SCENARIOS", concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/scenarios"))
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("SKIPPED python_drives_the_control_endpoint: no python3 on PATH ({e})");
            return;
        }
        Err(e) => panic!("running python3 {script}: {e}"),
    };
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "python3 {script} failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stderr.contains("Ran 6 tests") && stderr.trim_end().ends_with("OK"), "{stderr}");
}
