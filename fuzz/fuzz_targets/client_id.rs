//! `client_id`: the mqttClientId params parser (A-CID-FORMAT) and the whole of
//! `auth::authenticate` on arbitrary CONNECT fields.
//!
//! The input is split on 0xFF bytes into the clientId, the username and the password (the
//! first two read as UTF-8, lossily); the first byte picks the transport, the protocol level,
//! cleanSession and the keepalive. The device is the signature vectors' (`pk`/`device`,
//! secret `secret`), so the seeds' CONNECTs of real clients reach every rule.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use mock_broker::auth::{MqttClientId, authenticate};
use mock_broker::mqtt::{Connect, Protocol};
use mock_broker::registry::Device;
use mock_broker::{Outcome, Policy, Registry, Transport};
use std::sync::OnceLock;

const TRANSPORTS: [Transport; 4] = [Transport::Ws, Transport::Wss, Transport::Tcp, Transport::Tls];

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Registry::default();
        let device =
            Device { product_key: "pk".into(), device_name: "device".into(), secret: "secret".into(), enabled: true };
        registry.add_device(device).expect("the vectors' device is valid");
        registry
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let mut fields = rest.split(|&b| b == 0xFF);
    let client_id = String::from_utf8_lossy(fields.next().unwrap_or_default()).into_owned();
    let username = fields.next().map(|u| String::from_utf8_lossy(u).into_owned());
    let password = fields.next().map(Bytes::copy_from_slice);
    let keep_alive =
        fields.next().map_or(60, |k| k.iter().fold(0u16, |acc, &b| acc.wrapping_mul(31).wrapping_add(u16::from(b))));

    if let Ok(parsed) = MqttClientId::parse(&client_id) {
        assert!(client_id.starts_with(&parsed.prefix), "the prefix is verbatim");
        assert!(parsed.params.iter().all(|(k, _)| !k.is_empty()), "no empty key passes");
    }
    let connect = Connect {
        protocol: if selector & 4 == 0 { Protocol::V311 } else { Protocol::V31 },
        client_id,
        clean_session: selector & 8 == 0,
        keep_alive,
        username,
        password,
        will: None,
    };
    let transport = TRANSPORTS[usize::from(selector & 3)];
    let report = authenticate(&connect, transport, registry(), &Policy::default());
    if let Err(refusal) = &report.outcome {
        let last = report.verdicts.last().expect("a refusal comes with its verdict");
        assert_eq!((last.rule, last.outcome), (refusal.rule, Outcome::Fail), "the refusing rule's verdict comes last");
    }
});
