//! The few MQTT 3.1.1 packets a load generator needs, written straight into a buffer
//! (CONNECT, PUBLISH, PINGREQ) and read from a byte buffer (any packet: its type, flags and
//! body), with no allocation per packet.

use crate::identity::Credentials;
use mock_broker::mqtt::put_remaining_length;

pub const CONNACK: u8 = 2;
pub const PUBACK: u8 = 4;
pub const PINGRESP: u8 = 13;

/// The largest remaining length MQTT can encode.
const MAX_REMAINING: usize = 268_435_455;

/// Appends a CONNECT (MQTT 3.1.1, clean session, username and password).
pub fn connect(out: &mut Vec<u8>, creds: &Credentials, keepalive: u16) {
    let strings = [creds.client_id.as_bytes(), creds.username.as_bytes(), creds.password.as_bytes()];
    let remaining = 10 + strings.iter().map(|s| 2 + s.len()).sum::<usize>();
    out.push(0x10);
    put_remaining_length(out, remaining);
    string(out, b"MQTT");
    out.extend_from_slice(&[4, 0xC2]);
    out.extend_from_slice(&keepalive.to_be_bytes());
    for s in strings {
        string(out, s);
    }
}

/// Appends a PUBLISH; `packet_id` is written for QoS 1 only.
pub fn publish(out: &mut Vec<u8>, topic: &str, qos1: Option<u16>, payload: &[u8]) {
    let remaining = 2 + topic.len() + if qos1.is_some() { 2 } else { 0 } + payload.len();
    out.push(if qos1.is_some() { 0x32 } else { 0x30 });
    put_remaining_length(out, remaining);
    string(out, topic.as_bytes());
    if let Some(id) = qos1 {
        out.extend_from_slice(&id.to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// Appends a PINGREQ.
pub fn pingreq(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xC0, 0]);
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// A packet read from the broker: its type (the high nibble), flags and body.
#[derive(Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub kind: u8,
    pub flags: u8,
    pub body: &'a [u8],
}

impl Packet<'_> {
    /// The packet identifier of a PUBACK, or the return code of a CONNACK.
    pub fn word(&self) -> Option<u16> {
        (self.body.len() >= 2).then(|| u16::from_be_bytes([self.body[0], self.body[1]]))
    }
}

/// Reads the first complete packet of `buf`: `Ok(None)` while it is incomplete, else the
/// packet and the bytes it took.
pub fn next(buf: &[u8]) -> Result<Option<(Packet<'_>, usize)>, String> {
    let Some(&first) = buf.first() else { return Ok(None) };
    let mut len = 0usize;
    for (i, &byte) in buf[1..].iter().enumerate().take(4) {
        len |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            let start = 2 + i;
            if len > MAX_REMAINING {
                return Err(format!("a remaining length of {len} bytes"));
            }
            return Ok((buf.len() >= start + len).then(|| {
                (Packet { kind: first >> 4, flags: first & 0x0F, body: &buf[start..start + len] }, start + len)
            }));
        }
        if i == 3 {
            return Err("a remaining length of more than 4 bytes".into());
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn connect_is_what_the_broker_decodes() {
        let creds = Credentials { client_id: "c|securemode=3|".into(), username: "d&p".into(), password: "ab".into() };
        let mut out = Vec::new();
        connect(&mut out, &creds, 60);
        let (packet, used) = next(&out).unwrap().unwrap();
        assert_eq!((packet.kind, used), (1, out.len()));
        let mut bytes = bytes::BytesMut::from(&out[..]);
        let decoded = mock_broker::mqtt::decode(&mut bytes, mock_broker::mqtt::Direction::FromClient, 1 << 16);
        let Ok(Some(mock_broker::mqtt::Packet::Connect(c))) = decoded else { panic!("{decoded:?}") };
        assert_eq!((c.client_id.as_str(), c.username.as_deref(), c.keep_alive), ("c|securemode=3|", Some("d&p"), 60));
        assert_eq!(c.password.as_deref(), Some(&b"ab"[..]));
    }

    #[test]
    fn a_partial_packet_waits_for_more() {
        let mut out = Vec::new();
        publish(&mut out, "/t", Some(7), &[1; 200]);
        assert_eq!(next(&out[..1]).unwrap(), None);
        assert_eq!(next(&out[..out.len() - 1]).unwrap(), None);
        let (packet, _) = next(&out).unwrap().unwrap();
        assert_eq!((packet.kind, packet.flags, &packet.body[..4]), (3, 2, &[0, 2, b'/', b't'][..]));
        assert!(next(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]).is_err());
    }

    proptest! {
        #[test]
        fn publishes_read_back_in_sequence(
            packets in proptest::collection::vec((any::<Option<u16>>(), 0usize..300), 1..20)
        ) {
            let mut out = Vec::new();
            for (id, len) in &packets {
                publish(&mut out, "/a/b", *id, &vec![0xAB; *len]);
            }
            let mut at = 0;
            for (id, len) in &packets {
                let (packet, used) = next(&out[at..]).unwrap().unwrap();
                let header = 6 + if id.is_some() { 2 } else { 0 };
                prop_assert_eq!(packet.body.len(), header + len);
                prop_assert_eq!(packet.flags, if id.is_some() { 2 } else { 0 });
                if let Some(id) = id {
                    prop_assert_eq!(u16::from_be_bytes([packet.body[6], packet.body[7]]), *id);
                }
                at += used;
            }
            prop_assert_eq!(at, out.len());
        }
    }
}
