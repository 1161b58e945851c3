//! The platform rules the broker enforces, by their IDs.
//!
//! Every verdict, transcript line and report names one of these. A rule carries its
//! confidence: where it is `Low`, the broker's reaction is a configurable choice and is
//! reported as "assumed".

use serde::{Serialize, Serializer};
use std::fmt;

/// How sure the platform description is of a rule (platform.md, "Conf.").
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

macro_rules! rules {
    ($( $variant:ident = $id:literal, $conf:ident, $title:literal; )*) => {
        /// A platform rule ID (T-, A-, K-, S- and ID- rules of platform.md).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule { $( #[doc = $title] $variant, )* }

        impl Rule {
            /// Every rule, in platform.md order.
            pub const ALL: &'static [Rule] = &[ $( Rule::$variant, )* ];

            /// The ID as platform.md writes it, for example `A-SECUREMODE`.
            pub fn id(self) -> &'static str {
                match self { $( Rule::$variant => $id, )* }
            }

            /// The rule's confidence as platform.md gives it (for split ratings, the
            /// confidence of the platform's *reaction*, which is what the mock imitates).
            pub fn confidence(self) -> Confidence {
                match self { $( Rule::$variant => Confidence::$conf, )* }
            }

            /// One line saying what the rule demands.
            pub fn title(self) -> &'static str {
                match self { $( Rule::$variant => $title, )* }
            }

            /// Looks a rule up by its ID.
            pub fn from_id(id: &str) -> Option<Rule> {
                match id { $( $id => Some(Rule::$variant), )* _ => None }
            }
        }
    };
}

rules! {
    TWs = "T-WS", High, "MQTT over plain WebSocket, in binary frames";
    TWss = "T-WSS", High, "MQTT over WebSocket over TLS";
    TWsPath = "T-WS-PATH", Medium, "any WebSocket path is accepted unless an allow-list is set";
    TWsSubproto = "T-WS-SUBPROTO", High, "the server echoes the subprotocol mqtt or mqttv3.1 the client offers";
    TTcp = "T-TCP", High, "MQTT over plain TCP";
    TTls = "T-TLS", High, "MQTT over TLS direct";
    THost = "T-HOST", High, "wss/tls clients send the endpoint name as SNI and Host";
    TMux = "T-MUX", Medium, "one port (443) carries TLS-MQTT, ws and wss; the mock's optional mux tells TLS (0x16), MQTT (0x10) and an HTTP upgrade (GET ) apart";
    ACidFormat = "A-CID-FORMAT", High, "mqttClientId is clientId|key=value,...|";
    ACidLen = "A-CID-LEN", High, "the clientId prefix is at most 64 characters";
    AParamsUnknown = "A-PARAMS-UNKNOWN", High, "unknown clientId params are ignored";
    ASecuremode = "A-SECUREMODE", Low, "securemode is 3 over ws/tcp and 2 over wss/tls";
    ASignmethod = "A-SIGNMETHOD", Low, "signmethod is hmacmd5, hmacsha1 or hmacsha256 (absent: hmacmd5)";
    AUsername = "A-USERNAME", High, "username is deviceName&productKey";
    ADevice = "A-DEVICE", Low, "the device exists in the registry and is enabled";
    ASignContent = "A-SIGN-CONTENT", High, "password signs the sorted submitted params with the device secret";
    ASignHex = "A-SIGN-HEX", High, "password is the full-length HMAC in hex, either case";
    ATimestamp = "A-TIMESTAMP", High, "timestamp is a digit string; no freshness window";
    AKeepalive = "A-KEEPALIVE", Low, "keepalive lies in 30..=1200 seconds";
    AProtocol = "A-PROTOCOL", High, "MQTT 3.1 (MQIsdp/3) or 3.1.1 (MQTT/4)";
    AWillRetain = "A-WILL-RETAIN", Low, "will and retained messages are not supported";
    AConnack = "A-CONNACK", High, "after a refusing CONNACK the server closes; nothing precedes CONNECT";
    KTimer = "K-TIMER", High, "the keepalive timer starts at CONNACK and every inbound packet resets it";
    KTimeout = "K-TIMEOUT", High, "a device silent for more than 1.5 x keepalive is cut at the next check";
    KClose = "K-CLOSE", High, "on keepalive timeout the server closes without DISCONNECT";
    KPing = "K-PING", High, "PINGREQ is answered by PINGRESP";
    SKick = "S-KICK", Medium, "one connection per device: a new login kicks the older one";
    SQos = "S-QOS", Low, "QoS 0 and 1 only";
    STopicOwn = "S-TOPIC-OWN", High, "a device uses only its own topics";
    SSubDeny = "S-SUB-DENY", High, "a subscription without the right gets SUBACK 0x80";
    SPubDeny = "S-PUB-DENY", Low, "a publish without the right is dropped";
    SRate = "S-RATE", High, "uplink above 30 messages/s per device is dropped";
    SPayload = "S-PAYLOAD", Low, "payloads are at most 256 KiB";
    SClean = "S-CLEAN", Low, "cleanSession 0 keeps QoS 1 messages for an offline device";
    SPuback = "S-PUBACK", High, "the platform acknowledges a QoS 1 PUBLISH with PUBACK; an unacknowledged one is resent with DUP=1 after reconnect [MQTT-4.4.0-1]";
    IdPk = "ID-PK", Medium, "productKey: letters and digits, at most 20";
    IdDn = "ID-DN", High, "deviceName: 4-32 of letters, digits and - _ @ . :";
    IdSecret = "ID-SECRET", Medium, "deviceSecret: letters and digits, at most 64";
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
    fn low_confidence_rules_are_assumed() {
        assert!(Rule::ASecuremode.is_assumed());
        assert!(Rule::ADevice.is_assumed());
        assert!(!Rule::ASignHex.is_assumed());
        assert!(!Rule::SPuback.is_assumed(), "MQTT 3.1.1 itself says so");
    }
}
