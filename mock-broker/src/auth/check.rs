//! The CONNECT authentication: one verdict per rule checked, in a fixed order, stopping at
//! the first refusal.
//!
//! Order: A-PROTOCOL, A-WILL-RETAIN, A-KEEPALIVE, A-CID-FORMAT, A-CID-LEN, A-PARAMS-UNKNOWN,
//! A-SECUREMODE, A-SIGNMETHOD, A-TIMESTAMP, A-USERNAME, A-DEVICE, A-SIGN-HEX, A-SIGN-CONTENT.
//! Every rule reached yields a verdict, passes included, so a run's verdicts say which rules
//! it exercised; rules after a refusal yield none.
//!
//! Interpretations (the platform's docs are silent; each is a documented choice):
//! - A-WILL-RETAIN is checked right after the protocol and never refuses: a will is a Warn.
//! - A-PARAMS-UNKNOWN: `securemode`, `signmethod`, `timestamp` and `ext` (read for S-KICK)
//!   are known; the verdict is a Pass listing the ignored keys once each, or "none". An
//!   unknown key may repeat; a known one may not (A-CID-FORMAT, see `client_id`).
//! - A-CID-FORMAT: whitespace after the last `|` or trimmed inside the params block is a
//!   Warn, assumed: accepted, but the platform's parser is unknown.
//! - A-SECUREMODE: a missing securemode fails like a wrong one.
//! - A-SIGNMETHOD: absent is a Pass noting the hmacmd5 default.
//! - A-TIMESTAMP: a timestamp that is not a digit string (empty included) is a Warn and is
//!   signed as sent: the platform has no freshness window and its reaction is unknown.
//! - A-USERNAME: exactly one `&`, with a non-empty part either side: neither a deviceName
//!   (ID-DN) nor a productKey (ID-PK) can hold one, so where to split is never ambiguous.
//! - A-SIGN-CONTENT: `clientId` (the prefix, even empty) is always signed; `timestamp` is
//!   signed when the params send it; deviceName and productKey come from the username.
//! - Verdicts never hold the deviceSecret: every occurrence of the secret of the device the
//!   username names, and of the secrets it had before its last rotations, is blanked,
//!   whatever the client put where.
//! - A-SIGN-CONTENT: a password signed with a secret the device had before a rotation fails
//!   like any other, and the detail says so, with when that secret was replaced.
//! - Verdicts show a signature only by its first 8 hex digits and length, unless the policy
//!   reveals signatures or the device is the embedded demo's (see `password`).

use super::client_id::{MqttClientId, READ_PARAMS};
use super::diagnose::Expectation;
use super::sign::{SignMethod, sorted_fields};
use super::{password, render};
use crate::mqtt::{ConnackCode, Connect};
use crate::policy::Policy;
use crate::registry::{Device, Registry};
use crate::rules::Rule;
use crate::transport::Transport;
use crate::verdict::{Outcome, Verdict};
use serde::Serialize;

/// securemode values of modes the mock does not implement (token, HTTPS-auth, ID²).
const OUT_OF_SCOPE_SECUREMODES: [&str; 8] = ["-2", "-1", "0", "1", "4", "5", "7", "8"];
/// The shape A-CID-FORMAT demands.
const CID_SHAPE: &str = "clientId|key=value,...|";

/// What authentication concluded: the verdicts in order, and the identity or the refusal.
#[derive(Clone, Debug)]
pub struct AuthReport {
    pub verdicts: Vec<Verdict>,
    pub outcome: Result<Identity, Refusal>,
}

/// A refused CONNECT: the CONNACK code to send and the rule that refused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub code: ConnackCode,
    pub rule: Rule,
}

/// An authenticated device and what its CONNECT declared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub product_key: String,
    pub device_name: String,
    /// The clientId: the mqttClientId prefix.
    pub client_id: String,
    pub sign_method: SignMethod,
    /// Every param, in the order sent.
    pub params: Vec<(String, String)>,
    /// The `ext` param as a number (bit 1 asks for the S-KICK notice); 0 if absent or not
    /// a decimal u32.
    pub ext: u32,
    pub securemode: String,
}

/// Authenticates a CONNECT received over `transport` (see the module docs for the order).
pub fn authenticate(connect: &Connect, transport: Transport, registry: &Registry, policy: &Policy) -> AuthReport {
    let mut checks = Checks { connect, transport, registry, policy, verdicts: Vec::new() };
    let outcome = checks.run();
    let mut verdicts = checks.verdicts;
    for device in named_devices(connect, registry) {
        render::redact(&mut verdicts, device.secret.expose());
        for previous in registry.previous_secrets(&device.product_key, &device.device_name) {
            render::redact(&mut verdicts, previous.secret.expose());
        }
    }
    AuthReport { verdicts, outcome }
}

