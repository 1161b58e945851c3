//! The registry and the policy edited while the broker runs, over real sockets: a disabled
//! or removed device is refused at its next CONNECT, an added one is accepted, a rotated
//! secret makes the old signature fail A-SIGN-CONTENT with a verdict naming the previous
//! secret, and a policy change applies to new connections only. Live connections stay up.

mod support;

use mock_broker::auth::{SignMethod, sign, sign_content};
use mock_broker::mqtt::{ConnackCode, Packet, QoS};
use mock_broker::policy::{FIXED_AT_START, PolicyError};
use mock_broker::registry::RegistryError;
use mock_broker::wire::PacketIo;
use mock_broker::{CloseReason, Policy, Rule, Transport};
use support::*;

/// A CONNECT over tcp of device `device_name` of product `pk`, keepalive 60 s, signed
/// hmacsha1 with `secret` as in the doc example (clientId 12345, timestamp 789).
fn connect_as(device_name: &str, secret: &str) -> Vec<u8> {
    let content = sign_content(Some("12345"), device_name, PK, Some("789"));
    let password = sign(SignMethod::HmacSha1, secret, &content);
    let username = format!("{device_name}&{PK}");
    connect_bytes("12345|securemode=3,signmethod=hmacsha1,timestamp=789|", &username, &password, 60)
}

/// A CONNECT of the doc example's identity signed hmacsha1 with `secret`.
fn signed_with(secret: &str) -> Vec<u8> {
    connect_as(DN, secret)
}

/// Whether a live connection is still served: a PINGREQ gets its PINGRESP.
async fn pinged(io: &mut PacketIo) -> bool {
    io.send(&Packet::Pingreq).await.expect("PINGREQ is written");
    matches!(tokio::time::timeout(PATIENCE, io.read()).await, Ok(Ok(Some(Packet::Pingresp))))
}

/// The seconds after start an A-SIGN-CONTENT detail says the secret was replaced at.
fn replaced_at(detail: &str) -> f64 {
    let after = detail.split("rotated out at ").nth(1).unwrap_or_else(|| panic!("{detail}"));
    after.split(' ').next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{detail}"))
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
    assert!(
        verdict.detail.starts_with("signed with the device's previous deviceSecret, rotated out at "),
        "{}",
        verdict.detail
    );
    assert!(verdict.detail.contains(" s after start: sign with the current one; sign content "), "{}", verdict.detail);
    assert!(replaced_at(&verdict.detail) <= tb.broker.started_at().elapsed().as_secs_f64());
    tb.attempt(Transport::Tcp, &signed_with("rotated0Secret")).await.assert_accepted();
    assert_eq!(tb.broker.registry().device(PK, DN).unwrap().secret.expose(), "rotated0Secret");
}

#[tokio::test]
async fn a_secret_two_rotations_back_is_named_and_no_verdict_shows_one() {
    let mut tb = TestBroker::start().await;
    tb.broker.rotate_secret(PK, DN, "rotatedOnce1").unwrap();
    tb.broker.rotate_secret(PK, DN, "rotatedTwice2").unwrap();
    let first = tb.attempt(Transport::Tcp, &signed_with(SECRET)).await;
    let verdict = first.assert_refused(ConnackCode::BadCredentials, Rule::ASignContent);
    assert!(
        verdict.detail.starts_with(
            "signed with an older deviceSecret of the device (the one before the last 2 rotations), rotated out \
             at "
        ),
        "{}",
        verdict.detail
    );
    // A previous secret sent in clear as the password is blanked like the current one.
    let in_clear =
        connect_bytes("12345|securemode=3,signmethod=hmacsha1,timestamp=789|", "device&pk", "rotatedOnce1", 60);
    let attempt = tb.attempt(Transport::Tcp, &in_clear).await;
    attempt.assert_refused(ConnackCode::BadCredentials, Rule::ASignHex);
    for verdict in attempt.verdicts() {
        let shown = format!("{verdict:?}");
        assert!(!shown.contains("rotatedOnce1") && !shown.contains("rotatedTwice2"), "{shown}");
    }
    tb.attempt(Transport::Tcp, &signed_with("rotatedTwice2")).await.assert_accepted();
}

#[tokio::test]
async fn a_device_added_at_run_time_connects_and_adding_it_again_is_refused() {
    let mut tb = TestBroker::start().await;
    tb.attempt(Transport::Tcp, &connect_as("added-01", "addedSecret1"))
        .await
        .assert_refused(ConnackCode::BadCredentials, Rule::ADevice);
    tb.broker.add_device(PK, "added-01", "addedSecret1").unwrap();
    tb.attempt(Transport::Tcp, &connect_as("added-01", "addedSecret1")).await.assert_accepted();
    assert!(tb.broker.online(PK, "added-01").is_some());

    let again = tb.broker.add_device(PK, "added-01", "otherSecret2").unwrap_err();
    assert!(matches!(again, RegistryError::AlreadyRegistered { .. }), "{again}");
    assert_eq!(again.to_string(), "device \"added-01\" of product \"pk\" is registered already");
    let bad_name = tb.broker.add_device(PK, "ab", "addedSecret1").unwrap_err();
    assert!(matches!(bad_name, RegistryError::Invalid { rule: Rule::IdDn, .. }), "{bad_name}");
    let bad_secret = tb.broker.add_device(PK, "added-02", "not a secret").unwrap_err();
    assert!(matches!(bad_secret, RegistryError::Invalid { rule: Rule::IdSecret, .. }), "{bad_secret}");
    assert!(tb.broker.registry().device(PK, "added-02").is_none(), "a refused device is not added");
    assert_eq!(tb.broker.registry().device(PK, "added-01").unwrap().secret.expose(), "addedSecret1");
}

