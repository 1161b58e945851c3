//! Every worked scenario of `examples/scenarios/` played on a broker serving the demo
//! registry, with a device connecting through `mock_broker::connector`: what the device sees
//! and the fault events the transcript records. The clock is paused, so step times are exact.

mod support;

use mock_broker::auth::{SignMethod, sign, sign_content};
use mock_broker::connector::{self, DialOptions};
use mock_broker::events::{FaultEvent, FaultPhase};
use mock_broker::mqtt::{ConnackCode, Packet};
use mock_broker::scenario::{Scenario, StepReport};
use mock_broker::wire::PacketIo;
use mock_broker::{Broker, CloseReason, EventKind, Policy, Registry, Transport};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/scenarios");
const PK: &str = "a1DemoPrdct";
const DN: &str = "demo-device";
/// Paused-clock tests wait in virtual time, which costs nothing.
const LONG: Duration = Duration::from_secs(3600);

/// A broker serving the demo registry that gives a CONNECT all the time it needs (time jumps
/// ahead on the paused clock while loopback bytes are in flight).
async fn demo_broker() -> TestBroker {
    let policy = Policy { connect_timeout: LONG, ..Policy::default() };
    let broker = Broker::builder().registry(Registry::demo()).policy(policy).start().await.unwrap();
    let mut tb = TestBroker::wrap(broker);
    tb.patience = LONG;
    tb
}

/// Loads an example and starts playing it; the reports are collected.
fn play(tb: &TestBroker, file: &str) -> (JoinHandle<()>, Arc<Mutex<Vec<StepReport>>>) {
    let scenario = Scenario::load(&std::path::Path::new(DIR).join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let reports = Arc::new(Mutex::new(Vec::new()));
    let (broker, sink) = (tb.broker.clone(), reports.clone());
    let player = tokio::spawn(async move { scenario.play(&broker, |r| sink.lock().unwrap().push(r)).await });
    (player, reports)
}

/// The demo device's CONNECT for `transport`, signed hmacsha256, keepalive 1200 s.
fn demo_connect(transport: Transport) -> Vec<u8> {
    let secret = Registry::demo().device(PK, DN).unwrap().secret.expose().to_owned();
    let content = sign_content(Some("scenario"), DN, PK, Some("1"));
    let client_id =
        format!("scenario|securemode={},signmethod=hmacsha256,timestamp=1|", transport.expected_securemode());
    connect_bytes(&client_id, &format!("{DN}&{PK}"), &sign(SignMethod::HmacSha256, &secret, &content), 1200)
}

/// Logs the demo device in; returns the open connection and its id.
async fn online(tb: &mut TestBroker, transport: Transport) -> (PacketIo, u64) {
    let attempt = tb.attempt(transport, &demo_connect(transport)).await;
    attempt.assert_accepted();
    (attempt.io.unwrap(), attempt.transcript[0].conn)
}

/// The fault events from now until `count` have come, as (connection, fault name, phase).
async fn fault_events(tb: &mut TestBroker, count: usize) -> Vec<(u64, String, FaultPhase)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let event = tb.events.wait_for(LONG, |e| matches!(e.kind, EventKind::Fault(_))).await;
        match event.as_deref().map(|e| (e.conn, &e.kind)) {
            Ok((conn, EventKind::Fault(FaultEvent { name, phase, .. }))) => seen.push((conn, name.clone(), *phase)),
            _ => panic!("only {seen:?}"),
        }
    }
    seen
}

fn assert_all_steps_done(reports: &Mutex<Vec<StepReport>>, steps: usize) {
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), steps, "{reports:?}");
    assert!(reports.iter().all(|r| r.outcome.is_ok()), "{reports:?}");
}

#[test]
fn every_example_is_played_by_a_test_here() {
    let mut files: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    files.sort();
    let source = include_str!("scenarios.rs");
    for file in &files {
        assert!(source.contains(&format!("play(&tb, \"{file}\")")), "{file} has no test");
    }
    assert_eq!(files.len(), 4, "{files:?}");
}

#[tokio::test(start_paused = true)]
async fn platform_restart_kicks_everyone_then_refuses_four_connects_with_0x03() {
    let mut tb = demo_broker().await;
    let (mut io, conn) = online(&mut tb, Transport::Tcp).await;
    let (player, reports) = play(&tb, "platform-restart.toml");
    assert_eq!(timeout(LONG, io.read()).await.unwrap().ok().flatten(), None, "the broker closed the link");
    let (reason, at) = tb.closed(conn).await;
    assert!(matches!(reason, CloseReason::Kicked { .. }), "{reason:?}");
    assert_eq!(at, Duration::from_millis(3000));
    for _ in 0..4 {
        let refused = tb.attempt(Transport::Tcp, &demo_connect(Transport::Tcp)).await;
        assert_eq!(refused.code, Some(ConnackCode::ServerUnavailable));
    }
    online(&mut tb, Transport::Ws).await;
    player.await.unwrap();
    assert_all_steps_done(&reports, 3);
    assert!(tb.broker.faults().is_empty(), "the storm used itself up and the kick was cleared");
}

