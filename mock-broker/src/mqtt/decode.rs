//! The strict decoder: frames one packet from a byte buffer ("check, then parse", as in
//! mini-redis) and checks it against MQTT 3.1 / 3.1.1, naming the normative statement
//! that bytes break.
//!
//! Checks run in the order their bytes arrive, each on a prefix of the packet, so a given
//! byte stream yields the same verdict however it is split: the first byte (type, sender,
//! flags), then the remaining length (its encoding, the fixed size of some types, the size
//! limit) before any of the body is awaited, then the body once it is all buffered.

mod connect;
mod reader;
mod topic;

use self::reader::{Field, Reader};
use super::kind::{Kind, Sender, Type};
use super::{Connack, ConnackCode, Direction, Packet, Publish, QoS, Suback, SubackCode};
use super::{Subscribe, Unsubscribe, Violation};
use bytes::{Buf, BytesMut};

const TOPIC_NAME: Field = Field::new("topic name", "MQTT-3.3.2-1");
const ORIGIN_ID: Field = Field::new("packet identifier", "MQTT-2.3.1-1");
const PUBLISH_ACK_ID: Field = Field::new("packet identifier", "MQTT-2.3.1-6");
const SUBSCRIBE_ACK_ID: Field = Field::new("packet identifier", "MQTT-2.3.1-7");
const SUBSCRIBE_FILTER: Field = Field::new("topic filter", "MQTT-3.8.3-1");
const REQUESTED_QOS: Field = Field::new("requested QoS", "MQTT-3.8.3");
const UNSUBSCRIBE_FILTER: Field = Field::new("topic filter", "MQTT-3.10.3-1");
const ACK_FLAGS: Field = Field::new("acknowledge flags", "MQTT-3.2.2.1");
const RETURN_CODE: Field = Field::new("return code", "MQTT-3.2.2.3");

/// Decodes one packet from the front of `buf`, consuming its bytes.
///
/// `Ok(None)` while the packet is incomplete: nothing is consumed and the caller reads more.
/// `Err` when the bytes break MQTT or the packet would be longer than `max_packet_len`
/// (fixed header included; reported as soon as the remaining length is known). A violation
/// found in the fixed header leaves `buf` untouched; one found in the body consumes the
/// packet. Either way the connection cannot go on.
pub fn decode(buf: &mut BytesMut, direction: Direction, max_packet_len: usize) -> Result<Option<Packet>, Violation> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let kind = check_first_byte(first, direction)?;
    let Some(frame) = remaining_length(&buf[1..])? else {
        return Ok(None);
    };
    check_size(kind, frame, max_packet_len)?;
    if buf.len() < frame.total() {
        return Ok(None);
    }
    let mut packet = buf.split_to(frame.total());
    packet.advance(frame.header_len);
    parse(kind, first & 0x0F, Reader::new(packet.freeze(), kind.name)).map(Some)
}

/// A PUBLISH too long to buffer, known from its fixed header alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OversizePublish {
    /// The whole packet's length in bytes, fixed header included.
    pub len: usize,
    /// Its QoS, from the fixed header.
    pub qos: QoS,
}

/// Whether `buf` starts with the fixed header of a valid PUBLISH longer than
/// `max_packet_len`: such a packet breaks no MQTT statement, only the broker's S-PAYLOAD
/// limit, and its length is known before its body arrives, so the reader can judge it and
/// skip its bytes without buffering them. `None` for anything else (an incomplete header,
/// another packet type, a fixed-header violation, which [`decode`] then reports).
pub fn oversize_publish(buf: &[u8], direction: Direction, max_packet_len: usize) -> Option<OversizePublish> {
    let &first = buf.first()?;
    let kind = check_first_byte(first, direction).ok()?;
    if kind.ty != Type::Publish {
        return None;
    }
    let frame = remaining_length(&buf[1..]).ok()??;
    let qos = publish_flags(first & 0x0F).ok()?.qos;
    (frame.total() > max_packet_len).then_some(OversizePublish { len: frame.total(), qos })
}

/// Whether `buf` starts with a whole packet, judged by its fixed header alone: a reader
/// holding one can [`decode`] it (or refuse it) without waiting for more bytes.
pub fn whole_packet_buffered(buf: &[u8]) -> bool {
    buf.len() > 1 && matches!(remaining_length(&buf[1..]), Ok(Some(frame)) if buf.len() >= frame.total())
}

/// Where a packet's body starts and how long it is.
#[derive(Clone, Copy, Debug)]
struct Frame {
    /// The first byte plus the remaining-length bytes.
    header_len: usize,
    remaining: usize,
}

impl Frame {
    fn total(self) -> usize {
        self.header_len + self.remaining
    }
}

/// The packet type, who may send it, and its fixed-header flags.
fn check_first_byte(first: u8, direction: Direction) -> Result<&'static Kind, Violation> {
    let code = first >> 4;
    let kind =
        Kind::from_code(code).ok_or_else(|| Violation::new("MQTT-2.2.1", format!("packet type {code} is reserved")))?;
    let (forbidden, allowed) = match direction {
        Direction::FromClient => (Sender::Server, "server"),
        Direction::FromServer => (Sender::Client, "client"),
    };
    if kind.sender == forbidden {
        return Err(Violation::new(kind.section, format!("{} is sent only by a {allowed}", kind.name)));
    }
    check_flags(kind, first & 0x0F)?;
    Ok(kind)
}

