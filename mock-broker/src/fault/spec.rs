//! What a fault is, whom it hits and when: the plain values a test, a scenario file or the
//! control endpoint arms.
//!
//! A [`FaultSpec`] is one [`Fault`] with a [`Scope`] (every connection, one device, the next N
//! connections), a [`Trigger`] (now, after the Nth inbound packet of a kind, some time after
//! CONNACK) and an optional number of `times` it may fire before it disarms itself. The same
//! values read from JSON (control endpoint) and TOML (scenario files):
//!
//! ```json
//! {"fault": "withhold", "reply": "pingresp", "scope": {"device": "a1B2c3D4e5F/sensor-01"},
//!  "trigger": {"after_packets": {"kind": "pingreq", "n": 2}}, "name": "pong loss"}
//! {"fault": "refuse_connect", "code": 3, "times": 4}
//! {"fault": "close", "trigger": {"after_connack_ms": 2000}, "scope": {"next": 1}}
//! ```
//!
//! [`FaultSpec::check`] refuses what cannot happen, with a sentence saying why: a TLS fault
//! scoped to a device (the device is known only after the handshake), a CONNACK code outside
//! 1..=5, a WebSocket close code the protocol reserves.

use crate::hub::DeviceKey;
use crate::mqtt::QoS;
use crate::wire::ws_frame::close_code_problem;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A reply the broker owes a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Connack,
    Puback,
    Suback,
    Unsuback,
    Pingresp,
}

impl Reply {
    /// The packet name as the transcript writes it.
    pub fn packet(self) -> &'static str {
        match self {
            Reply::Connack => "CONNACK",
            Reply::Puback => "PUBACK",
            Reply::Suback => "SUBACK",
            Reply::Unsuback => "UNSUBACK",
            Reply::Pingresp => "PINGRESP",
        }
    }

    /// The reply a packet name is, if it is one.
    pub fn of_packet(name: &str) -> Option<Reply> {
        [Reply::Connack, Reply::Puback, Reply::Suback, Reply::Unsuback, Reply::Pingresp]
            .into_iter()
            .find(|r| r.packet() == name)
    }
}

/// A kind of packet a client sends, for packet-count triggers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Inbound {
    /// Any packet after CONNECT.
    Any,
    Publish,
    Puback,
    Subscribe,
    Unsubscribe,
    Pingreq,
}

impl Inbound {
    /// Whether a packet of transcript name `name` counts for this kind.
    pub fn counts(self, name: &str) -> bool {
        match self {
            Inbound::Any => true,
            Inbound::Publish => name == "PUBLISH",
            Inbound::Puback => name == "PUBACK",
            Inbound::Subscribe => name == "SUBSCRIBE",
            Inbound::Unsubscribe => name == "UNSUBSCRIBE",
            Inbound::Pingreq => name == "PINGREQ",
        }
    }
}

/// A server certificate wrong in one way (C-TLS-VERIFY's three).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadCert {
    /// Issued by a CA the clients were not given.
    Untrusted,
    /// Issued by the broker's CA, expired in 2001.
    Expired,
    /// Issued by the broker's CA for `wrong-host.invalid` only.
    WrongHost,
}

