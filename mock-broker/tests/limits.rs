//! The broker's resource limits on real sockets: connections, the CONNECT cap, handshake
//! deadlines (paused clock: exact), subscriptions per device, the verdict budget that shields
//! other connections' observers, the outbound queue and write timeout of a client that never
//! reads, and accept failures (EMFILE) in the real binary under a lowered file limit.

mod support;

use mock_broker::mqtt::{Packet, QoS, Suback, SubackCode, Subscribe};
use mock_broker::topics::user_get_topic;
use mock_broker::wire::PacketIo;
use mock_broker::{CloseReason, Delivery, EventKind, Outcome, Policy, Rule, Transport};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Logs in with the doc example over tcp; returns the stream and its connection.
async fn online(tb: &mut TestBroker) -> (PacketIo, u64) {
    let attempt = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
    attempt.assert_accepted();
    (attempt.io.expect("online"), attempt.transcript[0].conn)
}

/// Sends a SUBSCRIBE and returns its SUBACK.
async fn subscribe(io: &mut PacketIo, packet_id: u16, filters: Vec<(String, QoS)>) -> Suback {
    io.send(&Packet::Subscribe(Subscribe { packet_id, filters })).await.unwrap();
    match tokio::time::timeout(PATIENCE, io.read()).await {
        Ok(Ok(Some(Packet::Suback(ack)))) => ack,
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

fn limit_of(reason: &CloseReason) -> Option<&str> {
    match reason {
        CloseReason::Limit { limit, .. } => Some(limit),
        _ => None,
    }
}

/// A connection over `max_connections` is accepted, recorded and closed at once naming the
/// limit; once one closes, a new one is served again.
#[tokio::test]
async fn connections_beyond_the_limit_are_closed_naming_it() {
    let mut tb = TestBroker::with_policy(Policy { max_connections: 2, ..Policy::default() }).await;
    let addr = tb.broker.addr(Transport::Tcp).unwrap();
    let first = TcpStream::connect(addr).await.unwrap();
    let one = tb.next_conn().await;
    let _second = TcpStream::connect(addr).await.unwrap();
    tb.next_conn().await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    let refused = tb.next_conn().await;
    let (reason, _) = tb.closed(refused).await;
    assert_eq!(limit_of(&reason), Some("max_connections"), "{reason:?}");
    assert!(matches!(&reason, CloseReason::Limit { message, .. } if message.contains("--max-connections")));
    let mut buf = [0u8; 1];
    let eof = tokio::time::timeout(PATIENCE, tokio::io::AsyncReadExt::read(&mut third, &mut buf)).await.unwrap();
    assert!(matches!(eof, Ok(0) | Err(_)), "the refused connection is closed: {eof:?}");
    drop(first);
    assert_eq!(tb.closed(one).await.0, CloseReason::ClientClosed);
    online(&mut tb).await;
}

/// Before authentication the decoder's limit is the CONNECT cap (8 KiB): a larger CONNECT is
/// refused naming the cap before it is buffered; after CONNACK the packet limit applies.
#[tokio::test]
async fn a_connect_over_the_cap_is_refused_and_the_packet_limit_applies_after_connack() {
    let mut tb = TestBroker::start().await;
    let big = connect_bytes("12345|securemode=3,signmethod=hmacsha1|", "device&pk", &"p".repeat(9000), 60);
    let attempt = tb.attempt(Transport::Tcp, &big).await;
    assert_eq!(attempt.code, None, "no CONNACK: {:#?}", attempt.transcript);
    let closed = attempt.transcript.iter().find_map(|e| match &e.kind {
        EventKind::Closed { reason } => Some(reason.clone()),
        _ => None,
    });
    let reason = closed.expect("closed");
    assert_eq!(limit_of(&reason), Some("max_connect_len"), "{reason:?}");
    assert!(format!("{reason:?}").contains("8192"), "{reason:?}");

    // Authenticated: a 20 KiB PUBLISH is within the packet limit.
    let (mut io, conn) = online(&mut tb).await;
    let topic = "/pk/device/user/update".to_string();
    let publish = mock_broker::mqtt::Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic,
        packet_id: Some(9),
        payload: vec![b'x'; 20 * 1024].into(),
    };
    io.send(&Packet::Publish(publish)).await.unwrap();
    assert!(matches!(io.read().await, Ok(Some(Packet::Puback(9)))));
    let events = tb.until(conn, |k| matches!(k, EventKind::PacketOut(p) if p.packet == "PUBACK")).await;
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::Closed { .. })));
}