/// The devices the username could name, either way round, whatever the checks concluded:
/// their secrets are redacted from the verdicts.
fn named_devices<'r>(connect: &Connect, registry: &'r Registry) -> impl Iterator<Item = &'r Device> {
    let parts = connect.username.as_deref().and_then(|u| u.split_once('&'));
    parts.into_iter().flat_map(move |(a, b)| [registry.device(b, a), registry.device(a, b)]).flatten()
}

/// Marks a tolerance of the mock's own choosing as assumed, whatever the rule's confidence.
fn assumed(mut verdict: Verdict) -> Verdict {
    verdict.assumed = true;
    verdict
}

struct Checks<'a> {
    connect: &'a Connect,
    transport: Transport,
    registry: &'a Registry,
    policy: &'a Policy,
    verdicts: Vec<Verdict>,
}

impl<'a> Checks<'a> {
    fn run(&mut self) -> Result<Identity, Refusal> {
        self.protocol();
        self.will();
        self.keepalive()?;
        let id = self.client_id_format()?;
        self.client_id_len(&id)?;
        self.params_unknown(&id);
        let securemode = self.securemode(&id)?;
        let sign_method = self.signmethod(&id)?;
        self.timestamp(&id);
        let (device_name, product_key) = self.username()?;
        let device = self.device(product_key, device_name)?;
        self.signature(&id, sign_method, device)?;
        let ext = id.param("ext").and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(Identity {
            product_key: product_key.to_owned(),
            device_name: device_name.to_owned(),
            client_id: id.prefix,
            sign_method,
            params: id.params,
            ext,
            securemode,
        })
    }

    fn record(&mut self, verdict: Verdict) {
        self.verdicts.push(verdict);
    }

    fn refuse(&mut self, verdict: Verdict, code: ConnackCode) -> Refusal {
        let rule = verdict.rule;
        self.verdicts.push(verdict);
        Refusal { code, rule }
    }

    /// A-PROTOCOL: the decoder has already refused anything but 3.1 and 3.1.1.
    fn protocol(&mut self) {
        let protocol = self.connect.protocol;
        let received = format!("{}/{}", protocol.name(), protocol.level());
        self.record(Verdict::pass(Rule::AProtocol, "MQIsdp/3 (MQTT 3.1) or MQTT/4 (MQTT 3.1.1)", received));
    }

    /// A-WILL-RETAIN: a will is accepted and ignored, with a warning (assumed).
    fn will(&mut self) {
        let expected = "no will (unsupported on MQTT 3.1/3.1.1)";
        let verdict = match &self.connect.will {
            None => Verdict::pass(Rule::AWillRetain, expected, "no will"),
            Some(will) => Verdict::warn(
                Rule::AWillRetain,
                expected,
                format!("a will on {}, QoS {}, retain {}", render::quote(&will.topic), will.qos as u8, will.retain),
            )
            .with_detail("the platform does not support wills: the CONNECT is accepted and the will never published"),
        };
        self.record(verdict);
    }

    /// A-KEEPALIVE: within the policy's range (30..=1200 s).
    fn keepalive(&mut self) -> Result<(), Refusal> {
        let (low, high) = self.policy.keepalive_range;
        let keep_alive = self.connect.keep_alive;
        let (expected, received) = (format!("{low}..={high} s"), format!("{keep_alive} s"));
        if (low..=high).contains(&keep_alive) {
            self.record(Verdict::pass(Rule::AKeepalive, expected, received));
            return Ok(());
        }
        let detail = if keep_alive == 0 {
            "keepalive 0 turns keepalive off, which the platform refuses"
        } else if keep_alive < low {
            "below the platform's minimum"
        } else {
            "above the platform's maximum"
        };
        let verdict = Verdict::fail(Rule::AKeepalive, expected, received).with_detail(detail);
        Err(self.refuse(verdict, self.policy.keepalive_refusal))
    }

    /// A-CID-FORMAT: `clientId|key=value,...|`.
    fn client_id_format(&mut self) -> Result<MqttClientId, Refusal> {
        let received = render::quote(&self.connect.client_id);
        match MqttClientId::parse(&self.connect.client_id) {
            Ok(id) if id.trailing_whitespace || id.trimmed_whitespace => {
                let detail = match (id.trailing_whitespace, id.trimmed_whitespace) {
                    (true, false) => "whitespace after the last `|` is tolerated (assumed); no SDK sends any",
                    (false, true) => "whitespace around a param's key or value is trimmed (assumed); no SDK sends any",
                    _ => {
                        "whitespace after the last `|` and around params is tolerated and trimmed (assumed); \
                         no SDK sends any"
                    }
                };
                self.record(assumed(Verdict::warn(Rule::ACidFormat, CID_SHAPE, received).with_detail(detail)));
                Ok(id)
            }
            Ok(id) => {
                self.record(Verdict::pass(Rule::ACidFormat, CID_SHAPE, received));
                Ok(id)
            }
            Err(error) => {
                let verdict = Verdict::fail(Rule::ACidFormat, CID_SHAPE, received).with_detail(error.to_string());
                Err(self.refuse(verdict, ConnackCode::IdentifierRejected))
            }
        }
    }

