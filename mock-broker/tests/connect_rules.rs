//! Every A- rule's accept and refuse paths over real sockets, with CONNACK codes and the
//! explanation in the transcript; the test vectors V1-V9, U1, N1-N3 and the CONNECTs real
//! clients send (`mock_broker::auth::vectors`).

mod support;

use mock_broker::auth::vectors::{N1, N2, N3, U1, V1, V2, V3, V4, V5, V6, V7, V8, V9};
use mock_broker::mqtt::ConnackCode;
use mock_broker::{Outcome, Policy, Rule, Transport};
use support::*;

const PASSWORD_V1: &str = V1.signature;

fn doc_client_id(securemode: &str) -> String {
    format!("12345|securemode={securemode},signmethod=hmacsha1,timestamp=789|")
}

#[tokio::test]
async fn doc_example_is_accepted_over_every_transport() {
    let mut tb = TestBroker::start().await;
    for transport in Transport::ALL {
        let attempt = tb.attempt(transport, &doc_example(transport)).await;
        attempt.assert_accepted();
        for rule in [Rule::ASecuremode, Rule::ASignContent, Rule::AUsername, Rule::AKeepalive, Rule::ADevice] {
            assert_eq!(attempt.verdict(rule).outcome, Outcome::Pass, "{transport}: {rule}");
        }
    }
}

#[tokio::test]
async fn securemode_must_match_the_transport() {
    let mut tb = TestBroker::start().await;
    for (transport, wrong) in
        [(Transport::Ws, "2"), (Transport::Tcp, "2"), (Transport::Wss, "3"), (Transport::Tls, "3")]
    {
        let connect = connect_bytes(&doc_client_id(wrong), "device&pk", PASSWORD_V1, 60);
        let attempt = tb.attempt(transport, &connect).await;
        let verdict = attempt.assert_refused(ConnackCode::IdentifierRejected, Rule::ASecuremode);
        assert!(verdict.expected.contains(transport.expected_securemode()), "{verdict:#?}");
        assert!(verdict.received.contains(wrong), "{verdict:#?}");
        assert!(verdict.assumed, "the reaction to a mismatch is assumed: {verdict:#?}");
    }
}

#[tokio::test]
async fn a_missing_securemode_is_refused() {
    let mut tb = TestBroker::start().await;
    let connect = connect_bytes("12345|signmethod=hmacsha1,timestamp=789|", "device&pk", PASSWORD_V1, 60);
    tb.attempt(Transport::Ws, &connect).await.assert_refused(ConnackCode::IdentifierRejected, Rule::ASecuremode);
}

#[tokio::test]
async fn keepalive_outside_30_to_1200_is_refused() {
    let mut tb = TestBroker::start().await;
    for keep_alive in [0, 29, 1201, u16::MAX] {
        let connect = connect_bytes(&doc_client_id("3"), "device&pk", PASSWORD_V1, keep_alive);
        let attempt = tb.attempt(Transport::Ws, &connect).await;
        let verdict = attempt.assert_refused(ConnackCode::IdentifierRejected, Rule::AKeepalive);
        assert!(verdict.received.contains(&keep_alive.to_string()), "{verdict:#?}");
    }
    for keep_alive in [30, 300, 1200] {
        let connect = connect_bytes(&doc_client_id("3"), "device&pk", PASSWORD_V1, keep_alive);
        tb.attempt(Transport::Ws, &connect).await.assert_accepted();
    }
}

