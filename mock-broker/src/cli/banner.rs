//! What a newcomer sees on start: the URLs, the CA, a device's credentials and examples to
//! paste, computed by the broker itself so they are right by construction.

use crate::auth::{SignMethod, sign, sign_content};
use crate::broker::Broker;
use crate::registry::Device;
use crate::transport::Transport;
use std::fmt::Write;
use std::path::Path;

/// The client id prefix the examples use.
const EXAMPLE_CLIENT_ID: &str = "example-1";
/// The timestamp the examples sign (any digit string works: A-TIMESTAMP).
const EXAMPLE_TIMESTAMP: &str = "1700000000000";

/// The banner text.
pub fn text(
    broker: &Broker,
    ca_file: Option<&Path>,
    device: Option<&Device>,
    demo: bool,
    control: Option<&str>,
) -> String {
    let mut out = String::from("Aliyun IoT Platform mock broker\n\n");
    for transport in broker.transports() {
        let _ = writeln!(out, "  {:<4} {}", transport.scheme(), broker.url(transport).unwrap_or_default());
    }
    if let Some(addr) = broker.mux_addr() {
        let urls: Vec<String> = Transport::ALL.into_iter().filter_map(|t| broker.mux_url(t)).collect();
        let _ = writeln!(out, "  mux  {addr}: all four on one port, told apart by the first bytes (T-MUX)");
        let _ = writeln!(out, "       {}", urls.join("  "));
    }
    if let Some(url) = control {
        let _ = writeln!(out, "\n  Control endpoint (HTTP + JSON): {url}   e.g. curl {url}/faults");
    }
    if let Some(ca) = ca_file {
        let _ = writeln!(out, "\n  CA certificate for wss/tls: {}", ca.display());
    }
    let Some(device) = device else {
        out.push_str("\n  The registry has no enabled device.\n");
        return out;
    };
    let _ = writeln!(out, "\n  Device: productKey={} deviceName={}", device.product_key, device.device_name);
    if demo {
        let _ = writeln!(out, "  deviceSecret={} (embedded demo registry)", device.secret);
    }
    for transport in [Transport::Ws, Transport::Wss] {
        if let Some(url) = broker.url(transport) {
            out.push('\n');
            out.push_str(&paho_example(transport, &url, device, ca_file));
        }
    }
    if let Some(url) = broker.url(Transport::Ws) {
        out.push('\n');
        out.push_str(&mqttjs_example(&url, device));
    }
    out.push_str("\nEvents follow, one line each (Ctrl-C stops the broker).\n");
    out
}

/// mqttClientId, username and password for the device over `transport`, signed hmacsha1.
fn credentials(transport: Transport, device: &Device) -> (String, String, String) {
    let client_id = format!(
        "{EXAMPLE_CLIENT_ID}|securemode={},signmethod=hmacsha1,timestamp={EXAMPLE_TIMESTAMP}|",
        transport.expected_securemode()
    );
    let content =
        sign_content(Some(EXAMPLE_CLIENT_ID), &device.device_name, &device.product_key, Some(EXAMPLE_TIMESTAMP));
    let password = sign(SignMethod::HmacSha1, &device.secret, &content);
    (client_id, format!("{}&{}", device.device_name, device.product_key), password)
}

fn host_port(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.rsplit_once(':').unwrap_or((authority, ""))
}

fn paho_example(transport: Transport, url: &str, device: &Device, ca_file: Option<&Path>) -> String {
    let (client_id, username, password) = credentials(transport, device);
    let (host, port) = host_port(url);
    let tls = match (transport.is_tls(), ca_file) {
        (true, Some(ca)) => format!("c.tls_set(ca_certs={:?})\n", ca.display().to_string()),
        _ => String::new(),
    };
    format!(
        "  Try {transport} with Python (pip install paho-mqtt):\n\
python3 - <<'EOF'\n\
import paho.mqtt.client as mqtt\n\
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id={client_id:?}, transport=\"websockets\")\n\
c.username_pw_set({username:?}, {password:?})\n\
c.ws_set_options(path=\"/mqtt\")\n\
{tls}c.on_connect = lambda c, u, f, rc, p: (print(\"connected:\", rc), c.disconnect())\n\
c.connect({host:?}, {port}, keepalive=60)\n\
c.loop_forever()\n\
EOF\n"
    )
}

fn mqttjs_example(url: &str, device: &Device) -> String {
    let (client_id, username, password) = credentials(Transport::Ws, device);
    format!(
        "  Try ws with Node.js (npm install mqtt):\n\
node -e 'const c = require(\"mqtt\").connect(\"{url}\", {{clientId: \"{client_id}\", username: \"{username}\", password: \"{password}\", keepalive: 60, protocolVersion: 4}}); c.on(\"connect\", a => {{ console.log(\"connected:\", a.returnCode); c.end(); }}); c.on(\"error\", e => {{ console.log(e.message); c.end(); }})'\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_splits_urls() {
        assert_eq!(host_port("ws://127.0.0.1:4000/mqtt"), ("127.0.0.1", "4000"));
        assert_eq!(host_port("wss://localhost:4001/mqtt"), ("localhost", "4001"));
    }

    #[test]
    fn example_credentials_follow_the_documented_form() {
        let device =
            Device { product_key: "pk".into(), device_name: "device".into(), secret: "secret".into(), enabled: true };
        let (client_id, username, password) = credentials(Transport::Wss, &device);
        assert_eq!(client_id, "example-1|securemode=2,signmethod=hmacsha1,timestamp=1700000000000|");
        assert_eq!(username, "device&pk");
        assert_eq!(password.len(), 40);
        assert!(!password.contains("secret"));
    }
}
