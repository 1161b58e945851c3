//! Blanking a device secret out of text: the broker's verdicts and the suite's copies of a
//! client's output and command line use this one rule.
//!
//! A secret of [`BLANK_ANYWHERE`] characters or more is blanked wherever it occurs. A shorter
//! one (ID-SECRET allows 1 to 64 characters; the conformance suite shrinks failing identities
//! down to a secret of `0`) is blanked only where no letter or digit touches it, so that it
//! does not blank the digits of every hex digest, port and timestamp.

/// What stands in for a secret.
pub const REDACTED: &str = "***";

/// From this length on a secret is blanked wherever it occurs.
pub const BLANK_ANYWHERE: usize = 8;

/// `bytes` with `secret` blanked by the rule of this module.
pub fn redact_secret_bytes(bytes: &[u8], secret: &[u8]) -> Vec<u8> {
    if secret.is_empty() {
        return bytes.to_vec();
    }
    let anywhere = secret.len() >= BLANK_ANYWHERE;
    let touches = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let end = i + secret.len();
        let alone = || !touches(i.checked_sub(1).and_then(|j| bytes.get(j))) && !touches(bytes.get(end));
        if bytes[i..].starts_with(secret) && (anywhere || alone()) {
            out.extend_from_slice(REDACTED.as_bytes());
            i = end;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// `text` with `secret` blanked by the rule of this module.
pub fn redact_secret(text: &str, secret: &str) -> String {
    // Replacing whole UTF-8 sequences of a UTF-8 secret keeps the text UTF-8.
    String::from_utf8(redact_secret_bytes(text.as_bytes(), secret.as_bytes()))
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_secret_is_blanked_everywhere() {
        assert_eq!(redact_secret("k=hunter2xy;xhunter2xyz", "hunter2xy"), "k=***;x***z");
    }

    #[test]
    fn a_short_secret_is_blanked_only_where_it_stands_alone() {
        assert_eq!(redact_secret("b77d130a \"0\" 10 0a 0", "0"), "b77d130a \"***\" 10 0a ***");
        assert_eq!(redact_secret("0", "0"), "***");
    }

    #[test]
    fn nothing_to_blank() {
        assert_eq!(redact_secret("unchanged", ""), "unchanged");
        assert_eq!(redact_secret("设备 secret", "abc"), "设备 secret");
    }
}
