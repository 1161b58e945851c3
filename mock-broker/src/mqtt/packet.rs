//! MQTT 3.1 / 3.1.1 control packets as plain values.

use bytes::Bytes;
use serde::Serialize;

/// The protocol a CONNECT names (A-PROTOCOL).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Protocol {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3.
    #[serde(rename = "mqtt-3.1")]
    V31,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4.
    #[serde(rename = "mqtt-3.1.1")]
    V311,
}

impl Protocol {
    /// The protocol name as sent on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::V31 => "MQIsdp",
            Protocol::V311 => "MQTT",
        }
    }

    /// The protocol level byte.
    pub fn level(self) -> u8 {
        match self {
            Protocol::V31 => 3,
            Protocol::V311 => 4,
        }
    }
}

/// Quality of service of a PUBLISH or a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum QoS {
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for a two-bit value, `None` for 3.
    pub fn from_bits(bits: u8) -> Option<QoS> {
        match bits {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// A will message carried in CONNECT (A-WILL-RETAIN: not supported by the platform).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
}

/// CONNECT, as the client sent it. The password is kept as bytes: MQTT allows binary. Its
/// `Debug` shows the password's length only: a signature is a password the platform accepts.
#[derive(Clone, PartialEq, Eq)]
pub struct Connect {
    pub protocol: Protocol,
    pub client_id: String,
    pub clean_session: bool,
    pub keep_alive: u16,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    pub will: Option<Will>,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connect")
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .field("clean_session", &self.clean_session)
            .field("keep_alive", &self.keep_alive)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|p| format!("<{} bytes>", p.len())))
            .field("will", &self.will)
            .finish()
    }
}

/// CONNACK return codes of MQTT 3.1.1 (the platform's meanings per doc 148610).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ConnackCode {
    /// 0x00 connection accepted.
    Accepted = 0,
    /// 0x01 protocol level not supported.
    UnacceptableProtocol = 1,
    /// 0x02 client identifier rejected (too long, malformed extension params).
    IdentifierRejected = 2,
    /// 0x03 service unavailable.
    ServerUnavailable = 3,
    /// 0x04 bad username or password.
    BadCredentials = 4,
    /// 0x05 not authorized.
    NotAuthorized = 5,
}

impl ConnackCode {
    /// The code for a byte, `None` for reserved values.
    pub fn from_u8(code: u8) -> Option<ConnackCode> {
        Some(match code {
            0 => ConnackCode::Accepted,
            1 => ConnackCode::UnacceptableProtocol,
            2 => ConnackCode::IdentifierRejected,
            3 => ConnackCode::ServerUnavailable,
            4 => ConnackCode::BadCredentials,
            5 => ConnackCode::NotAuthorized,
            _ => return None,
        })
    }

    /// The byte on the wire.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

/// CONNACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connack {
    pub session_present: bool,
    pub code: ConnackCode,
}

/// PUBLISH. `packet_id` is present exactly when `qos` is above 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    pub topic: String,
    pub packet_id: Option<u16>,
    pub payload: Bytes,
}

/// SUBSCRIBE: a packet id and at least one (filter, requested QoS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe {
    pub packet_id: u16,
    pub filters: Vec<(String, QoS)>,
}

/// One SUBACK return code: the granted QoS, or failure (0x80).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubackCode {
    Granted(QoS),
    Failure,
}

impl SubackCode {
    /// The byte on the wire.
    pub fn as_u8(self) -> u8 {
        match self {
            SubackCode::Granted(q) => q as u8,
            SubackCode::Failure => 0x80,
        }
    }
}

/// SUBACK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suback {
    pub packet_id: u16,
    pub codes: Vec<SubackCode>,
}

/// UNSUBSCRIBE: a packet id and at least one filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribe {
    pub packet_id: u16,
    pub filters: Vec<String>,
}

/// Any MQTT 3.1.1 control packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    Connect(Connect),
    Connack(Connack),
    Publish(Publish),
    Puback(u16),
    Pubrec(u16),
    Pubrel(u16),
    Pubcomp(u16),
    Subscribe(Subscribe),
    Suback(Suback),
    Unsubscribe(Unsubscribe),
    Unsuback(u16),
    Pingreq,
    Pingresp,
    Disconnect,
}

impl Packet {
    /// The packet type's name in upper case, as the MQTT spec writes it.
    pub fn name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::Connack(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::Puback(_) => "PUBACK",
            Packet::Pubrec(_) => "PUBREC",
            Packet::Pubrel(_) => "PUBREL",
            Packet::Pubcomp(_) => "PUBCOMP",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::Suback(_) => "SUBACK",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::Unsuback(_) => "UNSUBACK",
            Packet::Pingreq => "PINGREQ",
            Packet::Pingresp => "PINGRESP",
            Packet::Disconnect => "DISCONNECT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_s_debug_shows_the_password_s_length_only() {
        let connect = Connect {
            protocol: Protocol::V311,
            client_id: "c".into(),
            clean_session: true,
            keep_alive: 60,
            username: Some("device&pk".into()),
            password: Some(Bytes::from_static(b"fafd82a3d602b37fb0fa8b7892f24a477f851a14")),
            will: None,
        };
        let shown = format!("{connect:?}");
        assert!(shown.contains("<40 bytes>") && !shown.contains("fafd82a3"), "{shown}");
    }
}