    /// A-CID-LEN: the prefix, counted in characters.
    fn client_id_len(&mut self, id: &MqttClientId) -> Result<(), Refusal> {
        let max = self.policy.client_id_max_chars;
        let count = id.prefix.chars().count();
        let expected = format!("a clientId prefix of at most {max} characters");
        let received = format!("{count} characters: {}", render::quote(&id.prefix));
        if count <= max {
            self.record(Verdict::pass(Rule::ACidLen, expected, received));
            return Ok(());
        }
        let detail = "the limit applies to the clientId before the first `|`, not to the params";
        let verdict = Verdict::fail(Rule::ACidLen, expected, received).with_detail(detail);
        Err(self.refuse(verdict, ConnackCode::IdentifierRejected))
    }

    /// A-PARAMS-UNKNOWN: a Pass listing the params ignored.
    fn params_unknown(&mut self, id: &MqttClientId) {
        let mut ignored: Vec<String> = Vec::new();
        for (key, _) in id.params.iter().filter(|(k, _)| !READ_PARAMS.contains(&k.as_str())) {
            let quoted = render::quote(key);
            if !ignored.contains(&quoted) {
                ignored.push(quoted);
            }
        }
        let received = if ignored.is_empty() { "none".to_owned() } else { format!("ignored: {}", ignored.join(", ")) };
        let expected = "params other than securemode, signmethod, timestamp and ext are ignored";
        self.record(Verdict::pass(Rule::AParamsUnknown, expected, received));
    }

    /// A-SECUREMODE: 3 over ws and tcp, 2 over wss and tls.
    fn securemode(&mut self, id: &MqttClientId) -> Result<String, Refusal> {
        let (transport, wanted) = (self.transport, self.transport.expected_securemode());
        let expected = format!("securemode={wanted} over {transport}");
        let sent = id.param("securemode");
        if sent == Some(wanted) {
            self.record(Verdict::pass(Rule::ASecuremode, expected, format!("securemode={wanted}")));
            return Ok(wanted.to_owned());
        }
        let (received, detail) = match sent {
            None => (
                "no securemode param".to_owned(),
                format!("the params must declare securemode={wanted} on {transport}"),
            ),
            Some(mode @ ("2" | "3")) => {
                let meant = if mode == "2" { "wss and tls" } else { "ws and tcp" };
                (
                    format!("securemode={mode}"),
                    format!("securemode={mode} is for {meant}; {transport} needs securemode={wanted}"),
                )
            }
            Some(mode) if OUT_OF_SCOPE_SECUREMODES.contains(&mode) => (
                format!("securemode={mode}"),
                format!("securemode={mode} is a token, HTTPS-auth or ID² mode, which the mock does not implement"),
            ),
            Some(mode) => (render::param("securemode", mode), "not a securemode of the platform".to_owned()),
        };
        let verdict = Verdict::fail(Rule::ASecuremode, expected, received).with_detail(detail);
        Err(self.refuse(verdict, self.policy.securemode_refusal))
    }

    /// A-SIGNMETHOD: hmacmd5, hmacsha1 or hmacsha256, lower case; absent means hmacmd5.
    fn signmethod(&mut self, id: &MqttClientId) -> Result<SignMethod, Refusal> {
        let expected = "hmacmd5, hmacsha1 or hmacsha256, lower case (absent: hmacmd5)";
        let Some(name) = id.param("signmethod") else {
            self.record(Verdict::pass(Rule::ASignmethod, expected, "absent: hmacmd5 by default"));
            return Ok(SignMethod::DEFAULT);
        };
        let received = render::param("signmethod", name);
        if let Some(method) = SignMethod::from_name(name) {
            self.record(Verdict::pass(Rule::ASignmethod, expected, received));
            return Ok(method);
        }
        let detail = match SignMethod::from_name(&name.to_ascii_lowercase()) {
            Some(method) => format!("the signmethod is case-sensitive: write {}", method.name()),
            None => "not a signmethod of the platform".to_owned(),
        };
        let verdict = Verdict::fail(Rule::ASignmethod, expected, received).with_detail(detail);
        Err(self.refuse(verdict, self.policy.signmethod_refusal))
    }

