//! The encoder: writes any packet of the model as MQTT 3.1 / 3.1.1 bytes, refusing values
//! the wire cannot carry (over-long strings, over-long packets, a PUBLISH whose packet
//! identifier does not fit its QoS) instead of writing something else.
//!
//! The body is walked twice by one function: once into a byte counter, for the remaining
//! length and every check, then into the buffer. Nothing is written on error.

use super::kind::Kind;
use super::{Connect, Packet, Publish, QoS, Violation};
use bytes::{BufMut, BytesMut};

/// The largest remaining length four bytes can encode (MQTT 3.1.1 section 2.2.3).
const MAX_REMAINING_LEN: usize = 268_435_455;

/// Appends the packet's bytes to `out`; on error `out` is unchanged.
pub fn encode(packet: &Packet, out: &mut BytesMut) -> Result<(), Violation> {
    let mut remaining = 0;
    body(packet, &mut remaining)?;
    if remaining > MAX_REMAINING_LEN {
        return Err(Violation::new(
            "MQTT-2.2.3",
            format!(
                "{} of {remaining} bytes after the fixed header exceeds the maximum remaining \
                 length of {MAX_REMAINING_LEN}",
                packet.name()
            ),
        ));
    }
    let kind = Kind::of(packet);
    out.reserve(5 + remaining);
    out.put_u8(kind.code() << 4 | fixed_header_flags(packet, kind));
    put_remaining_length(out, remaining);
    body(packet, out)
}

/// Where a body goes: a byte counter or a buffer.
trait Sink {
    fn put(&mut self, bytes: &[u8]);

    fn u16(&mut self, value: u16) {
        self.put(&value.to_be_bytes());
    }
}

impl Sink for usize {
    fn put(&mut self, bytes: &[u8]) {
        *self += bytes.len();
    }
}