/// What goes wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    // --- MQTT ---
    /// Never send this reply (a withheld CONNACK leaves the client waiting: the broker reads
    /// and discards what follows).
    Withhold { reply: Reply },
    /// Send this reply `delay_ms` late; the connection's later replies wait behind it.
    Delay { reply: Reply, delay_ms: u64 },
    /// Refuse the CONNECT with this CONNACK code (1..=5; 3 is "server unavailable", as while
    /// the platform restarts), whatever its credentials.
    RefuseConnect { code: u8 },
    /// Answer CONNACK 0 with this session-present flag, whatever the session.
    SessionPresent { present: bool },
    /// Kick the connection as a second login of the same device would (S-KICK, with the
    /// `/ext/notify` notice where the device asked for it).
    Kick,
    /// Close the connection (a WebSocket close frame or a TCP/TLS shutdown).
    Close,
    /// Send a downlink PUBLISH, as the cloud side would, if the device subscribed to it.
    Downlink { topic: String, payload: String, qos: u8 },
    // --- WebSocket ---
    /// Refuse the WebSocket upgrade with this HTTP status (400..=599).
    RefuseUpgrade { status: u16 },
    /// Send a WebSocket close frame with this code, then end the connection.
    WsClose { code: u16 },
    /// Split each packet the broker sends into binary frames at these byte offsets.
    SplitFrames { at: Vec<usize> },
    /// Send a WebSocket ping frame.
    WsPing,
    // --- TLS ---
    /// Read the start of the ClientHello, then close without answering.
    TlsCloseMidHandshake,
    /// Serve a bad certificate in the TLS handshake.
    BadCertificate { cert: BadCert },
    // --- TCP ---
    /// Reset the connection (RST, no FIN).
    Reset,
    /// Keep the connection but never answer again: read and discard whatever arrives.
    Blackhole,
    /// Send at most `bytes` bytes every `every_ms` milliseconds.
    Trickle { bytes: usize, every_ms: u64 },
    /// Close after the broker has sent `bytes` more bytes, mid-packet if it falls there.
    CloseAfterBytes { bytes: u64 },
    /// Stop reading and writing, keep the socket open: a link that died without a FIN.
    HalfOpen,
}

/// Where in a connection's life a fault acts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// Before any handshake, on the TCP connection.
    Accept,
    /// In the TLS handshake.
    Tls,
    /// In the WebSocket upgrade.
    Upgrade,
    /// When CONNECT has been read.
    Connect,
    /// On a reply the broker sends.
    Reply,
    /// Once, at its trigger, on a connection.
    Action,
    /// From its trigger on, on every byte or frame the broker sends.
    Shaping,
}

impl Fault {
    /// Where the fault acts.
    pub fn layer(&self) -> Layer {
        match self {
            Fault::Withhold { .. } | Fault::Delay { .. } => Layer::Reply,
            Fault::RefuseConnect { .. } | Fault::SessionPresent { .. } => Layer::Connect,
            Fault::RefuseUpgrade { .. } => Layer::Upgrade,
            Fault::TlsCloseMidHandshake | Fault::BadCertificate { .. } => Layer::Tls,
            Fault::SplitFrames { .. } | Fault::Trickle { .. } | Fault::CloseAfterBytes { .. } => Layer::Shaping,
            Fault::Kick
            | Fault::Close
            | Fault::Downlink { .. }
            | Fault::WsClose { .. }
            | Fault::WsPing
            | Fault::Reset
            | Fault::Blackhole
            | Fault::HalfOpen => Layer::Action,
        }
    }

