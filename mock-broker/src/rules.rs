//! The platform rules the broker enforces, by their IDs.
//!
//! Every verdict, transcript line and report names one of these. A rule carries its
//! confidence, its source, the broker's default reaction and the [`Policy`](crate::Policy)
//! field or flag that changes it: where the confidence is `Low`, the reaction is a
//! configurable choice and is reported as "assumed".
//!
//! This table is the kit's statement of the platform rules: `RULES.md` is generated from it
//! (`cargo xtask rules`, see `conformance::rules_reference`).

use serde::{Serialize, Serializer};
use std::fmt;

/// How sure the platform description is of a rule (the confidence column of `RULES.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// An official doc and/or several official SDKs agree.
    High,
    /// One official source or consistent indirect evidence.
    Medium,
    /// Inference, one field report, or unknown: the mock's reaction is assumed.
    Low,
}

impl Confidence {
    /// All three, most sure first.
    pub const ALL: [Confidence; 3] = [Confidence::High, Confidence::Medium, Confidence::Low];

    /// `High`, `Medium` or `Low`.
    pub fn label(self) -> &'static str {
        match self {
            Confidence::High => "High",
            Confidence::Medium => "Medium",
            Confidence::Low => "Low",
        }
    }

    /// What the level means, as the variant's docs say.
    pub fn meaning(self) -> &'static str {
        match self {
            Confidence::High => "an official doc and/or several official SDKs agree",
            Confidence::Medium => "one official source or consistent indirect evidence",
            Confidence::Low => "inference, one field report, or unknown: the mock's reaction is assumed",
        }
    }
}

macro_rules! rules {
    (@knob) => { None };
    (@knob $knob:literal) => { Some($knob) };
    ($(
        $variant:ident = $id:literal, $conf:ident, $title:literal {
            source: $source:literal,
            reaction: $reaction:literal,
            $( knob: $knob:literal, )?
        }
    )*) => {
        /// A platform rule ID (T-, A-, K-, S- and ID- rules; `RULES.md` lists them all).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule { $( #[doc = $title] $variant, )* }

        impl Rule {
            /// Every rule, in the order of the rule table (and of `RULES.md`).
            pub const ALL: &'static [Rule] = &[ $( Rule::$variant, )* ];

            /// The rule's ID, for example `A-SECUREMODE`.
            pub fn id(self) -> &'static str {
                match self { $( Rule::$variant => $id, )* }
            }

            /// The rule's confidence (for split ratings, the confidence of the platform's
            /// *reaction*, which is what the mock imitates).
            pub fn confidence(self) -> Confidence {
                match self { $( Rule::$variant => Confidence::$conf, )* }
            }

            /// One line saying what the rule demands.
            pub fn title(self) -> &'static str {
                match self { $( Rule::$variant => $title, )* }
            }

            /// Where the rule comes from: the Aliyun docs (with their IDs), SDK sources, field
            /// reports or the MQTT 3.1.1 standard.
            pub fn source(self) -> &'static str {
                match self { $( Rule::$variant => $source, )* }
            }

            /// What the broker does by default, on a breach and where the rule holds.
            pub fn reaction(self) -> &'static str {
                match self { $( Rule::$variant => $reaction, )* }
            }

            /// The [`Policy`](crate::Policy) fields and `mock-broker` flags that change the
            /// reaction, if any.
            pub fn knob(self) -> Option<&'static str> {
                match self { $( Rule::$variant => rules!(@knob $($knob)?), )* }
            }

            /// Looks a rule up by its ID.
            pub fn from_id(id: &str) -> Option<Rule> {
                match id { $( $id => Some(Rule::$variant), )* _ => None }
            }
        }
    };
}

