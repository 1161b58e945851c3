//! Session state over real connections: S-CLEAN with S-KICK (a persistent session moves to
//! the login that kicks it), downlink QoS and redelivery ([MQTT-3.8.4-6], [MQTT-4.4.0-1]),
//! the cloud side's publish and its `Delivery`, the stored-session limits and expiry, and
//! S-RATE across reconnects (paused clock where timing matters).

mod support;

use bytes::Bytes;
use mock_broker::events::WaitError;
use mock_broker::mqtt::{Packet, Publish, QoS, Subscribe};
use mock_broker::wire::PacketIo;
use mock_broker::{CloseReason, CloudError, Delivery, EventKind, EventStream, Policy, Rule, Transport};
use std::time::Duration;
use support::*;

const CID: &str = "dev1|securemode=3,signmethod=hmacsha1|";
const CID2: &str = "dev2|securemode=3,signmethod=hmacsha1|";
const GET: &str = "/pk/device/user/get";
const UPDATE: &str = "/pk/device/user/update";

/// Logs in over tcp; returns the connection, its id and CONNACK's session-present flag.
async fn login(tb: &mut TestBroker, client_id: &str, clean_session: bool) -> (PacketIo, u64, bool) {
    let attempt = tb.attempt(Transport::Tcp, &signed_connect(client_id, clean_session)).await;
    attempt.assert_accepted();
    let present = attempt
        .transcript
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Online { session_present, .. } => Some(*session_present),
            _ => None,
        })
        .expect("an online event");
    (attempt.io.unwrap(), attempt.transcript[0].conn, present)
}

async fn next(io: &mut PacketIo, patience: Duration) -> Option<Packet> {
    tokio::time::timeout(patience, io.read()).await.expect("the broker answers in time").ok().flatten()
}

async fn subscribe(io: &mut PacketIo, filter: &str, qos: QoS) {
    let filters = vec![(filter.to_string(), qos)];
    io.send(&Packet::Subscribe(Subscribe { packet_id: 1, filters })).await.unwrap();
    assert!(matches!(next(io, PATIENCE).await, Some(Packet::Suback(_))));
}

async fn expect_publish(io: &mut PacketIo) -> Publish {
    match next(io, PATIENCE).await {
        Some(Packet::Publish(p)) => p,
        other => panic!("expected a PUBLISH, got {other:?}"),
    }
}

/// A PINGREQ answered: everything sent before it has been read by the broker.
async fn round_trip(io: &mut PacketIo) {
    io.send(&Packet::Pingreq).await.unwrap();
    assert_eq!(next(io, PATIENCE).await, Some(Packet::Pingresp));
}

/// The close of `conn` as a separate event stream saw it.
async fn closed(events: &mut EventStream, conn: u64) -> CloseReason {
    let event = events
        .wait_for(PATIENCE, |e| e.conn == conn && matches!(e.kind, EventKind::Closed { .. }))
        .await
        .expect("the connection closes");
    match &event.kind {
        EventKind::Closed { reason } => reason.clone(),
        _ => unreachable!(),
    }
}

/// The `queue_dropped` events of `conn`, up to `count` of them.
async fn queue_dropped(events: &mut EventStream, conn: u64, count: usize) -> Vec<(String, String)> {
    let mut dropped = Vec::new();
    while dropped.len() < count {
        let event = events
            .wait_for(PATIENCE, |e| e.conn == conn && matches!(e.kind, EventKind::QueueDropped { .. }))
            .await
            .unwrap_or_else(|e| panic!("{count} queue_dropped events: {e}; got {dropped:?}"));
        if let EventKind::QueueDropped { topic, reason } = &event.kind {
            dropped.push((topic.clone(), reason.clone()));
        }
    }
    dropped
}