    /// The fault's name as scenario files and the control endpoint write it.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Withhold { .. } => "withhold",
            Fault::Delay { .. } => "delay",
            Fault::RefuseConnect { .. } => "refuse_connect",
            Fault::SessionPresent { .. } => "session_present",
            Fault::Kick => "kick",
            Fault::Close => "close",
            Fault::Downlink { .. } => "downlink",
            Fault::RefuseUpgrade { .. } => "refuse_upgrade",
            Fault::WsClose { .. } => "ws_close",
            Fault::SplitFrames { .. } => "split_frames",
            Fault::WsPing => "ws_ping",
            Fault::TlsCloseMidHandshake => "tls_close_mid_handshake",
            Fault::BadCertificate { .. } => "bad_certificate",
            Fault::Reset => "reset",
            Fault::Blackhole => "blackhole",
            Fault::Trickle { .. } => "trickle",
            Fault::CloseAfterBytes { .. } => "close_after_bytes",
            Fault::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Withhold { reply } => write!(f, "withhold {}", reply.packet()),
            Fault::Delay { reply, delay_ms } => write!(f, "delay {} by {delay_ms} ms", reply.packet()),
            Fault::RefuseConnect { code } => write!(f, "refuse CONNECT with CONNACK 0x{code:02x}"),
            Fault::SessionPresent { present } => write!(f, "CONNACK session present {}", u8::from(*present)),
            Fault::Kick => f.write_str("kick as a second login would (S-KICK)"),
            Fault::Close => f.write_str("close the connection"),
            Fault::Downlink { topic, payload, qos } => {
                write!(f, "downlink on {topic} ({} bytes, QoS {qos})", payload.len())
            }
            Fault::RefuseUpgrade { status } => write!(f, "refuse the WebSocket upgrade with HTTP {status}"),
            Fault::WsClose { code } => write!(f, "WebSocket close frame {code}"),
            Fault::SplitFrames { at } => write!(f, "split each packet into WebSocket frames at {at:?}"),
            Fault::WsPing => f.write_str("WebSocket ping frame"),
            Fault::TlsCloseMidHandshake => f.write_str("close in the middle of the TLS handshake"),
            Fault::BadCertificate { cert } => write!(f, "serve a bad certificate ({cert:?})"),
            Fault::Reset => f.write_str("TCP reset"),
            Fault::Blackhole => f.write_str("blackhole: never answer again"),
            Fault::Trickle { bytes, every_ms } => write!(f, "trickle {bytes} bytes every {every_ms} ms"),
            Fault::CloseAfterBytes { bytes } => write!(f, "close after {bytes} more bytes"),
            Fault::HalfOpen => f.write_str("half-open: stop reading and writing, keep the socket"),
        }
    }
}

/// Whom a fault hits.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Scope {
    /// Every connection, those up now and those to come.
    #[default]
    All,
    /// The connections of one device, written `productKey/deviceName`.
    Device(DeviceRef),
    /// The next N connections accepted after the fault is armed.
    Next(u32),
}

/// A device named `productKey/deviceName`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRef(pub DeviceKey);

impl Serialize for DeviceRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}/{}", self.0.product_key, self.0.device_name))
    }
}

impl<'de> Deserialize<'de> for DeviceRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.split_once('/') {
            Some((pk, dn)) if !pk.is_empty() && !dn.is_empty() && !dn.contains('/') => {
                Ok(DeviceRef(DeviceKey::new(pk, dn)))
            }
            _ => Err(serde::de::Error::custom(format!("device {text:?}: expected productKey/deviceName"))),
        }
    }
}

/// When a fault acts on a connection in its scope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// At once: an action hits the connections online now (and, for `next` and `all`
    /// scopes, those to come as soon as they are online); any other fault applies from now on.
    #[default]
    Now,
    /// As soon as the TCP connection is accepted, before any handshake: for the faults that
    /// act on the TCP connection itself (reset, blackhole, half-open, close).
    OnAccept,
    /// Once the connection has received its `n`th packet of `kind` after CONNECT.
    AfterPackets { kind: Inbound, n: u32 },
    /// This long after the connection's CONNACK.
    AfterConnackMs(u64),
}

/// One fault to arm. (Unknown fields are refused by the flattened [`Fault`], which sees every
/// field this struct does not take.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub fault: Fault,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default)]
    pub trigger: Trigger,
    /// How many times it may fire before it disarms itself; unlimited when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// A name for the transcript; the fault's own description when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Why a fault cannot be armed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FaultError(pub String);

impl FaultSpec {
    /// A fault for every connection, now, without limit.
    pub fn new(fault: Fault) -> FaultSpec {
        FaultSpec { fault, scope: Scope::All, trigger: Trigger::Now, times: None, name: None }
    }

    pub fn scope(mut self, scope: Scope) -> FaultSpec {
        self.scope = scope;
        self
    }

    /// Only the connections of this device.
    pub fn device(self, product_key: &str, device_name: &str) -> FaultSpec {
        self.scope(Scope::Device(DeviceRef(DeviceKey::new(product_key, device_name))))
    }

    pub fn trigger(mut self, trigger: Trigger) -> FaultSpec {
        self.trigger = trigger;
        self
    }

    pub fn times(mut self, times: u32) -> FaultSpec {
        self.times = Some(times);
        self
    }

