//! The fourteen MQTT control packet types as a table: name, sender, fixed-header flags and
//! fixed size, shared by the decoder (to check) and the encoder (to write).

use super::Packet;

/// Which side of a connection may send a packet type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sender {
    Client,
    Server,
    Both,
}

/// The control packet types, numbered as in the high nibble of the first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Type {
    Connect = 1,
    Connack,
    Publish,
    Puback,
    Pubrec,
    Pubrel,
    Pubcomp,
    Subscribe,
    Suback,
    Unsubscribe,
    Unsuback,
    Pingreq,
    Pingresp,
    Disconnect,
}

/// One control packet type (MQTT 3.1.1 section 2.2.1, Table 2.1, and its flags in Table 2.2).
#[derive(Debug)]
pub(super) struct Kind {
    pub(super) ty: Type,
    /// The name in upper case, as the spec writes it.
    pub(super) name: &'static str,
    pub(super) sender: Sender,
    /// The section describing the packet, named when it travels the wrong way.
    pub(super) section: &'static str,
    /// The section of its fixed header, which states its remaining length.
    pub(super) header_section: &'static str,
    /// The required low nibble of the first byte; `None` for PUBLISH, whose flags are DUP,
    /// QoS and RETAIN.
    pub(super) flags: Option<u8>,
    /// A statement of the packet's own about those flags, where the spec numbers one.
    pub(super) flags_statement: Option<&'static str>,
    /// The exact remaining length of a packet of fixed size.
    pub(super) fixed_len: Option<usize>,
}

/// Indexed by `code - 1`: types 0 and 15 are reserved.
const KINDS: [Kind; 14] = [
    Kind {
        ty: Type::Connect,
        name: "CONNECT",
        sender: Sender::Client,
        section: "MQTT-3.1",
        header_section: "MQTT-3.1.1",
        flags: Some(0),
        flags_statement: None,
        fixed_len: None,
    },
    Kind {
        ty: Type::Connack,
        name: "CONNACK",
        sender: Sender::Server,
        section: "MQTT-3.2",
        header_section: "MQTT-3.2.1",
        flags: Some(0),
        flags_statement: None,
        fixed_len: Some(2),
    },
    Kind {
        ty: Type::Publish,
        name: "PUBLISH",
        sender: Sender::Both,
        section: "MQTT-3.3",
        header_section: "MQTT-3.3.1",
        flags: None,
        flags_statement: None,
        fixed_len: None,
    },
    Kind {
        ty: Type::Puback,
        name: "PUBACK",
        sender: Sender::Both,
        section: "MQTT-3.4",
        header_section: "MQTT-3.4.1",
        flags: Some(0),
        flags_statement: None,
        fixed_len: Some(2),
    },
    Kind {
        ty: Type::Pubrec,
        name: "PUBREC",
        sender: Sender::Both,
        section: "MQTT-3.5",
        header_section: "MQTT-3.5.1",
        flags: Some(0),
        flags_statement: None,
        fixed_len: Some(2),
    },
    Kind {
        ty: Type::Pubrel,
        name: "PUBREL",
        sender: Sender::Both,
        section: "MQTT-3.6",
        header_section: "MQTT-3.6.1",
        flags: Some(0b0010),
        flags_statement: Some("MQTT-3.6.1-1"),
        fixed_len: Some(2),
    },
    Kind {
        ty: Type::Pubcomp,
        name: "PUBCOMP",
        sender: Sender::Both,
        section: "MQTT-3.7",
        header_section: "MQTT-3.7.1",
        flags: Some(0),
        flags_statement: None,
        fixed_len: Some(2),
    },
    Kind {
        ty: Type::Subscribe,
        name: "SUBSCRIBE",
        sender: Sender::Client,
        section: "MQTT-3.8",
        header_section: "MQTT-3.8.1",
        flags: Some(0b0010),
        flags_statement: Some("MQTT-3.8.1-1"),
        fixed_len: None,
    },
    Kind {
        ty: Type::Suback,
        name: "SUBACK",
        sender: Sender::Server,
        section: "MQTT-3.9",
        header_section: "MQTT-3.9.1",
        flags: Some(0),
        flags_statement: None,
        fixed_len: None,
    },
    Kind {
        ty: Type::Unsubscribe,
        name: "UNSUBSCRIBE",
        sender: Sender::Client,
        section: "MQTT-3.10",
        header_section: "MQTT-3.10.1",
        flags: Some(0b0010),
        flags_statement: Some("MQTT-3.10.1-1"),
        fixed_len: None,
    },
    Kind {
        ty: Type::Unsuback,
        name: "UNSUBACK",
        sender: Sender::Server,
        section: "MQTT-3.11",
        header_section: "MQTT-3.11.1",
        flags: Some(0),
        flags_statement: None,
        fixed_len: Some(2),
    },
    Kind {
        ty: Type::Pingreq,
        name: "PINGREQ",
        sender: Sender::Client,
        section: "MQTT-3.12",
        header_section: "MQTT-3.12.1",
        flags: Some(0),
        flags_statement: None,
        fixed_len: Some(0),
    },
    Kind {
        ty: Type::Pingresp,
        name: "PINGRESP",
        sender: Sender::Server,
        section: "MQTT-3.13",
        header_section: "MQTT-3.13.1",
        flags: Some(0),
        flags_statement: None,
        fixed_len: Some(0),
    },
    Kind {
        ty: Type::Disconnect,
        name: "DISCONNECT",
        sender: Sender::Client,
        section: "MQTT-3.14",
        header_section: "MQTT-3.14.1",
        flags: Some(0),
        flags_statement: Some("MQTT-3.14.1-1"),
        fixed_len: Some(0),
    },
];

