//! A cursor over one packet's body that reads MQTT fields (bytes, two-byte integers,
//! length-prefixed binary data and UTF-8 strings, packet identifiers) and, when a field is
//! missing or ill-formed, names the statement it breaks.

use crate::mqtt::Violation;
use bytes::{Buf, Bytes};

/// A field of a packet: its name for messages, and the statement broken when it is absent
/// (the packet ends inside it) or, for a packet identifier, zero.
#[derive(Clone, Copy, Debug)]
pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) statement: &'static str,
}

impl Field {
    pub(super) const fn new(name: &'static str, statement: &'static str) -> Field {
        Field { name, statement }
    }
}

/// The unread rest of one packet's body (the bytes after the fixed header).
pub(super) struct Reader {
    body: Bytes,
    packet: &'static str,
}

impl Reader {
    pub(super) fn new(body: Bytes, packet: &'static str) -> Reader {
        Reader { body, packet }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// Fails unless `n` more bytes are there: nothing is sized from a wire length before this.
    fn need(&self, n: usize, field: Field) -> Result<(), Violation> {
        if self.body.len() >= n {
            return Ok(());
        }
        Err(Violation::new(
            field.statement,
            format!(
                "{} ends inside its {}: {} more bytes needed, {} left",
                self.packet,
                field.name,
                n,
                self.body.len()
            ),
        ))
    }

    pub(super) fn u8(&mut self, field: Field) -> Result<u8, Violation> {
        self.need(1, field)?;
        Ok(self.body.get_u8())
    }

    pub(super) fn u16(&mut self, field: Field) -> Result<u16, Violation> {
        self.need(2, field)?;
        Ok(self.body.get_u16())
    }

    /// A packet identifier, which is never 0 (MQTT-2.3.1-1).
    pub(super) fn packet_id(&mut self, field: Field) -> Result<u16, Violation> {
        match self.u16(field)? {
            0 => Err(Violation::new(field.statement, format!("{} {} is 0, must be non-zero", self.packet, field.name))),
            id => Ok(id),
        }
    }

    /// Binary data behind a two-byte length (will message, password), without copying.
    pub(super) fn binary(&mut self, field: Field) -> Result<Bytes, Violation> {
        let len = usize::from(self.u16(field)?);
        self.need(len, field)?;
        Ok(self.body.split_to(len))
    }

    /// A UTF-8 encoded string (MQTT 3.1.1 section 1.5.3).
    pub(super) fn string(&mut self, field: Field) -> Result<String, Violation> {
        let raw = self.binary(field)?;
        utf8(&raw, field.name).map(str::to_owned)
    }

    /// Everything left, for a payload that runs to the end of the packet.
    pub(super) fn rest(self) -> Bytes {
        self.body
    }

    /// Fails if bytes are left after the last field.
    pub(super) fn finish(self, statement: &'static str, last_field: &str) -> Result<(), Violation> {
        if self.body.is_empty() {
            return Ok(());
        }
        Err(Violation::new(
            statement,
            format!(
                "{} has {} trailing bytes after its {} (remaining length too long)",
                self.packet,
                self.body.len(),
                last_field
            ),
        ))
    }
}

/// Checks the rules of MQTT 3.1.1 section 1.5.3 on a string's bytes: well-formed UTF-8
/// without surrogates (MQTT-1.5.3-1; Rust's `str` already excludes them) and no U+0000
/// (MQTT-1.5.3-2).
fn utf8<'a>(raw: &'a [u8], field: &str) -> Result<&'a str, Violation> {
    let text = std::str::from_utf8(raw).map_err(|e| {
        let at = e.valid_up_to();
        Violation::new(
            "MQTT-1.5.3-1",
            format!("the {field} is not well-formed UTF-8: byte {:#04x} at offset {at}", raw[at]),
        )
    })?;
    match text.find('\0') {
        Some(at) => {
            Err(Violation::new("MQTT-1.5.3-2", format!("the {field} {} contains U+0000 at offset {at}", shown(text))))
        }
        None => Ok(text),
    }
}

/// A value quoted for a message, cut short if long (topics may be 65535 bytes).
pub(super) fn shown(text: &str) -> String {
    const MAX_CHARS: usize = 80;
    match text.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Field = Field::new("thing", "TEST-1");

    fn reader(bytes: &'static [u8]) -> Reader {
        Reader::new(Bytes::from_static(bytes), "TESTPACKET")
    }

    #[test]
    fn a_length_beyond_the_body_is_a_violation_not_an_allocation() {
        let err = reader(&[0xFF, 0xFF, b'a']).binary(F).unwrap_err();
        assert_eq!(err.statement, "TEST-1");
        assert_eq!(err.message, "TESTPACKET ends inside its thing: 65535 more bytes needed, 1 left");
    }

    #[test]
    fn strings_reject_ill_formed_utf8_and_nul() {
        assert_eq!(reader(&[0, 2, 0xC3, 0x28]).string(F).unwrap_err().statement, "MQTT-1.5.3-1");
        // An encoded surrogate (U+D800) is ill-formed too.
        assert_eq!(reader(&[0, 3, 0xED, 0xA0, 0x80]).string(F).unwrap_err().statement, "MQTT-1.5.3-1");
        assert_eq!(reader(&[0, 3, b'a', 0, b'b']).string(F).unwrap_err().statement, "MQTT-1.5.3-2");
        assert_eq!(reader(&[0, 3, 0xEF, 0xBB, 0xBF]).string(F).unwrap(), "\u{FEFF}");
    }

    #[test]
    fn trailing_bytes_are_counted() {
        let err = reader(&[1, 2, 3]).finish("TEST-2", "thing").unwrap_err();
        assert_eq!(err.statement, "TEST-2");
        assert!(err.message.contains("3 trailing bytes"), "{}", err.message);
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "é".repeat(100);
        let text = shown(&long);
        assert!(text.ends_with("\"..."), "{text}");
        assert_eq!(text.chars().filter(|&c| c == 'é').count(), 80);
        assert_eq!(shown("a\0b"), "\"a\\0b\"");
    }
}