/// S-CLEAN with S-KICK: the new login gets session present 1, the old subscriptions, and the
/// QoS 1 downlink the old connection had not acknowledged, again with DUP=1 under its packet
/// id; the acknowledged one is not sent again.
#[tokio::test]
async fn a_persistent_session_moves_to_the_login_that_kicks_it() {
    let mut tb = TestBroker::start().await;
    let mut watch = tb.broker.events();
    let (mut old, old_conn, present) = login(&mut tb, CID, false).await;
    assert!(!present, "nothing stored yet");
    subscribe(&mut old, GET, QoS::AtLeastOnce).await;
    for payload in ["one", "two"] {
        let delivery = tb.broker.publish(PK, DN, GET, payload, QoS::AtLeastOnce).await;
        assert_eq!(delivery, Ok(Delivery::Delivered { conn: old_conn, qos: QoS::AtLeastOnce }));
    }
    let one = expect_publish(&mut old).await;
    let two = expect_publish(&mut old).await;
    assert_eq!((&one.payload[..], &two.payload[..]), (&b"one"[..], &b"two"[..]));
    old.send(&Packet::Puback(one.packet_id.unwrap())).await.unwrap();
    round_trip(&mut old).await;

    let (mut new, new_conn, present) = login(&mut tb, CID2, false).await;
    assert!(present, "CONNACK session present 1");
    let again = expect_publish(&mut new).await;
    assert!(again.dup, "redelivered with DUP=1: {again:?}");
    assert_eq!((again.packet_id, &again.payload[..]), (two.packet_id, &b"two"[..]));
    assert_eq!(again.qos, QoS::AtLeastOnce);
    round_trip(&mut new).await; // "one" was acknowledged: nothing else came
    assert_eq!(closed(&mut watch, old_conn).await, CloseReason::Kicked { by: new_conn });

    // The subscription came along: the hub routes by it at once.
    let delivery = tb.broker.publish(PK, DN, GET, "three", QoS::AtLeastOnce).await;
    assert_eq!(delivery, Ok(Delivery::Delivered { conn: new_conn, qos: QoS::AtLeastOnce }));
    let three = expect_publish(&mut new).await;
    assert!(!three.dup);
    assert_ne!(three.packet_id, two.packet_id, "a new id, not one in flight");
}

/// A kicked clean session hands nothing over, and a clean login discards a persistent one.
#[tokio::test]
async fn a_clean_login_or_a_clean_predecessor_starts_fresh() {
    let mut tb = TestBroker::start().await;
    let (mut old, _, _) = login(&mut tb, CID, true).await;
    subscribe(&mut old, GET, QoS::AtLeastOnce).await;
    let (mut new, new_conn, present) = login(&mut tb, CID2, false).await;
    assert!(!present, "a clean session leaves nothing");
    round_trip(&mut new).await;
    assert_eq!(
        tb.broker.publish(PK, DN, GET, "x", QoS::AtLeastOnce).await,
        Ok(Delivery::Undelivered { conn: new_conn })
    );
    subscribe(&mut new, GET, QoS::AtLeastOnce).await;
    let (_clean, clean_conn, present) = login(&mut tb, CID, true).await;
    assert!(!present);
    assert_eq!(
        tb.broker.publish(PK, DN, GET, "x", QoS::AtLeastOnce).await,
        Ok(Delivery::Undelivered { conn: clean_conn })
    );
}

/// [MQTT-4.4.0-1]: an unacknowledged QoS 1 downlink is sent again, DUP=1, same packet id,
/// when the persistent session reconnects; once acknowledged, never again.
#[tokio::test]
async fn unacknowledged_downlinks_are_redelivered_on_reconnect() {
    let mut tb = TestBroker::start().await;
    let (mut io, conn, _) = login(&mut tb, CID, false).await;
    subscribe(&mut io, GET, QoS::AtLeastOnce).await;
    tb.broker.publish(PK, DN, GET, "unacked", QoS::AtLeastOnce).await.unwrap();
    let first = expect_publish(&mut io).await;
    assert!(!first.dup);
    io.send(&Packet::Disconnect).await.unwrap();
    assert_eq!(tb.closed(conn).await.0, CloseReason::ClientDisconnect);

    let (mut io, conn, present) = login(&mut tb, CID, false).await;
    assert!(present);
    let again = expect_publish(&mut io).await;
    assert!(again.dup);
    assert_eq!((again.packet_id, &again.payload[..]), (first.packet_id, &b"unacked"[..]));
    io.send(&Packet::Puback(again.packet_id.unwrap())).await.unwrap();
    io.send(&Packet::Disconnect).await.unwrap();
    assert_eq!(tb.closed(conn).await.0, CloseReason::ClientDisconnect);

    let (mut io, _, present) = login(&mut tb, CID, false).await;
    assert!(present);
    round_trip(&mut io).await; // acknowledged: not sent again
}

