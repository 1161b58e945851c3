//! `authenticate` end to end: the platform's examples accepted, every refusal path with its
//! rule and CONNACK code, the wording of each refusal (insta snapshots under `snapshots/`),
//! and the secret kept out of every verdict.

use super::vectors::{self, N1, N2, N3, U1, V2, V3, V4, V5, V9, real_clients};
use super::*;
use crate::mqtt::{ConnackCode, Connect, Protocol, QoS, Will};
use crate::policy::Policy;
use crate::registry::{Device, Registry};
use crate::rules::Rule;
use crate::transport::Transport::{self, Tcp, Tls, Ws, Wss};
use crate::verdict::{Outcome, Verdict};
use bytes::Bytes;

const V1: &str = vectors::V1.signature;
const V1_WS_ID: &str = "12345|securemode=3,signmethod=hmacsha1,timestamp=789|";
/// A secret of the platform's length, for the redaction test.
const LONG_SECRET: &str = "Zq7Wm2Xp9Lk4Hs6Dt1Vb8Nc3Fg5Jr0Ya";

fn device(product_key: &str, device_name: &str, secret: &str, enabled: bool) -> Device {
    Device { product_key: product_key.into(), device_name: device_name.into(), secret: secret.into(), enabled }
}

/// The vectors' device (pk/device/secret), a disabled one and one with a 32-character secret.
fn registry() -> Registry {
    let mut registry = Registry::default();
    registry.add_device(device("pk", "device", "secret", true)).expect("valid");
    registry.add_device(device("pk", "off-device", "secret", false)).expect("valid");
    registry.add_device(device("a1LongSecrt", "long-device", LONG_SECRET, true)).expect("valid");
    registry
}

fn connect(client_id: &str, username: Option<&str>, password: Option<&[u8]>) -> Connect {
    Connect {
        protocol: Protocol::V311,
        client_id: client_id.into(),
        clean_session: true,
        keep_alive: 300,
        username: username.map(Into::into),
        password: password.map(Bytes::copy_from_slice),
        will: None,
    }
}

/// V1's CONNECT with another password.
fn v1_with(password: &str) -> Connect {
    connect(V1_WS_ID, Some("device&pk"), Some(password.as_bytes()))
}

fn run(connect: &Connect, transport: Transport) -> AuthReport {
    authenticate(connect, transport, &registry(), &Policy::default())
}

/// Asserts acceptance with only Pass and Warn verdicts, and returns the identity.
fn accepted(connect: &Connect, transport: Transport) -> Identity {
    let report = run(connect, transport);
    assert!(report.verdicts.iter().all(|v| v.outcome != Outcome::Fail), "{transport}: {:#?}", report.verdicts);
    report.outcome.unwrap_or_else(|refusal| panic!("{transport}: refused {refusal:?}: {:#?}", report.verdicts))
}

/// Asserts refusal by `rule` with `code`, the refusing verdict last and the only Fail.
fn refused(connect: &Connect, transport: Transport, rule: Rule, code: ConnackCode) -> AuthReport {
    let report = run(connect, transport);
    assert_eq!(report.outcome.as_ref().err(), Some(&Refusal { code, rule }), "{:#?}", report.verdicts);
    let last = report.verdicts.last().expect("verdicts");
    assert_eq!((last.rule, last.outcome), (rule, Outcome::Fail));
    let fails = report.verdicts.iter().filter(|v| v.outcome == Outcome::Fail).count();
    assert_eq!(fails, 1, "{:#?}", report.verdicts);
    report
}

fn last_detail(report: &AuthReport) -> &str {
    &report.verdicts.last().expect("verdicts").detail
}

#[test]
fn real_client_connects_are_accepted_on_their_transports() {
    for (name, client_id, password, transports) in real_clients() {
        for transport in transports {
            let identity = accepted(&connect(&client_id, Some("device&pk"), Some(password.as_bytes())), transport);
            assert_eq!((identity.product_key.as_str(), identity.device_name.as_str()), ("pk", "device"), "{name}");
            assert_eq!(identity.client_id, client_id.split('|').next().expect("prefix"), "{name}");
            assert_eq!(identity.securemode, transport.expected_securemode(), "{name}");
        }
    }
}