/// The low nibble of the first byte must be as Table 2.2 says (MQTT-2.2.2-1); PUBLISH's
/// carries DUP, QoS and RETAIN instead.
fn check_flags(kind: &Kind, flags: u8) -> Result<(), Violation> {
    match kind.flags {
        None => publish_flags(flags).map(drop),
        Some(required) if flags == required => Ok(()),
        Some(required) => {
            let also = kind.flags_statement.map(|s| format!(" ({s})")).unwrap_or_default();
            Err(Violation::new(
                "MQTT-2.2.2-1",
                format!("{} fixed-header flags are {flags:#06b}, must be {required:#06b}{also}", kind.name),
            ))
        }
    }
}

/// DUP, QoS and RETAIN of a PUBLISH.
struct PublishFlags {
    dup: bool,
    qos: QoS,
    retain: bool,
}

fn publish_flags(flags: u8) -> Result<PublishFlags, Violation> {
    let dup = flags & 0b1000 != 0;
    let Some(qos) = QoS::from_bits((flags >> 1) & 0b11) else {
        return Err(Violation::new("MQTT-3.3.1-4", "PUBLISH has both QoS bits set (QoS 3)"));
    };
    if dup && qos == QoS::AtMostOnce {
        return Err(Violation::new("MQTT-3.3.1-2", "PUBLISH has DUP set with QoS 0"));
    }
    Ok(PublishFlags { dup, qos, retain: flags & 0b0001 != 0 })
}

/// Reads the remaining length after the first byte; `Ok(None)` until it is complete.
///
/// Interpretation: a non-minimal encoding (`0x80 0x00` for 0) is accepted. MQTT 3.1.1
/// section 2.2.3 shows only the minimal encoding but, unlike MQTT 5 (MQTT-1.5.5-1), no
/// statement forbids the others, and the platform's reaction is unknown; the byte count
/// still bounds the header at 5 bytes.
fn remaining_length(bytes: &[u8]) -> Result<Option<Frame>, Violation> {
    const MAX_BYTES: usize = 4;
    let mut remaining = 0;
    for (i, &byte) in bytes.iter().take(MAX_BYTES).enumerate() {
        remaining |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some(Frame { header_len: 2 + i, remaining }));
        }
    }
    if bytes.len() < MAX_BYTES {
        return Ok(None);
    }
    Err(Violation::new("MQTT-2.2.3", "malformed remaining length: its 4th byte has the continuation bit set"))
}

/// The `statement` of the violation a packet over the decoder's size limit is: the broker's
/// own limit, not an MQTT statement.
pub const SIZE_LIMIT: &str = "limit";

/// Checks the remaining length against the type's fixed size and the size limit.
fn check_size(kind: &Kind, frame: Frame, max_packet_len: usize) -> Result<(), Violation> {
    if let Some(expected) = kind.fixed_len.filter(|&n| n != frame.remaining) {
        let detail = if frame.remaining > expected { "trailing bytes" } else { "truncated" };
        return Err(Violation::new(
            kind.header_section,
            format!("{} remaining length is {}, must be {expected} ({detail})", kind.name, frame.remaining),
        ));
    }
    if frame.total() > max_packet_len {
        return Err(Violation::new(
            SIZE_LIMIT,
            format!("{} packet of {} bytes exceeds the limit of {max_packet_len} bytes", kind.name, frame.total()),
        ));
    }
    Ok(())
}

/// Parses a complete body; packets of fixed size have had their length checked.
fn parse(kind: &Kind, flags: u8, mut r: Reader) -> Result<Packet, Violation> {
    Ok(match kind.ty {
        Type::Connect => Packet::Connect(connect::parse(r)?),
        Type::Connack => Packet::Connack(connack(r)?),
        Type::Publish => Packet::Publish(publish(publish_flags(flags)?, r)?),
        Type::Puback => Packet::Puback(r.packet_id(PUBLISH_ACK_ID)?),
        Type::Pubrec => Packet::Pubrec(r.packet_id(PUBLISH_ACK_ID)?),
        Type::Pubrel => Packet::Pubrel(r.packet_id(PUBLISH_ACK_ID)?),
        Type::Pubcomp => Packet::Pubcomp(r.packet_id(PUBLISH_ACK_ID)?),
        Type::Subscribe => Packet::Subscribe(subscribe(r)?),
        Type::Suback => Packet::Suback(suback(r)?),
        Type::Unsubscribe => Packet::Unsubscribe(unsubscribe(r)?),
        Type::Unsuback => Packet::Unsuback(r.packet_id(SUBSCRIBE_ACK_ID)?),
        Type::Pingreq => Packet::Pingreq,
        Type::Pingresp => Packet::Pingresp,
        Type::Disconnect => Packet::Disconnect,
    })
}

fn connack(mut r: Reader) -> Result<Connack, Violation> {
    let flags = r.u8(ACK_FLAGS)?;
    let code = r.u8(RETURN_CODE)?;
    if flags & 0xFE != 0 {
        return Err(Violation::new(
            ACK_FLAGS.statement,
            format!("CONNACK acknowledge flags are {flags:#010b}, bits 7-1 must be 0"),
        ));
    }
    let code = ConnackCode::from_u8(code)
        .ok_or_else(|| Violation::new(RETURN_CODE.statement, format!("CONNACK return code {code} is reserved")))?;
    let session_present = flags & 0x01 != 0;
    if session_present && code != ConnackCode::Accepted {
        return Err(Violation::new(
            "MQTT-3.2.2-4",
            format!("CONNACK sets session present with return code {}", code.as_u8()),
        ));
    }
    Ok(Connack { session_present, code })
}