    pub fn named(mut self, name: &str) -> FaultSpec {
        self.name = Some(name.into());
        self
    }

    /// The name the transcript gives it.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.fault.to_string())
    }

    /// Refuses a fault that cannot happen as specified, saying why.
    pub fn check(&self) -> Result<(), FaultError> {
        let fail = |why: String| Err(FaultError(format!("{}: {why}", self.fault.kind())));
        let layer = self.fault.layer();
        let before_connect = matches!(layer, Layer::Tls | Layer::Upgrade);
        if before_connect && matches!(self.scope, Scope::Device(_)) {
            return fail("the device is known only after CONNECT; scope it to all or the next N connections".into());
        }
        if before_connect && self.trigger != Trigger::Now {
            return fail("it happens before CONNECT, so it takes no packet or CONNACK trigger".into());
        }
        if self.trigger == Trigger::OnAccept {
            if !matches!(self.fault, Fault::Reset | Fault::Blackhole | Fault::HalfOpen | Fault::Close) {
                return fail(
                    "on_accept suits the faults that act on the TCP connection: reset, blackhole, half_open, close"
                        .into(),
                );
            }
            if matches!(self.scope, Scope::Device(_)) {
                return fail("the device is not known at accept; scope it to all or the next N connections".into());
            }
        }
        if layer == Layer::Connect && self.trigger != Trigger::Now {
            return fail("it acts on the CONNECT itself; limit it with times instead of a trigger".into());
        }
        if self.times == Some(0) {
            return fail("times must be at least 1".into());
        }
        if let Scope::Next(0) = self.scope {
            return fail("next must be at least 1".into());
        }
        if let Trigger::AfterPackets { n: 0, .. } = self.trigger {
            return fail("after_packets needs n of at least 1".into());
        }
        match &self.fault {
            Fault::RefuseConnect { code } if !(1..=5).contains(code) => {
                fail(format!("CONNACK code {code} is not a refusal of MQTT 3.1.1 (1 to 5)"))
            }
            Fault::Downlink { topic, qos, .. } => match crate::topics::downlink_problem(topic, *qos) {
                Some(problem) => fail(problem),
                None => Ok(()),
            },
            Fault::RefuseUpgrade { status } if !(400..=599).contains(status) => {
                fail(format!("HTTP status {status}: a refusal is a 4xx or 5xx status"))
            }
            Fault::WsClose { code } => match close_code_problem(*code) {
                Some(problem) => fail(problem),
                None => Ok(()),
            },
            Fault::SplitFrames { at } if at.is_empty() || at.contains(&0) || !at.is_sorted() => {
                fail("at lists increasing byte offsets, each at least 1".into())
            }
            Fault::Trickle { bytes, every_ms } if *bytes == 0 || *every_ms == 0 => {
                fail("bytes and every_ms must be at least 1".into())
            }
            Fault::Delay { delay_ms, .. } if *delay_ms > MAX_DELAY_MS => {
                fail(format!("delay_ms {delay_ms} is over the limit of {MAX_DELAY_MS} ms"))
            }
            _ => Ok(()),
        }
    }

    /// The downlink's QoS as a value (checked by [`FaultSpec::check`]).
    pub fn downlink_qos(qos: u8) -> QoS {
        if qos == 0 { QoS::AtMostOnce } else { QoS::AtLeastOnce }
    }
}