/// The TLS handshake and the WebSocket upgrade each have their own deadline (5 s), inside
/// the connect timeout (10 s), and the close names the stage. Paused clock: exact times.
#[tokio::test(start_paused = true)]
async fn a_handshake_that_never_completes_is_cut_at_its_stage_deadline() {
    let mut tb = TestBroker::start().await;
    tb.patience = Duration::from_secs(3600);
    for (transport, stage, bytes) in [
        (Transport::Tls, "tls", &b"\x16\x03\x01"[..]),
        (Transport::Wss, "tls", &b""[..]),
        (Transport::Ws, "websocket", &b"GET /mqtt HTTP/1.1\r\nHost: x\r\n"[..]),
    ] {
        let mut tcp = TcpStream::connect(tb.broker.addr(transport).unwrap()).await.unwrap();
        tcp.write_all(bytes).await.unwrap();
        let accepted = tb.next_accepted().await;
        let (reason, at) = tb.closed(accepted.conn).await;
        assert_eq!(
            reason,
            CloseReason::HandshakeTimeout { stage: stage.into(), timeout_ms: 5000 },
            "{transport}: {reason:?}"
        );
        assert_eq!(at - accepted.at, Duration::from_secs(5), "{transport}");
    }
}

/// S-SUB-DENY: beyond `max_subscriptions`, the extra filters get 0x80 and a failed verdict
/// naming the limit; a repeated filter still replaces its QoS; an UNSUBSCRIBE frees a place.
#[tokio::test]
async fn subscriptions_beyond_the_limit_get_0x80_naming_it() {
    let mut tb = TestBroker::with_policy(Policy { max_subscriptions: 3, ..Policy::default() }).await;
    let (mut io, conn) = online(&mut tb).await;
    let filter = |i: usize| (format!("/sys/pk/device/thing/f{i}"), QoS::AtMostOnce);
    let ack = subscribe(&mut io, 1, (0..5).map(filter).collect()).await;
    let granted = SubackCode::Granted(QoS::AtMostOnce);
    assert_eq!(ack.codes, vec![granted, granted, granted, SubackCode::Failure, SubackCode::Failure]);
    let events = tb.until(conn, |k| matches!(k, EventKind::PacketOut(p) if p.packet == "SUBACK")).await;
    let denied: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Verdict(v) if v.rule == Rule::SSubDeny => Some(v.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(denied.len(), 2, "{events:#?}");
    for verdict in &denied {
        assert_eq!(verdict.outcome, Outcome::Fail);
        assert_eq!(verdict.expected, "at most 3 subscriptions per device");
        assert!(verdict.detail.contains("max_subscriptions"), "{verdict:?}");
    }
    // A filter already held is not a new subscription: it is granted at its new QoS.
    let again = subscribe(&mut io, 2, vec![(filter(0).0, QoS::AtLeastOnce)]).await;
    assert_eq!(again.codes, vec![SubackCode::Granted(QoS::AtLeastOnce)]);
    io.send(&Packet::Unsubscribe(mock_broker::mqtt::Unsubscribe { packet_id: 3, filters: vec![filter(1).0] }))
        .await
        .unwrap();
    assert!(matches!(io.read().await, Ok(Some(Packet::Unsuback(3)))));
    let freed = subscribe(&mut io, 4, vec![filter(7)]).await;
    assert_eq!(freed.codes, vec![granted]);
}

/// One device flooding denied filters cannot blind an observer of another connection: the
/// flooder's verdicts beyond the budget are summarised, so a subscriber that reads nothing
/// during the flood still has every event of the other connection, with no gap.
#[tokio::test]
async fn a_denied_filter_flood_is_summarised_and_observers_lose_nothing() {
    const SUBSCRIBES: usize = 70;
    const FILTERS: usize = 1000;
    let mut tb = TestBroker::start().await;
    let (mut observer, mut flood_watch) = (tb.broker.events(), tb.broker.events());
    let (mut flooder, flood_conn) = online(&mut tb).await;
    for id in 1..=SUBSCRIBES {
        let filters = (0..FILTERS).map(|i| (format!("/not/mine/{id}/{i}"), QoS::AtMostOnce)).collect();
        let ack = subscribe(&mut flooder, id as u16, filters).await;
        assert!(ack.codes.iter().all(|c| *c == SubackCode::Failure));
    }
    // Another connection, after the flood: a refused CONNECT (unknown device).
    let refused = connect_bytes("x|securemode=3,signmethod=hmacsha1|", "ghost&pk", "nope", 60);
    let attempt = tb.attempt(Transport::Tcp, &refused).await;
    let other = attempt.transcript[0].conn;
    let seen = observer.transcript(other, PATIENCE).await.expect("no event of the other connection is lost");
    assert_eq!(seen.len(), attempt.transcript.len(), "{seen:#?}");
    assert!(matches!(seen.last().unwrap().kind, EventKind::Closed { .. }));
    assert_eq!(observer.lost(), 0);

    drop(flooder);
    let events = flood_watch.transcript(flood_conn, PATIENCE).await.expect("no gap either");
    let recorded =
        events.iter().filter(|e| matches!(&e.kind, EventKind::Verdict(v) if v.rule == Rule::SSubDeny)).count();
    let suppressed: u64 = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Suppressed { verdicts, rules } => {
                assert_eq!(rules, &vec![Rule::SSubDeny.id().to_string()]);
                Some(*verdicts)
            }
            _ => None,
        })
        .sum();
    assert!(suppressed > 0, "the flood went over the budget");
    assert_eq!(recorded as u64 + suppressed, (SUBSCRIBES * FILTERS) as u64, "every verdict is accounted for");
    assert!(events.len() < 10_000, "the flood cost the bus {} events", events.len());
}