/// [MQTT-3.8.4-6]: a downlink goes out at the lower of the published and the granted QoS.
#[tokio::test]
async fn downlinks_go_out_at_the_lower_of_published_and_granted_qos() {
    let mut tb = TestBroker::start().await;
    let (mut io, conn, _) = login(&mut tb, CID, true).await;
    subscribe(&mut io, GET, QoS::AtMostOnce).await;
    let delivery = tb.broker.publish(PK, DN, GET, "q1", QoS::AtLeastOnce).await;
    assert_eq!(delivery, Ok(Delivery::Delivered { conn, qos: QoS::AtMostOnce }));
    let p = expect_publish(&mut io).await;
    assert_eq!((p.qos, p.packet_id), (QoS::AtMostOnce, None));
    // Subscribing again replaces the grant.
    subscribe(&mut io, GET, QoS::AtLeastOnce).await;
    let delivery = tb.broker.publish(PK, DN, GET, "q0", QoS::AtMostOnce).await;
    assert_eq!(delivery, Ok(Delivery::Delivered { conn, qos: QoS::AtMostOnce }));
    assert_eq!(expect_publish(&mut io).await.qos, QoS::AtMostOnce);
    let delivery = tb.broker.publish(PK, DN, GET, "q1", QoS::AtLeastOnce).await;
    assert_eq!(delivery, Ok(Delivery::Delivered { conn, qos: QoS::AtLeastOnce }));
    let p = expect_publish(&mut io).await;
    assert_eq!(p.qos, QoS::AtLeastOnce);
    assert!(p.packet_id.is_some());
    // Offline, a QoS 0 grant keeps nothing: the message would go out at QoS 0.
    let (mut io, conn, _) = login(&mut tb, CID, false).await;
    subscribe(&mut io, GET, QoS::AtMostOnce).await;
    io.send(&Packet::Disconnect).await.unwrap();
    assert_eq!(tb.closed(conn).await.0, CloseReason::ClientDisconnect);
    assert_eq!(tb.broker.publish(PK, DN, GET, "q1", QoS::AtLeastOnce).await, Ok(Delivery::Dropped));
}

/// S-QOS: the cloud side cannot publish at QoS 2, nor to an empty or wildcard topic.
#[tokio::test]
async fn the_cloud_side_cannot_publish_qos_2_or_to_a_wildcard() {
    let mut tb = TestBroker::start().await;
    let (_io, _, _) = login(&mut tb, CID, true).await;
    assert_eq!(tb.broker.publish(PK, DN, GET, "x", QoS::ExactlyOnce).await, Err(CloudError::Qos2));
    for topic in ["", "/pk/device/user/+", "/pk/device/#", "#", "/pk/de\0vice"] {
        let result = tb.broker.publish(PK, DN, topic, "x", QoS::AtMostOnce).await;
        assert!(
            matches!(&result, Err(CloudError::InvalidTopic { topic: t, .. }) if t == topic),
            "{topic:?}: {result:?}"
        );
    }
    // An unknown device is simply offline.
    assert_eq!(tb.broker.publish(PK, "nobody", GET, "x", QoS::AtLeastOnce).await, Ok(Delivery::Dropped));
}

/// S-CLEAN limits: at the message limit the oldest is dropped, an event; a message over the
/// byte limit is not stored.
#[tokio::test]
async fn a_stored_session_drops_its_oldest_message_at_a_limit() {
    let policy = Policy { stored_session_max_messages: 2, stored_session_max_bytes: 100, ..Policy::default() };
    let mut tb = TestBroker::with_policy(policy).await;
    let mut watch = tb.broker.events();
    let (mut io, conn, _) = login(&mut tb, CID, false).await;
    subscribe(&mut io, GET, QoS::AtLeastOnce).await;
    io.send(&Packet::Disconnect).await.unwrap();
    assert_eq!(tb.closed(conn).await.0, CloseReason::ClientDisconnect);
    for payload in ["m1", "m2", "m3"] {
        assert_eq!(tb.broker.publish(PK, DN, GET, payload, QoS::AtLeastOnce).await, Ok(Delivery::Queued));
    }
    let dropped = queue_dropped(&mut watch, conn, 1).await;
    assert_eq!(dropped[0].0, GET);
    assert!(dropped[0].1.contains("at most 2 messages"), "{dropped:?}");
    let big = Bytes::from(vec![b'x'; 100]);
    assert_eq!(tb.broker.publish(PK, DN, GET, big, QoS::AtLeastOnce).await, Ok(Delivery::Dropped));
    let dropped = queue_dropped(&mut watch, conn, 1).await;
    assert!(dropped[0].1.contains("larger than"), "{dropped:?}");
    let (mut io, _, present) = login(&mut tb, CID, false).await;
    assert!(present);
    let payloads = [expect_publish(&mut io).await.payload, expect_publish(&mut io).await.payload];
    assert_eq!(payloads, [Bytes::from_static(b"m2"), Bytes::from_static(b"m3")]);

    // The byte limit: 19 topic + 30 payload bytes each; the third makes 147 > 100 and the
    // oldest goes.
    let policy = Policy { stored_session_max_bytes: 100, ..Policy::default() };
    let mut tb = TestBroker::with_policy(policy).await;
    let mut watch = tb.broker.events();
    let (mut io, conn, _) = login(&mut tb, CID, false).await;
    subscribe(&mut io, GET, QoS::AtLeastOnce).await;
    io.send(&Packet::Disconnect).await.unwrap();
    assert_eq!(tb.closed(conn).await.0, CloseReason::ClientDisconnect);
    for payload in [b"a", b"b", b"c"] {
        let payload = Bytes::from(payload.repeat(30));
        assert_eq!(tb.broker.publish(PK, DN, GET, payload, QoS::AtLeastOnce).await, Ok(Delivery::Queued));
    }
    let dropped = queue_dropped(&mut watch, conn, 1).await;
    assert!(dropped[0].1.contains("at most 100 bytes"), "{dropped:?}");
    let (mut io, _, _) = login(&mut tb, CID, false).await;
    let payloads = [expect_publish(&mut io).await.payload, expect_publish(&mut io).await.payload];
    assert_eq!(payloads, [Bytes::from(b"b".repeat(30)), Bytes::from(b"c".repeat(30))]);
    round_trip(&mut io).await;
}

