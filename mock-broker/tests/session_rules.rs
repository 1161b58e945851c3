//! S- rules over real connections: one connection per device, topic rights, QoS, rate and
//! payload limits, downlinks, stored sessions, and the cloud side's actions.

mod support;

use bytes::Bytes;
use mock_broker::mqtt::{Packet, Publish, QoS, Suback, SubackCode, Subscribe};
use mock_broker::policy::OversizeReaction;
use mock_broker::wire::PacketIo;
use mock_broker::{CloseReason, Delivery, EventKind, Outcome, Policy, Rule, Transport};
use std::time::Duration;
use support::*;

async fn online(tb: &mut TestBroker, client_id: &str, clean_session: bool) -> (PacketIo, u64) {
    online_over(tb, Transport::Tcp, client_id, clean_session).await
}

/// Online over `transport` (ws or tcp: the client ids here declare securemode 3).
async fn online_over(
    tb: &mut TestBroker,
    transport: Transport,
    client_id: &str,
    clean_session: bool,
) -> (PacketIo, u64) {
    let attempt = tb.attempt(transport, &signed_connect(client_id, clean_session)).await;
    attempt.assert_accepted();
    (attempt.io.unwrap(), attempt.transcript[0].conn)
}

const CID: &str = "dev1|securemode=3,signmethod=hmacsha1|";

fn publish(topic: &str, qos: QoS, packet_id: Option<u16>, payload: &'static [u8]) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id,
        payload: Bytes::from_static(payload),
    })
}

async fn next(io: &mut PacketIo) -> Option<Packet> {
    tokio::time::timeout(PATIENCE, io.read()).await.expect("the broker answers in time").ok().flatten()
}