/// Vectors V1-V9 and U1 as CONNECTs: (transport, mqttClientId, username, password).
const ACCEPTED: &[(&str, Transport, &str, &str, &str)] = &[
    ("V1", Transport::Ws, "12345|securemode=3,signmethod=hmacsha1,timestamp=789|", "device&pk", V1.signature),
    ("V2", Transport::Ws, "12345|securemode=3,signmethod=hmacmd5,timestamp=789|", "device&pk", V2.signature),
    ("V2, signmethod absent", Transport::Tcp, "12345|securemode=3,timestamp=789|", "device&pk", V2.signature),
    ("V3", Transport::Wss, "12345|securemode=2,signmethod=hmacsha256,timestamp=789|", "device&pk", V3.signature),
    ("V4", Transport::Tls, "12345|securemode=2,signmethod=hmacmd5|", "device&pk", V4.signature),
    ("V5", Transport::Tls, "12345|securemode=2,signmethod=hmacsha1|", "device&pk", V5.signature),
    ("V6", Transport::Ws, "12345|securemode=3,signmethod=hmacsha256|", "device&pk", V6.signature),
    (
        "V1 upper case",
        Transport::Ws,
        "12345|securemode=3,signmethod=hmacsha1,timestamp=789|",
        "device&pk",
        "FAFD82A3D602B37FB0FA8B7892F24A477F851A14",
    ),
    (
        "V7 iotkit v3",
        Transport::Tls,
        "pk.device|timestamp=2524608000000,_v=sdk-c-3.0.1,securemode=2,signmethod=hmacsha256,lan=C,gw=0,ext=0|",
        "device&pk",
        V7.signature,
    ),
    (
        "V7 LinkSDK 4.x",
        Transport::Tls,
        "pk.device|timestamp=2524608000000,_ss=1,_v=sdk-c-4.1.0,securemode=2,signmethod=hmacsha256,ext=3,_conn=tls_1a|",
        "device&pk",
        V7.signature,
    ),
    (
        "V8 Python linkkit",
        Transport::Wss,
        "pk&device|securemode=2,signmethod=hmacsha1,ext=1,_ss=1,lan=Python,_v=1.2.13,timestamp=1700000000|",
        "device&pk",
        V8.signature,
    ),
    (
        "V9 empty clientId",
        Transport::Tls,
        "|securemode=2,signmethod=hmacsha256,timestamp=2524608000000|",
        "device&pk",
        V9.signature,
    ),
    (
        "U1 UTF-8 clientId",
        Transport::Ws,
        "设备01|securemode=3,signmethod=hmacsha1,timestamp=789|",
        "device&pk",
        U1.signature,
    ),
];

#[tokio::test]
async fn test_vectors_and_real_client_connects_are_accepted() {
    let mut tb = TestBroker::start().await;
    for (name, transport, client_id, username, password) in ACCEPTED {
        let attempt = tb.attempt(*transport, &connect_bytes(client_id, username, password, 60)).await;
        assert_eq!(attempt.code, Some(ConnackCode::Accepted), "{name}: {:#?}", attempt.transcript);
        attempt.assert_accepted();
    }
}

#[tokio::test]
async fn node_sdk_browser_connect_with_a_bar_inside_the_params_is_accepted() {
    // The browser build sends `lan=JS|Broswer ` inside the block (A-CID-FORMAT); its password
    // signs clientId pk&device, deviceName, productKey and timestamp 1700000000000.
    let client_id = "pk&device|securemode=2,signmethod=hmacsha1,timestamp=1700000000000,lan=JS|Broswer ,_v=1.2.8|";
    let content = mock_broker::auth::sign_content(Some("pk&device"), DN, PK, Some("1700000000000"));
    let password = mock_broker::auth::sign(mock_broker::auth::SignMethod::HmacSha1, SECRET, &content);
    let mut tb = TestBroker::start().await;
    tb.attempt(Transport::Wss, &connect_bytes(client_id, "device&pk", &password, 60)).await.assert_accepted();
}

#[tokio::test]
async fn negative_vectors_are_refused_with_bad_credentials() {
    let mut tb = TestBroker::start().await;
    for (name, password) in [
        ("N1 unsorted content", N1.signature),
        ("N2 misspelt key", N2.signature),
        ("N3 empty secret", N3.signature),
        ("leading zero stripped", "afd82a3d602b37fb0fa8b7892f24a477f851a14"),
    ] {
        let attempt = tb.attempt(Transport::Ws, &connect_bytes(&doc_client_id("3"), "device&pk", password, 60)).await;
        assert_eq!(attempt.code, Some(ConnackCode::BadCredentials), "{name}: {:#?}", attempt.transcript);
        let failed: Vec<_> = attempt.verdicts().into_iter().filter(|v| v.outcome == Outcome::Fail).collect();
        assert_eq!(failed.len(), 1, "{name}: one failed rule: {failed:#?}");
        assert!(matches!(failed[0].rule, Rule::ASignContent | Rule::ASignHex), "{name}: {failed:#?}");
        let text = format!("{failed:?}");
        assert!(!text.contains("\"secret\""), "{name}: the secret leaks: {text}");
    }
}

#[tokio::test]
async fn a_bad_signature_is_explained_with_the_rebuilt_content() {
    let mut tb = TestBroker::start().await;
    let attempt = tb.attempt(Transport::Ws, &connect_bytes(&doc_client_id("3"), "device&pk", N1.signature, 60)).await;
    let verdict = attempt.verdicts().into_iter().find(|v| v.outcome == Outcome::Fail).expect("a failed verdict");
    let all = format!("{} {} {}", verdict.expected, verdict.received, verdict.detail);
    assert!(all.contains("clientId12345deviceNamedeviceproductKeypktimestamp789"), "{all}");
    assert!(all.contains("expected fafd82a3… (40 hex digits)"), "expected hex cut to 8 digits: {all}");
    assert!(all.contains("received \"c202dea8…\" (40 characters)"), "received hex cut to 8 digits: {all}");
    assert!(!all.contains(&PASSWORD_V1[..9]) && !all.contains(&N1.signature[..9]), "no more digits: {all}");
    assert!(all.contains("hmacsha1"), "{all}");
}