#[tokio::test(start_paused = true)]
async fn platform_restart_transcript_names_both_faults() {
    let mut tb = demo_broker().await;
    let (_io, conn) = online(&mut tb, Transport::Tcp).await;
    let (player, _) = play(&tb, "platform-restart.toml");
    let seen = fault_events(&mut tb, 4).await;
    assert_eq!(
        seen,
        [
            (0, "restart storm".into(), FaultPhase::Armed),
            (0, "restart".into(), FaultPhase::Armed),
            (conn, "restart".into(), FaultPhase::Applied),
            (0, "restart".into(), FaultPhase::Cleared),
        ]
    );
    player.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_silent_link_answers_nothing_after_five_seconds_and_the_reconnect_works() {
    let mut tb = demo_broker().await;
    let (player, reports) = play(&tb, "silent-link.toml");
    player.await.unwrap();
    assert_all_steps_done(&reports, 1);
    let (mut io, conn) = online(&mut tb, Transport::Tcp).await;
    let connack_at = Instant::now();
    io.send(&Packet::Pingreq).await.unwrap();
    assert_eq!(timeout(LONG, io.read()).await.unwrap().unwrap(), Some(Packet::Pingresp), "alive before 5 s");

    let applied = fault_events(&mut tb, 2).await;
    assert_eq!(
        applied,
        [(conn, "silent link".into(), FaultPhase::Applied), (0, "silent link".into(), FaultPhase::Disarmed)]
    );
    assert_eq!(connack_at.elapsed(), Duration::from_secs(5));
    io.send(&Packet::Pingreq).await.unwrap();
    assert!(timeout(Duration::from_secs(60), io.read()).await.is_err(), "no PINGRESP, no close: silence");
    assert!(tb.broker.online(PK, DN).is_some(), "the broker still holds the link");

    drop(io);
    let (mut again, _) = online(&mut tb, Transport::Tcp).await;
    again.send(&Packet::Pingreq).await.unwrap();
    assert_eq!(timeout(LONG, again.read()).await.unwrap().unwrap(), Some(Packet::Pingresp), "times = 1: used up");
}

#[tokio::test(start_paused = true)]
async fn a_twin_kicks_the_device_two_seconds_after_each_of_three_connacks() {
    let mut tb = demo_broker().await;
    let (player, reports) = play(&tb, "kicked-by-twin.toml");
    player.await.unwrap();
    assert_all_steps_done(&reports, 1);
    for _ in 0..3 {
        let (mut io, conn) = online(&mut tb, Transport::Ws).await;
        let connack_at = tb.broker.started_at().elapsed();
        assert_eq!(timeout(LONG, io.read()).await.unwrap().ok().flatten(), None, "kicked");
        let (reason, at) = tb.closed(conn).await;
        assert!(matches!(reason, CloseReason::Kicked { .. }), "{reason:?}");
        assert_eq!(at - connack_at, Duration::from_secs(2));
    }
    let (mut io, _) = online(&mut tb, Transport::Ws).await;
    assert!(timeout(Duration::from_secs(30), io.read()).await.is_err(), "the fourth connection stays");
    assert!(tb.broker.faults().is_empty(), "used up");
}

#[tokio::test(start_paused = true)]
async fn an_expired_certificate_greets_the_device_kicked_into_reconnecting() {
    let mut tb = demo_broker().await;
    let (mut io, conn) = online(&mut tb, Transport::Tls).await;
    let (player, reports) = play(&tb, "expired-certificate.toml");
    assert_eq!(timeout(LONG, io.read()).await.unwrap().ok().flatten(), None, "kicked");
    assert_eq!(tb.closed(conn).await.1, Duration::from_millis(2000));

    let options = DialOptions { ca_pem: tb.broker.ca_pem().map(str::to_string), ..DialOptions::default() };
    for transport in [Transport::Tls, Transport::Wss] {
        let url = tb.broker.url(transport).unwrap();
        let err = connector::dial(&url, &options).await.err().expect("an expired certificate is refused");
        assert!(err.to_string().to_lowercase().contains("expired"), "{transport}: {err}");
        let refused = tb.next_conn().await;
        let (reason, _) = tb.closed(refused).await;
        assert!(matches!(reason, CloseReason::HandshakeFailed { .. }), "{reason:?}");
    }
    online(&mut tb, Transport::Tcp).await;

    player.await.unwrap();
    assert_all_steps_done(&reports, 3);
    assert_eq!(tb.broker.started_at().elapsed(), Duration::from_secs(20));
    let url = tb.broker.url(Transport::Tls).unwrap();
    connector::dial(&url, &options).await.expect("the good certificate is back at 20 s");
}
