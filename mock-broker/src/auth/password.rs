//! A-SIGN-HEX then A-SIGN-CONTENT: the password against the signature rebuilt from the
//! submitted params.
//!
//! A-SIGN-HEX judges the form (full-length hex, either case); only a well-formed password
//! reaches A-SIGN-CONTENT, which judges the value. A failing verdict's detail always shows
//! the rebuilt sign content, the algorithm and both digests, and names the likely mistake:
//! leading zeros dropped, whitespace around it, the secret sent in clear, or one of the
//! signing mistakes of `diagnose`. The secret itself is never shown.
//!
//! The digests are shown by their first 8 hex digits and their length
//! (`fafd82a3… (40 hex digits)`; hex in the received password likewise) unless the
//! expectation may reveal them: the platform does not check the timestamp's freshness, so
//! the expected signature is a password it would accept for that clientId. The diagnosis
//! compares them in full either way, and compares in constant time.

use super::diagnose::{Expectation, explain};
use super::render;
use super::sign::{concat, hex_eq, sign};
use crate::rules::Rule;
use crate::secret::ct_eq;
use crate::verdict::Verdict;

/// Checks the password. The verdicts end with a `Fail` when the CONNECT is refused.
pub(super) fn check(expectation: &Expectation<'_>, password: Option<&[u8]>) -> Vec<Verdict> {
    let method = expectation.method;
    let content = concat(&expectation.fields);
    let signature = sign(method, expectation.secret, &content);
    let shown = render::digest(&signature, expectation.reveal);
    let form = format!("{} hex digits ({}), either case", method.hex_len(), method.name());
    let summary = |received: &str| {
        format!(
            "sign content {}; algorithm {}; expected {shown}; received {received}",
            render::quote(&content),
            method.name()
        )
    };
    let Some(password) = password else {
        let detail = format!("CONNECT carries no password; {}", summary("nothing"));
        return vec![Verdict::fail(Rule::ASignHex, form, "no password").with_detail(detail)];
    };
    let received = render::password(password, expectation.reveal);
    let is_hex = password.iter().all(u8::is_ascii_hexdigit);
    if !is_hex || password.len() != method.hex_len() {
        let problem = form_problem(expectation, &signature, password, is_hex);
        let detail = format!("{problem}; {}", summary(&received));
        return vec![Verdict::fail(Rule::ASignHex, form, received).with_detail(detail)];
    }
    let form_ok = Verdict::pass(Rule::ASignHex, form, format!("{} hex digits, {}", password.len(), case(password)));
    if hex_eq(&signature, password) {
        let signed = format!("{} of {}", method.name(), render::quote(&content));
        return vec![form_ok, Verdict::pass(Rule::ASignContent, signed, "the signature matches")];
    }
    let mistake = explain(expectation, password)
        .unwrap_or_else(|| "no common mistake explains it: check the deviceSecret and the signed values".to_owned());
    let detail = format!("{mistake}; {}", summary(&received));
    vec![form_ok, Verdict::fail(Rule::ASignContent, shown, received).with_detail(detail)]
}

/// Why a password is not full-length hex.
fn form_problem(expectation: &Expectation<'_>, signature: &str, password: &[u8], is_hex: bool) -> String {
    let method = expectation.method;
    let (len, full) = (password.len(), method.hex_len());
    if password.is_empty() {
        return "the password is empty".to_owned();
    }
    if ct_eq(password, expectation.secret.as_bytes()) {
        return "the password is the deviceSecret itself, sent in clear; it must be the HMAC of the sign content"
            .to_owned();
    }
    if hex_eq(signature, password.trim_ascii()) {
        return "the signature is right but surrounded by whitespace".to_owned();
    }
    if is_hex && len < full {
        let zeros = signature.bytes().take_while(|&b| b == b'0').count();
        if (1..=zeros).contains(&(full - len)) && hex_eq(&signature[full - len..], password) {
            return format!(
                "leading zeros stripped: the password is the signature without its first {} digit(s) '0'; \
                 A-SIGN-HEX wants all {full} hex digits",
                full - len
            );
        }
        if hex_eq(&unpadded_bytes(signature), password) {
            return format!(
                "each byte below 0x10 is written as one digit (%x instead of %02x): {len} digits instead of {full}"
            );
        }
    }
    let what =
        if is_hex { format!("has {len} hex digits") } else { "holds characters that are not hex digits".to_owned() };
    let mut problem = format!("the password {what}; {} gives {full}", method.name());
    if let Some(mistake) = explain(expectation, password) {
        problem.push_str(&format!(": {mistake}"));
    }
    problem
}

/// The signature written byte by byte without padding (`%x`), a common client bug.
fn unpadded_bytes(signature: &str) -> String {
    signature
        .as_bytes()
        .chunks(2)
        .flat_map(|pair| if pair[0] == b'0' { &pair[1..] } else { pair })
        .map(|&b| char::from(b))
        .collect()
}

