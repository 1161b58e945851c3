//! The client-under-test contract: what one case run hands the client.
//!
//! The suite starts the client once per case run with these environment variables:
//!
//! | variable | holds |
//! |---|---|
//! | `IOT_URL` | `ws://127.0.0.1:PORT/mqtt`, `wss://localhost:PORT/mqtt`, `tcp://127.0.0.1:PORT` or `tls://localhost:PORT` |
//! | `IOT_PRODUCT_KEY`, `IOT_DEVICE_NAME`, `IOT_DEVICE_SECRET` | the device the case's broker registers |
//! | `IOT_CLIENT_ID` | the clientId: the mqttClientId prefix, before the first `\|` |
//! | `IOT_SIGN_METHOD` | `hmacmd5`, `hmacsha1` or `hmacsha256` |
//! | `IOT_KEEPALIVE` | a keepalive in seconds the client may honour (a hint) |
//! | `IOT_CA_FILE` | the CA certificate (PEM) to trust; set over wss and tls only |
//! | `IOT_STAY_SECONDS` | how long the case wants the client to stay connected |
//! | `IOT_TRANSPORT` | `ws`, `wss`, `tcp` or `tls`: the URL's scheme, for scripts that switch on it |
//! | `IOT_PUBLISH_TOPIC` | the device's own telemetry topic, `/{productKey}/{deviceName}/user/update` |
//! | `IOT_SUBSCRIBE_TOPIC` | the device's own downlink topic, `/{productKey}/{deviceName}/user/get` |
//!
//! A client configured by flags gets the same values through placeholders in its arguments:
//! `{url}`, `{host}`, `{port}`, `{transport}`, `{product_key}`, `{device_name}`,
//! `{device_secret}`, `{client_id}`, `{sign_method}`, `{keepalive}`, `{ca_file}`,
//! `{stay_seconds}`, `{publish_topic}`, `{subscribe_topic}`. `{{` and `}}` stand for literal braces; any other `{name}` is an error
//! naming it. `{ca_file}` is empty over ws and tcp.
//!
//! Each case run gets a fresh [`Identity`], valid under the ID- rules.
//!
//! The client's exit code before it connects: [`crate::cases::methods::UNSUPPORTED_EXIT`],
//! 77 (Automake's test harness convention), says "I do not support what you asked" (a sign
//! method, a transport): the case is not run, "unsupported", naming what was asked. Any other
//! exit before a CONNECT fails the case, unless the client connects when asked for another
//! sign method: a case not about signing then uses that one, and `sign` reports the method
//! the client exited on as not run, with a hint to declare the methods it supports.

use mock_broker::auth::SignMethod;
use mock_broker::connector::BrokerUrl;
use mock_broker::registry::{valid_device_name, valid_product_key, valid_secret};
use mock_broker::topics;
use mock_broker::{Secret, Transport};
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;

/// The environment variables of the contract, in the order the module docs list them.
pub const ENV_VARS: [&str; 12] = [
    "IOT_URL",
    "IOT_PRODUCT_KEY",
    "IOT_DEVICE_NAME",
    "IOT_DEVICE_SECRET",
    "IOT_CLIENT_ID",
    "IOT_SIGN_METHOD",
    "IOT_KEEPALIVE",
    "IOT_CA_FILE",
    "IOT_STAY_SECONDS",
    "IOT_TRANSPORT",
    "IOT_PUBLISH_TOPIC",
    "IOT_SUBSCRIBE_TOPIC",
];

/// The placeholders an argument may hold.
pub const PLACEHOLDERS: [&str; 14] = [
    "url",
    "host",
    "port",
    "transport",
    "product_key",
    "device_name",
    "device_secret",
    "client_id",
    "sign_method",
    "keepalive",
    "ca_file",
    "stay_seconds",
    "publish_topic",
    "subscribe_topic",
];

