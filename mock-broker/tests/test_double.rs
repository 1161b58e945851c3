//! The broker as a test double, over real sockets: the cloud side's uplink view, waits for a
//! device online or subscribed, credentials computed by the broker, event waits that explain
//! themselves, and expectations verified at the end of a scope, of the broker, or on drop.

mod support;

use mock_broker::auth::SignMethod;
use mock_broker::mqtt::{Packet, Publish, QoS, Subscribe};
use mock_broker::registry::RegistryError;
use mock_broker::{EventFilter, Expectation, Rule, Transport, UplinkFilter};
use std::time::Duration;
use support::*;

/// A device PUBLISH on `topic` carrying `payload`, QoS 1.
fn publish(topic: &str, payload: &'static [u8], packet_id: u16) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: topic.into(),
        packet_id: Some(packet_id),
        payload: bytes::Bytes::from_static(payload),
    })
}

fn subscribe(filter: &str) -> Packet {
    Packet::Subscribe(Subscribe { packet_id: 9, filters: vec![(filter.into(), QoS::AtLeastOnce)] })
}

#[tokio::test]
async fn the_cloud_side_receives_accepted_uplinks_with_topic_qos_payload_and_time() {
    let mut tb = TestBroker::start().await;
    let mut uplinks = tb.broker.uplinks(UplinkFilter::any().device(PK, DN));
    let mut session = tb.attempt(Transport::Ws, &doc_example(Transport::Ws)).await;
    session.assert_accepted();
    let io = session.io.as_mut().unwrap();
    let packets = [
        publish("/pk/device/user/update", b"{\"temperature\":21.5}", 1),
        // S-PUB-DENY: another device's topic is acknowledged but not forwarded.
        publish("/pk/other/user/update", b"not forwarded", 2),
        publish("/pk/device/user/update", &[0xff, 0x00, 0x01], 3),
    ];
    io.write_bytes(&encoded(&packets)).await.unwrap();

    let first = uplinks.next(PATIENCE).await.unwrap();
    assert_eq!(
        (first.topic.as_str(), first.qos, first.text()),
        ("/pk/device/user/update", QoS::AtLeastOnce, Some("{\"temperature\":21.5}"))
    );
    assert_eq!((first.product_key.as_str(), first.device_name.as_str()), (PK, DN));
    assert!(first.at > Duration::ZERO && first.at < tb.broker.started_at().elapsed());
    let second = uplinks.next(PATIENCE).await.unwrap();
    assert_eq!((&second.payload[..], second.text(), second.seq), (&[0xff, 0x00, 0x01][..], None, first.seq + 1));

    let late_reader = tb.broker.wait_uplink(UplinkFilter::any().topic("/pk/+/user/update"), PATIENCE).await.unwrap();
    assert_eq!(late_reader, first, "the kept uplinks are read from the first");
    let denied = tb.broker.wait_uplink(UplinkFilter::any().topic("/pk/other/#"), Duration::from_millis(100)).await;
    assert_eq!(
        denied.unwrap_err().to_string(),
        "waited 100 ms for an uplink on /pk/other/#; none came (2 other uplinks did)"
    );
    let stats = tb.broker.uplink_stats();
    assert_eq!((stats.accepted, stats.held, stats.evicted), (2, 2, 0));
}