/// The case a hex password is written in.
fn case(password: &[u8]) -> &'static str {
    let lower = password.iter().any(u8::is_ascii_lowercase);
    let upper = password.iter().any(u8::is_ascii_uppercase);
    match (lower, upper) {
        (true, true) => "mixed case",
        (true, false) => "lower case",
        (false, true) => "upper case",
        (false, false) => "digits only",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::diagnose::tests::v1;
    use crate::verdict::Outcome;

    const V1: &str = crate::auth::vectors::V1.signature;

    fn last(password: &[u8]) -> Verdict {
        check(&v1(), Some(password)).pop().expect("a verdict")
    }

    #[test]
    fn right_password_passes_both_rules_in_either_case() {
        for password in [V1.to_owned(), V1.to_ascii_uppercase()] {
            let verdicts = check(&v1(), Some(password.as_bytes()));
            let rules: Vec<_> = verdicts.iter().map(|v| (v.rule, v.outcome)).collect();
            assert_eq!(rules, vec![(Rule::ASignHex, Outcome::Pass), (Rule::ASignContent, Outcome::Pass)]);
        }
        assert_eq!(check(&v1(), Some(V1.to_ascii_uppercase().as_bytes()))[0].received, "40 hex digits, upper case");
    }

    #[test]
    fn form_problems_fail_a_sign_hex() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "the password is empty"),
            (b"secret", "the password is the deviceSecret itself"),
            (b" fafd82a3d602b37fb0fa8b7892f24a477f851a14\n", "surrounded by whitespace"),
            (b"fafd82a3d602b37fb0fa8b7892f24a477f851a1", "the password has 39 hex digits; hmacsha1 gives 40"),
            (
                b"zafd82a3d602b37fb0fa8b7892f24a477f851a14",
                "holds characters that are not hex digits; hmacsha1 gives 40",
            ),
            (&[0xfa, 0xfd, 0x82], "characters that are not hex digits"),
        ];
        for (password, needle) in cases {
            let verdict = last(password);
            assert_eq!((verdict.rule, verdict.outcome), (Rule::ASignHex, Outcome::Fail), "{password:?}");
            assert!(verdict.detail.contains(needle), "{password:?}: {}", verdict.detail);
            assert!(verdict.detail.contains("expected fafd82a3… (40 hex digits); received "), "{}", verdict.detail);
            assert!(!verdict.detail.contains(&V1[..9]), "{}", verdict.detail);
            let revealed = check(&Expectation { reveal: true, ..v1() }, Some(password)).pop().expect("a verdict");
            assert!(revealed.detail.contains(needle), "{password:?}: {}", revealed.detail);
            assert!(revealed.detail.contains(&format!("expected {V1}; received ")), "{}", revealed.detail);
        }
    }

    #[test]
    fn a_missing_password_fails_a_sign_hex() {
        let verdicts = check(&v1(), None);
        assert_eq!(verdicts.len(), 1);
        assert_eq!((verdicts[0].rule, verdicts[0].outcome), (Rule::ASignHex, Outcome::Fail));
        assert_eq!(verdicts[0].received, "no password");
    }

    #[test]
    fn unpadded_bytes_are_recognised() {
        assert_eq!(unpadded_bytes("0a10ff00"), "a10ff0");
        // V1 holds the byte 0x02, which `%x` writes as "2".
        assert_eq!(unpadded_bytes(V1).len(), 39);
        let verdict = last(unpadded_bytes(V1).as_bytes());
        assert_eq!((verdict.rule, verdict.outcome), (Rule::ASignHex, Outcome::Fail));
        assert!(verdict.detail.starts_with("each byte below 0x10 is written as one digit (%x instead of %02x)"));
    }

    #[test]
    fn a_wrong_value_fails_a_sign_content_with_the_rebuilt_content() {
        let verdict = last(b"0000000000000000000000000000000000000000");
        assert_eq!((verdict.rule, verdict.outcome), (Rule::ASignContent, Outcome::Fail));
        assert_eq!(verdict.expected, "fafd82a3… (40 hex digits)");
        assert_eq!(verdict.received, "\"00000000…\" (40 characters)");
        assert!(
            verdict
                .detail
                .contains("sign content \"clientId12345deviceNamedeviceproductKeypktimestamp789\"; algorithm hmacsha1")
        );
    }

    #[test]
    fn the_digests_are_shown_in_full_only_when_revealed() {
        let wrong = crate::auth::vectors::N1.signature;
        let shown = last(wrong.as_bytes());
        assert_eq!(
            (shown.expected.as_ref(), shown.received.as_str()),
            ("fafd82a3… (40 hex digits)", "\"c202dea8…\" (40 characters)")
        );
        for text in [shown.expected.as_ref(), &shown.received, &shown.detail] {
            assert!(!text.contains(&V1[..9]) && !text.contains(&wrong[..9]), "{text}");
        }
        let revealed = check(&Expectation { reveal: true, ..v1() }, Some(wrong.as_bytes())).pop().expect("a verdict");
        assert_eq!((revealed.expected.as_ref(), revealed.received), (V1, format!("{wrong:?}")));
        assert!(revealed.detail.ends_with(&format!("expected {V1}; received {wrong:?}")), "{}", revealed.detail);
        // The diagnosis is the same either way.
        let mistake = |detail: &str| detail.split("; sign content").next().unwrap_or_default().to_owned();
        assert_eq!(mistake(&shown.detail), mistake(&revealed.detail));
        assert!(shown.detail.starts_with("the password matches the fields signed in the order"), "{}", shown.detail);
    }

    #[test]
    fn case_names() {
        assert_eq!(case(b"ab12"), "lower case");
        assert_eq!(case(b"AB12"), "upper case");
        assert_eq!(case(b"aB12"), "mixed case");
        assert_eq!(case(b"0123"), "digits only");
    }
}