/// Why an argument could not be expanded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    #[error(
        "unknown placeholder {{{name}}} in argument {arg:?}; the placeholders are {}",
        PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
    )]
    UnknownPlaceholder { name: String, arg: String },
    #[error("unclosed `{{` in argument {arg:?} (write `{{{{` for a literal brace)")]
    Unclosed { arg: String },
    #[error("lone `}}` in argument {arg:?} (write `}}}}` for a literal brace)")]
    LoneClose { arg: String },
}

/// A device identity: registered with the case's broker and handed to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub product_key: String,
    pub device_name: String,
    /// The deviceSecret, the kit's one [`Secret`] type: `Debug` hides it.
    pub secret: Secret,
    /// The clientId (the mqttClientId prefix) the client is asked to use.
    pub client_id: String,
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl Identity {
    /// The identity generated from `seed`, shaped like a platform-issued one: an 11-character
    /// productKey starting `a1`, a deviceName `device-` plus 8 letters and digits, a
    /// 32-character secret, and the clientId `productKey.deviceName` (the iotkit SDK's form).
    pub fn generate(seed: u64) -> Identity {
        let mut random = SplitMix(seed);
        let product_key = format!("a1{}", random.alphanumeric(9));
        let device_name = format!("device-{}", random.alphanumeric(8));
        let secret = random.alphanumeric(32).into();
        let client_id = format!("{product_key}.{device_name}");
        let identity = Identity { product_key, device_name, secret, client_id };
        debug_assert!(identity.is_valid(), "{identity:?}");
        identity
    }

    /// A fresh identity from a random seed.
    pub fn random() -> Identity {
        Identity::generate(RandomState::new().hash_one(std::time::SystemTime::now()))
    }

    /// The device's own telemetry topic (`IOT_PUBLISH_TOPIC`).
    pub fn publish_topic(&self) -> String {
        topics::user_update_topic(&self.product_key, &self.device_name)
    }

    /// The device's own downlink topic (`IOT_SUBSCRIBE_TOPIC`).
    pub fn subscribe_topic(&self) -> String {
        topics::user_get_topic(&self.product_key, &self.device_name)
    }

    /// True when productKey, deviceName and secret satisfy ID-PK, ID-DN and ID-SECRET.
    pub fn is_valid(&self) -> bool {
        valid_product_key(&self.product_key)
            && valid_device_name(&self.device_name)
            && valid_secret(self.secret.expose())
    }
}

/// SplitMix64: a small, good-enough generator for identities (not for cryptography).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn alphanumeric(&mut self, len: usize) -> String {
        (0..len).map(|_| ALPHANUMERIC[(self.next() % ALPHANUMERIC.len() as u64) as usize] as char).collect()
    }
}

/// Everything one case run hands the client.
#[derive(Clone, Debug)]
pub struct CaseEnv {
    /// The broker URL for `transport`.
    pub url: String,
    pub transport: Transport,
    pub identity: Identity,
    pub sign_method: SignMethod,
    /// The keepalive hint, in seconds.
    pub keepalive: u16,
    /// The CA file (PEM) over wss and tls; `None` over ws and tcp.
    pub ca_file: Option<PathBuf>,
    /// How long the case wants the client to stay connected, in seconds.
    pub stay_seconds: u64,
}