/// Collects the verdicts of `conn` until `rule` is reached.
async fn verdict(tb: &mut TestBroker, conn: u64, rule: Rule) -> mock_broker::Verdict {
    let events = tb.until(conn, |k| matches!(k, EventKind::Verdict(v) if v.rule == rule)).await;
    match &events.last().unwrap().kind {
        EventKind::Verdict(v) => v.clone(),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_second_login_kicks_the_first_with_the_notice_when_ext_asks() {
    let mut tb = TestBroker::start().await;
    let (mut first, first_conn) = online(&mut tb, "dev1|securemode=3,signmethod=hmacsha1,ext=3|", true).await;
    let (_second, second_conn) = online(&mut tb, "dev2|securemode=3,signmethod=hmacsha1|", true).await;
    match next(&mut first).await {
        Some(Packet::Publish(p)) => {
            assert_eq!(p.topic, "/ext/notify");
            assert_eq!(p.qos, QoS::AtMostOnce);
            assert_eq!(&p.payload[..], br#"{"title":"kick","content":"Kicked by the same device"}"#);
        }
        other => panic!("expected the /ext/notify notice, got {other:?}"),
    }
    assert_eq!(next(&mut first).await, None, "then the connection closes");
    assert_eq!(tb.closed(first_conn).await.0, CloseReason::Kicked { by: second_conn });
    assert_eq!(tb.broker.online(PK, DN), Some(second_conn));
}

#[tokio::test]
async fn a_kick_without_ext_bit_1_sends_no_notice() {
    let mut tb = TestBroker::start().await;
    let (mut first, first_conn) = online(&mut tb, "dev1|securemode=3,signmethod=hmacsha1,ext=1|", true).await;
    let (_second, _) = online(&mut tb, CID, true).await;
    assert_eq!(next(&mut first).await, None);
    assert!(matches!(tb.closed(first_conn).await.0, CloseReason::Kicked { .. }));
}

#[tokio::test]
async fn subscriptions_without_the_right_get_0x80_and_the_connection_stays() {
    let mut tb = TestBroker::start().await;
    let (mut io, conn) = online(&mut tb, CID, true).await;
    let filters = vec![
        ("/pk/device/user/get".to_string(), QoS::AtLeastOnce),
        ("/pk/other/user/get".to_string(), QoS::AtMostOnce),
        ("/sys/pk/device/thing/#".to_string(), QoS::ExactlyOnce),
        ("/pk/device/user/update".to_string(), QoS::AtMostOnce), // publish-only class
    ];
    io.send(&Packet::Subscribe(Subscribe { packet_id: 7, filters })).await.unwrap();
    let expected = Suback {
        packet_id: 7,
        codes: vec![
            SubackCode::Granted(QoS::AtLeastOnce),
            SubackCode::Failure,
            SubackCode::Granted(QoS::AtLeastOnce),
            SubackCode::Failure,
        ],
    };
    assert_eq!(next(&mut io).await, Some(Packet::Suback(expected)));
    let denied = verdict(&mut tb, conn, Rule::SSubDeny).await;
    assert_eq!(denied.received, "/pk/other/user/get");
    let qos2 = verdict(&mut tb, conn, Rule::SQos).await;
    assert_eq!(qos2.outcome, Outcome::Warn);
    io.send(&Packet::Pingreq).await.unwrap();
    assert_eq!(next(&mut io).await, Some(Packet::Pingresp), "still connected");
}

#[tokio::test]
async fn a_publish_without_the_right_is_dropped_but_acknowledged() {
    let mut tb = TestBroker::start().await;
    let (mut io, conn) = online(&mut tb, CID, true).await;
    io.send(&publish("/pk/device/user/get", QoS::AtLeastOnce, Some(3), b"x")).await.unwrap();
    assert_eq!(next(&mut io).await, Some(Packet::Puback(3)), "S-PUB-DENY: PUBACK still (assumed)");
    let verdict = verdict(&mut tb, conn, Rule::SPubDeny).await;
    assert_eq!(verdict.outcome, Outcome::Fail);
    assert!(verdict.assumed);
    io.send(&publish("/pk/device/user/update", QoS::AtLeastOnce, Some(4), b"x")).await.unwrap();
    assert_eq!(next(&mut io).await, Some(Packet::Puback(4)));
}

#[tokio::test(start_paused = true)]
async fn uplink_above_the_rate_is_dropped_and_the_connection_stays() {
    let policy = Policy { connect_timeout: Duration::from_secs(3600), ..Policy::default() };
    let mut tb = TestBroker::with_policy(policy).await;
    let (mut io, conn) = online(&mut tb, CID, true).await;
    for id in 1..=40 {
        io.send(&publish("/pk/device/user/update", QoS::AtLeastOnce, Some(id), b"x")).await.unwrap();
        assert_eq!(next(&mut io).await, Some(Packet::Puback(id)));
    }
    let events = tb.until(conn, |k| matches!(k, EventKind::PacketOut(p) if p.packet_id == Some(40))).await;
    let rate: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Verdict(v) if v.rule == Rule::SRate => Some(v.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(rate.len(), 1, "one S-RATE verdict per window: {rate:#?}");
    assert!(rate[0].received.contains("31"), "{:#?}", rate[0]);
    // A second later the window is fresh.
    tokio::time::sleep(Duration::from_secs(1)).await;
    io.send(&publish("/pk/device/user/update", QoS::AtLeastOnce, Some(41), b"x")).await.unwrap();
    assert_eq!(next(&mut io).await, Some(Packet::Puback(41)));
}

#[tokio::test]
async fn qos_2_publish_closes_the_connection() {
    let mut tb = TestBroker::start().await;
    let (mut io, conn) = online(&mut tb, CID, true).await;
    io.send(&publish("/pk/device/user/update", QoS::ExactlyOnce, Some(1), b"x")).await.unwrap();
    assert_eq!(next(&mut io).await, None);
    let (reason, _) = tb.closed(conn).await;
    assert!(matches!(&reason, CloseReason::Violation { rule, .. } if rule == "S-QOS"), "{reason:?}");
}

#[tokio::test]
async fn an_oversize_payload_closes_or_is_dropped_as_configured() {
    for (oversize, stays) in [(OversizeReaction::Close, false), (OversizeReaction::Drop, true)] {
        let policy = Policy { payload_limit: 16, oversize, ..Policy::default() };
        let mut tb = TestBroker::with_policy(policy).await;
        let (mut io, conn) = online(&mut tb, CID, true).await;
        io.send(&publish("/pk/device/user/update", QoS::AtMostOnce, None, b"seventeen bytes!!")).await.unwrap();
        let verdict = verdict(&mut tb, conn, Rule::SPayload).await;
        assert!(verdict.received.contains("17"), "{verdict:#?}");
        io.send(&Packet::Pingreq).await.ok();
        let answer = next(&mut io).await;
        assert_eq!(answer == Some(Packet::Pingresp), stays, "{oversize:?}: {answer:?}");
    }
}

/// A PUBLISH with a payload of `len` bytes, encoded.
fn big_publish(len: usize) -> Vec<u8> {
    let packet = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "/pk/device/user/update".into(),
        packet_id: Some(9),
        payload: Bytes::from(vec![b'x'; len]),
    });
    let mut buf = bytes::BytesMut::new();
    mock_broker::mqtt::encode(&packet, &mut buf).unwrap();
    buf.to_vec()
}

/// S-PAYLOAD beyond the packet limit (16 + 65 544 bytes here): judged from the fixed header,
/// never buffered; `drop` skips the packet's bytes and the connection goes on, over a byte
/// stream and over WebSocket (the packet spread over messages under the message limit).
#[tokio::test]
async fn a_publish_far_over_the_packet_limit_is_judged_by_s_payload_and_skipped_or_closed() {
    for transport in [Transport::Tcp, Transport::Ws] {
        for (oversize, stays) in [(OversizeReaction::Close, false), (OversizeReaction::Drop, true)] {
            let policy = Policy { payload_limit: 16, oversize, ..Policy::default() };
            let max = policy.max_packet_len();
            let mut tb = TestBroker::with_policy(policy).await;
            let (mut io, conn) = online_over(&mut tb, transport, CID, true).await;
            let bytes = big_publish(200_000);
            for chunk in bytes.chunks(32 * 1024) {
                if io.write_bytes(chunk).await.is_err() {
                    break; // closed while sending: fine for `close`
                }
            }
            let verdict = verdict(&mut tb, conn, Rule::SPayload).await;
            assert_eq!(verdict.outcome, Outcome::Fail, "{verdict:#?}");
            assert!(verdict.assumed, "{verdict:#?}");
            assert!(verdict.received.contains(&bytes.len().to_string()), "{verdict:#?}");
            assert!(verdict.received.contains(&max.to_string()), "{verdict:#?}");
            io.send(&Packet::Pingreq).await.ok();
            let answer = next(&mut io).await;
            assert_eq!(answer == Some(Packet::Pingresp), stays, "{transport} {oversize:?}: {answer:?}");
            if !stays {
                let (reason, _) = tb.closed(conn).await;
                assert!(matches!(&reason, CloseReason::Violation { rule, .. } if rule == "S-PAYLOAD"), "{reason:?}");
            }
        }
    }
}

/// A WebSocket message over the message limit cannot be skipped (its bytes are lost with it):
/// an S-PAYLOAD fail and a close, even with `drop`.
#[tokio::test]
async fn a_websocket_message_over_the_message_limit_is_an_s_payload_close() {
    let policy = Policy { payload_limit: 16, oversize: OversizeReaction::Drop, ..Policy::default() };
    let limit = policy.max_ws_message_len();
    let mut tb = TestBroker::with_policy(policy).await;
    let (mut io, conn) = online_over(&mut tb, Transport::Ws, CID, true).await;
    io.write_bytes(&big_publish(limit + 1)).await.unwrap();
    let verdict = verdict(&mut tb, conn, Rule::SPayload).await;
    assert_eq!(verdict.outcome, Outcome::Fail, "{verdict:#?}");
    assert!(verdict.received.contains("WebSocket message"), "{verdict:#?}");
    let (reason, _) = tb.closed(conn).await;
    assert!(matches!(&reason, CloseReason::Violation { rule, .. } if rule == "S-PAYLOAD"), "{reason:?}");
}

#[tokio::test]
async fn downlinks_reach_subscribed_devices_only() {
    let mut tb = TestBroker::start().await;
    let (mut io, conn) = online(&mut tb, CID, true).await;
    let routed = tb.broker.publish(PK, DN, "/pk/device/user/get", "early", QoS::AtMostOnce).await;
    assert_eq!(routed, Ok(Delivery::Undelivered { conn }));
    let undelivered = tb.until(conn, |k| matches!(k, EventKind::Undelivered { .. })).await;
    assert!(
        matches!(&undelivered.last().unwrap().kind, EventKind::Undelivered { topic, .. } if topic == "/pk/device/user/get")
    );
    io.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: vec![("/sys/pk/device/thing/#".into(), QoS::AtLeastOnce)],
    }))
    .await
    .unwrap();
    assert!(matches!(next(&mut io).await, Some(Packet::Suback(_))));
    let topic = "/sys/pk/device/thing/service/property/set";
    let delivery = tb.broker.publish(PK, DN, topic, "hello", QoS::AtLeastOnce).await;
    assert_eq!(delivery, Ok(Delivery::Delivered { conn, qos: QoS::AtLeastOnce }));
    match next(&mut io).await {
        Some(Packet::Publish(p)) => {
            assert_eq!((p.topic.as_str(), &p.payload[..], p.qos), (topic, &b"hello"[..], QoS::AtLeastOnce));
            assert!(p.packet_id.is_some());
        }
        other => panic!("expected the downlink, got {other:?}"),
    }
}

