//! Every fault type shown on the wire, with real sockets: what the client sees, and the
//! `fault` events and close reasons the transcript records. Timed faults run on a paused
//! clock, so their instants are exact.

mod support;

use futures_util::{SinkExt, StreamExt};
use mock_broker::connector::{self, DialError, DialOptions};
use mock_broker::events::{FaultEvent, FaultPhase};
use mock_broker::fault::{BadCert, Fault, FaultSpec, Inbound, Reply, Scope, Trigger};
use mock_broker::mqtt::{ConnackCode, Packet, Publish, QoS, Subscribe};
use mock_broker::wire::PacketIo;
use mock_broker::{CloseReason, EventKind, EventStream, Policy, Transport};
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

/// Connects with the doc example and returns the open connection and its id.
async fn online(tb: &mut TestBroker, transport: Transport) -> (PacketIo, u64) {
    let attempt = tb.attempt(transport, &doc_example(transport)).await;
    attempt.assert_accepted();
    (attempt.io.unwrap(), attempt.transcript[0].conn)
}

/// The next `count` fault events of `events`, as (connection, phase).
async fn fault_events(events: &mut EventStream, count: usize) -> Vec<(u64, FaultPhase)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let event = events
            .wait_for(PATIENCE * 400, |e| matches!(e.kind, EventKind::Fault(_)))
            .await
            .unwrap_or_else(|e| panic!("only {seen:?} fault events: {e}"));
        if let EventKind::Fault(FaultEvent { phase, .. }) = &event.kind {
            seen.push((event.conn, *phase));
        }
    }
    seen
}

async fn next_packet(io: &mut PacketIo) -> Option<Packet> {
    timeout(PATIENCE, io.read()).await.expect("the broker answers or closes in time").ok().flatten()
}

#[tokio::test]
async fn refuse_connect_refuses_the_next_n_logins_then_disarms() {
    let mut tb = TestBroker::start().await;
    let spec = FaultSpec::new(Fault::RefuseConnect { code: 3 }).times(2).named("platform restart");
    tb.broker.arm(spec).await.unwrap();
    for _ in 0..2 {
        let attempt = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await;
        assert_eq!(attempt.code, Some(ConnackCode::ServerUnavailable));
        let closed = attempt.transcript.iter().find_map(|e| match &e.kind {
            EventKind::Closed { reason } => Some(reason.clone()),
            _ => None,
        });
        assert_eq!(
            closed,
            Some(CloseReason::Refused { code: ConnackCode::ServerUnavailable, rule: "fault refuse_connect".into() })
        );
    }
    tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await.assert_accepted();
    assert!(tb.broker.faults().is_empty(), "used up");
}

#[tokio::test]
async fn fault_events_name_the_fault_and_its_phases() {
    let mut tb = TestBroker::start().await;
    let mut events = tb.broker.events();
    let id = tb.broker.arm(FaultSpec::new(Fault::RefuseConnect { code: 5 }).times(1).named("off")).await.unwrap();
    let attempt = tb.attempt(Transport::Ws, &doc_example(Transport::Ws)).await;
    assert_eq!(attempt.code, Some(ConnackCode::NotAuthorized));
    let conn = attempt.transcript[0].conn;
    assert_eq!(
        fault_events(&mut events, 3).await,
        [(0, FaultPhase::Armed), (conn, FaultPhase::Applied), (0, FaultPhase::Disarmed)]
    );
    let named = attempt.transcript.iter().find_map(|e| match &e.kind {
        EventKind::Fault(f) => Some(f.clone()),
        _ => None,
    });
    assert_eq!(named, Some(FaultEvent { id, name: "off".into(), fault: "refuse_connect", phase: FaultPhase::Applied }));
    assert!(!tb.broker.clear(id), "a used-up fault is gone");
}