#[tokio::test]
async fn waits_follow_a_real_device_online_then_subscribed_and_a_failed_wait_explains_itself() {
    let mut tb = TestBroker::start().await;
    let broker = tb.broker.clone();
    let online = tokio::spawn(async move { broker.wait_online(PK, DN, PATIENCE).await });
    let mut session = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    let conn = online.await.unwrap().unwrap();
    assert_eq!(Some(conn), tb.broker.online(PK, DN));
    assert_eq!(tb.broker.wait_online(PK, DN, Duration::ZERO).await.unwrap(), conn, "already online: no wait");

    let broker = tb.broker.clone();
    let subscribed = tokio::spawn(async move { broker.wait_subscribed(PK, DN, "/pk/device/user/get", PATIENCE).await });
    session.io.as_mut().unwrap().write_bytes(&encoded(&[subscribe("/pk/device/user/get")])).await.unwrap();
    assert_eq!(subscribed.await.unwrap().unwrap(), (conn, QoS::AtLeastOnce));

    let never =
        tb.broker.wait_subscribed(PK, DN, "/pk/device/user/nope", Duration::from_millis(100)).await.unwrap_err();
    let text = never.to_string();
    assert!(text.starts_with("no subscription of pk/device to /pk/device/user/nope within 1"), "{text}");
    let nobody = EventFilter::kind("online").unwrap().device(PK, "nobody");
    let none = tb.broker.wait_event(&nobody, Duration::from_millis(100)).await.unwrap_err();
    let text = none.to_string();
    assert!(text.starts_with("no event with event=online device=pk/nobody within 1"), "{text}");
    assert!(
        text.contains("The closest:") && text.contains("online as pk/device"),
        "the device's own online comes closest: {text}"
    );
    let found =
        tb.broker.wait_event(&EventFilter::kind("online").unwrap().device(PK, DN), Duration::ZERO).await.unwrap();
    assert_eq!(found.conn, conn, "a wait reads the history from the start");
    assert_eq!(tb.broker.events_matching(&EventFilter::any().conn(conn).rule(Rule::AKeepalive)).len(), 1);
}

#[tokio::test]
async fn credentials_from_the_broker_log_in_over_every_transport_with_every_sign_method() {
    let mut tb = TestBroker::start().await;
    for transport in Transport::ALL {
        for method in SignMethod::ALL {
            let creds = tb.broker.credentials(PK, DN, transport, method).unwrap();
            let connect = connect_bytes(&creds.client_id, &creds.username, &creds.password, 60);
            let attempt = tb.attempt(transport, &connect).await;
            assert_eq!(
                attempt.code,
                Some(mock_broker::mqtt::ConnackCode::Accepted),
                "{transport} {method:?}: {:#?}",
                attempt.transcript
            );
        }
    }
    let unknown = tb.broker.credentials(PK, "nobody", Transport::Ws, SignMethod::HmacSha1).unwrap_err();
    assert!(matches!(unknown, RegistryError::UnknownDevice { .. }), "{unknown}");
}

/// The expectations of a well-behaved short session.
fn well_behaved() -> [Expectation; 5] {
    [
        Expectation::online(PK, DN).within(PATIENCE),
        Expectation::publishes(PK, DN, "/pk/device/user/+").times(2).within(PATIENCE),
        Expectation::subscribes(PK, DN, "/pk/device/user/get").within(PATIENCE),
        Expectation::never_refused(PK, DN),
        Expectation::never_breaks(Rule::SRate).of_device(PK, DN),
    ]
}

#[tokio::test]
async fn a_scope_verifies_what_a_real_session_did_waiting_for_open_windows() {
    let mut tb = TestBroker::start().await;
    let mut scope = tb.broker.expectations();
    for expectation in well_behaved() {
        scope.expect(expectation);
    }
    // The session runs while the verification waits for its windows.
    let url = tb.broker.url(Transport::Tls).unwrap();
    let mut io = tb.dial_url(&url, &Default::default()).await;
    let verified = tokio::spawn(scope.verify());
    io.write_bytes(&session_bytes(Transport::Tls)).await.unwrap();
    assert_eq!(verified.await.unwrap(), Ok(5));
    let _ = tb.next_conn().await;
}

