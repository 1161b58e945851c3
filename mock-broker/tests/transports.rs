//! T- rules: WebSocket framing, subprotocols and paths, TLS server names, and hostile input
//! that must end only its own connection.

mod support;

use futures_util::{SinkExt, StreamExt};
use mock_broker::connector::DialOptions;
use mock_broker::mqtt::{ConnackCode, Packet};
use mock_broker::{CloseReason, EventKind, Outcome, Policy, Rule, Transport};
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

fn handshake_of(events: &[std::sync::Arc<mock_broker::Event>]) -> mock_broker::events::Handshake {
    events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Handshake(h) => Some(mock_broker::events::Handshake::clone(h)),
            _ => None,
        })
        .expect("a handshake event")
}

#[tokio::test]
async fn the_offered_subprotocol_is_echoed() {
    let mut tb = TestBroker::start().await;
    for offered in ["mqtt", "mqttv3.1", "foo, mqtt"] {
        let protocols = offered.split(", ").map(str::to_string).collect();
        let _io = tb.dial_with(Transport::Ws, &DialOptions { subprotocols: protocols, ..DialOptions::default() }).await;
        let conn = tb.next_conn().await;
        let events = tb.until(conn, |k| matches!(k, EventKind::Verdict(v) if v.rule == Rule::TWsSubproto)).await;
        let expected = if offered == "mqttv3.1" { "mqttv3.1" } else { "mqtt" };
        assert_eq!(handshake_of(&events).subprotocol.as_deref(), Some(expected), "{offered}");
    }
}

#[tokio::test]
async fn a_client_offering_no_subprotocol_is_accepted_with_a_warning() {
    let mut tb = TestBroker::start().await;
    let mut ws = tungstenite_client(&tb, "/", None).await.unwrap();
    let conn = tb.next_conn().await;
    ws.send(Message::Binary(doc_example(Transport::Ws).into())).await.unwrap();
    match ws.next().await {
        Some(Ok(Message::Binary(b))) => assert_eq!(&b[..], &[0x20, 2, 0, 0], "CONNACK accepted"),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    let events = tb.until(conn, |k| matches!(k, EventKind::Online { .. })).await;
    let warning = events.iter().find_map(|e| match &e.kind {
        EventKind::Verdict(v) if v.rule == Rule::TWsSubproto => Some(v.outcome),
        _ => None,
    });
    assert_eq!(warning, Some(Outcome::Warn));
}

#[tokio::test]
async fn any_path_is_served_by_default_and_an_allow_list_refuses_others() {
    let tb = TestBroker::start().await;
    for path in ["/", "/mqtt", "/anything/else"] {
        assert!(tungstenite_client(&tb, path, Some("mqtt")).await.is_ok(), "{path}");
    }
    let policy = Policy { ws_paths: vec!["/mqtt".into()], ..Policy::default() };
    let mut tb = TestBroker::with_policy(policy).await;
    assert!(tungstenite_client(&tb, "/mqtt", Some("mqtt")).await.is_ok());
    let conn = tb.next_conn().await;
    let _ = tb.closed(conn).await;
    let refused = tungstenite_client(&tb, "/", Some("mqtt")).await.unwrap_err();
    assert!(refused.contains("404"), "{refused}");
    let conn = tb.next_conn().await;
    let events = tb.until(conn, |k| matches!(k, EventKind::Closed { .. })).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Verdict(v) if v.rule == Rule::TWsPath && v.outcome == Outcome::Fail))
    );
    assert!(matches!(&events.last().unwrap().kind, EventKind::Closed { reason: CloseReason::HandshakeFailed { .. } }));
}

#[tokio::test]
async fn a_text_frame_is_a_violation_of_t_ws() {
    let mut tb = TestBroker::start().await;
    let mut ws = tungstenite_client(&tb, "/mqtt", Some("mqtt")).await.unwrap();
    let conn = tb.next_conn().await;
    ws.send(Message::Text("CONNECT".into())).await.unwrap();
    assert_t_ws_close(&mut tb, conn, "text frame").await;
}

