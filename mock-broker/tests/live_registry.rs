//! The registry edited while the broker runs: a disabled device is refused at its next
//! CONNECT, a rotated secret makes the old signature fail A-SIGN-CONTENT, and the new one
//! is accepted. Live connections stay up.

mod support;

use mock_broker::auth::{SignMethod, sign, sign_content};
use mock_broker::mqtt::ConnackCode;
use mock_broker::registry::RegistryError;
use mock_broker::{Rule, Transport};
use support::*;

/// A CONNECT of the doc example's identity signed hmacsha1 with `secret`.
fn signed_with(secret: &str) -> Vec<u8> {
    let content = sign_content(Some("12345"), DN, PK, Some("789"));
    let password = sign(SignMethod::HmacSha1, secret, &content);
    connect_bytes("12345|securemode=3,signmethod=hmacsha1,timestamp=789|", "device&pk", &password, 60)
}

#[tokio::test]
async fn a_rotated_secret_refuses_the_old_signature_and_accepts_the_new() {
    let mut tb = TestBroker::start().await;
    let live = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    live.assert_accepted();
    tb.broker.rotate_secret(PK, DN, "rotated0Secret").unwrap();
    assert!(tb.broker.online(PK, DN).is_some(), "the live connection stays up");
    drop(live);

    let old = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    let verdict = old.assert_refused(ConnackCode::BadCredentials, Rule::ASignContent);
    assert!(!format!("{verdict:?}").contains("rotated0Secret"), "no verdict shows the secret");
    tb.attempt(Transport::Tcp, &signed_with("rotated0Secret")).await.assert_accepted();
    assert_eq!(tb.broker.registry().device(PK, DN).unwrap().secret.expose(), "rotated0Secret");
}

#[tokio::test]
async fn a_disabled_device_is_refused_until_enabled_again() {
    let mut tb = TestBroker::start().await;
    tb.broker.set_enabled(PK, DN, false).unwrap();
    tb.attempt(Transport::Ws, &doc_example(Transport::Ws))
        .await
        .assert_refused(ConnackCode::NotAuthorized, Rule::ADevice);
    tb.broker.set_enabled(PK, DN, true).unwrap();
    tb.attempt(Transport::Ws, &doc_example(Transport::Ws)).await.assert_accepted();
}

#[tokio::test]
async fn edits_of_unknown_devices_and_bad_secrets_are_errors() {
    let tb = TestBroker::start().await;
    let unknown = tb.broker.set_enabled(PK, "nobody", false).unwrap_err();
    assert!(matches!(unknown, RegistryError::UnknownDevice { .. }), "{unknown}");
    let bad = tb.broker.rotate_secret(PK, DN, "has spaces").unwrap_err();
    assert!(bad.to_string().contains("ID-SECRET"), "{bad}");
    assert_eq!(tb.broker.registry().device(PK, DN).unwrap().secret.expose(), SECRET);
}
