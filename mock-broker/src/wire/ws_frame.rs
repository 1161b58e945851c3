//! The RFC 6455 frame codec: a frame header parsed from the bytes received, with every check
//! section 5 makes of it, a header encoded in front of a payload already in the buffer, and
//! masking in place.
//!
//! The header is all this module parses: payloads are the caller's, so that a binary frame's
//! bytes can go straight to the MQTT decoder as they arrive, unmasked where they lie, and a
//! large frame is never buffered whole. Checks that need the state of the connection (a
//! continuation with nothing to continue, a message over its limit) are
//! [`crate::wire::ws_stream`]'s. Each violation is a [`ReadError::FrameViolation`] naming
//! what broke and the section that forbids it.

use crate::wire::ReadError;
use bytes::BytesMut;
use std::ops::Range;

/// Which end of the connection this is: a server receives masked frames and sends unmasked
/// ones, a client the reverse (RFC 6455 5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
}

/// A frame's opcode; the reserved ones are violations and never get this far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Result<OpCode, ReadError> {
        Ok(match bits {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            0x3..=0x7 => return Err(violation(format!("reserved non-control opcode {bits:#x} (RFC 6455 5.2)"))),
            _ => return Err(violation(format!("reserved control opcode {bits:#x} (RFC 6455 5.2)"))),
        })
    }

    fn bits(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Close, ping and pong: never fragmented, at most [`MAX_CONTROL_LEN`] bytes (RFC 6455 5.5).
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }

    /// The frame's name in a violation.
    pub fn name(self) -> &'static str {
        match self {
            OpCode::Continuation => "continuation",
            OpCode::Text => "text",
            OpCode::Binary => "binary",
            OpCode::Close => "close",
            OpCode::Ping => "ping",
            OpCode::Pong => "pong",
        }
    }
}

/// The longest header: two bytes, a 64-bit length and a masking key.
pub const MAX_HEADER_LEN: usize = 14;
/// The largest payload of a control frame (RFC 6455 5.5).
pub const MAX_CONTROL_LEN: u64 = 125;

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The last frame of its message.
    pub fin: bool,
    pub opcode: OpCode,
    /// The masking key, present on every frame a client sends and on none a server sends.
    pub mask: Option<[u8; 4]>,
    /// The payload's length.
    pub len: u64,
}

impl Header {
    /// Parses the header at the start of `bytes`, received by `role`: `Ok(None)` while it is
    /// incomplete, else the header and how many bytes it took. Each check is made as soon as
    /// its bytes are in, so a stream split anywhere gives the same answer.
    pub fn parse(bytes: &[u8], role: Role) -> Result<Option<(Header, usize)>, ReadError> {
        let Some(&first) = bytes.first() else { return Ok(None) };
        let reserved = (first >> 4) & 0b111;
        if reserved != 0 {
            return Err(violation(format!(
                "reserved bits RSV1-3 are {reserved:#05b} with no extension negotiated (RFC 6455 5.2)"
            )));
        }
        let opcode = OpCode::from_bits(first & 0x0F)?;
        let fin = first & 0x80 != 0;
        if opcode.is_control() && !fin {
            return Err(violation(format!(
                "a fragmented {} frame: control frames are never fragmented (RFC 6455 5.5)",
                opcode.name()
            )));
        }
        let Some(&second) = bytes.get(1) else { return Ok(None) };
        let masked = second & 0x80 != 0;
        match (role, masked) {
            (Role::Server, false) => {
                return Err(violation(format!(
                    "an unmasked {} frame from the client: a client masks every frame (RFC 6455 5.1)",
                    opcode.name()
                )));
            }
            (Role::Client, true) => {
                return Err(violation(format!(
                    "a masked {} frame from the server: a server never masks (RFC 6455 5.1)",
                    opcode.name()
                )));
            }
            _ => {}
        }
        let code = second & 0x7F;
        let (extended, len_end) = match code {
            126 => (true, 4),
            127 => (true, 10),
            _ => (false, 2),
        };
        if opcode.is_control() && extended {
            return Err(violation(format!(
                "a {} frame with an extended length: control frames carry at most {MAX_CONTROL_LEN} bytes (RFC 6455 5.5)",
                opcode.name()
            )));
        }
        let Some(len_bytes) = bytes.get(2..len_end) else { return Ok(None) };
        let len = match code {
            126 => u64::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]])),
            127 => u64::from_be_bytes(len_bytes.try_into().expect("eight bytes")),
            short => u64::from(short),
        };
        check_length_encoding(code, len)?;
        let end = len_end + if masked { 4 } else { 0 };
        let Some(key) = bytes.get(len_end..end) else { return Ok(None) };
        let mask = masked.then(|| [key[0], key[1], key[2], key[3]]);
        Ok(Some((Header { fin, opcode, mask, len }, end)))
    }

    /// The header's bytes.
    pub fn encode(&self) -> ([u8; MAX_HEADER_LEN], usize) {
        let mut out = [0u8; MAX_HEADER_LEN];
        out[0] = u8::from(self.fin) << 7 | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut at = match self.len {
            0..=125 => {
                out[1] = mask_bit | self.len as u8;
                2
            }
            126..=0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(self.len as u16).to_be_bytes());
                4
            }
            _ => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&self.len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[at..at + 4].copy_from_slice(&key);
            at += 4;
        }
        (out, at)
    }
}