/// A client that never reads while the cloud side publishes: the cloud side waits once the
/// connection's queue is full, and the broker closes the connection after the write timeout,
/// naming it. Paused clock: the close comes exactly one write timeout after the last write
/// began.
#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_is_closed_after_the_write_timeout_with_a_bounded_queue() {
    const QUEUE: usize = 4;
    let policy = Policy { outbound_queue: QUEUE, connect_timeout: Duration::from_secs(3600), ..Policy::default() };
    let mut tb = TestBroker::with_policy(policy).await;
    tb.patience = Duration::from_secs(3600);
    let (mut io, conn) = online(&mut tb).await;
    let topic = user_get_topic(PK, DN);
    subscribe(&mut io, 1, vec![(topic.clone(), QoS::AtMostOnce)]).await;
    let delivered = Arc::new(AtomicUsize::new(0));
    let publisher = {
        let (broker, delivered, topic) = (tb.broker.clone(), delivered.clone(), topic.clone());
        tokio::spawn(async move {
            let payload = vec![b'd'; 64 * 1024];
            for _ in 0..2000 {
                match broker.publish(PK, DN, &topic, payload.clone(), QoS::AtMostOnce).await {
                    Ok(Delivery::Delivered { .. }) => delivered.fetch_add(1, Ordering::SeqCst),
                    _ => return,
                };
            }
        })
    };
    let events = tb.until(conn, |k| matches!(k, EventKind::Closed { .. })).await;
    let EventKind::Closed { reason } = &events.last().unwrap().kind else { unreachable!() };
    assert_eq!(limit_of(reason), Some("write_timeout"), "{reason:?}");
    let writes: Vec<_> =
        events.iter().filter(|e| matches!(&e.kind, EventKind::PacketOut(p) if p.packet == "PUBLISH")).collect();
    let last_write = writes.last().expect("some downlinks were written").at;
    assert_eq!(events.last().unwrap().at - last_write, Policy::default().write_timeout);
    // What the cloud side handed over is what was written plus at most the queue.
    let handed = delivered.load(Ordering::SeqCst);
    assert!(handed <= writes.len() + QUEUE, "{handed} handed over, {} written", writes.len());
    assert!(handed < 2000, "the cloud side was held back");
    publisher.await.unwrap();
}

/// With RLIMIT_NOFILE lowered, accepting fails with EMFILE: the real binary records it on
/// connection 0 (rate-limited, with a count), logs it on stderr, and keeps serving.
#[tokio::test]
async fn accept_failures_are_recorded_and_the_binary_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (ready, events) = (dir.path().join("ready.json"), dir.path().join("events.jsonl"));
    let mut child = Command::new("prlimit")
        .arg("--nofile=40:40")
        .arg(env!("CARGO_BIN_EXE_mock-broker"))
        .args(["--transport", "tcp", "--quiet", "--ready-file"])
        .arg(&ready)
        .arg("--events")
        .arg(&events)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prlimit runs the broker");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let info: serde_json::Value = loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            break serde_json::from_str(&text).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no ready file");
        assert!(child.try_wait().unwrap().is_none(), "the broker exited early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let addr = info["tcp"].as_str().unwrap().trim_start_matches("tcp://").to_string();
    let mut held = Vec::new();
    for _ in 0..60 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    // Long enough for several failed accepts and more than one report window.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut io = mock_broker::connector::dial(info["tcp"].as_str().unwrap(), &Default::default()).await.unwrap();
    let connect = connect_bytes("x|securemode=3,signmethod=hmacsha1|", "ghost&pk", "nope", 60);
    io.write_bytes(&connect).await.unwrap();
    assert!(read_connack(&mut io).await.is_some(), "the broker still answers a CONNECT");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(child.wait().unwrap().success(), "{stderr}");

    let failures: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "accept_failed")
        .collect();
    assert!(!failures.is_empty(), "an accept_failed event; stderr: {stderr}");
    for failure in &failures {
        assert_eq!(failure["conn"], 0);
        assert_eq!(failure["transport"], "tcp");
        assert!(failure["error"].as_str().unwrap().contains("Too many open files"), "{failure}");
    }
    let count: u64 = failures.iter().map(|f| f["count"].as_u64().unwrap()).sum();
    assert!(count > failures.len() as u64, "failures are counted, not each recorded: {failures:?}");
    assert!(failures.len() <= 5, "at most one a second: {failures:?}");
    assert!(stderr.contains("accepting connections failed"), "logged through tracing: {stderr}");
}
