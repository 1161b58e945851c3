//! K- rules with the tokio clock paused: the broker's timers advance exactly, so the cut times
//! asserted here are exact, not "roughly".

mod support;

use mock_broker::mqtt::Packet;
use mock_broker::policy::KeepaliveCheck;
use mock_broker::{CloseReason, EventKind, Policy, Rule, Transport};
use std::time::Duration;
use support::*;
use tokio::time::{Instant, sleep};

/// A paused-clock broker ([`TestBroker::paused`]) with this keepalive check.
async fn paused_broker(check: KeepaliveCheck) -> TestBroker {
    TestBroker::paused(Policy { keepalive_check: check, ..Policy::default() }).await
}

const PERIODIC_30S: KeepaliveCheck =
    KeepaliveCheck::Periodic { period: Duration::from_secs(30), phase: Duration::ZERO };

/// Connects with the doc example (keepalive 60 s) and returns the connection, its id and
/// the broker time of its CONNACK.
async fn online(tb: &mut TestBroker, transport: Transport) -> (mock_broker::wire::PacketIo, u64, Duration) {
    let attempt = tb.attempt(transport, &doc_example(transport)).await;
    attempt.assert_accepted();
    let conn = attempt.transcript[0].conn;
    let connack_at = attempt
        .transcript
        .iter()
        .find(|e| matches!(&e.kind, EventKind::PacketOut(p) if p.packet == "CONNACK"))
        .expect("CONNACK recorded")
        .at;
    (attempt.io.unwrap(), conn, connack_at)
}

#[tokio::test(start_paused = true)]
async fn exact_mode_cuts_a_silent_device_at_one_and_a_half_keepalive() {
    let mut tb = paused_broker(KeepaliveCheck::Exact).await;
    let (_io, conn, connack_at) = online(&mut tb, Transport::Ws).await;
    let (reason, at) = tb.closed(conn).await;
    assert_eq!(reason, CloseReason::KeepaliveTimeout { keep_alive_s: 60, silent_ms: 90_000 });
    assert_eq!(at - connack_at, Duration::from_secs(90));
}

#[tokio::test(start_paused = true)]
async fn periodic_checks_cut_at_the_first_check_after_one_and_a_half_keepalive() {
    let mut tb = paused_broker(PERIODIC_30S).await;
    let (_io, conn, connack_at) = online(&mut tb, Transport::Tcp).await;
    assert_eq!(connack_at, Duration::ZERO, "the paused clock has not moved");
    // Silent since 0: 1.5K = 90 s falls on a check, and silence must be *more* than 1.5K,
    // so the check at 120 s cuts.
    let (reason, at) = tb.closed(conn).await;
    assert_eq!(at, Duration::from_secs(120));
    assert!(matches!(reason, CloseReason::KeepaliveTimeout { keep_alive_s: 60, silent_ms: 120_000 }), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn a_check_phase_moves_the_cut() {
    let check = KeepaliveCheck::Periodic { period: Duration::from_secs(30), phase: Duration::from_secs(7) };
    let mut tb = paused_broker(check).await;
    let (_io, conn, _) = online(&mut tb, Transport::Tcp).await;
    // Checks at 7, 37, 67, 97: the first after 90 s is 97 s.
    assert_eq!(tb.closed(conn).await.1, Duration::from_secs(97));
}

#[tokio::test(start_paused = true)]
async fn any_packet_resets_the_timer_and_pingreq_gets_pingresp() {
    let mut tb = paused_broker(KeepaliveCheck::Exact).await;
    let (mut io, conn, _) = online(&mut tb, Transport::Wss).await;
    let start = Instant::now();
    // Ping every 80 s (inside 1.5 x 60) for ten minutes: never cut, every ping answered.
    for _ in 0..8 {
        sleep(Duration::from_secs(80)).await;
        io.send(&Packet::Pingreq).await.unwrap();
        assert_eq!(io.read().await.unwrap(), Some(Packet::Pingresp), "K-PING");
    }
    assert!(tb.broker.online(PK, DN).is_some(), "still online after {:?}", start.elapsed());
    // A PUBLISH resets it as well; then silence: cut 90 s after the last packet.
    sleep(Duration::from_secs(80)).await;
    let publish = mock_broker::mqtt::Publish {
        dup: false,
        qos: mock_broker::mqtt::QoS::AtMostOnce,
        retain: false,
        topic: "/pk/device/user/update".into(),
        packet_id: None,
        payload: bytes::Bytes::from_static(b"{}"),
    };
    io.send(&Packet::Publish(publish)).await.unwrap();
    let sent_at = start.elapsed();
    let (reason, at) = tb.closed(conn).await;
    assert_eq!(reason, CloseReason::KeepaliveTimeout { keep_alive_s: 60, silent_ms: 90_000 });
    // The broker's clock and `start` both read 0 on the paused clock.
    assert_eq!(at, sent_at + Duration::from_secs(90), "cut exactly 90 s after the PUBLISH");
    assert_eq!(io.read().await.ok().flatten(), None, "K-CLOSE: closed without DISCONNECT");
}

#[tokio::test(start_paused = true)]
async fn the_timer_starts_at_connack_not_at_accept() {
    let mut tb = paused_broker(KeepaliveCheck::Exact).await;
    let mut io = tb.dial(Transport::Tcp).await;
    let conn = tb.next_conn().await;
    sleep(Duration::from_secs(100)).await; // longer than 1.5K before CONNECT
    io.write_bytes(&doc_example(Transport::Tcp)).await.unwrap();
    assert_eq!(read_connack(&mut io).await, Some(mock_broker::mqtt::ConnackCode::Accepted));
    let (reason, at) = tb.closed(conn).await;
    assert!(matches!(reason, CloseReason::KeepaliveTimeout { .. }), "{reason:?}");
    assert_eq!(at, Duration::from_secs(190));
}

#[tokio::test(start_paused = true)]
async fn the_cut_is_explained_by_k_timeout() {
    let mut tb = paused_broker(KeepaliveCheck::Exact).await;
    let (_io, conn, _) = online(&mut tb, Transport::Ws).await;
    let events = tb.until(conn, |k| matches!(k, EventKind::Closed { .. })).await;
    let verdict = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Verdict(v) if v.rule == Rule::KTimeout => Some(v.clone()),
            _ => None,
        })
        .expect("a K-TIMEOUT verdict");
    assert!(verdict.expected.contains("90000 ms"), "{verdict:#?}");
    assert!(verdict.received.contains("90000 ms"), "{verdict:#?}");
}

#[tokio::test]
async fn a_connection_without_connect_is_closed_after_the_connect_timeout() {
    let policy = Policy { connect_timeout: Duration::from_millis(300), ..Policy::default() };
    let mut tb = TestBroker::with_policy(policy).await;
    let mut io = tb.dial(Transport::Ws).await;
    let conn = tb.next_conn().await;
    io.write_bytes(&[0x10]).await.unwrap(); // one byte of a CONNECT, then nothing
    let (reason, _) = tb.closed(conn).await;
    assert_eq!(reason, CloseReason::ConnectTimeout { timeout_ms: 300 });
    assert_eq!(io.read().await.ok().flatten(), None);
}
