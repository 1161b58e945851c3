//! When a signature does not match, the likely mistake (A-SIGN-CONTENT, A-SIGNMETHOD).
//!
//! The broker re-signs the submitted fields the ways clients get it wrong and says which one
//! the password matches: another algorithm than the declared one; the fields unsorted; the
//! clientId or timestamp left out; the whole mqttClientId signed as clientId; an empty key;
//! key and message swapped. Before those, a secret the device had before a rotation
//! (`Broker::rotate_secret`): the password signed with it says so, with when it was replaced.
//! Each try is one HMAC, a hundred at most, and only on failure. Nothing here reveals a
//! secret: the sentences name mistakes, not keys.

use super::sign::{SignMethod, concat, hex_eq, sign};
use crate::registry::PreviousSecret;

/// What the broker signed, and what it was told.
pub(super) struct Expectation<'a> {
    /// The method the broker used (declared, or the default).
    pub method: SignMethod,
    /// The `signmethod` param as sent, `None` when absent (defaulted to hmacmd5).
    pub declared: Option<&'a str>,
    /// The device's secret, exposed for the HMAC key only.
    pub secret: &'a str,
    /// Whether the verdicts may show digests in full (the policy's `reveal_signatures`, or
    /// a demo device); the diagnosis compares them in full either way.
    pub reveal: bool,
    /// The sign content's fields, sorted by name (A-SIGN-CONTENT).
    pub fields: Vec<(&'static str, &'a str)>,
    /// The whole mqttClientId, params included.
    pub mqtt_client_id: &'a str,
    /// The secrets the device had before its last rotations, newest first.
    pub previous: Vec<&'a PreviousSecret>,
}

/// The key a variant signs with.
enum Key {
    Secret,
    Empty,
    /// The content as the key and the secret as the message.
    Swapped,
}

/// One wrong way to sign: what it is called and how it is computed.
struct Variant {
    mistake: String,
    key: Key,
    content: String,
}

/// The mistake the password is explained by, if one is found.
pub(super) fn explain(expectation: &Expectation<'_>, password: &[u8]) -> Option<String> {
    let content = concat(&expectation.fields);
    if let Some(rotated) = previous_secret(expectation, &content, password) {
        return Some(rotated);
    }
    let declared = declared_phrase(expectation.declared);
    for method in other_methods(expectation.method) {
        if hex_eq(&sign(method, expectation.secret, &content), password) {
            return Some(format!(
                "the password is the {} signature of the right content, but {declared}",
                method.name()
            ));
        }
    }
    let variants = variants(expectation);
    let methods = std::iter::once(expectation.method).chain(other_methods(expectation.method));
    for method in methods {
        for variant in &variants {
            let signature = match variant.key {
                Key::Secret => sign(method, expectation.secret, &variant.content),
                Key::Empty => sign(method, "", &variant.content),
                Key::Swapped => sign(method, &variant.content, expectation.secret),
            };
            if hex_eq(&signature, password) {
                let mut found = format!("the password matches {}", variant.mistake);
                if method != expectation.method {
                    found.push_str(&format!(", and {} although {declared}", method.name()));
                }
                return Some(found);
            }
        }
    }
    None
}

/// The password is the right content signed with a secret the device had before a rotation.
fn previous_secret(expectation: &Expectation<'_>, content: &str, password: &[u8]) -> Option<String> {
    let mut previous = expectation.previous.iter().enumerate();
    let (back, replaced) =
        previous.find(|(_, p)| hex_eq(&sign(expectation.method, p.secret.expose(), content), password))?;
    let which = match back {
        0 => "the device's previous deviceSecret".to_owned(),
        n => format!("an older deviceSecret of the device (the one before the last {} rotations)", n + 1),
    };
    Some(format!(
        "signed with {which}, rotated out at {:.3} s after start: sign with the current one",
        replaced.replaced_at.as_secs_f64()
    ))
}

fn declared_phrase(declared: Option<&str>) -> String {
    match declared {
        Some(name) => format!("signmethod={name} was declared"),
        None => "no signmethod was declared, which means hmacmd5".to_owned(),
    }
}

fn other_methods(method: SignMethod) -> impl Iterator<Item = SignMethod> {
    SignMethod::ALL.into_iter().filter(move |m| *m != method)
}

fn variants(expectation: &Expectation<'_>) -> Vec<Variant> {
    let fields = &expectation.fields;
    let sorted_names = names(fields);
    let mut variants: Vec<Variant> = permutations(fields)
        .into_iter()
        .filter(|order| names(order) != sorted_names)
        .map(|order| Variant {
            mistake: format!(
                "the fields signed in the order {}, where A-SIGN-CONTENT sorts them by name: {sorted_names}",
                names(&order)
            ),
            key: Key::Secret,
            content: concat(&order),
        })
        .collect();
    const LEFT_OUT: [(&[&str], &str); 3] = [
        (&["clientId"], "the mock always signs the mqttClientId prefix, even empty"),
        (&["timestamp"], "the mock signs it because the params send it"),
        (&["clientId", "timestamp"], "the mock signs both: the prefix always, the timestamp the params send"),
    ];
    for (left_out, why) in LEFT_OUT {
        if left_out.iter().all(|name| fields.iter().any(|(n, _)| n == name)) {
            let kept: Vec<_> = fields.iter().copied().filter(|(n, _)| !left_out.contains(n)).collect();
            variants.push(Variant {
                mistake: format!("the content without {} ({why})", left_out.join(" and ")),
                key: Key::Secret,
                content: concat(&kept),
            });
        }
    }
    let whole: Vec<_> =
        fields.iter().map(|&(n, v)| if n == "clientId" { (n, expectation.mqtt_client_id) } else { (n, v) }).collect();
    variants.push(Variant {
        mistake: "the content with the whole mqttClientId as clientId instead of its prefix".to_owned(),
        key: Key::Secret,
        content: concat(&whole),
    });
    let content = concat(fields);
    variants.push(Variant {
        mistake: "the right content signed with an empty key instead of the deviceSecret".to_owned(),
        key: Key::Empty,
        content: content.clone(),
    });
    variants.push(Variant {
        mistake: "the HMAC with key and message swapped (the content as the key)".to_owned(),
        key: Key::Swapped,
        content,
    });
    variants
}