impl CaseEnv {
    /// The environment variables to set, `IOT_CA_FILE` only when there is a CA file.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let id = &self.identity;
        let mut vars = vec![
            ("IOT_URL", self.url.clone()),
            ("IOT_PRODUCT_KEY", id.product_key.clone()),
            ("IOT_DEVICE_NAME", id.device_name.clone()),
            ("IOT_DEVICE_SECRET", id.secret.expose().to_owned()),
            ("IOT_CLIENT_ID", id.client_id.clone()),
            ("IOT_SIGN_METHOD", self.sign_method.name().to_owned()),
            ("IOT_KEEPALIVE", self.keepalive.to_string()),
            ("IOT_STAY_SECONDS", self.stay_seconds.to_string()),
            ("IOT_TRANSPORT", self.transport.scheme().to_owned()),
            ("IOT_PUBLISH_TOPIC", id.publish_topic()),
            ("IOT_SUBSCRIBE_TOPIC", id.subscribe_topic()),
        ];
        if let Some(ca) = &self.ca_file {
            vars.push(("IOT_CA_FILE", ca.display().to_string()));
        }
        vars
    }

    /// The value of placeholder `name`, `None` for an unknown one.
    pub fn placeholder(&self, name: &str) -> Option<String> {
        let id = &self.identity;
        let url = BrokerUrl::parse(&self.url).ok();
        Some(match name {
            "url" => self.url.clone(),
            "host" => url.map(|u| u.host).unwrap_or_default(),
            "port" => url.map(|u| u.port.to_string()).unwrap_or_default(),
            "transport" => self.transport.scheme().to_owned(),
            "product_key" => id.product_key.clone(),
            "device_name" => id.device_name.clone(),
            "device_secret" => id.secret.expose().to_owned(),
            "client_id" => id.client_id.clone(),
            "sign_method" => self.sign_method.name().to_owned(),
            "keepalive" => self.keepalive.to_string(),
            "ca_file" => self.ca_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            "stay_seconds" => self.stay_seconds.to_string(),
            "publish_topic" => id.publish_topic(),
            "subscribe_topic" => id.subscribe_topic(),
            _ => return None,
        })
    }

    /// Expands the placeholders of one argument.
    pub fn expand(&self, arg: &str) -> Result<String, ContractError> {
        let mut out = String::with_capacity(arg.len());
        let mut rest = arg;
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
                out.push_str(&tail[..1]);
                rest = after;
            } else if tail.starts_with('}') {
                return Err(ContractError::LoneClose { arg: arg.into() });
            } else {
                let end = tail.find('}').ok_or_else(|| ContractError::Unclosed { arg: arg.into() })?;
                let name = &tail[1..end];
                let value = self
                    .placeholder(name)
                    .ok_or_else(|| ContractError::UnknownPlaceholder { name: name.into(), arg: arg.into() })?;
                out.push_str(&value);
                rest = &tail[end + 1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(transport: Transport) -> CaseEnv {
        CaseEnv {
            url: match transport {
                Transport::Ws => "ws://127.0.0.1:4321/mqtt".into(),
                Transport::Wss => "wss://localhost:4322/mqtt".into(),
                Transport::Tcp => "tcp://127.0.0.1:4323".into(),
                Transport::Tls => "tls://localhost:4324".into(),
            },
            transport,
            identity: Identity::generate(7),
            sign_method: SignMethod::HmacSha256,
            keepalive: 30,
            ca_file: transport.is_tls().then(|| PathBuf::from("/tmp/case/ca.pem")),
            stay_seconds: 12,
        }
    }

    #[test]
    fn placeholders_expand_to_the_case_values() {
        let env = env(Transport::Wss);
        let id = &env.identity;
        let expanded =
            env.expand("--broker={host}:{port} {transport} {sign_method}/{keepalive}/{stay_seconds}").unwrap();
        assert_eq!(expanded, "--broker=localhost:4322 wss hmacsha256/30/12");
        assert_eq!(env.expand("{url}").unwrap(), "wss://localhost:4322/mqtt");
        assert_eq!(env.expand("{ca_file}").unwrap(), "/tmp/case/ca.pem");
        assert_eq!(
            env.expand("{product_key}&{device_name}|{client_id}|{device_secret}").unwrap(),
            format!("{}&{}|{}|{}", id.product_key, id.device_name, id.client_id, id.secret.expose())
        );
        assert_eq!(
            env.expand("{publish_topic} {subscribe_topic}").unwrap(),
            format!("/{0}/{1}/user/update /{0}/{1}/user/get", id.product_key, id.device_name)
        );
        for name in PLACEHOLDERS {
            assert!(env.placeholder(name).is_some(), "{name}");
        }
    }

    #[test]
    fn plain_transports_have_an_empty_ca_file_and_an_ip_host() {
        let env = env(Transport::Tcp);
        assert_eq!(env.expand("[{ca_file}] {host} {port}").unwrap(), "[] 127.0.0.1 4323");
    }

    #[test]
    fn doubled_braces_are_literal_and_text_without_placeholders_is_untouched() {
        let env = env(Transport::Ws);
        assert_eq!(env.expand(r#"{{"k": "{keepalive}"}}"#).unwrap(), r#"{"k": "30"}"#);
        assert_eq!(env.expand("--verbose").unwrap(), "--verbose");
        assert_eq!(env.expand("").unwrap(), "");
    }

    #[test]
    fn an_unknown_placeholder_is_an_error_naming_it() {
        let err = env(Transport::Ws).expand("--pk={productKey}").unwrap_err();
        assert_eq!(
            err,
            ContractError::UnknownPlaceholder { name: "productKey".into(), arg: "--pk={productKey}".into() }
        );
        let message = err.to_string();
        assert!(message.contains("{productKey}") && message.contains("{product_key}"), "{message}");
    }

    #[test]
    fn unbalanced_braces_are_errors() {
        let env = env(Transport::Ws);
        assert_eq!(env.expand("{url").unwrap_err(), ContractError::Unclosed { arg: "{url".into() });
        assert_eq!(env.expand("a}b").unwrap_err(), ContractError::LoneClose { arg: "a}b".into() });
    }

    #[test]
    fn the_environment_holds_every_value_and_a_ca_file_only_over_tls() {
        let tls = env(Transport::Tls);
        let vars = tls.vars();
        let get = |vars: &[(&str, String)], name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        assert_eq!(get(&vars, "IOT_URL").as_deref(), Some("tls://localhost:4324"));
        assert_eq!(get(&vars, "IOT_DEVICE_SECRET"), Some(tls.identity.secret.expose().to_owned()));
        assert_eq!(get(&vars, "IOT_SIGN_METHOD").as_deref(), Some("hmacsha256"));
        assert_eq!(get(&vars, "IOT_KEEPALIVE").as_deref(), Some("30"));
        assert_eq!(get(&vars, "IOT_STAY_SECONDS").as_deref(), Some("12"));
        assert_eq!(get(&vars, "IOT_CA_FILE").as_deref(), Some("/tmp/case/ca.pem"));
        let (pk, dn) = (&tls.identity.product_key, &tls.identity.device_name);
        assert_eq!(get(&vars, "IOT_PUBLISH_TOPIC"), Some(format!("/{pk}/{dn}/user/update")));
        assert_eq!(get(&vars, "IOT_SUBSCRIBE_TOPIC"), Some(format!("/{pk}/{dn}/user/get")));
        assert!(vars.iter().all(|(name, _)| ENV_VARS.contains(name)), "{vars:?}");
        assert_eq!(vars.len(), ENV_VARS.len());
        let ws = env(Transport::Ws).vars();
        assert_eq!(get(&ws, "IOT_CA_FILE"), None);
        assert_eq!(ws.len(), ENV_VARS.len() - 1);
    }

    #[test]
    fn generated_identities_are_valid_distinct_and_reproducible() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..500 {
            let id = Identity::generate(seed);
            assert!(id.is_valid(), "{id:?}");
            assert_eq!(id.product_key.len(), 11);
            assert_eq!(id.secret.len(), 32);
            assert!(id.client_id.chars().count() <= 64);
            assert_eq!(Identity::generate(seed), id);
            assert!(seen.insert(id.secret.expose().to_owned()), "seed {seed} repeats a secret");
        }
        assert!(Identity::random().is_valid());
    }

    #[test]
    fn debug_hides_the_secret() {
        let id = Identity::generate(1);
        let shown = format!("{id:?}");
        assert!(!shown.contains(id.secret.expose()) && shown.contains("secret: Secret(<redacted>)"), "{shown}");
    }
}