#[tokio::test]
async fn reveal_signatures_shows_both_digests_in_full() {
    let mut tb = TestBroker::with_policy(Policy { reveal_signatures: true, ..Policy::default() }).await;
    let attempt = tb.attempt(Transport::Ws, &connect_bytes(&doc_client_id("3"), "device&pk", N1.signature, 60)).await;
    let verdict = attempt.verdicts().into_iter().find(|v| v.outcome == Outcome::Fail).expect("a failed verdict");
    assert_eq!(verdict.expected, PASSWORD_V1);
    assert_eq!(verdict.received, format!("{:?}", N1.signature));
    assert!(verdict.detail.ends_with(&format!("expected {PASSWORD_V1}; received {:?}", N1.signature)), "{verdict:?}");
}

#[tokio::test]
async fn username_device_and_client_id_refusals() {
    let mut tb = TestBroker::start().await;
    let cases: &[(&str, String, &str, ConnackCode, Rule)] = &[
        // Well-formed, but it names device "pk" of product "device", which is not registered.
        ("username reversed", doc_client_id("3"), "pk&device", ConnackCode::BadCredentials, Rule::ADevice),
        ("username without &", doc_client_id("3"), "devicepk", ConnackCode::BadCredentials, Rule::AUsername),
        ("unknown device", doc_client_id("3"), "nobody&pk", ConnackCode::BadCredentials, Rule::ADevice),
        (
            "65-character clientId",
            format!("{}|securemode=3,signmethod=hmacsha1|", "c".repeat(65)),
            "device&pk",
            ConnackCode::IdentifierRejected,
            Rule::ACidLen,
        ),
        ("no params block", "12345".to_string(), "device&pk", ConnackCode::IdentifierRejected, Rule::ACidFormat),
        (
            "one bar only",
            "12345|securemode=3".to_string(),
            "device&pk",
            ConnackCode::IdentifierRejected,
            Rule::ACidFormat,
        ),
        (
            "param without =",
            "12345|securemode=3,signmethod|".to_string(),
            "device&pk",
            ConnackCode::IdentifierRejected,
            Rule::ACidFormat,
        ),
        (
            "mis-cased signmethod",
            "12345|securemode=3,signmethod=HmacSHA1|".to_string(),
            "device&pk",
            ConnackCode::IdentifierRejected,
            Rule::ASignmethod,
        ),
        (
            "unknown signmethod",
            "12345|securemode=3,signmethod=hmacsha512|".to_string(),
            "device&pk",
            ConnackCode::IdentifierRejected,
            Rule::ASignmethod,
        ),
    ];
    for (name, client_id, username, code, rule) in cases {
        let attempt = tb.attempt(Transport::Ws, &connect_bytes(client_id, username, PASSWORD_V1, 60)).await;
        assert_eq!(attempt.code, Some(*code), "{name}: {:#?}", attempt.transcript);
        attempt.assert_refused(*code, *rule);
    }
}

#[tokio::test]
async fn a_64_character_client_id_is_accepted() {
    let prefix = "c".repeat(64);
    let content = mock_broker::auth::sign_content(Some(&prefix), DN, PK, None);
    let password = mock_broker::auth::sign(mock_broker::auth::SignMethod::HmacSha1, SECRET, &content);
    let mut tb = TestBroker::start().await;
    let client_id = format!("{prefix}|securemode=3,signmethod=hmacsha1|");
    tb.attempt(Transport::Ws, &connect_bytes(&client_id, "device&pk", &password, 60)).await.assert_accepted();
}

#[tokio::test]
async fn a_disabled_device_is_not_authorized() {
    let registry = mock_broker::Registry::from_toml_str(
        r#"
        [[device]]
        product_key = "pk"
        device_name = "device"
        secret = "secret"
        enabled = false
        "#,
    )
    .unwrap();
    let broker = mock_broker::Broker::builder().registry(registry).start().await.unwrap();
    let mut tb = TestBroker::wrap(broker);
    let attempt = tb.attempt(Transport::Ws, &doc_example(Transport::Ws)).await;
    let verdict = attempt.assert_refused(ConnackCode::NotAuthorized, Rule::ADevice);
    assert!(verdict.assumed, "{verdict:#?}");
}

#[tokio::test]
async fn unknown_params_are_ignored() {
    let mut tb = TestBroker::start().await;
    let client_id =
        "12345|securemode=3,_v=sdk-c-3.0.1,signmethod=hmacsha1,gw=0,ext=0,lan=C,timestamp=789,authtype=id2|";
    let attempt = tb.attempt(Transport::Ws, &connect_bytes(client_id, "device&pk", PASSWORD_V1, 60)).await;
    attempt.assert_accepted();
}