/// The longest delay a reply may be given: ten minutes, longer than any keepalive test needs.
pub const MAX_DELAY_MS: u64 = 600_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> FaultSpec {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn json_and_toml_read_the_same_spec() {
        let json = parse(
            r#"{"fault": "withhold", "reply": "pingresp", "scope": {"device": "pk/dev-01"},
                "trigger": {"after_packets": {"kind": "pingreq", "n": 2}}, "times": 1, "name": "pong loss"}"#,
        );
        let toml: FaultSpec = toml::from_str(
            "fault = \"withhold\"\nreply = \"pingresp\"\nscope = { device = \"pk/dev-01\" }\n\
             trigger = { after_packets = { kind = \"pingreq\", n = 2 } }\ntimes = 1\nname = \"pong loss\"\n",
        )
        .unwrap();
        assert_eq!(json, toml);
        assert_eq!(
            json,
            FaultSpec::new(Fault::Withhold { reply: Reply::Pingresp })
                .device("pk", "dev-01")
                .trigger(Trigger::AfterPackets { kind: Inbound::Pingreq, n: 2 })
                .times(1)
                .named("pong loss")
        );
        let round: FaultSpec = serde_json::from_str(&serde_json::to_string(&json).unwrap()).unwrap();
        assert_eq!(round, json);
    }

    #[test]
    fn defaults_are_every_connection_now_without_limit() {
        let spec = parse(r#"{"fault": "reset"}"#);
        assert_eq!((spec.scope, spec.trigger, spec.times), (Scope::All, Trigger::Now, None));
        assert_eq!(
            parse(r#"{"fault": "close", "trigger": {"after_connack_ms": 2000}}"#).trigger,
            Trigger::AfterConnackMs(2000)
        );
        assert_eq!(parse(r#"{"fault": "kick", "scope": {"next": 3}}"#).scope, Scope::Next(3));
        assert_eq!(parse(r#"{"fault": "blackhole", "trigger": "on_accept"}"#).trigger, Trigger::OnAccept);
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        for (json, why) in [
            (r#"{"fault": "withhold", "reply": "pingresp", "colour": 1}"#, "unknown field"),
            (r#"{"fault": "explode"}"#, "unknown variant"),
            (r#"{"fault": "kick", "scope": {"device": "no-slash"}}"#, "expected productKey/deviceName"),
            (r#"{"fault": "withhold"}"#, "missing field `reply`"),
        ] {
            let err = serde_json::from_str::<FaultSpec>(json).unwrap_err().to_string();
            assert!(err.contains(why), "{json}: {err}");
        }
    }

    #[test]
    fn impossible_faults_fail_the_check() {
        for (spec, why) in [
            (FaultSpec::new(Fault::RefuseConnect { code: 0 }), "not a refusal"),
            (FaultSpec::new(Fault::RefuseConnect { code: 6 }), "not a refusal"),
            (FaultSpec::new(Fault::TlsCloseMidHandshake).device("pk", "dev1"), "known only after CONNECT"),
            (FaultSpec::new(Fault::RefuseUpgrade { status: 200 }), "4xx or 5xx"),
            (FaultSpec::new(Fault::WsClose { code: 1005 }), "RFC 6455"),
            (FaultSpec::new(Fault::SplitFrames { at: vec![3, 1] }), "increasing"),
            (FaultSpec::new(Fault::Kick).times(0), "at least 1"),
            (FaultSpec::new(Fault::Kick).scope(Scope::Next(0)), "at least 1"),
            (FaultSpec::new(Fault::Downlink { topic: "/a/#".into(), payload: String::new(), qos: 0 }), "wildcard"),
            (FaultSpec::new(Fault::Downlink { topic: "/a".into(), payload: String::new(), qos: 2 }), "S-QOS"),
            (
                FaultSpec::new(Fault::RefuseConnect { code: 3 }).trigger(Trigger::AfterConnackMs(1)),
                "limit it with times",
            ),
            (FaultSpec::new(Fault::Delay { reply: Reply::Puback, delay_ms: MAX_DELAY_MS + 1 }), "over the limit"),
            (FaultSpec::new(Fault::Kick).trigger(Trigger::OnAccept), "act on the TCP connection"),
            (FaultSpec::new(Fault::Reset).trigger(Trigger::OnAccept).device("pk", "dev1"), "not known at accept"),
        ] {
            let err = spec.check().unwrap_err().0;
            assert!(err.contains(why), "{spec:?}: {err}");
        }
        FaultSpec::new(Fault::RefuseConnect { code: 3 }).times(4).check().unwrap();
        FaultSpec::new(Fault::WsClose { code: 4000 }).check().unwrap();
    }
}
