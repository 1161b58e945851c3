//! `loadgen` against an in-process mock broker on 127.0.0.1 port 0: a handful of connections
//! over each transport through every phase, and the failures it must name by stage. The JSON
//! is checked for counts and shape only; performance lives in `cargo xtask bench`.

use mock_broker::{Broker, Policy, Registry, Transport};
use serde_json::Value;
use std::path::Path;
use tokio::process::Command;

const CONNECTIONS: usize = 4;

async fn loadgen(args: &[&str]) -> (Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen")).args(args).output().await.expect("loadgen runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "loadgen failed: {stderr}");
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"));
    (json, stderr)
}

/// A broker serving the generated devices (written by `loadgen registry`), uplinks unthrottled.
async fn broker(dir: &Path) -> Broker {
    let file = dir.join("registry.toml");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("registry")
        .arg(CONNECTIONS.to_string())
        .arg(&file)
        .status()
        .unwrap();
    assert!(status.success());
    let registry = Registry::from_toml_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let policy = Policy { uplink_rate_per_second: u32::MAX, ..Policy::default() };
    Broker::builder().registry(registry).policy(policy).start().await.unwrap()
}

async fn every_phase_over(transport: Transport, stages: &[&str], qos: &str) {
    let dir = tempfile::tempdir().unwrap();
    let broker = broker(dir.path()).await;
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, broker.ca_pem().unwrap()).unwrap();
    let url = broker.url(transport).unwrap();
    let n = CONNECTIONS.to_string();
    let args = ["run", "--url", &url, "--ca", ca.to_str().unwrap(), "--connections", &n, "--in-flight", "2"];
    let phases = ["--hold", "0.5", "--publish", "0.5", "--warmup", "0.2", "--qos", qos, "--payload", "64"];
    let (json, stderr) = loadgen(&[&args[..], &phases[..]].concat()).await;

    let connect = &json["connect"];
    assert_eq!(connect["connected"], CONNECTIONS, "{json:#}");
    assert_eq!(connect["errors"], serde_json::json!({}), "{json:#}");
    let timed: Vec<&str> = connect["stages"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(timed, stages, "{json:#}");
    for stage in stages {
        assert_eq!(connect["stages"][stage]["count"], CONNECTIONS, "{stage}: {json:#}");
    }
    assert_eq!(connect["latency"]["count"], CONNECTIONS);
    assert_eq!(json["hold"]["open_at_end"], CONNECTIONS, "{json:#}");
    assert_eq!(json["hold"]["lost"], 0, "{json:#}");
    let publish = &json["publish"];
    assert_eq!(
        (publish["errors"].as_u64(), publish["connections"].as_u64()),
        (Some(0), Some(CONNECTIONS as u64)),
        "{json:#}"
    );
    assert!(publish["sent"].as_u64().unwrap() > 0, "{json:#}");
    if qos == "1" {
        let acked = publish["acked_total"].as_u64().unwrap();
        assert!(acked > 0 && acked <= publish["sent"].as_u64().unwrap(), "{json:#}");
    }
    let order: Vec<&str> = stderr.lines().filter_map(|l| l.strip_prefix("loadgen: phase ")).collect();
    let expected =
        ["connect-start", "connect-end", "hold-start", "hold-end", "publish-start", "publish-measure", "publish-end"];
    assert_eq!(order, expected);
    broker.shutdown().await;
}

#[tokio::test]
async fn ws_runs_every_phase() {
    every_phase_over(Transport::Ws, &["mqtt", "tcp", "ws"], "1").await;
}

#[tokio::test]
async fn wss_runs_every_phase() {
    every_phase_over(Transport::Wss, &["mqtt", "tcp", "tls", "ws"], "1").await;
}

#[tokio::test]
async fn tcp_runs_every_phase() {
    every_phase_over(Transport::Tcp, &["mqtt", "tcp"], "0").await;
}

#[tokio::test]
async fn tls_runs_every_phase() {
    every_phase_over(Transport::Tls, &["mqtt", "tcp", "tls"], "1").await;
}

#[tokio::test]
async fn a_refused_connect_is_counted_at_the_mqtt_stage() {
    let broker = Broker::builder().device("a1Other0Prd", "someone-else", "s3cret").start().await.unwrap();
    let url = broker.url(Transport::Tcp).unwrap();
    let (json, _) = loadgen(&["run", "--url", &url, "--connections", "2"]).await;
    assert_eq!(json["connect"]["connected"], 0);
    assert_eq!(json["connect"]["errors"], serde_json::json!({"mqtt": 2}), "{json:#}");
    let example = json["connect"]["error_examples"]["mqtt"][0].as_str().unwrap();
    assert_eq!(example, "CONNACK refused with code 0x04");
    broker.shutdown().await;
}

#[tokio::test]
async fn a_silent_server_is_a_timeout_at_the_upgrade_not_a_hang() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/mqtt", silent.local_addr().unwrap());
    let (json, _) = loadgen(&["run", "--url", &url, "--connections", "2", "--connect-timeout", "0.5"]).await;
    assert_eq!(json["connect"]["errors"], serde_json::json!({"ws": 2}), "{json:#}");
    let example = json["connect"]["error_examples"]["ws"][0].as_str().unwrap();
    assert!(example.contains("timed out"), "{example}");
}

#[tokio::test]
async fn bad_input_is_a_clear_error() {
    for (args, says) in [
        (&["run", "--url", "http://x:1"][..], "none of ws, wss, tcp, tls"),
        (&["run", "--url", "wss://localhost:1/mqtt"][..], "needs --ca FILE"),
        (&["run", "--url", "ws://127.0.0.1:1", "--keepalive", "60", "--keepalive-max", "30"][..], "below --keepalive"),
        (&["run", "--url", "ws://127.0.0.1:1", "--connections", "2", "--device", "a/b/c"][..], "2 connections need 2"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_loadgen")).args(args).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
