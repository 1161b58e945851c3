//! The password's signature: A-SIGNMETHOD (the algorithm), A-SIGN-CONTENT (what is signed)
//! and A-SIGN-HEX (how it is written and compared).
//!
//! Used by the broker to check a CONNECT and by a reference client to build one.

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
/// length? The time taken depends on the lengths only, never on where the digits differ.
pub(super) fn hex_eq(expected: &str, received: &[u8]) -> bool {
    let expected = expected.as_bytes();
    if expected.len() != received.len() {
        return false;
    }
    let difference = expected.iter().zip(received).fold(0u8, |acc, (&e, &r)| acc | (e ^ ascii_hex_lower(r)));
    difference == 0
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

    const V1_CONTENT: &str = "clientId12345deviceNamedeviceproductKeypktimestamp789";
    const V4_CONTENT: &str = "clientId12345deviceNamedeviceproductKeypk";

    fn check(method: SignMethod, secret: &str, content: &str, hex: &str) {
        assert_eq!(sign(method, secret, content), hex.to_ascii_lowercase(), "{} of {content:?}", method.name());
    }

    #[test]
    fn vectors_v1_to_v9_and_u1() {
        check(HmacSha1, "secret", V1_CONTENT, "fafd82a3d602b37fb0fa8b7892f24a477f851a14");
        check(HmacMd5, "secret", V1_CONTENT, "14b198324fe55e1d3c88f2e705e201ee");
        check(HmacSha256, "secret", V1_CONTENT, "6074a46a91b1ebb2cc4ea42790ad0e80202c9843859fc292e57c4eb19fad9e57");
        check(HmacMd5, "secret", V4_CONTENT, "2ce7304ec0ddd548eb1492d65ac0b334");
        check(HmacSha1, "secret", V4_CONTENT, "3504e4df7ce4766d30f796ee973c9ce7fc5425cb");
        check(HmacSha256, "secret", V4_CONTENT, "c8cb3dcb7159682438e5fd9a9c34f398e41bb8edb6f222795e307bafee151090");
        check(
            HmacSha256,
            "secret",
            "clientIdpk.devicedeviceNamedeviceproductKeypktimestamp2524608000000",
            "2EAB47D05EC94FAB1A34E7E9F54AEBD34A1E15770F932E05300193007E0091E9",
        );
        check(
            HmacSha1,
            "secret",
            "clientIdpk&devicedeviceNamedeviceproductKeypktimestamp1700000000",
            "d724b02afe3c2feb34006bf42504d521ca66909a",
        );
        check(
            HmacSha256,
            "secret",
            "clientIddeviceNamedeviceproductKeypktimestamp2524608000000",
            "9DEA83E5947409FB4220128787F6BC66D77090396D01E641880AB505497A6DF6",
        );
        check(
            HmacSha1,
            "secret",
            "clientId设备01deviceNamedeviceproductKeypktimestamp789",
            "1b92fc90f45881776020577e87b28a243fd13247",
        );
    }

    #[test]
    fn negative_vectors_n1_to_n3_differ_from_v1() {
        let v1 = sign(HmacSha1, "secret", V1_CONTENT);
        let n1 = sign(HmacSha1, "secret", "productKeypkdeviceNamedeviceclientId12345timestamp789");
        let n2 = sign(HmacSha1, "secret", "clientId12345deviceNamedeviceproducypktimestamp789");
        let n3 = sign(HmacSha1, "", V1_CONTENT);
        assert_eq!(n1, "c202dea8b02210477101fa849b3143b20fb5ea8d");
        assert_eq!(n2, "ce30aad3f523fef11c40d06ee534725e00bf4c5b");
        assert_eq!(n3, "57712a747b18ac7646dcd687e62200e07827b8b1");
        for n in [n1, n2, n3] {
            assert!(!hex_eq(&v1, n.as_bytes()));
        }
    }

    #[test]
    fn sign_content_sorts_and_omits_absent_fields() {
        assert_eq!(sign_content(Some("12345"), "device", "pk", Some("789")), V1_CONTENT);
        assert_eq!(sign_content(Some("12345"), "device", "pk", None), V4_CONTENT);
        assert_eq!(
            sign_content(Some(""), "device", "pk", Some("2524608000000")),
            "clientIddeviceNamedeviceproductKeypktimestamp2524608000000"
        );
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