/// RFC 6455 5.2: a length takes the fewest bytes that hold it, and a 64-bit one has its most
/// significant bit clear.
fn check_length_encoding(code: u8, len: u64) -> Result<(), ReadError> {
    match code {
        126 if len < 126 => Err(violation(format!(
            "a length of {len} in 16 bits where 7 suffice: the minimal encoding is required (RFC 6455 5.2)"
        ))),
        127 if len >> 63 != 0 => {
            Err(violation("a 64-bit length with its most significant bit set (RFC 6455 5.2)".to_string()))
        }
        127 if len <= 0xFFFF => Err(violation(format!(
            "a length of {len} in 64 bits where 16 or fewer suffice: the minimal encoding is required (RFC 6455 5.2)"
        ))),
        _ => Ok(()),
    }
}

/// Turns `out[range]` into one frame (FIN set) of `opcode`: its header goes in front of it,
/// moving what follows, and the payload is masked with `mask` when there is one.
pub fn frame_in_place(out: &mut BytesMut, range: Range<usize>, opcode: OpCode, mask: Option<[u8; 4]>) {
    let header = Header { fin: true, opcode, mask, len: range.len() as u64 };
    let (bytes, header_len) = header.encode();
    let end = out.len();
    out.extend_from_slice(&bytes[..header_len]);
    out.copy_within(range.start..end, range.start + header_len);
    out[range.start..range.start + header_len].copy_from_slice(&bytes[..header_len]);
    if let Some(key) = mask {
        let payload = range.start + header_len..range.end + header_len;
        apply_mask(&mut out[payload], key, 0);
    }
}

/// XORs `bytes` with the masking key `mask`, starting `phase` bytes into its cycle
/// (RFC 6455 5.3): masking twice unmasks, and a payload masked in pieces is masked whole.
pub fn apply_mask(bytes: &mut [u8], mask: [u8; 4], phase: usize) {
    let key: [u8; 4] = std::array::from_fn(|i| mask[(phase + i) % 4]);
    let word_key = u32::from_ne_bytes(key);
    let mut words = bytes.chunks_exact_mut(4);
    for word in &mut words {
        let value = u32::from_ne_bytes([word[0], word[1], word[2], word[3]]) ^ word_key;
        word.copy_from_slice(&value.to_ne_bytes());
    }
    for (byte, k) in words.into_remainder().iter_mut().zip(key) {
        *byte ^= k;
    }
}

/// The violation `what` breaks.
pub fn violation(what: String) -> ReadError {
    ReadError::FrameViolation(what)
}