#[tokio::test]
async fn a_device_scope_spares_other_devices_and_clear_disarms() {
    let broker =
        mock_broker::Broker::builder().device(PK, DN, SECRET).device(PK, "other", SECRET).start().await.unwrap();
    let mut tb = TestBroker::wrap(broker);
    let id = tb.broker.arm(FaultSpec::new(Fault::RefuseConnect { code: 4 }).device(PK, "other")).await.unwrap();
    tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await.assert_accepted();
    assert!(tb.broker.clear(id));
    assert_eq!(tb.broker.clear_faults(), 0);
}

#[tokio::test]
async fn withheld_pingresp_after_the_first_ping() {
    let mut tb = TestBroker::start().await;
    let trigger = Trigger::AfterPackets { kind: Inbound::Pingreq, n: 1 };
    tb.broker.arm(FaultSpec::new(Fault::Withhold { reply: Reply::Pingresp }).trigger(trigger)).await.unwrap();
    let (mut io, _) = online(&mut tb, Transport::Tcp).await;
    io.send(&Packet::Pingreq).await.unwrap();
    assert_eq!(next_packet(&mut io).await, Some(Packet::Pingresp), "the first is answered");
    io.send(&Packet::Pingreq).await.unwrap();
    io.send(&Packet::Subscribe(Subscribe {
        packet_id: 7,
        filters: vec![("/pk/device/user/get".into(), QoS::AtLeastOnce)],
    }))
    .await
    .unwrap();
    let next = next_packet(&mut io).await;
    assert!(matches!(next, Some(Packet::Suback(ref ack)) if ack.packet_id == 7), "the PINGRESP never came: {next:?}");
}

#[tokio::test(start_paused = true)]
async fn a_delayed_puback_arrives_exactly_that_late() {
    let mut tb = TestBroker::start().await;
    tb.broker.arm(FaultSpec::new(Fault::Delay { reply: Reply::Puback, delay_ms: 7000 })).await.unwrap();
    let (mut io, _) = online(&mut tb, Transport::Ws).await;
    let publish = Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "/pk/device/user/update".into(),
        packet_id: Some(3),
        payload: "x".into(),
    };
    let sent = Instant::now();
    io.send(&Packet::Publish(publish)).await.unwrap();
    assert_eq!(next_packet(&mut io).await, Some(Packet::Puback(3)));
    assert_eq!(sent.elapsed(), Duration::from_secs(7));
}

#[tokio::test]
async fn a_withheld_connack_leaves_the_client_waiting() {
    let mut tb = TestBroker::start().await;
    tb.broker.arm(FaultSpec::new(Fault::Withhold { reply: Reply::Connack }).times(1)).await.unwrap();
    let mut io = tb.dial(Transport::Tcp).await;
    io.write_bytes(&doc_example(Transport::Tcp)).await.unwrap();
    assert!(timeout(Duration::from_millis(500), io.read()).await.is_err(), "no CONNACK, no close");
    drop(io);
    let conn = tb.next_conn().await;
    let (reason, _) = tb.closed(conn).await;
    assert_eq!(reason, CloseReason::Faulted { fault: "blackhole: never answer again".into() });
}

#[tokio::test]
async fn session_present_is_forced() {
    let tb = TestBroker::start().await;
    tb.broker.arm(FaultSpec::new(Fault::SessionPresent { present: true })).await.unwrap();
    let mut io = tb.dial(Transport::Tcp).await;
    io.write_bytes(&doc_example(Transport::Tcp)).await.unwrap();
    let connack = next_packet(&mut io).await;
    assert!(matches!(connack, Some(Packet::Connack(c)) if c.session_present), "{connack:?}");
}

#[tokio::test(start_paused = true)]
async fn a_close_two_seconds_after_connack() {
    let mut tb = TestBroker::start().await;
    tb.broker.arm(FaultSpec::new(Fault::Close).trigger(Trigger::AfterConnackMs(2000))).await.unwrap();
    let (mut io, conn) = online(&mut tb, Transport::Wss).await;
    let online_at = Instant::now();
    assert_eq!(next_packet(&mut io).await, None, "closed");
    assert_eq!(online_at.elapsed(), Duration::from_secs(2));
    assert_eq!(tb.closed(conn).await.0, CloseReason::Faulted { fault: "close the connection".into() });
}