rules! {
    TWs = "T-WS", High, "MQTT over plain WebSocket, in binary frames" {
        source: "Aliyun doc \"MQTT-WebSocket连接通信\" (63656)",
        reaction: "MQTT is read from binary frames, a packet may span several frames and a frame may hold several packets; a text frame, or a frame that breaks RFC 6455 (unmasked, a reserved opcode or bits, a continuation of nothing), is a fail and closes the connection",
        knob: "`Policy::ws_message_limit` (the largest WebSocket message)",
    }
    TWss = "T-WSS", High, "MQTT over WebSocket over TLS" {
        source: "Aliyun doc \"MQTT-WebSocket连接通信\" (63656)",
        reaction: "as T-WS, inside TLS 1.2 with a certificate minted for the endpoint names",
        knob: "`--cert`, `--key`, `--ca` (serve your own certificate)",
    }
    TWsPath = "T-WS-PATH", Medium, "any WebSocket path is accepted unless an allow-list is set" {
        source: "Node SDK `src/const.js`, Paho Java",
        reaction: "any path is accepted; with an allow-list, another path gets HTTP 404 and a fail",
        knob: "`Policy::ws_paths`, `--ws-path`",
    }
    TWsSubproto = "T-WS-SUBPROTO", High, "the server echoes the subprotocol mqtt or mqttv3.1 the client offers" {
        source: "mqtt.js, Paho Java",
        reaction: "the offered mqtt or mqttv3.1 is echoed; when neither is offered the upgrade is accepted with a warning",
    }
    TTcp = "T-TCP", High, "MQTT over plain TCP" {
        source: "Aliyun doc \"MQTT-TCP连接通信\" (73742)",
        reaction: "MQTT is read straight from the socket",
    }
    TTls = "T-TLS", High, "MQTT over TLS direct" {
        source: "Aliyun doc \"MQTT-TCP连接通信\" (73742)",
        reaction: "TLS 1.2, then MQTT; a client refusing the certificate never reaches CONNECT",
        knob: "`--cert`, `--key`, `--ca` (serve your own certificate)",
    }
    THost = "T-HOST", High, "wss/tls clients send the endpoint name as SNI and Host" {
        source: "Aliyun doc 73742; aliyun-iot-linkkit 1.2.13",
        reaction: "the SNI and Host are recorded in the handshake event; the minted certificate covers localhost and 127.0.0.1",
        knob: "`--name` (more names in the minted certificate)",
    }
    TMux = "T-MUX", Medium, "one port (443) carries TLS-MQTT, ws and wss; the mock's optional mux tells TLS (0x16), MQTT (0x10) and an HTTP upgrade (GET ) apart" {
        source: "inferred from the ports Aliyun doc 73742 lists",
        reaction: "off by default; when served, an opening that is none of the four transports is a named fail and closes the connection",
        knob: "`BrokerBuilder::mux`, `--mux [ADDR]`",
    }
    ACidFormat = "A-CID-FORMAT", High, "mqttClientId is clientId|key=value,...|" {
        source: "Aliyun docs 73742 and 63656; Node SDK",
        reaction: "a malformed mqttClientId is refused with CONNACK 0x02",
    }
    ACidLen = "A-CID-LEN", High, "the clientId prefix is at most 64 characters" {
        source: "Aliyun doc 73742; troubleshooting doc 148610",
        reaction: "a longer prefix is refused with CONNACK 0x02",
        knob: "`Policy::client_id_max_chars`",
    }
    AParamsUnknown = "A-PARAMS-UNKNOWN", High, "unknown clientId params are ignored" {
        source: "SDK sources (they send `_v`, `lan`, `_ss`, `ext`, `gw`, `_conn`...)",
        reaction: "accepted; the unknown params are listed in the verdict",
    }
    ASecuremode = "A-SECUREMODE", Low, "securemode is 3 over ws/tcp and 2 over wss/tls" {
        source: "Aliyun docs 63656 and 73742 (the pairing is High; the reaction to a mismatch is Low)",
        reaction: "a missing or mismatched securemode is refused with CONNACK 0x02 (assumed)",
        knob: "`Policy::securemode_refusal`, `--securemode-refusal`",
    }
    ASignmethod = "A-SIGNMETHOD", Low, "signmethod is hmacmd5, hmacsha1 or hmacsha256 (absent: hmacmd5)" {
        source: "Aliyun doc 63656 (the methods are documented; the reaction to another is not)",
        reaction: "an unknown or mis-cased signmethod is refused with CONNACK 0x02 (assumed)",
        knob: "`Policy::signmethod_refusal`, `--signmethod-refusal`",
    }
    AUsername = "A-USERNAME", High, "username is deviceName&productKey" {
        source: "Aliyun docs; troubleshooting doc 148610",
        reaction: "a missing or malformed username is refused with CONNACK 0x04",
    }
    ADevice = "A-DEVICE", Low, "the device exists in the registry and is enabled" {
        source: "troubleshooting doc 148610 (the codes are not documented)",
        reaction: "an unknown device is refused with CONNACK 0x04, a disabled one with 0x05 (both assumed)",
        knob: "`Policy::unknown_device_refusal`, `Policy::disabled_device_refusal`, `--unknown-device-refusal`, `--disabled-device-refusal`",
    }
    ASignContent = "A-SIGN-CONTENT", High, "password signs the sorted submitted params with the device secret" {
        source: "Aliyun doc 63656; SDK sources",
        reaction: "a wrong signature is refused with CONNACK 0x04; the verdict shows the content the broker signed and the likely mistake",
    }
    ASignHex = "A-SIGN-HEX", High, "password is the full-length HMAC in hex, either case" {
        source: "SDK sources (lower case from most, upper case from iotkit and LinkSDK)",
        reaction: "hex digits in either case at the method's full length are compared; anything else is refused with CONNACK 0x04",
    }
    ATimestamp = "A-TIMESTAMP", High, "timestamp is a digit string; no freshness window" {
        source: "SDK sources; Aliyun HTTPS authentication doc",
        reaction: "any digit string, old or future, is accepted; another value is accepted with a warning",
    }
    AKeepalive = "A-KEEPALIVE", Low, "keepalive lies in 30..=1200 seconds" {
        source: "Aliyun docs 63656 and 73742; arduino-aliyun-iot-sdk issue 2 (the range is High; the code is Low)",
        reaction: "a keepalive outside the range is refused with CONNACK 0x02 (code assumed)",
        knob: "`Policy::keepalive_range`, `Policy::keepalive_refusal`, `--keepalive-refusal`",
    }
    AProtocol = "A-PROTOCOL", High, "MQTT 3.1 (MQIsdp/3) or 3.1.1 (MQTT/4)" {
        source: "Aliyun doc \"MQTT协议规范\" (30540)",
        reaction: "another protocol name or level is refused with CONNACK 0x01",
    }
    AWillRetain = "A-WILL-RETAIN", Low, "will and retained messages are not supported" {
        source: "Aliyun doc 30540 (unsupported is High; the reaction is Low)",
        reaction: "a will or a RETAIN flag is accepted and ignored, with a warning (assumed)",
    }
    AConnack = "A-CONNACK", High, "after a refusing CONNACK the server closes; nothing precedes CONNECT" {
        source: "MQTT 3.1.1",
        reaction: "the connection is closed right after a non-zero CONNACK; a first packet other than CONNECT closes it",
    }
    KTimer = "K-TIMER", High, "the keepalive timer starts at CONNACK and every inbound packet resets it" {
        source: "Aliyun doc \"设备上下线\" (130922); developer.aliyun.com article 775760",
        reaction: "the timer starts at CONNACK and any inbound packet, not only PINGREQ, resets it",
    }
    KTimeout = "K-TIMEOUT", High, "a device silent for more than 1.5 x keepalive is cut at the next check" {
        source: "Aliyun doc 130922; developer.aliyun.com article 775760",
        reaction: "a check every 30 s cuts each device silent for more than 1.5 x keepalive, so the cut falls between 1.5 x keepalive and 30 s later",
        knob: "`Policy::keepalive_check`, `--keepalive-check-period`, `--keepalive-check-phase`, `--exact-keepalive`",
    }
    KClose = "K-CLOSE", High, "on keepalive timeout the server closes without DISCONNECT" {
        source: "Aliyun doc \"设备日志\" (44542)",
        reaction: "the connection is closed without a DISCONNECT, with the reason \"Keepalive timeout\"",
    }
    KPing = "K-PING", High, "PINGREQ is answered by PINGRESP" {
        source: "MQTT 3.1.1",
        reaction: "every PINGREQ is answered with a PINGRESP",
    }
    SKick = "S-KICK", Medium, "one connection per device: a new login kicks the older one" {
        source: "Aliyun docs 73742 and 44542 (the kick is High; the notice is Medium)",
        reaction: "the older connection is closed; when its clientId had ext bit 1 set, it gets a notice on /ext/notify first",
    }
    SQos = "S-QOS", Low, "QoS 0 and 1 only" {
        source: "Aliyun doc 30540 (QoS 0 and 1 is High; the reaction to QoS 2 is Low)",
        reaction: "a QoS 2 PUBLISH closes the connection; a QoS 2 subscription is granted QoS 1 (both assumed)",
        knob: "`Policy::qos2_publish`, `Policy::qos2_subscribe_grant`, `--qos2-publish`",
    }
    STopicOwn = "S-TOPIC-OWN", High, "a device uses only its own topics" {
        source: "Aliyun doc \"什么是Topic\" (73731)",
        reaction: "a device may publish and subscribe to its product's topic classes with its own names in them; anything else is denied (S-SUB-DENY, S-PUB-DENY)",
    }
    SSubDeny = "S-SUB-DENY", High, "a subscription without the right gets SUBACK 0x80" {
        source: "iotkit-embedded issue 127",
        reaction: "the denied filter gets SUBACK 0x80 and the connection stays open; so does a filter beyond the device's subscription limit (1000, assumed)",
        knob: "`Policy::max_subscriptions`, `--max-subscriptions`",
    }
    SPubDeny = "S-PUB-DENY", Low, "a publish without the right is dropped" {
        source: "iotkit-embedded issue 78; Aliyun doc 44542 (the drop is Medium; the PUBACK is Low)",
        reaction: "the message is dropped and the connection stays open; a QoS 1 one is still acknowledged (assumed)",
        knob: "`Policy::puback_denied_publish`, `--no-puback-denied`",
    }
    SRate = "S-RATE", High, "uplink above 30 messages/s per device is dropped" {
        source: "Aliyun doc \"单设备多连接\"; Aliyun doc 44542",
        reaction: "the messages beyond 30 in a second are dropped, each with a verdict",
        knob: "`Policy::uplink_rate_per_second`, `--rate-limit`",
    }
    SPayload = "S-PAYLOAD", Low, "payloads are at most 256 KiB" {
        source: "LinkSDK `CORE_TX_PKT_MAX_LENGTH`",
        reaction: "a larger payload closes the connection (assumed)",
        knob: "`Policy::payload_limit`, `Policy::oversize`, `--payload-limit`, `--oversize`",
    }
    SClean = "S-CLEAN", Low, "cleanSession 0 keeps QoS 1 messages for an offline device" {
        source: "LinkSDK docs (the session is High; how much is kept and for how long is Low)",
        reaction: "with cleanSession 0 the subscriptions and up to 1000 QoS 1 messages (1 MiB) are kept for 7 days (limits assumed); with cleanSession 1 nothing is kept",
        knob: "`Policy::stored_session_max_messages`, `Policy::stored_session_max_bytes`, `Policy::stored_session_expiry`",
    }
    SPuback = "S-PUBACK", High, "the platform acknowledges a QoS 1 PUBLISH with PUBACK; an unacknowledged one is resent with DUP=1 after reconnect [MQTT-4.4.0-1]" {
        source: "MQTT 3.1.1 [MQTT-4.4.0-1] (the kit's own rule)",
        reaction: "every accepted QoS 1 PUBLISH is acknowledged; a device's resend is checked for the same packet id and DUP=1",
    }
    IdPk = "ID-PK", Medium, "productKey: letters and digits, at most 20" {
        source: "platform-issued keys (11 characters) and SDK buffers (20)",
        reaction: "the registry refuses to load a device whose productKey breaks the rule, naming it",
    }
    IdDn = "ID-DN", High, "deviceName: 4-32 of letters, digits and - _ @ . :" {
        source: "Aliyun RegisterDevice API doc",
        reaction: "the registry refuses to load a device whose deviceName breaks the rule, naming it",
    }
    IdSecret = "ID-SECRET", Medium, "deviceSecret: letters and digits, at most 64" {
        source: "platform examples (32 characters) and SDK buffers (64)",
        reaction: "the registry refuses to load a device whose deviceSecret breaks the rule, naming it",
    }
}