/// Connection `conn` closes for T-WS after a failed T-WS verdict whose received value says
/// `received`.
async fn assert_t_ws_close(tb: &mut TestBroker, conn: u64, received: &str) {
    let events = tb.until(conn, |k| matches!(k, EventKind::Closed { .. })).await;
    let verdict = events.iter().find_map(|e| match &e.kind {
        EventKind::Verdict(v) if v.rule == Rule::TWs => Some(v.clone()),
        _ => None,
    });
    let verdict = verdict.unwrap_or_else(|| panic!("a T-WS verdict: {events:#?}"));
    assert_eq!(verdict.outcome, Outcome::Fail, "{verdict:#?}");
    assert!(verdict.received.contains(received), "{verdict:#?}");
    let reason = match &events.last().unwrap().kind {
        EventKind::Closed { reason } => reason.clone(),
        _ => unreachable!("until stops at Closed"),
    };
    assert!(matches!(&reason, CloseReason::Violation { rule, .. } if rule == "T-WS"), "{reason:?}");
}

/// MQTT bytes sent as text are seldom UTF-8: the WebSocket layer refuses such a frame, and it
/// is still a T-WS fail.
#[tokio::test]
async fn a_text_frame_that_is_not_utf8_is_a_t_ws_fail_too() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let mut tb = TestBroker::start().await;
    let mut ws = tungstenite_client(&tb, "/mqtt", Some("mqtt")).await.unwrap();
    let conn = tb.next_conn().await;
    let frame = Frame::message(doc_example(Transport::Ws), OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(frame)).await.unwrap();
    assert_t_ws_close(&mut tb, conn, "UTF-8").await;
}

#[tokio::test]
async fn a_packet_may_span_frames_and_a_frame_may_hold_several_packets() {
    let tb = TestBroker::start().await;
    let mut ws = tungstenite_client(&tb, "/mqtt", Some("mqtt")).await.unwrap();
    let connect = doc_example(Transport::Ws);
    let (a, rest) = connect.split_at(3);
    let (b, c) = rest.split_at(rest.len() / 2);
    for part in [a, b, c] {
        ws.send(Message::Binary(part.to_vec().into())).await.unwrap();
    }
    let mut answers = Vec::new();
    while answers.len() < 4 {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => answers.extend_from_slice(&b),
            other => panic!("expected binary frames, got {other:?}"),
        }
    }
    assert_eq!(answers, [0x20, 2, 0, 0]);
    // Two PINGREQs in one frame: two PINGRESPs.
    ws.send(Message::Binary(vec![0xc0, 0, 0xc0, 0].into())).await.unwrap();
    let mut answers = Vec::new();
    while answers.len() < 4 {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => answers.extend_from_slice(&b),
            other => panic!("expected binary frames, got {other:?}"),
        }
    }
    assert_eq!(answers, [0xd0, 0, 0xd0, 0]);
}

#[tokio::test]
async fn the_tls_server_name_and_host_are_recorded() {
    let endpoint = "pk.iot-as-mqtt.cn-shanghai.aliyuncs.com";
    let broker = mock_broker::Broker::builder().device(PK, DN, SECRET).extra_name(endpoint).start().await.unwrap();
    let mut tb = TestBroker::wrap(broker);
    for transport in [Transport::Wss, Transport::Tls] {
        let options = DialOptions { server_name: Some(endpoint.into()), ..DialOptions::default() };
        let _io = tb.dial_with(transport, &options).await;
        let conn = tb.next_conn().await;
        let events = tb.until(conn, |k| matches!(k, EventKind::Handshake(_))).await;
        assert_eq!(handshake_of(&events).server_name.as_deref(), Some(endpoint), "{transport}");
    }
}