#[tokio::test]
async fn a_removed_device_is_refused_as_unknown_while_its_live_connection_stays() {
    let mut tb = TestBroker::start().await;
    let mut live = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    live.assert_accepted();
    tb.broker.remove_device(PK, DN).unwrap();
    assert!(tb.broker.registry().device(PK, DN).is_none());
    assert!(tb.broker.online(PK, DN).is_some(), "the live connection stays up");
    assert!(pinged(live.io.as_mut().expect("online")).await, "and is still served");

    let refused = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    let verdict = refused.assert_refused(ConnackCode::BadCredentials, Rule::ADevice);
    assert_eq!(verdict.detail, "product \"pk\" has no device \"device\"");
    let again = tb.broker.remove_device(PK, DN).unwrap_err();
    assert!(matches!(again, RegistryError::UnknownDevice { .. }), "{again}");

    // Added back, with a secret of its own: no trace of the old one is left.
    tb.broker.add_device(PK, DN, "comeBack3").unwrap();
    let old = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    let verdict = old.assert_refused(ConnackCode::BadCredentials, Rule::ASignContent);
    assert!(!verdict.detail.contains("previous deviceSecret"), "{}", verdict.detail);
    tb.attempt(Transport::Tcp, &signed_with("comeBack3")).await.assert_accepted();
}

#[tokio::test]
async fn a_narrowed_keepalive_range_refuses_new_connects_only() {
    let mut tb = TestBroker::start().await;
    let mut live = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    live.assert_accepted();
    let policy = tb.broker.update_policy(|p| p.keepalive_range = (90, 1200)).unwrap();
    assert_eq!((policy.keepalive_range, tb.broker.policy().keepalive_range), ((90, 1200), (90, 1200)));

    let refused = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    let verdict = refused.assert_refused(ConnackCode::IdentifierRejected, Rule::AKeepalive);
    assert!(verdict.expected.contains("90") && verdict.expected.contains("1200"), "{verdict:?}");
    assert!(tb.broker.online(PK, DN).is_some(), "the live connection keeps its login");
    assert!(pinged(live.io.as_mut().expect("online")).await, "and is still served");

    tb.broker.set_policy(Policy::default()).unwrap();
    tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await.assert_accepted();
}

#[tokio::test]
async fn a_lower_payload_limit_applies_to_connections_accepted_after_it() {
    let mut tb = TestBroker::start().await;
    let mut live = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    live.assert_accepted();
    let old_io = live.io.as_mut().expect("online");
    tb.broker.update_policy(|p| p.payload_limit = 8).unwrap();

    // The 20-byte payload is within the limit the live connection started with.
    old_io.send(&uplink(QoS::AtLeastOnce, Some(7))).await.unwrap();
    let answer = tokio::time::timeout(PATIENCE, old_io.read()).await.expect("answered in time");
    assert!(matches!(answer, Ok(Some(Packet::Puback(7)))), "{answer:?}");

    let new = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    new.assert_accepted();
    let conn = new.transcript[0].conn;
    let mut new_io = new.io.expect("online");
    new_io.send(&uplink(QoS::AtLeastOnce, Some(8))).await.unwrap();
    let (reason, _) = tb.closed(conn).await;
    assert!(matches!(&reason, CloseReason::Violation { rule, .. } if rule == "S-PAYLOAD"), "{reason:?}");
}

#[tokio::test]
async fn fields_fixed_at_start_cannot_change() {
    let tb = TestBroker::start().await;
    let before = tb.broker.policy();
    let err = tb.broker.set_policy(Policy { history_events: 5, payload_limit: 8, ..before.clone() }).unwrap_err();
    let PolicyError::FixedAtStart { field, why } = err;
    assert_eq!((field, why), FIXED_AT_START[0]);
    assert_eq!(tb.broker.policy().payload_limit, before.payload_limit, "a refused change changes nothing");
    let expiry = tb.broker.update_policy(|p| p.stored_session_expiry = std::time::Duration::ZERO).unwrap_err();
    assert!(expiry.to_string().starts_with("policy field stored_session_expiry is fixed at start ("), "{expiry}");
    assert!(tb.broker.set_policy(before).is_ok(), "the same values are no change");
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
