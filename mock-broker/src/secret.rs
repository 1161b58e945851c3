//! The deviceSecret as one type for every crate of the kit, and constant-time comparison.
//!
//! A [`Secret`] is the only form a deviceSecret takes in the broker's registry, the
//! conformance suite's identities, the fixture client's settings and the control endpoint's
//! rotate-secret route. It never shows itself: `Debug` prints `Secret(<redacted>)`, there is
//! no `Display`, and serializing it writes `"<redacted>"`, so that no log line, panic message,
//! report or JSON answer can carry it by accident. [`Secret::expose`] hands out the value for
//! the HMAC key (and the few places that must pass it on: the client-under-test's
//! environment, blanking it out of text by [`crate::redact`]'s rule).
//!
//! It deserializes from a plain string (the registry's TOML, the control endpoint's JSON);
//! a value of another type is refused without being echoed.
//!
//! Comparisons of a secret or a digest with what a client sent go through [`ct_eq`], built
//! on the `subtle` crate: the time taken depends on the lengths only, never on where the
//! bytes first differ.

use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};
use std::fmt;
use subtle::ConstantTimeEq;

/// What `Debug` and serialization show instead of the value.
pub const SHOWN: &str = "<redacted>";

/// A deviceSecret. See the module docs: it never formats, and compares in constant time.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself: for the HMAC key, and for handing it to the client under test.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The length in bytes (ID-SECRET counts ASCII characters), which may be shown.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty secret.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True if `bytes` are the secret, compared in constant time ([`ct_eq`]).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        ct_eq(self.0.as_bytes(), bytes)
    }
}

/// True if `a` and `b` hold the same bytes. The time taken depends on the lengths only:
/// `subtle` compares every byte whatever the first difference.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.matches(other.0.as_bytes())
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({SHOWN})")
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Secret {
        Secret::new(secret)
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Secret {
        Secret(secret)
    }
}

impl Serialize for Secret {
    /// Writes `"<redacted>"`: nothing the kit serializes needs the value.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(SHOWN)
    }
}

impl<'de> Deserialize<'de> for Secret {
    /// Reads a string. Anything else is refused with a message of its own: serde's would
    /// quote the value given (a number, say).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret).map_err(|_| de::Error::custom(NOT_A_STRING))
    }
}

/// Why a value that is not a string is no deviceSecret.
const NOT_A_STRING: &str = "a deviceSecret must be a string";

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = "s3cr3tS3CR3Ts3cr3tS3CR3Ts3cr3tAB";

    #[test]
    fn it_never_formats() {
        let secret = Secret::new(VALUE);
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:#?}", Some(&secret)), "Some(\n    Secret(<redacted>),\n)");
        assert_eq!(secret.expose(), VALUE);
        assert_eq!((secret.len(), secret.is_empty()), (32, false));
    }

    #[test]
    fn it_deserializes_from_a_string_and_serializes_blanked() {
        let secret: Secret = serde_json::from_str(&format!("{VALUE:?}")).unwrap();
        assert_eq!(secret.expose(), VALUE);
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"<redacted>\"");
        #[derive(serde::Deserialize)]
        struct Entry {
            secret: Secret,
        }
        let entry: Entry = toml::from_str(&format!("secret = {VALUE:?}")).unwrap();
        assert_eq!(entry.secret, Secret::new(VALUE));
    }

    #[test]
    fn a_number_is_refused_without_being_echoed() {
        let error = serde_json::from_str::<Secret>("918273645").unwrap_err().to_string();
        assert!(error.starts_with("a deviceSecret must be a string"), "{error}");
        assert!(!error.contains("918273645"), "{error}");
        let error =
            toml::from_str::<std::collections::BTreeMap<String, Secret>>("secret = 918273645").unwrap_err().to_string();
        assert!(error.contains(NOT_A_STRING), "{error}");
    }

    #[test]
    fn constant_time_comparison_gives_equality() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"Abc"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(b"ab", b"abc"));
        let secret = Secret::new(VALUE);
        assert!(secret.matches(VALUE.as_bytes()));
        assert!(!secret.matches(&VALUE.as_bytes()[1..]));
        assert!(!secret.matches(VALUE.to_ascii_lowercase().as_bytes()));
        assert_eq!(secret, Secret::from(VALUE.to_owned()));
        assert_ne!(secret, Secret::from("other"));
    }
}