#[tokio::test]
async fn a_client_verifying_against_another_ca_fails_the_handshake() {
    let tb = TestBroker::start().await;
    let other_ca = mock_broker::tls::Authority::generate("another CA").unwrap();
    let url = tb.broker.url(Transport::Tls).unwrap();
    let options = DialOptions { ca_pem: Some(other_ca.pem().into()), ..DialOptions::default() };
    let err = mock_broker::connector::dial(&url, &options).await.err().expect("the handshake fails");
    assert!(err.to_string().contains("TLS"), "{err}");
}

#[tokio::test]
async fn garbage_closes_only_its_own_connection() {
    let mut tb = TestBroker::start().await;
    let mut good = tb.attempt(Transport::Tcp, &doc_example(Transport::Tcp)).await.io.unwrap();
    for garbage in
        [&b"GET / HTTP/1.1\r\n\r\n"[..], &[0xff; 64], &[0x10, 0xff, 0xff, 0xff, 0xff, 0x7f], &[0x30, 0x02, 0x00, 0x00]]
    {
        let mut tcp = TcpStream::connect(tb.broker.addr(Transport::Tcp).unwrap()).await.unwrap();
        let conn = tb.next_conn().await;
        tcp.write_all(garbage).await.unwrap();
        let (reason, _) = tb.closed(conn).await;
        assert!(matches!(reason, CloseReason::Violation { .. }), "{garbage:?}: {reason:?}");
        let mut rest = Vec::new();
        let read = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut rest)).await.expect("closed in time");
        assert!(read.is_err() || rest.is_empty(), "no CONNACK for garbage: {rest:?}");
    }
    good.send(&Packet::Pingreq).await.unwrap();
    assert_eq!(good.read().await.unwrap(), Some(Packet::Pingresp), "the good connection never noticed");
}

#[tokio::test]
async fn an_oversize_length_is_refused_before_it_is_buffered() {
    let policy = Policy { payload_limit: 1024, ..Policy::default() };
    let mut tb = TestBroker::with_policy(policy).await;
    let mut tcp = TcpStream::connect(tb.broker.addr(Transport::Tcp).unwrap()).await.unwrap();
    let conn = tb.next_conn().await;
    // A CONNECT announcing 200 MB, of which nothing follows.
    tcp.write_all(&[0x10, 0x80, 0x80, 0x80, 0x60]).await.unwrap();
    let (reason, _) = tokio::time::timeout(Duration::from_secs(5), tb.closed(conn)).await.expect("closed at once");
    // Before CONNACK the limit is the CONNECT cap, and the close names it.
    assert!(matches!(&reason, CloseReason::Limit { limit, .. } if limit == "max_connect_len"), "{reason:?}");
}

#[tokio::test]
async fn a_first_packet_other_than_connect_is_a_violation() {
    let mut tb = TestBroker::start().await;
    let mut io = tb.dial(Transport::Wss).await;
    let conn = tb.next_conn().await;
    io.send(&Packet::Pingreq).await.unwrap();
    assert_eq!(read_connack(&mut io).await, None);
    let (reason, _) = tb.closed(conn).await;
    assert!(matches!(&reason, CloseReason::Violation { rule, .. } if rule == "MQTT-3.1.0-1"), "{reason:?}");
}

#[tokio::test]
async fn a_second_connect_is_a_violation() {
    let mut tb = TestBroker::start().await;
    let attempt = tb.attempt(Transport::Tls, &doc_example(Transport::Tls)).await;
    let conn = attempt.transcript[0].conn;
    let mut io = attempt.io.unwrap();
    io.write_bytes(&doc_example(Transport::Tls)).await.unwrap();
    let (reason, _) = tb.closed(conn).await;
    assert!(matches!(&reason, CloseReason::Violation { rule, .. } if rule == "MQTT-3.1.0-2"), "{reason:?}");
    assert_eq!(read_connack(&mut io).await, None::<ConnackCode>);
}