/// S-CLEAN expiry (paused clock): a stored session outlives its device for the policy's
/// expiry, no longer; the check is lazy, on the next publish or login.
#[tokio::test(start_paused = true)]
async fn a_stored_session_expires() {
    let mut tb =
        TestBroker::paused(Policy { stored_session_expiry: Duration::from_secs(600), ..Policy::default() }).await;
    let mut watch = tb.broker.events();
    let (mut io, conn, _) = login(&mut tb, CID, false).await;
    subscribe(&mut io, GET, QoS::AtLeastOnce).await;
    io.send(&Packet::Disconnect).await.unwrap();
    assert_eq!(tb.closed(conn).await.0, CloseReason::ClientDisconnect);
    tokio::time::sleep(Duration::from_secs(599)).await;
    assert_eq!(tb.broker.publish(PK, DN, GET, "kept", QoS::AtLeastOnce).await, Ok(Delivery::Queued));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (mut io, _, present) = login(&mut tb, CID, false).await;
    assert!(!present, "expired 601 s after the device left");
    let dropped = queue_dropped(&mut watch, conn, 1).await;
    assert!(dropped[0].1.contains("expired"), "{dropped:?}");
    io.send(&Packet::Pingreq).await.unwrap();
    assert_eq!(next(&mut io, tb.patience).await, Some(Packet::Pingresp), "nothing resumed");
}

/// The S-RATE verdicts of `conn` seen on `events` until `conn`'s PUBACK `id`.
async fn rate_verdicts_until(events: &mut EventStream, conn: u64, id: u16) -> Vec<mock_broker::Verdict> {
    let mut verdicts = Vec::new();
    loop {
        let event = events.wait_for(Duration::from_secs(3600), |e| e.conn == conn).await.expect("events");
        match &event.kind {
            EventKind::Verdict(v) if v.rule == Rule::SRate => verdicts.push(v.clone()),
            EventKind::PacketOut(p) if p.packet == "PUBACK" && p.packet_id == Some(id) => return verdicts,
            _ => {}
        }
    }
}

async fn uplinks(io: &mut PacketIo, ids: std::ops::RangeInclusive<u16>) {
    for id in ids {
        let publish = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: UPDATE.into(),
            packet_id: Some(id),
            payload: Bytes::from_static(b"x"),
        };
        io.send(&Packet::Publish(publish)).await.unwrap();
        assert_eq!(next(io, Duration::from_secs(3600)).await, Some(Packet::Puback(id)), "dropped ones are acked too");
    }
}

/// S-RATE counts per device across reconnects, in a sliding one-second window (paused clock).
#[tokio::test(start_paused = true)]
async fn the_rate_counts_per_device_across_reconnects_in_a_sliding_window() {
    let mut tb = TestBroker::paused(Policy::default()).await;
    let mut watch = tb.broker.events();
    let (mut io, conn, _) = login(&mut tb, CID, true).await;
    uplinks(&mut io, 1..=20).await;
    assert!(rate_verdicts_until(&mut watch, conn, 20).await.is_empty());
    io.send(&Packet::Disconnect).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    // A new connection 0.6 s later: 10 more fit, the 31st in the second is dropped.
    let (mut io, conn, _) = login(&mut tb, CID, true).await;
    uplinks(&mut io, 1..=11).await;
    let verdicts = rate_verdicts_until(&mut watch, conn, 11).await;
    assert_eq!(verdicts.len(), 1, "{verdicts:#?}");
    assert!(verdicts[0].received.contains("message 31"), "{:#?}", verdicts[0]);
    // At 1.05 s the first 20 have left the window, the 10 of 0.6 s have not: 20 fit.
    tokio::time::sleep(Duration::from_millis(450)).await;
    uplinks(&mut io, 12..=32).await;
    let verdicts = rate_verdicts_until(&mut watch, conn, 32).await;
    assert_eq!(verdicts.len(), 1, "the 21st is dropped again: {verdicts:#?}");
    assert!(verdicts[0].received.contains("message 31"), "{:#?}", verdicts[0]);
}