/// A-PARAMS-UNKNOWN: an unknown key may repeat; a key the broker reads may not (A-CID-FORMAT).
#[tokio::test]
async fn repeated_unknown_params_are_ignored_but_a_repeated_known_one_is_refused() {
    let mut tb = TestBroker::start().await;
    let client_id = "12345|securemode=3,lan=C,signmethod=hmacsha1,lan=JS,_v=1,timestamp=789,_v=2|";
    let attempt = tb.attempt(Transport::Ws, &connect_bytes(client_id, "device&pk", PASSWORD_V1, 60)).await;
    attempt.assert_accepted();
    let verdict = attempt.verdict(Rule::AParamsUnknown);
    assert_eq!((verdict.outcome, verdict.received.as_str()), (Outcome::Pass, "ignored: \"lan\", \"_v\""));
    for known in ["securemode=3", "signmethod=hmacsha1", "timestamp=789", "ext=1"] {
        let client_id = format!("12345|securemode=3,signmethod=hmacsha1,timestamp=789,ext=1,{known}|");
        let attempt = tb.attempt(Transport::Ws, &connect_bytes(&client_id, "device&pk", PASSWORD_V1, 60)).await;
        let verdict = attempt.assert_refused(ConnackCode::IdentifierRejected, Rule::ACidFormat);
        assert!(verdict.detail.contains("given twice"), "{known}: {verdict:#?}");
    }
}

/// A-CID-FORMAT: whitespace trimmed inside the params block is accepted with an assumed Warn.
#[tokio::test]
async fn whitespace_trimmed_inside_the_params_is_an_assumed_warning() {
    let mut tb = TestBroker::start().await;
    let client_id = "12345| securemode=3 ,signmethod =hmacsha1,timestamp=\t789|";
    let attempt = tb.attempt(Transport::Ws, &connect_bytes(client_id, "device&pk", PASSWORD_V1, 60)).await;
    attempt.assert_accepted();
    let verdict = attempt.verdict(Rule::ACidFormat);
    assert_eq!(verdict.outcome, Outcome::Warn, "{verdict:#?}");
    assert!(verdict.assumed, "{verdict:#?}");
    assert!(verdict.detail.contains("trimmed"), "{verdict:#?}");
    let clean = tb.attempt(Transport::Ws, &doc_example(Transport::Ws)).await;
    assert_eq!(clean.verdict(Rule::ACidFormat).outcome, Outcome::Pass);
}

#[tokio::test]
async fn mqtt_5_gets_connack_1() {
    // CONNECT with protocol name MQTT, level 5, then properties that a 3.1.1 parser would misread.
    let mut packet = vec![0x10, 0];
    packet.extend_from_slice(&[0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 0]);
    packet.extend_from_slice(&[0, 1, b'x']);
    packet[1] = (packet.len() - 2) as u8;
    let mut tb = TestBroker::start().await;
    let attempt = tb.attempt(Transport::Tcp, &packet).await;
    attempt.assert_refused(ConnackCode::UnacceptableProtocol, Rule::AProtocol);
}

#[tokio::test]
async fn mqtt_3_1_is_accepted() {
    // MQIsdp level 3 with the doc example's credentials, encoded by hand.
    let client_id = doc_client_id("3");
    let mut body = vec![0, 6];
    body.extend_from_slice(b"MQIsdp");
    body.extend_from_slice(&[3, 0b1100_0010, 0, 60]);
    for field in [client_id.as_str(), "device&pk", PASSWORD_V1] {
        body.extend_from_slice(&(field.len() as u16).to_be_bytes());
        body.extend_from_slice(field.as_bytes());
    }
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend_from_slice(&body);
    let mut tb = TestBroker::start().await;
    let attempt = tb.attempt(Transport::Ws, &packet).await;
    attempt.assert_accepted();
}

#[tokio::test]
async fn a_will_is_accepted_with_a_warning() {
    let mut connect = mqttbytes::v4::Connect::new(doc_client_id("3"));
    connect.keep_alive = 60;
    connect.set_login("device&pk", PASSWORD_V1);
    connect.last_will =
        Some(mqttbytes::v4::LastWill::new("/pk/device/user/update", "bye", mqttbytes::QoS::AtMostOnce, false));
    let mut buf = bytes::BytesMut::new();
    connect.write(&mut buf).unwrap();
    let mut tb = TestBroker::start().await;
    let attempt = tb.attempt(Transport::Ws, &buf).await;
    attempt.assert_accepted();
    let verdict = attempt.verdict(Rule::AWillRetain);
    assert_eq!(verdict.outcome, Outcome::Warn);
    assert!(verdict.assumed);
}