#[tokio::test]
async fn an_unmet_scope_reports_expected_against_observed_with_the_verdicts_involved() {
    let mut tb = TestBroker::start().await;
    let mut scope = tb.broker.expectations();
    scope
        .expect(Expectation::online(PK, DN).within(Duration::from_millis(300)))
        .expect(Expectation::never_refused(PK, DN))
        .expect(Expectation::never_breaks(Rule::KTimeout));
    let forged =
        connect_bytes("12345|securemode=3,signmethod=hmacsha1,timestamp=789|", "device&pk", &"0".repeat(40), 60);
    tb.attempt(Transport::Tcp, &forged)
        .await
        .assert_refused(mock_broker::mqtt::ConnackCode::BadCredentials, Rule::ASignContent);
    let unmet = scope.verify().await.unwrap_err();
    let report = unmet.to_string();
    for needle in [
        "mock broker: 2 of 3 expectations not met",
        "#1 NOT MET: pk/device comes online within 300 ms",
        "observed: never online; 1 CONNECT(s) named it",
        "#2 NOT MET: pk/device is never refused",
        "observed: refused 1 time(s): CONNACK 0x04 (A-SIGN-CONTENT) at ",
        "verdicts involved:",
        "FAIL A-SIGN-CONTENT: expected ",
        "#3 met: no device breaks K-TIMEOUT",
        "transcript tail (",
        "closed: CONNECT refused (CONNACK 0x04, A-SIGN-CONTENT)",
    ] {
        assert!(report.contains(needle), "{needle:?} is missing from:\n{report}");
    }
    assert!(!report.contains(SECRET), "no secret in the report");
    assert_eq!((unmet.outcomes.len(), unmet.outcomes.iter().filter(|o| o.met).count()), (3, 1));
}

#[tokio::test]
async fn a_scope_dropped_unverified_panics_with_its_report_and_the_broker_verifies_its_own() {
    let tb = TestBroker::start().await;
    let mut scope = tb.broker.expectations();
    scope.expect(Expectation::publishes(PK, DN, "/pk/device/user/update"));
    let dropped = tokio::spawn(async move { drop(scope) }).await.unwrap_err();
    let message = dropped.into_panic().downcast::<String>().unwrap();
    assert!(message.contains("#1 NOT MET: pk/device publishes to /pk/device/user/update at least 1 time"), "{message}");

    let mut quiet = tb.broker.expectations();
    quiet.expect(Expectation::online(PK, DN));
    quiet.dismiss();

    let broker = mock_broker::Broker::builder().device(PK, DN, SECRET).start().await.unwrap();
    broker.expect(Expectation::online(PK, DN)).expect(Expectation::never_refused(PK, DN));
    let unmet = broker.finish().await.unwrap_err();
    assert_eq!(unmet.outcomes.iter().map(|o| o.met).collect::<Vec<_>>(), [false, true]);
}

#[tokio::test]
async fn a_refused_filter_fails_only_its_own_subscribe_expectation() {
    let mut tb = TestBroker::start().await;
    let mut scope = tb.broker.expectations();
    scope.expect(Expectation::subscribes(PK, DN, "/pk/device/user/get")).expect(Expectation::subscribes(
        PK,
        DN,
        "/pk/device/user/get/deeper",
    ));
    let mut session = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    let both = Packet::Subscribe(Subscribe {
        packet_id: 3,
        filters: vec![
            ("/pk/device/user/get".into(), QoS::AtLeastOnce),
            ("/pk/device/user/get/deeper".into(), QoS::AtLeastOnce),
        ],
    });
    session.io.as_mut().unwrap().write_bytes(&encoded(&[both])).await.unwrap();
    tb.broker.wait_subscribed(PK, DN, "/pk/device/user/get", PATIENCE).await.unwrap();
    let denied = EventFilter::kind("verdict").unwrap().rule(Rule::SSubDeny);
    tb.broker.wait_event(&denied, PATIENCE).await.unwrap();
    let unmet = scope.verify().await.unwrap_err();
    assert_eq!(unmet.outcomes.iter().map(|o| o.met).collect::<Vec<_>>(), [true, false], "{unmet}");
    assert!(unmet.outcomes[1].observed.contains(", refused: "), "{unmet}");
}