/// S-RATE with the largest limit: no overflow, nothing dropped.
#[tokio::test]
async fn a_rate_limit_of_u32_max_does_not_overflow() {
    let policy = Policy { uplink_rate_per_second: u32::MAX, ..Policy::default() };
    let mut tb = TestBroker::with_policy(policy).await;
    let mut watch = tb.broker.events();
    let (mut io, conn, _) = login(&mut tb, CID, true).await;
    uplinks(&mut io, 1..=50).await;
    assert!(rate_verdicts_until(&mut watch, conn, 50).await.is_empty());
    let policy = Policy { uplink_rate_per_second: 0, ..Policy::default() };
    let mut tb = TestBroker::with_policy(policy).await;
    let mut watch = tb.broker.events();
    let (mut io, conn, _) = login(&mut tb, CID, true).await;
    uplinks(&mut io, 1..=3).await;
    let verdicts = rate_verdicts_until(&mut watch, conn, 3).await;
    assert_eq!(verdicts.len(), 1, "{verdicts:#?}");
    assert!(verdicts[0].received.contains("message 1 "), "{:#?}", verdicts[0]);
}

/// S-KICK with S-CLEAN under load (paused clock): the old client reads nothing, so the old
/// connection's writes block and later downlinks wait in its command queue. Whether the kick
/// or the write timeout ends it first, every downlink reaches the new connection exactly
/// once: those written (unacknowledged) with DUP=1, those still queued as new.
#[tokio::test(start_paused = true)]
async fn nothing_queued_on_a_kicked_persistent_connection_is_lost() {
    const COUNT: usize = 60;
    let mut tb = TestBroker::paused(Policy { stored_session_max_bytes: 64 << 20, ..Policy::default() }).await;
    let mut watch = tb.broker.events();
    let (mut old, old_conn, _) = login(&mut tb, CID, false).await;
    subscribe(&mut old, GET, QoS::AtLeastOnce).await;
    for i in 0..COUNT {
        let mut payload = vec![b'x'; 256 * 1024 - 64];
        payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
        let delivery = tb.broker.publish(PK, DN, GET, payload, QoS::AtLeastOnce).await;
        assert!(matches!(delivery, Ok(Delivery::Delivered { .. })), "{delivery:?}");
    }
    // CONNACK may wait for the old connection's write timeout: read it with the long patience.
    let mut new = tb.dial(Transport::Tcp).await;
    new.write_bytes(&signed_connect(CID2, false)).await.unwrap();
    match next(&mut new, tb.patience).await {
        Some(Packet::Connack(ack)) => assert!(ack.session_present, "{ack:?}"),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    let mut seen = [0; COUNT];
    let mut dup = 0;
    for _ in 0..COUNT {
        match next(&mut new, tb.patience).await {
            Some(Packet::Publish(p)) => {
                let i = u32::from_be_bytes(p.payload[..4].try_into().unwrap()) as usize;
                seen[i] += 1;
                dup += usize::from(p.dup);
            }
            other => panic!("expected a PUBLISH, got {other:?}"),
        }
    }
    assert!(seen.iter().all(|&n| n == 1), "each downlink exactly once: {seen:?}");
    round_trip(&mut new).await;
    let mut written = 0;
    loop {
        let event = match watch.wait_for(Duration::from_secs(1), |e| e.conn == old_conn).await {
            Ok(event) => event,
            Err(WaitError::Lagged(n)) => panic!("{n} events of the old connection were lost"),
            Err(WaitError::Timeout | WaitError::Closed) => break,
        };
        match &event.kind {
            EventKind::PacketOut(p) if p.packet == "PUBLISH" => written += 1,
            EventKind::Closed { .. } => break,
            _ => {}
        }
    }
    assert!(written < COUNT, "the old connection's writes blocked, so some downlinks were still queued: {written}");
    assert_eq!(dup, written, "the written ones come again with DUP=1, the queued ones as new");
}