fn publish(flags: PublishFlags, mut r: Reader) -> Result<Publish, Violation> {
    let topic = r.string(TOPIC_NAME)?;
    topic::check_name(&topic, TOPIC_NAME.name, "MQTT-3.3.2-2")?;
    let packet_id = match flags.qos {
        QoS::AtMostOnce => None,
        QoS::AtLeastOnce | QoS::ExactlyOnce => Some(r.packet_id(ORIGIN_ID)?),
    };
    Ok(Publish { dup: flags.dup, qos: flags.qos, retain: flags.retain, topic, packet_id, payload: r.rest() })
}

fn subscribe(mut r: Reader) -> Result<Subscribe, Violation> {
    let packet_id = r.packet_id(ORIGIN_ID)?;
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string(SUBSCRIBE_FILTER)?;
        topic::check_filter(&filter)?;
        filters.push((filter, requested_qos(r.u8(REQUESTED_QOS)?)?));
    }
    if filters.is_empty() {
        return Err(Violation::new("MQTT-3.8.3-3", "SUBSCRIBE carries no topic filter"));
    }
    Ok(Subscribe { packet_id, filters })
}

/// The byte after each SUBSCRIBE filter. The statement is spelled as in the OASIS text,
/// which writes `MQTT-3-8.3-4` for what would be MQTT-3.8.3-4.
fn requested_qos(byte: u8) -> Result<QoS, Violation> {
    if byte & 0xFC != 0 {
        return Err(Violation::new(
            "MQTT-3-8.3-4",
            format!("requested QoS byte is {byte:#010b}, bits 7-2 are reserved"),
        ));
    }
    QoS::from_bits(byte).ok_or_else(|| Violation::new("MQTT-3-8.3-4", "requested QoS is 3"))
}

fn suback(mut r: Reader) -> Result<Suback, Violation> {
    let packet_id = r.packet_id(SUBSCRIBE_ACK_ID)?;
    let codes = r.rest().iter().map(|&b| suback_code(b)).collect::<Result<Vec<_>, _>>()?;
    if codes.is_empty() {
        return Err(Violation::new("MQTT-3.9.3", "SUBACK carries no return code"));
    }
    Ok(Suback { packet_id, codes })
}

fn suback_code(byte: u8) -> Result<SubackCode, Violation> {
    if byte == 0x80 {
        return Ok(SubackCode::Failure);
    }
    QoS::from_bits(byte)
        .map(SubackCode::Granted)
        .ok_or_else(|| Violation::new("MQTT-3.9.3-2", format!("SUBACK return code {byte:#04x} is reserved")))
}