#[test]
fn real_client_connects_are_refused_on_the_other_transports() {
    for (name, client_id, password, transports) in real_clients() {
        for transport in Transport::ALL.into_iter().filter(|t| !transports.contains(t)) {
            let connect = connect(&client_id, Some("device&pk"), Some(password.as_bytes()));
            let report = refused(&connect, transport, Rule::ASecuremode, ConnackCode::IdentifierRejected);
            assert!(report.verdicts.last().expect("verdict").assumed, "{name}");
        }
    }
}

#[test]
fn identities_carry_sign_method_ext_and_params() {
    let linksdk = &real_clients()[3];
    let identity = accepted(&connect(&linksdk.1, Some("device&pk"), Some(linksdk.2.as_bytes())), Tls);
    assert_eq!(identity.sign_method, SignMethod::HmacSha256);
    assert_eq!(identity.ext, 3);
    assert_eq!(identity.params.len(), 7);
    assert_eq!(identity.params[1], ("_ss".to_owned(), "1".to_owned()));
    let odd_ext = "12345|securemode=3,signmethod=hmacsha1,timestamp=789,ext=x|";
    assert_eq!(accepted(&connect(odd_ext, Some("device&pk"), Some(V1.as_bytes())), Ws).ext, 0);
    assert_eq!(accepted(&v1_with(V1), Ws).ext, 0);
}

#[test]
fn every_rule_passes_in_platform_order_for_the_doc_example() {
    let report = run(&v1_with(V1), Ws);
    let seen: Vec<(Rule, Outcome)> = report.verdicts.iter().map(|v| (v.rule, v.outcome)).collect();
    let order = [
        Rule::AProtocol,
        Rule::AWillRetain,
        Rule::AKeepalive,
        Rule::ACidFormat,
        Rule::ACidLen,
        Rule::AParamsUnknown,
        Rule::ASecuremode,
        Rule::ASignmethod,
        Rule::ATimestamp,
        Rule::AUsername,
        Rule::ADevice,
        Rule::ASignHex,
        Rule::ASignContent,
    ];
    assert_eq!(seen, order.map(|rule| (rule, Outcome::Pass)).to_vec());
}

#[test]
fn n1_to_n3_are_refused_for_v1s_connect() {
    let cases = [
        (N1.signature, "in the order productKey, deviceName, clientId, timestamp"),
        (N2.signature, "no common mistake explains it"),
        (N3.signature, "an empty key"),
    ];
    for (password, diagnosis) in cases {
        let report = refused(&v1_with(password), Ws, Rule::ASignContent, ConnackCode::BadCredentials);
        assert!(last_detail(&report).contains(diagnosis), "{}", last_detail(&report));
    }
}

#[test]
fn u1_utf8_client_id_is_signed_as_utf8() {
    let u1 = connect(
        "设备01|securemode=3,signmethod=hmacsha1,timestamp=789|",
        Some("device&pk"),
        Some(U1.signature.as_bytes()),
    );
    assert_eq!(accepted(&u1, Ws).client_id, "设备01");
}

#[test]
fn absent_timestamp_and_signmethod_follow_v2_and_v4() {
    let v4 = connect("12345|securemode=3,signmethod=hmacmd5|", Some("device&pk"), Some(V4.signature.as_bytes()));
    accepted(&v4, Tcp);
    let v2 = connect("12345|securemode=3,timestamp=789|", Some("device&pk"), Some(V2.signature.as_bytes()));
    let report = run(&v2, Ws);
    assert_eq!(report.outcome.as_ref().map(|i| i.sign_method), Ok(SignMethod::HmacMd5));
    let signmethod = report.verdicts.iter().find(|v| v.rule == Rule::ASignmethod).expect("verdict");
    assert_eq!((signmethod.outcome, signmethod.received.as_str()), (Outcome::Pass, "absent: hmacmd5 by default"));
}

#[test]
fn v9_empty_client_id_is_signed_as_the_bare_name() {
    let v9 = connect(
        "|securemode=2,signmethod=hmacsha256,timestamp=2524608000000|",
        Some("device&pk"),
        Some(V9.signature.as_bytes()),
    );
    assert_eq!(accepted(&v9, Tls).client_id, "");
}

#[test]
fn hex_of_either_case_is_accepted() {
    for password in [V1.to_owned(), V1.to_ascii_uppercase(), "FaFd82A3d602b37fb0fa8b7892f24a477f851a14".to_owned()] {
        accepted(&v1_with(&password), Ws);
    }
}