/// Why `code` may not be sent in a close frame, if it may not: an endpoint sends 1000-1003,
/// 1007-1014 or 3000-4999 (RFC 6455 7.4).
pub fn close_code_problem(code: u16) -> Option<String> {
    let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    (!valid).then(|| format!("close code {code} may not be sent in a close frame (RFC 6455 7.4)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// The violation `bytes` are, parsed by `role`.
    fn violation_of(bytes: &[u8], role: Role) -> String {
        match Header::parse(bytes, role) {
            Err(ReadError::FrameViolation(what)) => what,
            other => panic!("{bytes:02x?}: expected a violation, got {other:?}"),
        }
    }

    #[test]
    fn each_header_violation_names_what_broke() {
        let masked = |first: u8, second: u8| [&[first, 0x80 | second][..], &KEY].concat();
        for (bytes, role, expected) in [
            (
                masked(0xC2, 1),
                Role::Server,
                "reserved bits RSV1-3 are 0b100 with no extension negotiated (RFC 6455 5.2)",
            ),
            (
                masked(0x92, 1),
                Role::Server,
                "reserved bits RSV1-3 are 0b001 with no extension negotiated (RFC 6455 5.2)",
            ),
            (masked(0x83, 1), Role::Server, "reserved non-control opcode 0x3 (RFC 6455 5.2)"),
            (masked(0x8B, 1), Role::Server, "reserved control opcode 0xb (RFC 6455 5.2)"),
            (
                masked(0x09, 1),
                Role::Server,
                "a fragmented ping frame: control frames are never fragmented (RFC 6455 5.5)",
            ),
            (
                vec![0x82, 0x01, 0x10],
                Role::Server,
                "an unmasked binary frame from the client: a client masks every frame (RFC 6455 5.1)",
            ),
            (
                masked(0x82, 1),
                Role::Client,
                "a masked binary frame from the server: a server never masks (RFC 6455 5.1)",
            ),
            (
                masked(0x89, 126),
                Role::Server,
                "a ping frame with an extended length: control frames carry at most 125 bytes (RFC 6455 5.5)",
            ),
            (
                vec![0x82, 126, 0, 125],
                Role::Client,
                "a length of 125 in 16 bits where 7 suffice: the minimal encoding is required (RFC 6455 5.2)",
            ),
            (
                vec![0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF],
                Role::Client,
                "a length of 65535 in 64 bits where 16 or fewer suffice: the minimal encoding is required (RFC 6455 5.2)",
            ),
            (
                vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0],
                Role::Client,
                "a 64-bit length with its most significant bit set (RFC 6455 5.2)",
            ),
        ] {
            assert_eq!(violation_of(&bytes, role), expected);
        }
    }

    #[test]
    fn a_violation_is_reported_as_soon_as_its_byte_is_in() {
        // The first byte alone: reserved bits, opcode, a fragmented control frame.
        assert!(Header::parse(&[0xC2], Role::Server).is_err());
        assert!(Header::parse(&[0x8F], Role::Server).is_err());
        assert!(Header::parse(&[0x0A], Role::Server).is_err());
        // The second byte: the mask bit.
        assert!(Header::parse(&[0x82, 0x05], Role::Server).is_err());
        // Nothing wrong yet: more bytes are needed.
        assert!(matches!(Header::parse(&[0x82, 0xFE, 0x01], Role::Server), Ok(None)));
    }

    #[test]
    fn headers_round_trip_at_every_length_boundary() {
        for len in [0, 1, 125, 126, 127, 0xFFFF, 0x1_0000, u64::MAX >> 1] {
            for (mask, role) in [(Some(KEY), Role::Server), (None, Role::Client)] {
                for (fin, opcode) in [(true, OpCode::Binary), (false, OpCode::Text), (true, OpCode::Continuation)] {
                    let header = Header { fin, opcode, mask, len };
                    let (bytes, n) = header.encode();
                    assert_eq!(Header::parse(&bytes[..n], role).unwrap(), Some((header, n)), "{header:?}");
                    assert_eq!(Header::parse(&bytes[..n - 1], role).unwrap(), None, "{header:?} cut short");
                }
            }
        }
    }

    #[test]
    fn masking_twice_unmasks_and_pieces_mask_as_the_whole() {
        let payload: Vec<u8> = (0..=255).collect();
        let mut whole = payload.clone();
        apply_mask(&mut whole, KEY, 0);
        assert_ne!(whole, payload);
        for split in [0, 1, 3, 4, 5, 100, 255] {
            let mut pieces = payload.clone();
            let (a, b) = pieces.split_at_mut(split);
            apply_mask(a, KEY, 0);
            apply_mask(b, KEY, split);
            assert_eq!(pieces, whole, "split at {split}");
        }
        apply_mask(&mut whole, KEY, 0);
        assert_eq!(whole, payload);
    }

    #[test]
    fn a_frame_is_built_in_place_around_what_the_buffer_holds() {
        let mut out = BytesMut::from(&b"beforepayloadafter"[..]);
        frame_in_place(&mut out, 6..13, OpCode::Binary, None);
        assert_eq!(&out[..], b"before\x82\x07payloadafter");
        let mut out = BytesMut::from(&b"xy"[..]);
        frame_in_place(&mut out, 0..2, OpCode::Ping, Some(KEY));
        assert_eq!(&out[..], [&[0x89, 0x82][..], &KEY, &[b'x' ^ KEY[0], b'y' ^ KEY[1]]].concat());
    }

    #[test]
    fn close_codes_are_those_rfc_6455_lets_an_endpoint_send() {
        for code in [1000, 1003, 1007, 1014, 3000, 4999] {
            assert_eq!(close_code_problem(code), None, "{code}");
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            assert_eq!(
                close_code_problem(code).as_deref(),
                Some(&*format!("close code {code} may not be sent in a close frame (RFC 6455 7.4)"))
            );
        }
    }
}
