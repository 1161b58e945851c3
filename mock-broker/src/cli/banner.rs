//! What a newcomer sees on start: the URLs, the CA, a device's credentials and examples to
//! paste, computed by the broker itself so they are right by construction.
//!
//! An example's password is the device's signature, which the platform would accept too (it
//! does not check the timestamp's freshness). It is printed only for the embedded demo
//! device, whose secret is published, or with `--reveal-signatures`; otherwise the examples
//! say [`PASSWORD_PLACEHOLDER`] and the banner tells how to compute it.

use crate::auth::{SignMethod, sign_content};
use crate::broker::Broker;
use crate::credentials::Credentials;
use crate::registry::Device;
use crate::transport::Transport;
use std::fmt::Write;
use std::path::Path;

/// The client id prefix the examples use.
const EXAMPLE_CLIENT_ID: &str = "example-1";
/// The timestamp the examples sign (any digit string works: A-TIMESTAMP).
const EXAMPLE_TIMESTAMP: &str = "1700000000000";
/// What the examples say instead of a password that is not printed.
const PASSWORD_PLACEHOLDER: &str = "PASSWORD";

/// The banner text. `demo`: the registry is the embedded demo's; `reveal`: the examples'
/// password may be printed whatever the device (`--reveal-signatures`).
pub fn text(
    broker: &Broker,
    ca_file: Option<&Path>,
    device: Option<&Device>,
    demo: bool,
    reveal: bool,
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
        let _ = writeln!(out, "  deviceSecret={} (embedded demo registry)", device.secret.expose());
    }
    let reveal = reveal || device.is_demo();
    if !reveal {
        out.push_str(&password_note(device));
    }
    for transport in [Transport::Ws, Transport::Wss] {
        if let Some(url) = broker.url(transport) {
            out.push('\n');
            out.push_str(&paho_example(transport, &url, device, reveal, ca_file));
        }
    }
    if let Some(url) = broker.url(Transport::Ws) {
        out.push('\n');
        out.push_str(&mqttjs_example(&url, device, reveal));
    }
    out.push_str("\nEvents follow, one line each (Ctrl-C stops the broker).\n");
    out
}

/// The sign content of the examples (the same over every transport).
fn example_content(device: &Device) -> String {
    sign_content(Some(EXAMPLE_CLIENT_ID), &device.device_name, &device.product_key, Some(EXAMPLE_TIMESTAMP))
}

/// How to compute the examples' password, which is not printed, or have it printed.
fn password_note(device: &Device) -> String {
    format!(
        "\n  The examples' password is the device's hmacsha1 signature, which the platform would accept\n  \
         too, so it is not printed here: they say {PASSWORD_PLACEHOLDER}. Compute it (the hex digits printed) with\n    \
         printf %s '{}' | openssl dgst -sha1 -hmac \"$DEVICE_SECRET\"\n  \
         or start the broker with --reveal-signatures to print it.\n",
        example_content(device)
    )
}

/// mqttClientId, username and password for the device over `transport`, signed hmacsha1;
/// the password is [`PASSWORD_PLACEHOLDER`] unless `reveal`.
fn credentials(transport: Transport, device: &Device, reveal: bool) -> (String, String, String) {
    let signed = Credentials::sign(device, transport, SignMethod::HmacSha1, EXAMPLE_CLIENT_ID, EXAMPLE_TIMESTAMP);
    let password = if reveal { signed.password } else { PASSWORD_PLACEHOLDER.to_owned() };
    (signed.client_id, signed.username, password)
}

fn host_port(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.rsplit_once(':').unwrap_or((authority, ""))
}

fn paho_example(transport: Transport, url: &str, device: &Device, reveal: bool, ca_file: Option<&Path>) -> String {
    let (client_id, username, password) = credentials(transport, device, reveal);
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

fn mqttjs_example(url: &str, device: &Device, reveal: bool) -> String {
    let (client_id, username, password) = credentials(Transport::Ws, device, reveal);
    format!(
        "  Try ws with Node.js (npm install mqtt):\n\
node -e 'const c = require(\"mqtt\").connect(\"{url}\", {{clientId: \"{client_id}\", username: \"{username}\", password: \"{password}\", keepalive: 60, protocolVersion: 4}}); c.on(\"connect\", a => {{ console.log(\"connected:\", a.returnCode); c.end(); }}); c.on(\"error\", e => {{ console.log(e.message); c.end(); }})'\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sign;

    #[test]
    fn host_port_splits_urls() {
        assert_eq!(host_port("ws://127.0.0.1:4000/mqtt"), ("127.0.0.1", "4000"));
        assert_eq!(host_port("wss://localhost:4001/mqtt"), ("localhost", "4001"));
    }

    fn device() -> Device {
        Device { product_key: "pk".into(), device_name: "device".into(), secret: "secret".into(), enabled: true }
    }

    #[test]
    fn example_credentials_follow_the_documented_form() {
        let device = device();
        let (client_id, username, password) = credentials(Transport::Wss, &device, true);
        assert_eq!(client_id, "example-1|securemode=2,signmethod=hmacsha1,timestamp=1700000000000|");
        assert_eq!(username, "device&pk");
        assert_eq!(password, sign(SignMethod::HmacSha1, "secret", &example_content(&device)));
        assert_eq!(password.len(), 40);
        assert!(!password.contains("secret"));
    }

    #[test]
    fn the_password_is_a_placeholder_unless_revealed() {
        let device = device();
        let signature = sign(SignMethod::HmacSha1, "secret", &example_content(&device));
        let (_, _, password) = credentials(Transport::Ws, &device, false);
        assert_eq!(password, PASSWORD_PLACEHOLDER);
        let url = "ws://127.0.0.1:1/mqtt";
        let examples = [paho_example(Transport::Ws, url, &device, false, None), mqttjs_example(url, &device, false)];
        for example in &examples {
            assert!(example.contains("\"PASSWORD\"") && !example.contains(&signature[..8]), "{example}");
        }
        let note = password_note(&device);
        assert!(note.contains("printf %s 'clientIdexample-1deviceNamedeviceproductKeypktimestamp1700000000000' | openssl dgst -sha1 -hmac \"$DEVICE_SECRET\""), "{note}");
        assert!(note.contains("--reveal-signatures") && !note.contains(&signature[..8]), "{note}");
        assert!(mqttjs_example(url, &device, true).contains(&signature));
    }
}