    /// A-TIMESTAMP: a digit string if present; never refused (no freshness window).
    fn timestamp(&mut self, id: &MqttClientId) {
        let expected = "a digit string, or absent (no freshness window)";
        let verdict = match id.param("timestamp") {
            None => Verdict::pass(Rule::ATimestamp, expected, "absent (not signed)"),
            Some(value) if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                Verdict::pass(Rule::ATimestamp, expected, render::param("timestamp", value))
            }
            Some(value) => assumed(
                Verdict::warn(Rule::ATimestamp, expected, render::param("timestamp", value))
                    .with_detail("accepted and signed as sent (assumed): the platform's reaction is unknown"),
            ),
        };
        self.record(verdict);
    }

    /// A-USERNAME: `deviceName&productKey`; returns (deviceName, productKey).
    fn username(&mut self) -> Result<(&'a str, &'a str), Refusal> {
        let expected = "deviceName&productKey";
        let Some(username) = self.connect.username.as_deref() else {
            let verdict =
                Verdict::fail(Rule::AUsername, expected, "no username").with_detail("CONNECT carries no username");
            return Err(self.refuse(verdict, ConnackCode::BadCredentials));
        };
        let received = render::quote(username);
        let parts: Vec<&'a str> = username.split('&').collect();
        let problem = match parts.as_slice() {
            [device_name, product_key] if !device_name.is_empty() && !product_key.is_empty() => {
                self.record(Verdict::pass(Rule::AUsername, expected, received));
                return Ok((device_name, product_key));
            }
            [_] => "no `&` between deviceName and productKey".to_owned(),
            ["", _] => "the deviceName before `&` is empty".to_owned(),
            [_, _] => "the productKey after `&` is empty".to_owned(),
            more => format!(
                "{} `&`: neither a deviceName (ID-DN) nor a productKey (ID-PK) may hold one, so exactly one is expected",
                more.len() - 1
            ),
        };
        let verdict = Verdict::fail(Rule::AUsername, expected, received).with_detail(problem);
        Err(self.refuse(verdict, ConnackCode::BadCredentials))
    }

    /// A-DEVICE: registered and enabled.
    fn device(&mut self, product_key: &str, device_name: &str) -> Result<&'a Device, Refusal> {
        let expected = "a registered device, enabled";
        let received =
            format!("deviceName {} of productKey {}", render::quote(device_name), render::quote(product_key));
        let registry = self.registry;
        match registry.device(product_key, device_name) {
            Some(device) if device.enabled => {
                self.record(Verdict::pass(Rule::ADevice, expected, received));
                Ok(device)
            }
            Some(_) => {
                let verdict = Verdict::fail(Rule::ADevice, expected, received).with_detail("the device is disabled");
                Err(self.refuse(verdict, self.policy.disabled_device_refusal))
            }
            None => {
                let mut detail = match registry.product(product_key) {
                    None => format!("no product {} is registered", render::quote(product_key)),
                    Some(_) => {
                        format!("product {} has no device {}", render::quote(product_key), render::quote(device_name))
                    }
                };
                if registry.device(device_name, product_key).is_some() {
                    detail.push_str(&format!(
                        "; the username looks swapped: device {} of product {} exists, and the username is \
                         deviceName&productKey",
                        render::quote(product_key),
                        render::quote(device_name)
                    ));
                }
                let verdict = Verdict::fail(Rule::ADevice, expected, received).with_detail(detail);
                Err(self.refuse(verdict, self.policy.unknown_device_refusal))
            }
        }
    }

    /// A-SIGN-HEX and A-SIGN-CONTENT: the password against the rebuilt signature.
    fn signature(&mut self, id: &MqttClientId, method: SignMethod, device: &Device) -> Result<(), Refusal> {
        let expectation = Expectation {
            method,
            declared: id.param("signmethod"),
            secret: device.secret.expose(),
            reveal: self.policy.reveal_signatures || device.is_demo(),
            fields: sorted_fields(Some(&id.prefix), &device.device_name, &device.product_key, id.param("timestamp")),
            mqtt_client_id: &self.connect.client_id,
            previous: self.registry.previous_secrets(&device.product_key, &device.device_name).collect(),
        };
        let verdicts = password::check(&expectation, self.connect.password.as_deref());
        let refusing = verdicts.last().filter(|v| v.outcome == Outcome::Fail).map(|v| v.rule);
        self.verdicts.extend(verdicts);
        match refusing {
            Some(rule) => Err(Refusal { code: ConnackCode::BadCredentials, rule }),
            None => Ok(()),
        }
    }
}