#[test]
fn a_stripped_leading_zero_is_refused_with_its_own_message() {
    let (client_id, signature) = (0..1000)
        .map(|t| {
            let timestamp = t.to_string();
            let content = sign_content(Some("12345"), "device", "pk", Some(&timestamp));
            (
                format!("12345|securemode=3,signmethod=hmacsha1,timestamp={t}|"),
                sign(SignMethod::HmacSha1, "secret", &content),
            )
        })
        .find(|(_, signature)| signature.starts_with('0') && !signature.starts_with("00"))
        .expect("one signature in sixteen starts with a zero");
    accepted(&connect(&client_id, Some("device&pk"), Some(signature.as_bytes())), Ws);
    let stripped = connect(&client_id, Some("device&pk"), Some(&signature.as_bytes()[1..]));
    let report = refused(&stripped, Ws, Rule::ASignHex, ConnackCode::BadCredentials);
    assert!(
        last_detail(&report)
            .starts_with("leading zeros stripped: the password is the signature without its first 1 digit(s) '0'"),
        "{}",
        last_detail(&report)
    );
}

#[test]
fn keepalive_bounds_are_inclusive() {
    for keep_alive in [30, 1200] {
        accepted(&Connect { keep_alive, ..v1_with(V1) }, Ws);
    }
}

#[test]
fn client_id_length_counts_characters_not_bytes() {
    let at_limit = format!("{}|securemode=3|", "设".repeat(64));
    let password = sign(SignMethod::HmacMd5, "secret", &sign_content(Some(&"设".repeat(64)), "device", "pk", None));
    accepted(&connect(&at_limit, Some("device&pk"), Some(password.as_bytes())), Ws);
    let over = format!("{}|securemode=3|", "设".repeat(65));
    refused(
        &connect(&over, Some("device&pk"), Some(password.as_bytes())),
        Ws,
        Rule::ACidLen,
        ConnackCode::IdentifierRejected,
    );
}

#[test]
fn tolerated_oddities_are_warnings() {
    let will = Will {
        topic: "/pk/device/user/will".into(),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtMostOnce,
        retain: true,
    };
    let cases: Vec<(Connect, Rule)> = vec![
        (Connect { will: Some(will), ..v1_with(V1) }, Rule::AWillRetain),
        (connect(&format!("{V1_WS_ID} \n"), Some("device&pk"), Some(V1.as_bytes())), Rule::ACidFormat),
        (
            connect(
                "12345|securemode=3,signmethod=hmacsha1,timestamp=1.7e12|",
                Some("device&pk"),
                Some(
                    sign(SignMethod::HmacSha1, "secret", &sign_content(Some("12345"), "device", "pk", Some("1.7e12")))
                        .as_bytes(),
                ),
            ),
            Rule::ATimestamp,
        ),
    ];
    for (connect, rule) in cases {
        let report = run(&connect, Ws);
        assert!(report.outcome.is_ok(), "{rule}: {:#?}", report.verdicts);
        let warnings: Vec<Rule> =
            report.verdicts.iter().filter(|v| v.outcome == Outcome::Warn).map(|v| v.rule).collect();
        assert_eq!(warnings, vec![rule]);
    }
}

#[test]
fn unknown_params_are_listed_as_ignored() {
    let iotkit = &real_clients()[2];
    let report = run(&connect(&iotkit.1, Some("device&pk"), Some(iotkit.2.as_bytes())), Tls);
    let verdict = report.verdicts.iter().find(|v| v.rule == Rule::AParamsUnknown).expect("verdict");
    assert_eq!((verdict.outcome, verdict.received.as_str()), (Outcome::Pass, "ignored: \"_v\", \"lan\", \"gw\""));
    let doc = run(&v1_with(V1), Ws);
    assert_eq!(doc.verdicts.iter().find(|v| v.rule == Rule::AParamsUnknown).expect("verdict").received, "none");
}