#[tokio::test]
async fn close_after_n_packets() {
    let mut tb = TestBroker::start().await;
    let trigger = Trigger::AfterPackets { kind: Inbound::Any, n: 2 };
    tb.broker.arm(FaultSpec::new(Fault::Close).trigger(trigger)).await.unwrap();
    let (mut io, _) = online(&mut tb, Transport::Tls).await;
    io.send(&Packet::Pingreq).await.unwrap();
    assert_eq!(next_packet(&mut io).await, Some(Packet::Pingresp));
    io.send(&Packet::Pingreq).await.unwrap();
    assert_eq!(next_packet(&mut io).await, Some(Packet::Pingresp), "the second is answered, then the close");
    assert_eq!(next_packet(&mut io).await, None);
}

#[tokio::test]
async fn an_armed_kick_hits_the_device_online_now() {
    let mut tb = TestBroker::start().await;
    let (mut io, conn) = online(&mut tb, Transport::Ws).await;
    tb.broker.arm(FaultSpec::new(Fault::Kick).device(PK, DN)).await.unwrap();
    assert_eq!(next_packet(&mut io).await, None);
    assert_eq!(tb.closed(conn).await.0, CloseReason::Kicked { by: 0 });
}

#[tokio::test]
async fn a_downlink_fault_reaches_a_subscriber() {
    let mut tb = TestBroker::start().await;
    let (mut io, _) = online(&mut tb, Transport::Tcp).await;
    let filters = vec![("/pk/device/user/get".into(), QoS::AtMostOnce)];
    io.send(&Packet::Subscribe(Subscribe { packet_id: 1, filters })).await.unwrap();
    assert!(matches!(next_packet(&mut io).await, Some(Packet::Suback(_))));
    let downlink = Fault::Downlink { topic: "/pk/device/user/get".into(), payload: "hello".into(), qos: 0 };
    tb.broker.arm(FaultSpec::new(downlink).device(PK, DN)).await.unwrap();
    match next_packet(&mut io).await {
        Some(Packet::Publish(p)) => {
            assert_eq!((p.topic.as_str(), &p.payload[..]), ("/pk/device/user/get", &b"hello"[..]))
        }
        other => panic!("expected the downlink, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_upgrade_gets_its_http_status() {
    let mut tb = TestBroker::start().await;
    tb.broker.arm(FaultSpec::new(Fault::RefuseUpgrade { status: 503 }).scope(Scope::Next(1))).await.unwrap();
    let url = tb.broker.url(Transport::Ws).unwrap();
    let err = connector::dial(&url, &DialOptions::default()).await.err().expect("refused");
    assert!(err.to_string().contains("503"), "{err}");
    let conn = tb.next_conn().await;
    let (reason, _) = tb.closed(conn).await;
    assert!(matches!(&reason, CloseReason::Faulted { fault } if fault.contains("HTTP 503")), "{reason:?}");
    tb.dial(Transport::Ws).await; // the next connection is not taken
}

/// A raw WebSocket client offering `mqtt`, to see the frames themselves.
async fn raw_websocket(tb: &TestBroker) -> tokio_tungstenite::WebSocketStream<TcpStream> {
    let mut ws = tungstenite_client(tb, "/mqtt", Some("mqtt")).await.unwrap();
    ws.send(Message::Binary(doc_example(Transport::Ws).into())).await.unwrap();
    ws
}

async fn next_frame(ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>) -> Message {
    timeout(PATIENCE, ws.next()).await.expect("a frame in time").expect("the stream is open").expect("a valid frame")
}

#[tokio::test]
async fn a_websocket_close_frame_carries_its_code() {
    let tb = TestBroker::start().await;
    tb.broker.arm(FaultSpec::new(Fault::WsClose { code: 4000 }).trigger(Trigger::AfterConnackMs(0))).await.unwrap();
    let mut ws = raw_websocket(&tb).await;
    assert!(matches!(next_frame(&mut ws).await, Message::Binary(b) if b[0] == 0x20), "CONNACK first");
    match next_frame(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4000),
        other => panic!("expected the close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn split_frames_and_ping_frames_reach_a_websocket_client() {
    let tb = TestBroker::start().await;
    tb.broker.arm(FaultSpec::new(Fault::SplitFrames { at: vec![1, 3] })).await.unwrap();
    tb.broker.arm(FaultSpec::new(Fault::WsPing)).await.unwrap();
    let mut ws = raw_websocket(&tb).await;
    // Both activate once the device is online: CONNACK goes out whole, then the ping.
    assert_eq!(next_frame(&mut ws).await, Message::Binary(vec![0x20, 0x02, 0x00, 0x00].into()));
    assert!(matches!(next_frame(&mut ws).await, Message::Ping(_)));
    ws.send(Message::Binary(vec![0xc0, 0x00].into())).await.unwrap(); // PINGREQ
    // PINGRESP is two bytes: split at 1; the offset 3 lies past its end.
    assert_eq!(next_frame(&mut ws).await, Message::Binary(vec![0xd0].into()));
    assert_eq!(next_frame(&mut ws).await, Message::Binary(vec![0x00].into()));
}

#[tokio::test]
async fn tls_closed_mid_handshake_and_bad_certificates() {
    let mut tb = TestBroker::start().await;
    tb.broker.arm(FaultSpec::new(Fault::TlsCloseMidHandshake).scope(Scope::Next(1))).await.unwrap();
    let options = DialOptions { ca_pem: tb.broker.ca_pem().map(str::to_string), ..DialOptions::default() };
    let url = tb.broker.url(Transport::Tls).unwrap();
    assert!(matches!(connector::dial(&url, &options).await, Err(DialError::Tls(_))));
    let conn = tb.next_conn().await;
    assert!(matches!(tb.closed(conn).await.0, CloseReason::Faulted { .. }));
    for bad in [BadCert::Untrusted, BadCert::Expired, BadCert::WrongHost] {
        tb.broker.arm(FaultSpec::new(Fault::BadCertificate { cert: bad }).times(1)).await.unwrap();
        let err = connector::dial(&url, &options).await.err().unwrap_or_else(|| panic!("{bad:?} was trusted"));
        let text = err.to_string().to_lowercase();
        let expected = match bad {
            BadCert::Untrusted => "unknownissuer",
            BadCert::Expired => "expired",
            BadCert::WrongHost => "notvalidforname",
        };
        assert!(text.replace(' ', "").contains(expected), "{bad:?}: {text}");
        let conn = tb.next_conn().await;
        tb.closed(conn).await;
    }
    connector::dial(&url, &options).await.expect("the good certificate again");
}

#[tokio::test]
async fn a_reset_is_seen_as_a_reset_by_the_client() {
    let mut tb = TestBroker::start().await;
    let (mut io, conn) = online(&mut tb, Transport::Tcp).await;
    tb.broker.arm(FaultSpec::new(Fault::Reset).device(PK, DN)).await.unwrap();
    let read = timeout(PATIENCE, io.read()).await.unwrap();
    let err = read.expect_err("a reset is an error, not a clean close");
    assert!(err.to_string().to_lowercase().contains("reset"), "{err}");
    assert_eq!(tb.closed(conn).await.0, CloseReason::Faulted { fault: "TCP reset".into() });
}

#[tokio::test]
async fn on_accept_faults_hit_before_any_handshake() {
    let mut tb = TestBroker::start().await;
    let addr = tb.broker.addr(Transport::Tcp).unwrap();
    tb.broker.arm(FaultSpec::new(Fault::Reset).trigger(Trigger::OnAccept).scope(Scope::Next(1))).await.unwrap();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 8];
    let read = timeout(PATIENCE, tcp.read(&mut buf)).await.unwrap();
    assert_eq!(read.map_err(|e| e.kind()), Err(std::io::ErrorKind::ConnectionReset));
    tb.next_conn().await;

    tb.broker.arm(FaultSpec::new(Fault::Blackhole).trigger(Trigger::OnAccept).scope(Scope::Next(1))).await.unwrap();
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&doc_example(Transport::Tcp)).await.unwrap();
    assert!(timeout(Duration::from_millis(500), tcp.read(&mut buf)).await.is_err(), "accepted, never answered");
    drop(tcp);
    let conn = tb.next_conn().await;
    assert_eq!(tb.closed(conn).await.0, CloseReason::Faulted { fault: "blackhole: never answer again".into() });
}

#[tokio::test(start_paused = true)]
async fn a_half_open_link_is_held_then_let_go() {
    let mut tb = TestBroker::paused(Policy::default()).await;
    let (mut io, conn) = online(&mut tb, Transport::Tcp).await;
    let mut events = tb.broker.events();
    tb.broker.arm(FaultSpec::new(Fault::HalfOpen).device(PK, DN)).await.unwrap();
    fault_events(&mut events, 2).await;
    let since = Instant::now();
    io.send(&Packet::Pingreq).await.unwrap();
    let (reason, _) = tb.closed(conn).await;
    assert!(matches!(reason, CloseReason::Faulted { .. }), "{reason:?}");
    assert!(since.elapsed() >= Duration::from_secs(1800), "held past the longest keepalive cut: {:?}", since.elapsed());
}

#[tokio::test(start_paused = true)]
async fn trickle_paces_the_bytes() {
    let mut tb = TestBroker::start().await;
    tb.broker.arm(FaultSpec::new(Fault::Trickle { bytes: 1, every_ms: 100 })).await.unwrap();
    let (mut io, _) = online(&mut tb, Transport::Tcp).await;
    let sent = Instant::now();
    io.send(&Packet::Pingreq).await.unwrap();
    assert_eq!(next_packet(&mut io).await, Some(Packet::Pingresp));
    assert_eq!(sent.elapsed(), Duration::from_millis(200), "two bytes, one per 100 ms");
}

#[tokio::test]
async fn close_after_bytes_cuts_mid_packet() {
    let mut tb = TestBroker::start().await;
    tb.broker.arm(FaultSpec::new(Fault::CloseAfterBytes { bytes: 5 })).await.unwrap();
    let (mut io, conn) = online(&mut tb, Transport::Tcp).await;
    let filters =
        vec![("/pk/device/user/get".into(), QoS::AtLeastOnce), ("/pk/device/user/#".into(), QoS::AtLeastOnce)];
    io.send(&Packet::Subscribe(Subscribe { packet_id: 9, filters })).await.unwrap();
    let read = timeout(PATIENCE, io.read()).await.unwrap();
    assert!(read.is_err(), "the SUBACK (6 bytes) is cut after 5: {read:?}");
    let (reason, _) = tb.closed(conn).await;
    assert!(
        matches!(&reason, CloseReason::TransportError { message } if message.contains("close_after_bytes")),
        "{reason:?}"
    );
}

#[tokio::test]
async fn bad_specs_are_refused_at_arming() {
    let tb = TestBroker::start().await;
    let err = tb.broker.arm(FaultSpec::new(Fault::RefuseConnect { code: 9 })).await.unwrap_err();
    assert!(err.to_string().contains("not a refusal"), "{err}");
    let given = mock_broker::tls::Authority::generate("given").unwrap();
    let cert = given.issue(&mock_broker::tls::leaf_names(&[]), mock_broker::tls::Validity::Current).unwrap();
    let broker = mock_broker::Broker::builder().certificate(cert, given.pem().into()).start().await.unwrap();
    let err = broker.arm(FaultSpec::new(Fault::BadCertificate { cert: BadCert::Expired })).await.unwrap_err();
    assert!(err.to_string().contains("only untrusted is possible"), "{err}");
    broker.arm(FaultSpec::new(Fault::BadCertificate { cert: BadCert::Untrusted })).await.unwrap();
}