#[tokio::test]
async fn a_clean_session_0_device_gets_qos1_messages_published_while_offline() {
    let mut tb = TestBroker::start().await;
    let (mut io, conn) = online(&mut tb, CID, false).await;
    io.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: vec![("/pk/device/user/get".into(), QoS::AtLeastOnce)],
    }))
    .await
    .unwrap();
    assert!(matches!(next(&mut io).await, Some(Packet::Suback(_))));
    io.send(&Packet::Disconnect).await.unwrap();
    assert_eq!(tb.closed(conn).await.0, CloseReason::ClientDisconnect);
    assert_eq!(tb.broker.publish(PK, DN, "/pk/device/user/get", "kept", QoS::AtLeastOnce).await, Ok(Delivery::Queued));
    assert_eq!(tb.broker.publish(PK, DN, "/pk/device/user/get", "lost", QoS::AtMostOnce).await, Ok(Delivery::Dropped));
    let (mut io, conn) = online(&mut tb, CID, false).await;
    match next(&mut io).await {
        Some(Packet::Publish(p)) => assert_eq!(&p.payload[..], b"kept"),
        other => panic!("expected the stored message, got {other:?}"),
    }
    // A clean session discards what was stored: offline again, nothing is queued.
    io.send(&Packet::Disconnect).await.unwrap();
    assert_eq!(tb.closed(conn).await.0, CloseReason::ClientDisconnect);
    let (mut io, conn) = online(&mut tb, CID, true).await;
    io.send(&Packet::Disconnect).await.unwrap();
    assert_eq!(tb.closed(conn).await.0, CloseReason::ClientDisconnect);
    assert_eq!(tb.broker.publish(PK, DN, "/pk/device/user/get", "gone", QoS::AtLeastOnce).await, Ok(Delivery::Dropped));
}

#[tokio::test]
async fn the_cloud_side_can_close_and_shutdown_closes_everyone() {
    let mut tb = TestBroker::start().await;
    let (mut io, conn) = online(&mut tb, CID, true).await;
    tb.broker.close(conn).await.unwrap();
    assert_eq!(next(&mut io).await, None);
    assert_eq!(tb.closed(conn).await.0, CloseReason::ClosedByCloud);
    assert!(tb.broker.close(conn).await.is_err(), "a closed connection cannot be closed again");

    let (_io, conn) = online(&mut tb, CID, true).await;
    let TestBroker { broker, mut events, .. } = tb;
    std::sync::Arc::into_inner(broker).expect("the test holds the only handle").shutdown().await;
    let closed = events.wait_for(PATIENCE, |e| e.conn == conn && matches!(e.kind, EventKind::Closed { .. })).await;
    assert!(matches!(&closed.unwrap().kind, EventKind::Closed { reason: CloseReason::Shutdown }));
}