fn unsubscribe(mut r: Reader) -> Result<Unsubscribe, Violation> {
    let packet_id = r.packet_id(ORIGIN_ID)?;
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string(UNSUBSCRIBE_FILTER)?;
        topic::check_filter(&filter)?;
        filters.push(filter);
    }
    if filters.is_empty() {
        return Err(Violation::new("MQTT-3.10.3-2", "UNSUBSCRIBE carries no topic filter"));
    }
    Ok(Unsubscribe { packet_id, filters })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::{Connect, Protocol, Will};
    use Direction::{FromClient, FromServer};
    use bytes::Bytes;

    const NO_LIMIT: usize = usize::MAX;

    /// A packet: first byte, minimal remaining length, body.
    fn frame(first: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![first];
        let mut len = body.len();
        loop {
            let digit = (len & 0x7F) as u8;
            len >>= 7;
            bytes.push(if len == 0 { digit } else { digit | 0x80 });
            if len == 0 {
                break;
            }
        }
        bytes.extend_from_slice(body);
        bytes
    }

    /// A length-prefixed string or binary field.
    fn s(text: &[u8]) -> Vec<u8> {
        let mut bytes = (text.len() as u16).to_be_bytes().to_vec();
        bytes.extend_from_slice(text);
        bytes
    }

    /// A CONNECT with the given protocol, flags and payload fields, keep alive 60.
    fn connect(name: &[u8], level: u8, flags: u8, payload: &[&[u8]]) -> Vec<u8> {
        let mut body = s(name);
        body.extend_from_slice(&[level, flags, 0, 60]);
        for field in payload {
            body.extend_from_slice(&s(field));
        }
        frame(0x10, &body)
    }

    /// A 3.1.1 CONNECT.
    fn connect4(flags: u8, payload: &[&[u8]]) -> Vec<u8> {
        connect(b"MQTT", 4, flags, payload)
    }

    fn decode_all(bytes: &[u8], direction: Direction) -> Result<Option<Packet>, Violation> {
        decode(&mut BytesMut::from(bytes), direction, NO_LIMIT)
    }

    fn decoded(bytes: &[u8], direction: Direction) -> Packet {
        match decode_all(bytes, direction) {
            Ok(Some(packet)) => packet,
            other => panic!("expected a packet from {bytes:02x?}, got {other:?}"),
        }
    }

    fn violation(bytes: &[u8], direction: Direction) -> Violation {
        match decode_all(bytes, direction) {
            Err(v) => v,
            other => panic!("expected a violation from {bytes:02x?}, got {other:?}"),
        }
    }

    /// Each case: a label, the bytes, the direction, the statement expected.
    fn check_statements(cases: &[(&str, Vec<u8>, Direction, &str)]) {
        for (label, bytes, direction, statement) in cases {
            let v = violation(bytes, *direction);
            assert_eq!(v.statement, *statement, "{label}: {v}");
            assert!(styled(&v.message), "{label}: {v}");
        }
    }

    /// Messages start lower case, or with a packet name in upper case.
    fn styled(message: &str) -> bool {
        let first_word = message.split(' ').next().unwrap_or_default();
        message.starts_with(char::is_lowercase) || first_word.chars().all(|c| c.is_ascii_uppercase())
    }

    // Framing.

    #[test]
    fn incomplete_packets_consume_nothing_until_the_last_byte() {
        let bytes = connect4(0b1110_1110, &[b"dev", b"w/t", b"bye", b"user", b"pw"]);
        let mut buf = BytesMut::new();
        for (i, &byte) in bytes.iter().enumerate() {
            buf.extend_from_slice(&[byte]);
            let result = decode(&mut buf, FromClient, NO_LIMIT);
            if i + 1 < bytes.len() {
                assert_eq!(result, Ok(None), "after {} bytes", i + 1);
                assert_eq!(buf.len(), i + 1, "nothing consumed after {} bytes", i + 1);
            } else {
                assert!(matches!(result, Ok(Some(Packet::Connect(_)))), "{result:?}");
                assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn two_packets_in_one_buffer_come_out_one_at_a_time() {
        let mut bytes = frame(0x40, &[0x12, 0x34]);
        bytes.extend(frame(0x30, &[s(b"a/b"), b"hi".to_vec()].concat()));
        bytes.push(0xC0); // the start of a third
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(decode(&mut buf, FromClient, NO_LIMIT), Ok(Some(Packet::Puback(0x1234))));
        let publish = Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "a/b".into(),
            packet_id: None,
            payload: Bytes::from_static(b"hi"),
        };
        assert_eq!(decode(&mut buf, FromClient, NO_LIMIT), Ok(Some(Packet::Publish(publish))));
        assert_eq!(decode(&mut buf, FromClient, NO_LIMIT), Ok(None));
        assert_eq!(&buf[..], &[0xC0]);
    }

    #[test]
    fn the_size_limit_fires_before_the_body_arrives() {
        // PUBLISH announcing 1000 bytes after a 3-byte fixed header; only the header is here.
        let mut buf = BytesMut::from(&[0x30, 0xE8, 0x07][..]);
        let v = decode(&mut buf, FromClient, 100).unwrap_err();
        assert_eq!(v.statement, "limit");
        assert_eq!(v.message, "PUBLISH packet of 1003 bytes exceeds the limit of 100 bytes");
        assert_eq!(buf.len(), 3, "a header violation consumes nothing");
    }

    #[test]
    fn the_size_limit_counts_the_fixed_header_and_allows_equality() {
        let bytes = frame(0x30, &[s(b"t"), vec![0; 10]].concat());
        assert_eq!(bytes.len(), 15);
        assert!(decode(&mut BytesMut::from(&bytes[..]), FromClient, 15).is_ok_and(|p| p.is_some()));
        let v = decode(&mut BytesMut::from(&bytes[..]), FromClient, 14).unwrap_err();
        assert_eq!(v.statement, "limit");
    }

    #[test]
    fn the_largest_remaining_length_waits_without_allocating() {
        let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0, 1, b'a'][..]);
        assert_eq!(decode(&mut buf, FromClient, NO_LIMIT), Ok(None));
        assert_eq!(buf.len(), 8);
    }

    #[test]
    fn a_fifth_remaining_length_byte_is_malformed() {
        let v = violation(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF], FromClient);
        assert_eq!(v.statement, "MQTT-2.2.3");
        // Known as soon as the 4th length byte is in, without waiting for a 5th.
        assert_eq!(violation(&[0x30, 0x80, 0x80, 0x80, 0x80], FromClient).statement, "MQTT-2.2.3");
        assert_eq!(decode_all(&[0x30, 0x80, 0x80, 0x80], FromClient), Ok(None));
    }

    #[test]
    fn a_non_minimal_remaining_length_is_accepted() {
        // PINGREQ with 0 encoded in two bytes, then a PUBACK with 2 encoded in four.
        let bytes = [0xC0, 0x80, 0x00, 0x40, 0x82, 0x80, 0x80, 0x00, 0x00, 0x07];
        let mut buf = BytesMut::from(&bytes[..]);
        assert_eq!(decode(&mut buf, FromClient, NO_LIMIT), Ok(Some(Packet::Pingreq)));
        assert_eq!(buf.len(), 7);
        assert_eq!(decode(&mut buf, FromClient, NO_LIMIT), Ok(Some(Packet::Puback(7))));
        assert!(buf.is_empty());
    }

    #[test]
    fn a_violation_in_the_body_consumes_its_packet() {
        let mut bytes = frame(0x30, &s(b"a/#"));
        bytes.extend(frame(0xC0, &[]));
        let mut buf = BytesMut::from(&bytes[..]);
        let v = decode(&mut buf, FromClient, NO_LIMIT).unwrap_err();
        assert_eq!(v.statement, "MQTT-3.3.2-2");
        assert_eq!(&buf[..], &[0xC0, 0]);
    }

    #[test]
    fn empty_buffer_is_incomplete() {
        assert_eq!(decode_all(&[], FromClient), Ok(None));
    }

    // The first byte.

    #[test]
    fn reserved_packet_types() {
        check_statements(&[
            ("type 0", vec![0x00, 0x00], FromClient, "MQTT-2.2.1"),
            ("type 15", vec![0xF0, 0x00], FromServer, "MQTT-2.2.1"),
            ("type 15 alone", vec![0xF0], FromClient, "MQTT-2.2.1"),
        ]);
        assert_eq!(violation(&[0xF0], FromClient).message, "packet type 15 is reserved");
    }

    #[test]
    fn packets_travelling_the_wrong_way() {
        check_statements(&[
            ("CONNACK", frame(0x20, &[0, 0]), FromClient, "MQTT-3.2"),
            ("SUBACK", frame(0x90, &[0, 1, 0]), FromClient, "MQTT-3.9"),
            ("UNSUBACK", frame(0xB0, &[0, 1]), FromClient, "MQTT-3.11"),
            ("PINGRESP", frame(0xD0, &[]), FromClient, "MQTT-3.13"),
            ("CONNECT", connect4(0x02, &[b"c"]), FromServer, "MQTT-3.1"),
            ("SUBSCRIBE", frame(0x82, &[0, 1, 0, 1, b'a', 0]), FromServer, "MQTT-3.8"),
            ("UNSUBSCRIBE", frame(0xA2, &[0, 1, 0, 1, b'a']), FromServer, "MQTT-3.10"),
            ("PINGREQ", frame(0xC0, &[]), FromServer, "MQTT-3.12"),
            ("DISCONNECT", frame(0xE0, &[]), FromServer, "MQTT-3.14"),
        ]);
        assert_eq!(violation(&[0x20], FromClient).message, "CONNACK is sent only by a server");
        assert_eq!(violation(&[0xE0], FromServer).message, "DISCONNECT is sent only by a client");
    }

    #[test]
    fn packets_travelling_both_ways() {
        let publish = frame(0x32, &[s(b"t"), vec![0, 9]].concat());
        for direction in [FromClient, FromServer] {
            assert!(matches!(decoded(&publish, direction), Packet::Publish(_)));
            assert_eq!(decoded(&frame(0x40, &[0, 1]), direction), Packet::Puback(1));
            assert_eq!(decoded(&frame(0x50, &[0, 2]), direction), Packet::Pubrec(2));
            assert_eq!(decoded(&frame(0x62, &[0, 3]), direction), Packet::Pubrel(3));
            assert_eq!(decoded(&frame(0x70, &[0, 4]), direction), Packet::Pubcomp(4));
        }
    }

    #[test]
    fn fixed_header_flags() {
        check_statements(&[
            ("CONNECT", frame(0x11, &[]), FromClient, "MQTT-2.2.2-1"),
            ("PUBACK", frame(0x42, &[0, 1]), FromClient, "MQTT-2.2.2-1"),
            ("PUBREC", frame(0x58, &[0, 1]), FromClient, "MQTT-2.2.2-1"),
            ("PUBREL 0000", frame(0x60, &[0, 1]), FromClient, "MQTT-2.2.2-1"),
            ("PUBCOMP", frame(0x72, &[0, 1]), FromClient, "MQTT-2.2.2-1"),
            ("SUBSCRIBE 0000", frame(0x80, &[0, 1, 0, 1, b'a', 0]), FromClient, "MQTT-2.2.2-1"),
            ("SUBSCRIBE 0011", frame(0x83, &[0, 1, 0, 1, b'a', 0]), FromClient, "MQTT-2.2.2-1"),
            ("UNSUBSCRIBE", frame(0xA0, &[0, 1, 0, 1, b'a']), FromClient, "MQTT-2.2.2-1"),
            ("PINGREQ", frame(0xC1, &[]), FromClient, "MQTT-2.2.2-1"),
            ("DISCONNECT", frame(0xE4, &[]), FromClient, "MQTT-2.2.2-1"),
            ("CONNACK", frame(0x21, &[0, 0]), FromServer, "MQTT-2.2.2-1"),
            ("SUBACK", frame(0x92, &[0, 1, 0]), FromServer, "MQTT-2.2.2-1"),
            ("UNSUBACK", frame(0xB8, &[0, 1]), FromServer, "MQTT-2.2.2-1"),
            ("PINGRESP", frame(0xD2, &[]), FromServer, "MQTT-2.2.2-1"),
        ]);
        assert_eq!(
            violation(&[0x80], FromClient).message,
            "SUBSCRIBE fixed-header flags are 0b0000, must be 0b0010 (MQTT-3.8.1-1)"
        );
        assert_eq!(violation(&[0xC8], FromClient).message, "PINGREQ fixed-header flags are 0b1000, must be 0b0000");
    }

    // Fixed-size packets.

    #[test]
    fn fixed_size_packets_with_another_remaining_length() {
        check_statements(&[
            ("PUBACK long", frame(0x40, &[0, 1, 0]), FromClient, "MQTT-3.4.1"),
            ("PUBACK short", frame(0x40, &[0]), FromClient, "MQTT-3.4.1"),
            ("PUBREC", frame(0x50, &[0, 1, 0]), FromClient, "MQTT-3.5.1"),
            ("PUBREL", frame(0x62, &[]), FromClient, "MQTT-3.6.1"),
            ("PUBCOMP", frame(0x70, &[0, 1, 0, 0]), FromServer, "MQTT-3.7.1"),
            ("PINGREQ", frame(0xC0, &[0]), FromClient, "MQTT-3.12.1"),
            ("DISCONNECT", frame(0xE0, &[0]), FromClient, "MQTT-3.14.1"),
            ("CONNACK", frame(0x20, &[0, 0, 0]), FromServer, "MQTT-3.2.1"),
            ("UNSUBACK", frame(0xB0, &[0]), FromServer, "MQTT-3.11.1"),
            ("PINGRESP", frame(0xD0, &[1]), FromServer, "MQTT-3.13.1"),
        ]);
        assert_eq!(
            violation(&[0x40, 3], FromClient).message,
            "PUBACK remaining length is 3, must be 2 (trailing bytes)"
        );
    }

    #[test]
    fn acknowledgements_of_packet_id_zero() {
        check_statements(&[
            ("PUBACK", frame(0x40, &[0, 0]), FromClient, "MQTT-2.3.1-6"),
            ("PUBREC", frame(0x50, &[0, 0]), FromServer, "MQTT-2.3.1-6"),
            ("PUBREL", frame(0x62, &[0, 0]), FromClient, "MQTT-2.3.1-6"),
            ("PUBCOMP", frame(0x70, &[0, 0]), FromServer, "MQTT-2.3.1-6"),
            ("UNSUBACK", frame(0xB0, &[0, 0]), FromServer, "MQTT-2.3.1-7"),
            ("SUBACK", frame(0x90, &[0, 0, 0]), FromServer, "MQTT-2.3.1-7"),
        ]);
    }

    #[test]
    fn packets_without_a_body() {
        assert_eq!(decoded(&[0xC0, 0], FromClient), Packet::Pingreq);
        assert_eq!(decoded(&[0xE0, 0], FromClient), Packet::Disconnect);
        assert_eq!(decoded(&[0xD0, 0], FromServer), Packet::Pingresp);
    }

    // CONNECT.

    #[test]
    fn connect_with_every_field() {
        let password = [0xFF, 0x00, 0xC3];
        let bytes = connect4(0b1111_0110, &[b"", b"will/t", b"gone", b"user", &password]);
        let expected = Connect {
            protocol: Protocol::V311,
            client_id: String::new(),
            clean_session: true,
            keep_alive: 60,
            username: Some("user".into()),
            password: Some(Bytes::copy_from_slice(&password)),
            will: Some(Will {
                topic: "will/t".into(),
                payload: Bytes::from_static(b"gone"),
                qos: QoS::ExactlyOnce,
                retain: true,
            }),
        };
        assert_eq!(decoded(&bytes, FromClient), Packet::Connect(expected));
    }

    #[test]
    fn connect_mqtt_3_1_and_a_long_client_id() {
        let id = [b'x'; 100];
        let Packet::Connect(c) = decoded(&connect(b"MQIsdp", 3, 0, &[&id]), FromClient) else {
            panic!("not a CONNECT");
        };
        assert_eq!(c.protocol, Protocol::V31);
        assert_eq!(c.client_id.len(), 100, "no 23-character limit");
        assert!(!c.clean_session);
        assert_eq!((c.username, c.password, c.will), (None, None, None));
    }

    #[test]
    fn connect_protocol_name_and_level() {
        check_statements(&[
            ("name", connect(b"MQTX", 4, 2, &[b"c"]), FromClient, "MQTT-3.1.2-1"),
            ("lower case", connect(b"mqtt", 4, 2, &[b"c"]), FromClient, "MQTT-3.1.2-1"),
            ("empty name", connect(b"", 4, 2, &[b"c"]), FromClient, "MQTT-3.1.2-1"),
            ("no name", frame(0x10, &[0]), FromClient, "MQTT-3.1.2-1"),
            ("no level", frame(0x10, &s(b"MQTT")), FromClient, "MQTT-3.1.2"),
        ]);
        let cases: [(&[u8], u8); 5] = [(b"MQTT", 5), (b"MQTT", 3), (b"MQIsdp", 4), (b"MQTT", 0), (b"MQIsdp", 255)];
        for (name, level) in cases {
            let v = violation(&connect(name, level, 2, &[b"c"]), FromClient);
            assert_eq!(v.statement, "MQTT-3.1.2-2", "{level}");
            assert_eq!(v.connack, Some(ConnackCode::UnacceptableProtocol), "{level}");
        }
        let other = violation(&connect(b"MQTX", 4, 2, &[b"c"]), FromClient);
        assert_eq!(other.connack, None);
        assert_eq!(other.message, "protocol name \"MQTX\" is neither \"MQTT\" nor \"MQIsdp\"");
    }

    #[test]
    fn connect_level_5_is_refused_before_its_properties_are_read() {
        // MQTT 5: flags, keep alive, properties length 5 and a session-expiry property,
        // then the client id: read as 3.1.1, the properties would be a client id.
        let mut body = s(b"MQTT");
        body.extend_from_slice(&[5, 0x02, 0, 60, 5, 0x11, 0, 0, 0, 10]);
        body.extend(s(b"client"));
        let v = violation(&frame(0x10, &body), FromClient);
        assert_eq!(v.statement, "MQTT-3.1.2-2");
        assert_eq!(v.connack, Some(ConnackCode::UnacceptableProtocol));
        // Even when everything after the level is missing.
        let v = violation(&frame(0x10, &[s(b"MQTT"), vec![5]].concat()), FromClient);
        assert_eq!(v.connack, Some(ConnackCode::UnacceptableProtocol));
    }

    #[test]
    fn connect_flags() {
        check_statements(&[
            ("reserved", connect4(0b0000_0011, &[b"c"]), FromClient, "MQTT-3.1.2-3"),
            ("will QoS 1 no will", connect4(0b0000_1000, &[b"c"]), FromClient, "MQTT-3.1.2-11"),
            ("will QoS 2 no will", connect4(0b0001_0000, &[b"c"]), FromClient, "MQTT-3.1.2-11"),
            ("will QoS 3", connect4(0b0001_1100, &[b"c", b"t", b"m"]), FromClient, "MQTT-3.1.2-12"),
            ("will retain no will", connect4(0b0010_0000, &[b"c"]), FromClient, "MQTT-3.1.2-13"),
            ("password only", connect4(0b0100_0000, &[b"c", b"p"]), FromClient, "MQTT-3.1.2-22"),
        ]);
        assert_eq!(
            violation(&connect4(0b0000_0011, &[b"c"]), FromClient).message,
            "connect flags 0b00000011: the reserved bit 0 is 1, must be 0"
        );
    }

    #[test]
    fn connect_fields_the_flags_announce_must_be_there() {
        check_statements(&[
            ("no client id", connect4(0x02, &[]), FromClient, "MQTT-3.1.3-3"),
            ("no will topic", connect4(0x06, &[b"c"]), FromClient, "MQTT-3.1.2-9"),
            ("no will message", connect4(0x06, &[b"c", b"t"]), FromClient, "MQTT-3.1.2-9"),
            ("no user name", connect4(0x82, &[b"c"]), FromClient, "MQTT-3.1.2-17"),
            ("no password", connect4(0xC2, &[b"c", b"u"]), FromClient, "MQTT-3.1.2-19"),
            ("no keep alive", frame(0x10, &[s(b"MQTT"), vec![4, 2, 0]].concat()), FromClient, "MQTT-3.1.2"),
        ]);
        let v = violation(&connect4(0x82, &[b"c"]), FromClient);
        assert_eq!(v.message, "CONNECT ends inside its user name: 2 more bytes needed, 0 left");
    }

    #[test]
    fn connect_trailing_bytes() {
        check_statements(&[
            ("after client id", connect4(0x02, &[b"c", b"u"]), FromClient, "MQTT-3.1.3"),
            ("after password", connect4(0xC2, &[b"c", b"u", b"p", b""]), FromClient, "MQTT-3.1.3"),
        ]);
        let v = violation(&connect4(0x82, &[b"c", b"u", b"x"]), FromClient);
        assert!(v.message.contains("trailing bytes after its user name"), "{v}");
    }

    #[test]
    fn connect_strings() {
        check_statements(&[
            ("client id NUL", connect4(0x02, &[b"a\0"]), FromClient, "MQTT-1.5.3-2"),
            ("client id UTF-8", connect4(0x02, &[b"\xC0\xAF"]), FromClient, "MQTT-1.5.3-1"),
            ("user name UTF-8", connect4(0x82, &[b"c", b"\xFF"]), FromClient, "MQTT-1.5.3-1"),
            ("will topic UTF-8", connect4(0x06, &[b"c", b"\x80", b"m"]), FromClient, "MQTT-1.5.3-1"),
            ("will topic empty", connect4(0x06, &[b"c", b"", b"m"]), FromClient, "MQTT-4.7.3-1"),
            ("will topic wildcard", connect4(0x06, &[b"c", b"a/#", b"m"]), FromClient, "MQTT-4.7.1-1"),
        ]);
    }

    // PUBLISH.

    #[test]
    fn publish_of_each_qos() {
        let qos2 = decoded(&frame(0x3D, &[s(b"a/b"), vec![0x01, 0x02], b"x".to_vec()].concat()), FromClient);
        let expected = Publish {
            dup: true,
            qos: QoS::ExactlyOnce,
            retain: true,
            topic: "a/b".into(),
            packet_id: Some(0x0102),
            payload: Bytes::from_static(b"x"),
        };
        assert_eq!(qos2, Packet::Publish(expected));
        let Packet::Publish(qos0) = decoded(&frame(0x30, &s(b"t")), FromServer) else {
            panic!("not a PUBLISH");
        };
        assert_eq!((qos0.qos, qos0.packet_id, qos0.payload.len()), (QoS::AtMostOnce, None, 0));
    }

    #[test]
    fn publish_violations() {
        let with_id = |first: u8, topic: &[u8]| frame(first, &[s(topic), vec![0, 1]].concat());
        check_statements(&[
            ("QoS 3", with_id(0x36, b"t"), FromClient, "MQTT-3.3.1-4"),
            ("DUP with QoS 0", frame(0x38, &s(b"t")), FromClient, "MQTT-3.3.1-2"),
            ("wildcard +", frame(0x30, &s(b"a/+/b")), FromClient, "MQTT-3.3.2-2"),
            ("wildcard #", with_id(0x32, b"a/#"), FromServer, "MQTT-3.3.2-2"),
            ("empty topic", frame(0x30, &s(b"")), FromClient, "MQTT-4.7.3-1"),
            ("NUL in topic", frame(0x30, &s(b"a\0")), FromClient, "MQTT-1.5.3-2"),
            ("bad UTF-8", frame(0x30, &s(b"\xED\xA0\x80")), FromClient, "MQTT-1.5.3-1"),
            ("packet id 0", frame(0x32, &[s(b"t"), vec![0, 0]].concat()), FromClient, "MQTT-2.3.1-1"),
            ("no packet id", frame(0x32, &s(b"t")), FromClient, "MQTT-2.3.1-1"),
            ("no topic", frame(0x30, &[]), FromClient, "MQTT-3.3.2-1"),
            ("truncated topic", frame(0x30, &[0, 5, b'a']), FromClient, "MQTT-3.3.2-1"),
        ]);
        // QoS 3 is known from the first byte alone.
        assert_eq!(violation(&[0x36], FromClient).statement, "MQTT-3.3.1-4");
    }

    // SUBSCRIBE and UNSUBSCRIBE.

    fn subscribe(filters: &[(&[u8], u8)]) -> Vec<u8> {
        let mut body = vec![0, 10];
        for (filter, options) in filters {
            body.extend(s(filter));
            body.push(*options);
        }
        frame(0x82, &body)
    }

    fn unsubscribe(filters: &[&[u8]]) -> Vec<u8> {
        let body: Vec<u8> = [vec![0, 10]].into_iter().chain(filters.iter().map(|f| s(f))).flatten().collect();
        frame(0xA2, &body)
    }

    #[test]
    fn subscribe_decodes_filters_in_order() {
        let bytes = subscribe(&[(b"a/+/c", 1), (b"#", 0), (b"+", 2)]);
        let expected = Subscribe {
            packet_id: 10,
            filters: vec![
                ("a/+/c".into(), QoS::AtLeastOnce),
                ("#".into(), QoS::AtMostOnce),
                ("+".into(), QoS::ExactlyOnce),
            ],
        };
        assert_eq!(decoded(&bytes, FromClient), Packet::Subscribe(expected));
    }

    #[test]
    fn subscribe_violations() {
        check_statements(&[
            ("no filters", subscribe(&[]), FromClient, "MQTT-3.8.3-3"),
            ("reserved bits", subscribe(&[(b"a", 0x04)]), FromClient, "MQTT-3-8.3-4"),
            ("QoS 3", subscribe(&[(b"a", 1), (b"b", 3)]), FromClient, "MQTT-3-8.3-4"),
            ("packet id 0", frame(0x82, &[0, 0, 0, 1, b'a', 0]), FromClient, "MQTT-2.3.1-1"),
            ("no packet id", frame(0x82, &[0]), FromClient, "MQTT-2.3.1-1"),
            ("# not last", subscribe(&[(b"a/#/b", 0)]), FromClient, "MQTT-4.7.1-2"),
            ("# in a level", subscribe(&[(b"a/b#", 0)]), FromClient, "MQTT-4.7.1-2"),
            ("+ in a level", subscribe(&[(b"a+/b", 0)]), FromClient, "MQTT-4.7.1-3"),
            ("empty filter", subscribe(&[(b"", 0)]), FromClient, "MQTT-4.7.3-1"),
            ("filter UTF-8", subscribe(&[(b"\xFE", 0)]), FromClient, "MQTT-1.5.3-1"),
            ("no QoS byte", frame(0x82, &[0, 1, 0, 1, b'a']), FromClient, "MQTT-3.8.3"),
            ("truncated filter", frame(0x82, &[0, 1, 0, 9, b'a']), FromClient, "MQTT-3.8.3-1"),
        ]);
        assert_eq!(
            violation(&subscribe(&[(b"a", 0x81)]), FromClient).message,
            "requested QoS byte is 0b10000001, bits 7-2 are reserved"
        );
    }

    #[test]
    fn unsubscribe_decodes_and_checks() {
        let expected = Unsubscribe { packet_id: 10, filters: vec!["a/#".into(), "+".into()] };
        assert_eq!(decoded(&unsubscribe(&[b"a/#", b"+"]), FromClient), Packet::Unsubscribe(expected));
        check_statements(&[
            ("no filters", unsubscribe(&[]), FromClient, "MQTT-3.10.3-2"),
            ("packet id 0", frame(0xA2, &[0, 0, 0, 1, b'a']), FromClient, "MQTT-2.3.1-1"),
            ("bad filter", unsubscribe(&[b"a", b"#/a"]), FromClient, "MQTT-4.7.1-2"),
            ("trailing byte", frame(0xA2, &[0, 1, 0, 1, b'a', 0]), FromClient, "MQTT-3.10.3-1"),
        ]);
    }

    // What a server sends.

    #[test]
    fn connack() {
        let ok = Connack { session_present: true, code: ConnackCode::Accepted };
        assert_eq!(decoded(&frame(0x20, &[1, 0]), FromServer), Packet::Connack(ok));
        let refused = Connack { session_present: false, code: ConnackCode::NotAuthorized };
        assert_eq!(decoded(&frame(0x20, &[0, 5]), FromServer), Packet::Connack(refused));
        check_statements(&[
            ("reserved flags", frame(0x20, &[2, 0]), FromServer, "MQTT-3.2.2.1"),
            ("reserved code", frame(0x20, &[0, 6]), FromServer, "MQTT-3.2.2.3"),
            ("session present refused", frame(0x20, &[1, 4]), FromServer, "MQTT-3.2.2-4"),
        ]);
    }

    #[test]
    fn suback() {
        let expected = Suback {
            packet_id: 3,
            codes: vec![
                SubackCode::Granted(QoS::AtMostOnce),
                SubackCode::Failure,
                SubackCode::Granted(QoS::ExactlyOnce),
            ],
        };
        assert_eq!(decoded(&frame(0x90, &[0, 3, 0, 0x80, 2]), FromServer), Packet::Suback(expected));
        check_statements(&[
            ("reserved code", frame(0x90, &[0, 3, 0, 3]), FromServer, "MQTT-3.9.3-2"),
            ("no codes", frame(0x90, &[0, 3]), FromServer, "MQTT-3.9.3"),
        ]);
    }
}