#[test]
fn the_policy_chooses_the_assumed_codes() {
    let policy = Policy {
        keepalive_refusal: ConnackCode::ServerUnavailable,
        securemode_refusal: ConnackCode::NotAuthorized,
        signmethod_refusal: ConnackCode::BadCredentials,
        unknown_device_refusal: ConnackCode::NotAuthorized,
        disabled_device_refusal: ConnackCode::BadCredentials,
        keepalive_range: (60, 600),
        client_id_max_chars: 5,
        ..Policy::default()
    };
    let cases = [
        (Connect { keep_alive: 30, ..v1_with(V1) }, Ws, Rule::AKeepalive, ConnackCode::ServerUnavailable),
        (v1_with(V1), Wss, Rule::ASecuremode, ConnackCode::NotAuthorized),
        (
            connect("12345|securemode=3,signmethod=sha1|", Some("device&pk"), None),
            Ws,
            Rule::ASignmethod,
            ConnackCode::BadCredentials,
        ),
        (connect(V1_WS_ID, Some("ghost&pk"), None), Ws, Rule::ADevice, ConnackCode::NotAuthorized),
        (connect(V1_WS_ID, Some("off-device&pk"), None), Ws, Rule::ADevice, ConnackCode::BadCredentials),
        (connect("123456|securemode=3|", Some("device&pk"), None), Ws, Rule::ACidLen, ConnackCode::IdentifierRejected),
    ];
    for (connect, transport, rule, code) in cases {
        let report = authenticate(&connect, transport, &registry(), &policy);
        assert_eq!(report.outcome.err(), Some(Refusal { code, rule }));
    }
}

/// One refusal path: a name (the snapshot's), the CONNECT, the transport, the rule and code.
struct Case {
    name: &'static str,
    connect: Connect,
    transport: Transport,
    rule: Rule,
    code: ConnackCode,
}

fn case(name: &'static str, connect: Connect, transport: Transport, rule: Rule, code: ConnackCode) -> Case {
    Case { name, connect, transport, rule, code }
}

fn refusal_cases() -> Vec<Case> {
    use ConnackCode::{BadCredentials as C4, IdentifierRejected as C2, NotAuthorized as C5};
    let user = Some("device&pk");
    let with_id = |client_id: &str| connect(client_id, user, Some(V1.as_bytes()));
    let with_user = |username: Option<&str>| connect(V1_WS_ID, username, Some(V1.as_bytes()));
    let long_prefix = format!("{}|securemode=3|", "c".repeat(65));
    vec![
        case("keepalive_zero", Connect { keep_alive: 0, ..v1_with(V1) }, Ws, Rule::AKeepalive, C2),
        case("keepalive_below", Connect { keep_alive: 29, ..v1_with(V1) }, Ws, Rule::AKeepalive, C2),
        case("keepalive_above", Connect { keep_alive: 1201, ..v1_with(V1) }, Ws, Rule::AKeepalive, C2),
        case("cid_no_bar", with_id("12345"), Ws, Rule::ACidFormat, C2),
        case("cid_one_bar", with_id("12345|securemode=3"), Ws, Rule::ACidFormat, C2),
        case("cid_trailing_text", with_id("12345|securemode=3|x"), Ws, Rule::ACidFormat, C2),
        case("cid_param_without_equals", with_id("12345|securemode=3,hmacsha1|"), Ws, Rule::ACidFormat, C2),
        case("cid_empty_key", with_id("12345|=3|"), Ws, Rule::ACidFormat, C2),
        case("cid_duplicate_key", with_id("12345|securemode=3,securemode=2|"), Ws, Rule::ACidFormat, C2),
        case("cid_too_long", with_id(&long_prefix), Ws, Rule::ACidLen, C2),
        case("securemode_missing", with_id("12345|signmethod=hmacsha1,timestamp=789|"), Ws, Rule::ASecuremode, C2),
        case("securemode_3_over_wss", v1_with(V1), Wss, Rule::ASecuremode, C2),
        case("securemode_2_over_tcp", with_id("12345|securemode=2,signmethod=hmacsha1|"), Tcp, Rule::ASecuremode, C2),
        case("securemode_out_of_scope", with_id("12345|securemode=-2|"), Tls, Rule::ASecuremode, C2),
        case("securemode_unknown", with_id("12345|securemode=two|"), Tls, Rule::ASecuremode, C2),
        case("signmethod_mis_cased", with_id("12345|securemode=3,signmethod=HmacSHA1|"), Ws, Rule::ASignmethod, C2),
        case("signmethod_unknown", with_id("12345|securemode=3,signmethod=sha1|"), Ws, Rule::ASignmethod, C2),
        case("username_missing", with_user(None), Ws, Rule::AUsername, C4),
        case("username_without_ampersand", with_user(Some("devicepk")), Ws, Rule::AUsername, C4),
        case("username_empty_device_name", with_user(Some("&pk")), Ws, Rule::AUsername, C4),
        case("username_empty_product_key", with_user(Some("device&")), Ws, Rule::AUsername, C4),
        case("username_two_ampersands", with_user(Some("dev&ice&pk")), Ws, Rule::AUsername, C4),
        case("device_unknown_product", with_user(Some("device&pk2")), Ws, Rule::ADevice, C4),
        case("device_unknown_name", with_user(Some("ghost&pk")), Ws, Rule::ADevice, C4),
        case("device_swapped_username", with_user(Some("pk&device")), Ws, Rule::ADevice, C4),
        case("device_disabled", with_user(Some("off-device&pk")), Ws, Rule::ADevice, C5),
        case("password_missing", connect(V1_WS_ID, user, None), Ws, Rule::ASignHex, C4),
        case("password_empty", v1_with(""), Ws, Rule::ASignHex, C4),
        case("password_is_the_secret", v1_with("secret"), Ws, Rule::ASignHex, C4),
        case("password_not_hex", v1_with("fafd82a3d602b37fb0fa8b7892f24a477f851a1g"), Ws, Rule::ASignHex, C4),
        case("password_binary", connect(V1_WS_ID, user, Some(&[0xfa, 0xfd, 0x82, 0x00])), Ws, Rule::ASignHex, C4),
        case("password_whitespace", v1_with(&format!("{V1}\n")), Ws, Rule::ASignHex, C4),
        case("password_truncated", v1_with(&V1[..39]), Ws, Rule::ASignHex, C4),
        case("password_other_method_length", v1_with(V3.signature), Ws, Rule::ASignHex, C4),
        case("password_n1_unsorted", v1_with(N1.signature), Ws, Rule::ASignContent, C4),
        case("password_n2_misspelt", v1_with(N2.signature), Ws, Rule::ASignContent, C4),
        case("password_n3_empty_key", v1_with(N3.signature), Ws, Rule::ASignContent, C4),
        case("password_without_timestamp", v1_with(V5.signature), Ws, Rule::ASignContent, C4),
    ]
}

