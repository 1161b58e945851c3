//! The password's signature: A-SIGNMETHOD (the algorithm), A-SIGN-CONTENT (what is signed)
//! and A-SIGN-HEX (how it is written and compared).
//!
//! Used by the broker to check a CONNECT and by a reference client to build one.

use crate::secret::ct_eq;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;

/// The HMAC named by the `signmethod` param (A-SIGNMETHOD).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignMethod {
    HmacMd5,
    HmacSha1,
    HmacSha256,
}

impl SignMethod {
    /// All three, in the order diagnoses try them.
    pub const ALL: [SignMethod; 3] = [SignMethod::HmacMd5, SignMethod::HmacSha1, SignMethod::HmacSha256];

    /// The method used when the `signmethod` param is absent (A-SIGNMETHOD: hmacmd5).
    pub const DEFAULT: SignMethod = SignMethod::HmacMd5;

    /// The method for a `signmethod` value: exactly `hmacmd5`, `hmacsha1` or `hmacsha256`,
    /// lower case (A-SIGNMETHOD); anything else is `None`.
    pub fn from_name(name: &str) -> Option<SignMethod> {
        SignMethod::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The name as the `signmethod` param writes it.
    pub fn name(self) -> &'static str {
        match self {
            SignMethod::HmacMd5 => "hmacmd5",
            SignMethod::HmacSha1 => "hmacsha1",
            SignMethod::HmacSha256 => "hmacsha256",
        }
    }

    /// The number of hex digits of a signature (A-SIGN-HEX: 32, 40 or 64).
    pub fn hex_len(self) -> usize {
        match self {
            SignMethod::HmacMd5 => 32,
            SignMethod::HmacSha1 => 40,
            SignMethod::HmacSha256 => 64,
        }
    }
}

/// The sign content of A-SIGN-CONTENT: each field present, sorted by name, written as name
/// then value. `clientId` is the mqttClientId prefix; an empty one is still signed, as
/// `clientId` followed by nothing (V9).
pub fn sign_content(client_id: Option<&str>, device_name: &str, product_key: &str, timestamp: Option<&str>) -> String {
    concat(&sorted_fields(client_id, device_name, product_key, timestamp))
}

/// The fields of the sign content, present ones only, sorted by name.
pub(super) fn sorted_fields<'a>(
    client_id: Option<&'a str>,
    device_name: &'a str,
    product_key: &'a str,
    timestamp: Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    let mut fields: Vec<(&'static str, &'a str)> = [
        ("clientId", client_id),
        ("deviceName", Some(device_name)),
        ("productKey", Some(product_key)),
        ("timestamp", timestamp),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| (name, v)))
    .collect();
    fields.sort_by_key(|(name, _)| *name);
    fields
}

/// Writes fields in the given order as name then value.
pub(super) fn concat(fields: &[(&str, &str)]) -> String {
    fields.iter().flat_map(|(name, value)| [*name, *value]).collect()
}

/// The signature: HMAC of `content` keyed by `secret` (both as UTF-8), in lower-case hex.
pub fn sign(method: SignMethod, secret: &str, content: &str) -> String {
    let (key, message) = (secret.as_bytes(), content.as_bytes());
    match method {
        SignMethod::HmacMd5 => hmac_hex::<Hmac<md5::Md5>>(key, message),
        SignMethod::HmacSha1 => hmac_hex::<Hmac<sha1::Sha1>>(key, message),
        SignMethod::HmacSha256 => hmac_hex::<Hmac<sha2::Sha256>>(key, message),
    }
}

fn hmac_hex<M: Mac + KeyInit>(key: &[u8], message: &[u8]) -> String {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A-SIGN-HEX: does `received` spell the lower-case hex `expected`, in either case, at full
/// length? Compared in constant time ([`crate::secret::ct_eq`]): the time taken depends on
/// the lengths only, never on where the digits differ.
pub(super) fn hex_eq(expected: &str, received: &[u8]) -> bool {
    let lowered: Vec<u8> = received.iter().map(|&b| ascii_hex_lower(b)).collect();
    ct_eq(expected.as_bytes(), &lowered)
}

/// Lower-cases `A`-`F` without branching on the byte; every other byte is kept as is.
fn ascii_hex_lower(byte: u8) -> u8 {
    let is_upper_hex = u8::from(byte.wrapping_sub(b'A') < 6);
    byte | (is_upper_hex << 5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SignMethod::*;

    use crate::auth::vectors::{N1, V1, V4, V9, VECTORS};

    #[test]
    fn every_vector_is_the_hmac_of_its_content() {
        for v in VECTORS {
            assert_eq!(sign(v.method, v.secret, v.content), v.signature.to_ascii_lowercase(), "{}", v.name);
            assert!(hex_eq(&sign(v.method, v.secret, v.content), v.signature.as_bytes()), "{}", v.name);
        }
    }

    #[test]
    fn negative_vectors_differ_from_v1() {
        let v1 = sign(V1.method, V1.secret, V1.content);
        for n in VECTORS.iter().filter(|v| !v.valid) {
            assert_eq!((n.method, n.name.starts_with('N')), (V1.method, true), "{}", n.name);
            assert!(!hex_eq(&v1, n.signature.as_bytes()), "{}", n.name);
        }
        assert_eq!(VECTORS.iter().filter(|v| !v.valid).count(), 3);
        assert_eq!(N1.content.len(), V1.content.len(), "N1 only reorders V1's fields");
    }

    #[test]
    fn sign_content_sorts_and_omits_absent_fields() {
        assert_eq!(sign_content(Some("12345"), "device", "pk", Some("789")), V1.content);
        assert_eq!(sign_content(Some("12345"), "device", "pk", None), V4.content);
        assert_eq!(sign_content(Some(""), "device", "pk", Some("2524608000000")), V9.content);
        assert_eq!(sign_content(None, "device", "pk", None), "deviceNamedeviceproductKeypk");
    }

    #[test]
    fn sign_methods_parse_exactly_lower_case() {
        for method in SignMethod::ALL {
            assert_eq!(SignMethod::from_name(method.name()), Some(method));
            assert_eq!(sign(method, "k", "m").len(), method.hex_len());
        }
        for bad in ["HmacSHA1", "hmacSHA256", "sha1", "hmacsha1 ", "", "hmacsha512"] {
            assert_eq!(SignMethod::from_name(bad), None, "{bad:?}");
        }
        assert_eq!(SignMethod::DEFAULT, HmacMd5);
    }

    #[test]
    fn hex_eq_accepts_either_case_and_nothing_else() {
        let expected = "0af9";
        assert!(hex_eq(expected, b"0af9"));
        assert!(hex_eq(expected, b"0AF9"));
        assert!(hex_eq(expected, b"0aF9"));
        assert!(!hex_eq(expected, b"af9"));
        assert!(!hex_eq(expected, b"0af90"));
        assert!(!hex_eq(expected, b"0ag9"));
        // Bytes that differ from a digit or letter by the case bit alone are not accepted.
        assert!(!hex_eq(expected, &[0x10, b'a', b'f', b'9']));
        assert!(!hex_eq(expected, &[b'0', b'a', b'f' ^ 0x20 ^ 0x40, b'9']));
        assert!(!hex_eq("ab", b"\x01\x02"));
    }
}