impl Kind {
    /// The type number in the high nibble of the first byte.
    pub(super) fn code(&self) -> u8 {
        self.ty as u8
    }

    /// The type for the high nibble of a first byte, `None` for the reserved 0 and 15.
    pub(super) fn from_code(code: u8) -> Option<&'static Kind> {
        KINDS.get(usize::from(code).checked_sub(1)?)
    }

    /// The type of a packet value.
    pub(super) fn of(packet: &Packet) -> &'static Kind {
        let ty = match packet {
            Packet::Connect(_) => Type::Connect,
            Packet::Connack(_) => Type::Connack,
            Packet::Publish(_) => Type::Publish,
            Packet::Puback(_) => Type::Puback,
            Packet::Pubrec(_) => Type::Pubrec,
            Packet::Pubrel(_) => Type::Pubrel,
            Packet::Pubcomp(_) => Type::Pubcomp,
            Packet::Subscribe(_) => Type::Subscribe,
            Packet::Suback(_) => Type::Suback,
            Packet::Unsubscribe(_) => Type::Unsubscribe,
            Packet::Unsuback(_) => Type::Unsuback,
            Packet::Pingreq => Type::Pingreq,
            Packet::Pingresp => Type::Pingresp,
            Packet::Disconnect => Type::Disconnect,
        };
        &KINDS[usize::from(ty as u8) - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_sit_at_their_code() {
        for (i, kind) in KINDS.iter().enumerate() {
            assert_eq!(usize::from(kind.code()), i + 1, "{}", kind.name);
            assert!(kind.section.ends_with(&format!(".{}", kind.code())), "{}", kind.name);
            assert!(kind.header_section.starts_with(kind.section), "{}", kind.name);
        }
    }

    #[test]
    fn reserved_codes_have_no_kind() {
        assert!(Kind::from_code(0).is_none());
        assert!(Kind::from_code(15).is_none());
        assert_eq!(Kind::from_code(14).map(|k| k.name), Some("DISCONNECT"));
    }

    #[test]
    fn names_agree_with_the_packet_model() {
        let packets = [Packet::Pingreq, Packet::Pingresp, Packet::Disconnect, Packet::Puback(1)];
        for packet in &packets {
            assert_eq!(Kind::of(packet).name, packet.name());
        }
    }
}