#[test]
fn every_refusal_names_its_rule_and_code_and_stops_there() {
    for case in refusal_cases() {
        let report = run(&case.connect, case.transport);
        assert_eq!(
            report.outcome.as_ref().err(),
            Some(&Refusal { code: case.code, rule: case.rule }),
            "{}: {:#?}",
            case.name,
            report.verdicts
        );
        let (refusing, before) = report.verdicts.split_last().expect("verdicts");
        assert_eq!((refusing.rule, refusing.outcome), (case.rule, Outcome::Fail), "{}", case.name);
        assert!(before.iter().all(|v| v.outcome != Outcome::Fail), "{}", case.name);
        assert!(
            !refusing.expected.is_empty() && !refusing.received.is_empty() && !refusing.detail.is_empty(),
            "{}",
            case.name
        );
    }
}

#[test]
fn refusal_wording_snapshots() {
    for case in refusal_cases() {
        let report = run(&case.connect, case.transport);
        let refusal = report.outcome.as_ref().expect_err("refused");
        let shown = serde_json::json!({ "transport": case.transport, "refusal": refusal, "verdicts": report.verdicts });
        insta::assert_json_snapshot!(case.name, shown);
    }
    let (_, client_id, password, _) = &real_clients()[2];
    let accepted = run(&connect(client_id, Some("device&pk"), Some(password.as_bytes())), Tls);
    let identity = accepted.outcome.as_ref().expect("accepted");
    insta::assert_json_snapshot!(
        "accepted_iotkit_v3",
        serde_json::json!({ "identity": identity, "verdicts": accepted.verdicts })
    );
}

