//! How client-sent values are shown in verdicts: quoted, escaped, truncated, with the
//! device secret redacted wherever it would appear, and digests cut to their first
//! [`SHOWN_HEX_DIGITS`] hex digits unless they may be revealed.

use crate::redact::redact_secret;
use crate::verdict::Verdict;

/// Longest text, in characters, quoted in full.
const MAX_QUOTED_CHARS: usize = 200;
/// Most password bytes shown as hex when the password is not text.
const MAX_HEX_BYTES: usize = 64;
/// The hex digits of a digest shown when digests are not revealed: enough to compare two,
/// too few to log in with.
pub const SHOWN_HEX_DIGITS: usize = 8;
/// What follows the digits kept of a cut digest.
const CUT: char = '…';

/// A digest (lower-case hex): in full when `reveal`, else its first [`SHOWN_HEX_DIGITS`]
/// digits and its length, as `fafd82a3… (40 hex digits)`.
pub(super) fn digest(hex: &str, reveal: bool) -> String {
    if reveal || hex.len() <= SHOWN_HEX_DIGITS {
        return hex.to_owned();
    }
    format!("{}{CUT} ({} hex digits)", &hex[..SHOWN_HEX_DIGITS], hex.len())
}

/// `text` with every run of more than [`SHOWN_HEX_DIGITS`] hex digits cut to its first
/// ones and `…`; `None` if it has no such run.
fn cut_hex_runs(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut run = 0;
    let mut cut = false;
    for c in text.chars() {
        if c.is_ascii_hexdigit() {
            run += 1;
            if run <= SHOWN_HEX_DIGITS {
                out.push(c);
            } else if run == SHOWN_HEX_DIGITS + 1 {
                out.push(CUT);
                cut = true;
            }
        } else {
            run = 0;
            out.push(c);
        }
    }
    cut.then_some(out)
}

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
/// than tab, CR and LF), else as hex bytes (MQTT allows binary passwords). Unless `reveal`,
/// a run of hex digits longer than [`SHOWN_HEX_DIGITS`] is cut (the length follows the
/// quote), and at most [`SHOWN_HEX_DIGITS`] digits of a binary password are shown: a wrong
/// password at the mock may still be a right one at the platform, or nearly one.
pub(super) fn password(bytes: &[u8], reveal: bool) -> String {
    if let Ok(text) = std::str::from_utf8(bytes)
        && !text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        let quoted = quote(text);
        return match cut_hex_runs(&quoted).filter(|_| !reveal) {
            Some(cut) => format!("{cut} ({} characters)", text.chars().count()),
            None => quoted,
        };
    }
    let most = if reveal { MAX_HEX_BYTES } else { SHOWN_HEX_DIGITS / 2 };
    let shown: Vec<String> = bytes.iter().take(most).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > most { " ..." } else { "" };
    format!("{} bytes, not text: {}{more}", bytes.len(), shown.join(" "))
}

/// Blanks `secret` out of the verdicts' texts (see [`crate::redact`]).
pub(super) fn redact(verdicts: &mut [Verdict], secret: &str) {
    if secret.is_empty() {
        return;
    }
    for verdict in verdicts {
        if verdict.expected.contains(secret) {
            verdict.expected = redact_secret(&verdict.expected, secret).into();
        }
        for text in [&mut verdict.received, &mut verdict.detail] {
            if text.contains(secret) {
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
        for reveal in [false, true] {
            assert_eq!(password(b"FAFD", reveal), "\"FAFD\"");
            assert_eq!(password(b"ab\n", reveal), "\"ab\\n\"");
            assert_eq!(password("密码".as_bytes(), reveal), "\"密码\"");
            assert_eq!(password(&[0xfa, 0xfd, 0x0a], reveal), "3 bytes, not text: fa fd 0a");
            assert_eq!(password(b"ab\0", reveal), "3 bytes, not text: 61 62 00");
        }
        assert_eq!(password(&[0u8; 70], true), format!("70 bytes, not text: {} ...", ["00"; 64].join(" ")));
        assert_eq!(password(&[0xab; 20], false), "20 bytes, not text: ab ab ab ab ...");
    }

    #[test]
    fn digests_are_cut_unless_revealed() {
        const V1: &str = "fafd82a3d602b37fb0fa8b7892f24a477f851a14";
        assert_eq!(digest(V1, false), "fafd82a3… (40 hex digits)");
        assert_eq!(digest(V1, true), V1);
        assert_eq!(password(V1.as_bytes(), false), "\"fafd82a3…\" (40 characters)");
        assert_eq!(password(V1.as_bytes(), true), format!("\"{V1}\""));
        let spaced = format!(" {} \n", V1.to_ascii_uppercase());
        assert_eq!(password(spaced.as_bytes(), false), "\" FAFD82A3… \\n\" (43 characters)");
        // Words and short hex are left alone.
        assert_eq!(password(b"hunter2 deadbeef", false), "\"hunter2 deadbeef\"");
        assert_eq!(cut_hex_runs("a 123456789 b"), Some("a 12345678… b".to_owned()));
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
