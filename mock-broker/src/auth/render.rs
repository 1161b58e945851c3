//! How client-sent values are shown in verdicts: quoted, escaped, truncated, and with the
//! device secret redacted wherever it would appear.

use crate::redact::redact_secret;
use crate::verdict::Verdict;

/// Longest text, in characters, quoted in full.
const MAX_QUOTED_CHARS: usize = 200;
/// Most password bytes shown as hex when the password is not text.
const MAX_HEX_BYTES: usize = 64;

/// The text quoted and escaped like a Rust string, truncated past `MAX_QUOTED_CHARS`.
pub(super) fn quote(text: &str) -> String {
    let count = text.chars().count();
    if count <= MAX_QUOTED_CHARS {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(MAX_QUOTED_CHARS).collect();
    format!("{head:?}... ({count} characters)")
}

/// A param as `key=value`, the value quoted only if it holds anything but printable ASCII
/// without spaces.
pub(super) fn param(key: &str, value: &str) -> String {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic()) && value.len() <= MAX_QUOTED_CHARS {
        format!("{key}={value}")
    } else {
        format!("{key}={}", quote(value))
    }
}

/// A password: quoted and escaped if it is text (UTF-8 without control characters other
/// than tab, CR and LF), else as hex bytes (MQTT allows binary passwords).
pub(super) fn password(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes)
        && !text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return quote(text);
    }
    let shown: Vec<String> = bytes.iter().take(MAX_HEX_BYTES).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > MAX_HEX_BYTES { " ..." } else { "" };
    format!("{} bytes, not text: {}{more}", bytes.len(), shown.join(" "))
}

/// Blanks `secret` out of the verdicts' texts (see [`crate::redact`]).
pub(super) fn redact(verdicts: &mut [Verdict], secret: &str) {
    for verdict in verdicts {
        for text in [&mut verdict.expected, &mut verdict.received, &mut verdict.detail] {
            if !secret.is_empty() && text.contains(secret) {
                *text = redact_secret(text, secret);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rule;

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(quote("设备"), "\"设备\"");
        let long = "x".repeat(250);
        assert_eq!(quote(&long), format!("\"{}\"... (250 characters)", "x".repeat(200)));
    }

    #[test]
    fn params_are_quoted_only_when_needed() {
        assert_eq!(param("securemode", "3"), "securemode=3");
        assert_eq!(param("timestamp", ""), "timestamp=\"\"");
        assert_eq!(param("signmethod", "hmac sha1"), "signmethod=\"hmac sha1\"");
    }

    #[test]
    fn binary_passwords_are_shown_as_hex_bytes() {
        assert_eq!(password(b"FAFD"), "\"FAFD\"");
        assert_eq!(password(b"ab\n"), "\"ab\\n\"");
        assert_eq!(password("密码".as_bytes()), "\"密码\"");
        assert_eq!(password(&[0xfa, 0xfd, 0x0a]), "3 bytes, not text: fa fd 0a");
        assert_eq!(password(b"ab\0"), "3 bytes, not text: 61 62 00");
        assert!(password(&[0u8; 70]).ends_with("00 ..."));
    }

    #[test]
    fn redact_blanks_the_secret_everywhere() {
        let mut verdicts =
            vec![Verdict::fail(Rule::ASignHex, "hunter2x", "\"hunter2x\"").with_detail("sent hunter2x in clear")];
        redact(&mut verdicts, "hunter2x");
        assert_eq!(verdicts[0].expected, "***");
        assert_eq!(verdicts[0].received, "\"***\"");
        assert_eq!(verdicts[0].detail, "sent *** in clear");
    }
}