/// Every refusal path, and acceptance, for a device whose secret the client spills into the
/// clientId, the params and the password.
fn spilling_connects() -> Vec<(Connect, Transport)> {
    let mut connects: Vec<(Connect, Transport)> =
        refusal_cases().into_iter().map(|c| (c.connect, c.transport)).collect();
    connects.push((v1_with(V1), Ws));
    let user = Some("long-device&a1LongSecrt");
    let spill = |client_id: &str, password: &str| connect(client_id, user, Some(password.as_bytes()));
    for transport in [Ws, Wss] {
        connects.extend([
            (spill(&format!("{LONG_SECRET}|securemode=3,signmethod=hmacsha1|"), LONG_SECRET), transport),
            (spill(&format!("x|securemode=3,timestamp={LONG_SECRET}|"), "00"), transport),
            (spill(&format!("x|securemode=3,signmethod={LONG_SECRET}|"), "00"), transport),
            (spill(&format!("x|securemode={LONG_SECRET}|"), "00"), transport),
            (spill(&format!("x|{LONG_SECRET}|"), "00"), transport),
            (spill("x|securemode=3|", &format!("{LONG_SECRET}{LONG_SECRET}")), transport),
            (spill("x|securemode=3|", &"0".repeat(32)), transport),
            (Connect { keep_alive: 0, ..spill(&format!("{LONG_SECRET}|securemode=3|"), "00") }, transport),
            (spill(&format!("{}|securemode=3|", LONG_SECRET.repeat(3)), "00"), transport),
        ]);
    }
    connects
}

#[test]
fn no_verdict_ever_holds_the_secret() {
    for (connect, transport) in spilling_connects() {
        let report = run(&connect, transport);
        for Verdict { expected, received, detail, .. } in &report.verdicts {
            for text in [expected.as_ref(), received.as_str(), detail.as_str()] {
                for secret in ["secret", LONG_SECRET] {
                    assert!(!text.contains(secret), "{secret} in {text:?} for {connect:?}");
                }
            }
        }
    }
}

/// The last verdict of a CONNECT of the demo device signed by a wrong secret, under `policy`,
/// with the signature expected.
fn demo_refusal(registry: &Registry, policy: &Policy) -> (Verdict, String) {
    let (pk, dn) = ("a1DemoPrdct", "demo-device");
    let device = Registry::demo().device(pk, dn).cloned().expect("the demo device");
    let content = sign_content(Some("12345"), dn, pk, Some("789"));
    let expected = sign(SignMethod::HmacSha1, device.secret.expose(), &content);
    let wrong = sign(SignMethod::HmacSha1, "notTheSecret", &content);
    let connect = connect(V1_WS_ID, Some(&format!("{dn}&{pk}")), Some(wrong.as_bytes()));
    let report = authenticate(&connect, Ws, registry, policy);
    (report.verdicts.last().cloned().expect("a verdict"), expected)
}

#[test]
fn signatures_show_in_full_only_when_revealed_or_for_the_demo_device() {
    // The demo device, with its published secret: in full.
    let (verdict, expected) = demo_refusal(&Registry::demo(), &Policy::default());
    assert_eq!((verdict.rule, verdict.outcome), (Rule::ASignContent, Outcome::Fail));
    assert_eq!(verdict.expected, expected);
    assert!(verdict.detail.contains(&format!("expected {expected}; received \"")), "{}", verdict.detail);
    // The same device given another secret is a device like any other: cut...
    let mut rotated = Registry::demo();
    rotated.set_secret("a1DemoPrdct", "demo-device", "rotatedSecret9".into()).expect("valid");
    let (verdict, _) = demo_refusal(&rotated, &Policy::default());
    assert!(verdict.expected.ends_with("… (40 hex digits)") && verdict.expected.len() < 40, "{}", verdict.expected);
    // ...unless the policy reveals signatures.
    let revealing = Policy { reveal_signatures: true, ..Policy::default() };
    let (verdict, _) = demo_refusal(&rotated, &revealing);
    assert_eq!(verdict.expected.len(), 40, "{}", verdict.expected);
    let report = authenticate(&v1_with(N1.signature), Ws, &registry(), &revealing);
    let last = report.verdicts.last().expect("a verdict");
    assert_eq!((last.expected.as_ref(), last.received.clone()), (V1, format!("{:?}", N1.signature)));
    let cut = run(&v1_with(N1.signature), Ws);
    let last = cut.verdicts.last().expect("a verdict");
    assert_eq!(last.expected, "fafd82a3… (40 hex digits)");
    for text in [last.expected.as_ref(), &last.received, &last.detail] {
        assert!(!text.contains(V1) && !text.contains(N1.signature), "{text}");
    }
}
