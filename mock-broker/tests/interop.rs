//! Interoperability with third-party clients over ws and wss: paho-mqtt (Python) and MQTT.js
//! (Node), pinned and installed by `cargo xtask test`, run as real child processes.
//! Each connects with correct credentials, a wrong secret and a wrong securemode.
//!
//! Compiled with the `interop` feature only, which `cargo xtask test` turns on after installing
//! the clients, so that `cargo test --workspace` passes offline without them.
#![cfg(feature = "interop")]

mod support;

use mock_broker::auth::{SignMethod, sign, sign_content};
use mock_broker::{CloseReason, EventKind, Transport};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const PREFIX: &str = "interop-1";

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("interop").join(name)
}

#[derive(Clone, Copy, Debug)]
enum Client {
    Paho,
    MqttJs,
}

impl Client {
    fn command(self) -> Command {
        match self {
            Client::Paho => {
                let mut c = Command::new("python3");
                c.arg(script("paho_connect.py"))
                    .env("PYTHONPATH", interop_dependency_path("MOCK_BROKER_INTEROP_PYTHONPATH"));
                c
            }
            Client::MqttJs => {
                let mut c = Command::new("node");
                c.arg(script("mqttjs_connect.js"))
                    .env("NODE_PATH", interop_dependency_path("MOCK_BROKER_INTEROP_NODE_PATH"));
                c
            }
        }
    }

    /// Runs the client once; returns what it printed as JSON.
    async fn connect(self, url: &str, securemode: &str, secret: &str, ca_file: &Path) -> serde_json::Value {
        let client_id = format!("{PREFIX}|securemode={securemode},signmethod=hmacsha256,timestamp=1700000000000|");
        let content = sign_content(Some(PREFIX), DN, PK, Some("1700000000000"));
        let password = sign(SignMethod::HmacSha256, secret, &content);
        let mut command = self.command();
        command.args([url, &client_id, "device&pk", &password]).arg(ca_file);
        let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("the client starts");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| {
            panic!(
                "{self:?} printed no JSON ({e}); status {}, stdout {stdout}, stderr {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }
}

async fn check(client: Client) {
    let mut tb = TestBroker::start().await;
    let ca_dir = tempfile::tempdir().unwrap();
    let ca_file = ca_dir.path().join("ca.pem");
    std::fs::write(&ca_file, tb.broker.ca_pem().unwrap()).unwrap();
    for transport in [Transport::Ws, Transport::Wss] {
        let url = tb.broker.url(transport).unwrap();
        let right = transport.expected_securemode();
        let wrong = if right == "2" { "3" } else { "2" };
        for (case, securemode, secret, rc) in [
            ("correct", right, SECRET, 0),
            ("wrong secret", right, "not-the-secret", 4),
            ("wrong securemode", wrong, SECRET, 2),
        ] {
            let result = client.connect(&url, securemode, secret, &ca_file).await;
            assert_eq!(result["rc"], rc, "{client:?} over {transport}, {case}: {result}");
            let conn = tb.next_conn().await;
            let events = tb.until(conn, |k| matches!(k, EventKind::Closed { .. } | EventKind::Online { .. })).await;
            if rc != 0 {
                assert!(
                    matches!(&events.last().unwrap().kind, EventKind::Closed { reason: CloseReason::Refused { .. } }),
                    "{events:#?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn paho_mqtt_connects_and_is_refused_as_the_platform_would() {
    check(Client::Paho).await;
}

#[tokio::test]
async fn mqtt_js_connects_and_is_refused_as_the_platform_would() {
    check(Client::MqttJs).await;
}