fn names(fields: &[(&str, &str)]) -> String {
    fields.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

/// Every order of the items (at most 4 fields: 24 orders).
fn permutations<T: Copy>(items: &[T]) -> Vec<Vec<T>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for (i, &first) in items.iter().enumerate() {
        let rest: Vec<T> = items.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, &t)| t).collect();
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            all.push(tail);
        }
    }
    all
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::auth::sign::{sign_content, sorted_fields};
    use crate::auth::vectors::{N1, N2, N3, V1, V3, V5, V6};

    /// What the broker expects of the doc example's CONNECT (vector V1).
    pub(in crate::auth) fn v1() -> Expectation<'static> {
        Expectation {
            method: SignMethod::HmacSha1,
            declared: Some("hmacsha1"),
            secret: "secret",
            reveal: false,
            fields: sorted_fields(Some("12345"), "device", "pk", Some("789")),
            mqtt_client_id: "12345|securemode=3,signmethod=hmacsha1,timestamp=789|",
            previous: Vec::new(),
        }
    }

    fn explained(password: &str) -> String {
        explain(&v1(), password.as_bytes()).unwrap_or_else(|| "nothing".into())
    }

    #[test]
    fn permutations_are_all_orders() {
        assert_eq!(permutations(&[1, 2, 3]).len(), 6);
        assert_eq!(permutations(&[1, 2, 3, 4]).len(), 24);
        assert_eq!(permutations::<u8>(&[]), vec![Vec::<u8>::new()]);
    }

    #[test]
    fn n1_unsorted_content_is_named() {
        assert_eq!(
            explained(N1.signature),
            "the password matches the fields signed in the order productKey, deviceName, clientId, timestamp, \
             where A-SIGN-CONTENT sorts them by name: clientId, deviceName, productKey, timestamp"
        );
    }

    #[test]
    fn n2_and_n3() {
        assert_eq!(explained(N2.signature), "nothing");
        assert_eq!(
            explained(N3.signature),
            "the password matches the right content signed with an empty key instead of the deviceSecret"
        );
    }

    #[test]
    fn another_method_is_named() {
        assert_eq!(
            explained(V3.signature),
            "the password is the hmacsha256 signature of the right content, but signmethod=hmacsha1 was declared"
        );
        let defaulted = Expectation { method: SignMethod::HmacMd5, declared: None, ..v1() };
        assert_eq!(
            explain(&defaulted, V1.signature.as_bytes()).as_deref(),
            Some(
                "the password is the hmacsha1 signature of the right content, but no signmethod was declared, which means hmacmd5"
            )
        );
    }

    #[test]
    fn left_out_fields_and_other_mistakes_are_named() {
        // V4/V5/V6 sign V1's fields without the timestamp.
        assert!(explained(V5.signature).starts_with("the password matches the content without timestamp"));
        assert!(explained(V6.signature).ends_with(", and hmacsha256 although signmethod=hmacsha1 was declared"));
        let without_client_id = sign(SignMethod::HmacSha1, "secret", &sign_content(None, "device", "pk", Some("789")));
        assert!(explained(&without_client_id).starts_with("the password matches the content without clientId ("));
        let whole = sign_content(Some(v1().mqtt_client_id), "device", "pk", Some("789"));
        assert!(explained(&sign(SignMethod::HmacSha1, "secret", &whole)).contains("whole mqttClientId"));
        let swapped = sign(SignMethod::HmacSha1, &concat(&v1().fields), "secret");
        assert!(explained(&swapped).contains("key and message swapped"));
    }

    #[test]
    fn a_previous_secret_is_named_with_when_it_was_replaced() {
        let at = |ms| PreviousSecret { secret: "older".into(), replaced_at: std::time::Duration::from_millis(ms) };
        let (newest, older) = (PreviousSecret { secret: "oldSecret".into(), ..at(12_345) }, at(2_000));
        let rotated = Expectation { secret: "current", previous: vec![&newest, &older], ..v1() };
        let content = concat(&v1().fields);
        let explained = |secret| explain(&rotated, sign(SignMethod::HmacSha1, secret, &content).as_bytes());
        assert_eq!(
            explained("oldSecret").as_deref(),
            Some(
                "signed with the device's previous deviceSecret, rotated out at 12.345 s after start: \
                 sign with the current one"
            )
        );
        let two_back = explained("older").expect("named");
        assert!(two_back.starts_with("signed with an older deviceSecret of the device (the one before the last 2 rotations), rotated out at 2.000 s"), "{two_back}");
        assert!(!two_back.contains("older\"") && !two_back.contains("oldSecret"));
        assert_eq!(explained("neverUsed"), None);
    }
}