impl Rule {
    /// True where the mock's reaction to a breach is a documented guess (confidence L).
    pub fn is_assumed(self) -> bool {
        self.confidence() == Confidence::Low
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_unique() {
        for rule in Rule::ALL {
            assert_eq!(Rule::from_id(rule.id()), Some(*rule));
        }
        let mut ids: Vec<_> = Rule::ALL.iter().map(|r| r.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
    }

    #[test]
    fn every_rule_has_a_source_and_a_reaction() {
        for rule in Rule::ALL {
            for (what, text) in [("title", rule.title()), ("source", rule.source()), ("reaction", rule.reaction())] {
                assert!(!text.trim().is_empty(), "{rule} has no {what}");
            }
            if let Some(knob) = rule.knob() {
                assert!(!knob.trim().is_empty(), "{rule} has an empty knob");
            }
        }
    }

    /// The backquoted words of a knob: `Policy::field`, `--flag` or `BrokerBuilder::method`.
    fn knob_words(knob: &str) -> impl Iterator<Item = &str> {
        knob.split('`').skip(1).step_by(2)
    }

    /// The flags are the binary's: its tests check those words.
    #[test]
    fn knobs_name_real_policy_fields_and_builder_methods() {
        let policy = include_str!("policy.rs");
        let builder = include_str!("broker.rs");
        for rule in Rule::ALL {
            for word in rule.knob().into_iter().flat_map(knob_words) {
                let real = if let Some(field) = word.strip_prefix("Policy::") {
                    policy.contains(&format!("    pub {field}: "))
                } else if let Some(method) = word.strip_prefix("BrokerBuilder::") {
                    builder.contains(&format!("pub fn {method}("))
                } else {
                    word.starts_with("--")
                };
                assert!(real, "{rule}: the knob names {word:?}, which does not exist");
            }
        }
        assert_eq!(Rule::AProtocol.knob(), None);
    }

    #[test]
    fn low_confidence_rules_are_assumed() {
        assert!(Rule::ASecuremode.is_assumed());
        assert!(Rule::ADevice.is_assumed());
        assert!(!Rule::ASignHex.is_assumed());
        assert!(!Rule::SPuback.is_assumed(), "MQTT 3.1.1 itself says so");
    }
}