impl Sink for BytesMut {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

fn fixed_header_flags(packet: &Packet, kind: &Kind) -> u8 {
    match packet {
        Packet::Publish(p) => u8::from(p.dup) << 3 | (p.qos as u8) << 1 | u8::from(p.retain),
        _ => kind.flags.unwrap_or(0),
    }
}

/// Variable-length encoding, 7 bits a byte, least significant first; `len` is at most
/// `MAX_REMAINING_LEN`, so at most 4 bytes. Public for writers of their own packets (the
/// load generator).
pub fn put_remaining_length(out: &mut impl BufMut, mut len: usize) {
    loop {
        let digit = (len & 0x7F) as u8;
        len >>= 7;
        if len == 0 {
            out.put_u8(digit);
            return;
        }
        out.put_u8(digit | 0x80);
    }
}

/// The variable header and payload.
fn body(packet: &Packet, s: &mut impl Sink) -> Result<(), Violation> {
    match packet {
        Packet::Connect(c) => connect(c, s)?,
        Packet::Connack(c) => s.put(&[u8::from(c.session_present), c.code.as_u8()]),
        Packet::Publish(p) => publish(p, s)?,
        Packet::Puback(id) | Packet::Pubrec(id) | Packet::Pubrel(id) | Packet::Pubcomp(id) | Packet::Unsuback(id) => {
            s.u16(*id)
        }
        Packet::Subscribe(sub) => {
            s.u16(sub.packet_id);
            for (filter, qos) in &sub.filters {
                string(s, "topic filter", filter)?;
                s.put(&[*qos as u8]);
            }
        }
        Packet::Suback(ack) => {
            s.u16(ack.packet_id);
            for code in &ack.codes {
                s.put(&[code.as_u8()]);
            }
        }
        Packet::Unsubscribe(unsub) => {
            s.u16(unsub.packet_id);
            for filter in &unsub.filters {
                string(s, "topic filter", filter)?;
            }
        }
        Packet::Pingreq | Packet::Pingresp | Packet::Disconnect => {}
    }
    Ok(())
}

fn connect(c: &Connect, s: &mut impl Sink) -> Result<(), Violation> {
    string(s, "protocol name", c.protocol.name())?;
    s.put(&[c.protocol.level(), connect_flags(c)]);
    s.u16(c.keep_alive);
    string(s, "client identifier", &c.client_id)?;
    if let Some(will) = &c.will {
        string(s, "will topic", &will.topic)?;
        binary(s, "will message", &will.payload)?;
    }
    if let Some(username) = &c.username {
        string(s, "user name", username)?;
    }
    if let Some(password) = &c.password {
        binary(s, "password", password)?;
    }
    Ok(())
}

/// Connect flags (section 3.1.2.3) from what the CONNECT carries; the reserved bit is 0.
fn connect_flags(c: &Connect) -> u8 {
    let mut flags = u8::from(c.clean_session) << 1;
    if let Some(will) = &c.will {
        flags |= 0x04 | (will.qos as u8) << 3 | u8::from(will.retain) << 5;
    }
    if c.password.is_some() {
        flags |= 0x40;
    }
    if c.username.is_some() {
        flags |= 0x80;
    }
    flags
}

fn publish(p: &Publish, s: &mut impl Sink) -> Result<(), Violation> {
    match (p.qos, p.packet_id) {
        (QoS::AtMostOnce, Some(id)) => {
            return Err(Violation::new(
                "MQTT-2.3.1-5",
                format!("PUBLISH with QoS 0 has packet identifier {id}, must have none"),
            ));
        }
        (QoS::AtLeastOnce | QoS::ExactlyOnce, None) => {
            return Err(Violation::new(
                "MQTT-2.3.1-1",
                format!("PUBLISH with QoS {} has no packet identifier", p.qos as u8),
            ));
        }
        _ => {}
    }
    string(s, "topic name", &p.topic)?;
    if let Some(id) = p.packet_id {
        s.u16(id);
    }
    s.put(&p.payload);
    Ok(())
}

/// A UTF-8 string field (section 1.5.3).
fn string(s: &mut impl Sink, field: &str, text: &str) -> Result<(), Violation> {
    prefixed(s, field, text.as_bytes(), "MQTT-1.5.3")
}

/// A binary CONNECT payload field (section 3.1.3).
fn binary(s: &mut impl Sink, field: &str, data: &[u8]) -> Result<(), Violation> {
    prefixed(s, field, data, "MQTT-3.1.3")
}

fn prefixed(s: &mut impl Sink, field: &str, data: &[u8], statement: &'static str) -> Result<(), Violation> {
    let len = u16::try_from(data.len()).map_err(|_| {
        Violation::new(
            statement,
            format!("the {field} is {} bytes long, at most 65535 fit its length prefix", data.len()),
        )
    })?;
    s.u16(len);
    s.put(data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::{
        Connack, ConnackCode, Direction, Protocol, Suback, SubackCode, Subscribe, Unsubscribe, Will, decode,
    };
    use bytes::Bytes;

    fn encoded(packet: &Packet) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode(packet, &mut out).expect("encodes");
        out.to_vec()
    }

    fn refused(packet: &Packet) -> Violation {
        let mut out = BytesMut::from(&b"kept"[..]);
        let v = encode(packet, &mut out).expect_err("refused");
        assert_eq!(&out[..], b"kept", "nothing written on error");
        v
    }

    fn publish(qos: QoS, packet_id: Option<u16>) -> Publish {
        Publish { dup: false, qos, retain: false, topic: "t".into(), packet_id, payload: Bytes::new() }
    }

    fn full_connect() -> Connect {
        Connect {
            protocol: Protocol::V311,
            client_id: "dev".into(),
            clean_session: true,
            keep_alive: 300,
            username: Some("u".into()),
            password: Some(Bytes::from_static(&[0xFF, 0])),
            will: Some(Will {
                topic: "w".into(),
                payload: Bytes::from_static(b"bye"),
                qos: QoS::AtLeastOnce,
                retain: true,
            }),
        }
    }

    /// One packet of every type.
    fn samples() -> Vec<Packet> {
        let mut qos1 = publish(QoS::AtLeastOnce, Some(9));
        qos1.payload = Bytes::from(vec![7; 300]);
        vec![
            Packet::Connect(full_connect()),
            Packet::Connack(Connack { session_present: true, code: ConnackCode::Accepted }),
            Packet::Publish(qos1),
            Packet::Puback(1),
            Packet::Pubrec(2),
            Packet::Pubrel(3),
            Packet::Pubcomp(4),
            Packet::Subscribe(Subscribe { packet_id: 5, filters: vec![("a/#".into(), QoS::ExactlyOnce)] }),
            Packet::Suback(Suback {
                packet_id: 5,
                codes: vec![SubackCode::Failure, SubackCode::Granted(QoS::AtLeastOnce)],
            }),
            Packet::Unsubscribe(Unsubscribe { packet_id: 6, filters: vec!["+".into()] }),
            Packet::Unsuback(6),
            Packet::Pingreq,
            Packet::Pingresp,
            Packet::Disconnect,
        ]
    }

    #[test]
    fn connect_bytes() {
        let expected = [
            &[0x10, 30][..],
            &[0, 4, b'M', b'Q', b'T', b'T', 4],
            &[0b1110_1110, 0x01, 0x2C],
            &[0, 3, b'd', b'e', b'v'],
            &[0, 1, b'w', 0, 3, b'b', b'y', b'e'],
            &[0, 1, b'u', 0, 2, 0xFF, 0],
        ]
        .concat();
        assert_eq!(encoded(&Packet::Connect(full_connect())), expected);
    }

    #[test]
    fn connect_3_1_without_optional_fields() {
        let connect = Connect {
            protocol: Protocol::V31,
            clean_session: false,
            username: None,
            password: None,
            will: None,
            ..full_connect()
        };
        let expected = [&[0x10, 17, 0, 6][..], b"MQIsdp", &[3, 0, 0x01, 0x2C, 0, 3], b"dev"].concat();
        assert_eq!(encoded(&Packet::Connect(connect)), expected);
    }

    #[test]
    fn fixed_headers_and_small_bodies() {
        let mut qos2 = publish(QoS::ExactlyOnce, Some(0x0102));
        qos2.dup = true;
        qos2.retain = true;
        let refused = Connack { session_present: false, code: ConnackCode::BadCredentials };
        let suback = Suback { packet_id: 1, codes: vec![SubackCode::Granted(QoS::ExactlyOnce), SubackCode::Failure] };
        let cases: [(Packet, &[u8]); 8] = [
            (Packet::Publish(qos2), &[0x3D, 5, 0, 1, b't', 1, 2]),
            (Packet::Publish(publish(QoS::AtMostOnce, None)), &[0x30, 3, 0, 1, b't']),
            (Packet::Connack(refused), &[0x20, 2, 0, 4]),
            (Packet::Suback(suback), &[0x90, 4, 0, 1, 2, 0x80]),
            (Packet::Pubrel(0x1234), &[0x62, 2, 0x12, 0x34]),
            (
                Packet::Unsubscribe(Unsubscribe { packet_id: 1, filters: vec!["a".into()] }),
                &[0xA2, 5, 0, 1, 0, 1, b'a'],
            ),
            (Packet::Pingresp, &[0xD0, 0]),
            (Packet::Disconnect, &[0xE0, 0]),
        ];
        for (packet, bytes) in cases {
            assert_eq!(encoded(&packet), bytes, "{}", packet.name());
        }
    }

    #[test]
    fn remaining_length_boundaries() {
        let cases: [(usize, &[u8]); 8] = [
            (0, &[0]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (MAX_REMAINING_LEN, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (len, bytes) in cases {
            let mut out = BytesMut::new();
            put_remaining_length(&mut out, len);
            assert_eq!(&out[..], bytes, "{len}");
        }
    }

    #[test]
    fn every_sample_decodes_to_itself() {
        for packet in samples() {
            let direction = match packet {
                Packet::Connack(_) | Packet::Suback(_) | Packet::Unsuback(_) | Packet::Pingresp => {
                    Direction::FromServer
                }
                _ => Direction::FromClient,
            };
            let mut buf = BytesMut::from(&encoded(&packet)[..]);
            assert_eq!(decode(&mut buf, direction, usize::MAX), Ok(Some(packet.clone())));
            assert!(buf.is_empty(), "{}", packet.name());
        }
    }

    #[test]
    fn publish_packet_id_must_match_qos() {
        assert_eq!(refused(&Packet::Publish(publish(QoS::AtMostOnce, Some(1)))).statement, "MQTT-2.3.1-5");
        assert_eq!(refused(&Packet::Publish(publish(QoS::AtLeastOnce, None))).statement, "MQTT-2.3.1-1");
        assert_eq!(refused(&Packet::Publish(publish(QoS::ExactlyOnce, None))).statement, "MQTT-2.3.1-1");
    }

    #[test]
    fn over_long_strings_are_refused() {
        let long = "x".repeat(65_536);
        let mut topic = publish(QoS::AtMostOnce, None);
        topic.topic = long.clone();
        let v = refused(&Packet::Publish(topic));
        assert_eq!(v.statement, "MQTT-1.5.3");
        assert_eq!(v.message, "the topic name is 65536 bytes long, at most 65535 fit its length prefix");
        let filter = Subscribe { packet_id: 1, filters: vec![(long.clone(), QoS::AtMostOnce)] };
        assert_eq!(refused(&Packet::Subscribe(filter)).statement, "MQTT-1.5.3");
        let id = Connect { client_id: long, ..full_connect() };
        assert_eq!(refused(&Packet::Connect(id)).statement, "MQTT-1.5.3");
        let password = Connect { password: Some(Bytes::from(vec![0; 65_536])), ..full_connect() };
        assert_eq!(refused(&Packet::Connect(password)).statement, "MQTT-3.1.3");
        // 65535 still fits.
        let mut max = publish(QoS::AtMostOnce, None);
        max.topic = "x".repeat(65_535);
        assert_eq!(encoded(&Packet::Publish(max)).len(), 1 + 3 + 2 + 65_535);
    }

    #[test]
    fn over_long_packets_are_refused() {
        // Zeroed pages are not touched: the length is counted before anything is copied.
        let mut big = publish(QoS::AtMostOnce, None);
        big.payload = Bytes::from(vec![0; MAX_REMAINING_LEN - 2]);
        let v = refused(&Packet::Publish(big));
        assert_eq!(v.statement, "MQTT-2.2.3");
        assert!(v.message.starts_with("PUBLISH of 268435456 bytes"), "{v}");
    }
}
