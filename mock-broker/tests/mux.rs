//! T-MUX: the one listener that serves ws, wss, tcp and tls on one port, told apart by the
//! first bytes. Real sockets on 127.0.0.1: every transport through the mux, securemode judged
//! by the transport sniffed, bad first bytes refused by name, silent clients cut at the
//! connect deadline (paused clock), and faults on mux connections.

mod support;

use mock_broker::connector::{self, DialOptions};
use mock_broker::fault::{BadCert, Fault, FaultSpec};
use mock_broker::mqtt::Packet;
use mock_broker::transport::Listener;
use mock_broker::{Broker, CloseReason, Event, EventKind, Outcome, Policy, Rule, Transport, Verdict};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// What the mux expects outside TLS, as its verdicts word it.
const EXPECTED_OUTSIDE: &str = "a TLS ClientHello (0x16), an MQTT CONNECT (0x10) or an HTTP upgrade (GET )";

/// A broker with the vectors' device and the mux on a free port of 127.0.0.1.
async fn mux_broker(policy: Policy) -> TestBroker {
    let broker = Broker::builder()
        .device(PK, DN, SECRET)
        .policy(policy)
        .mux("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .expect("the broker starts");
    TestBroker::wrap(broker)
}

fn mux_url(tb: &TestBroker, transport: Transport) -> String {
    tb.broker.mux_url(transport).expect("the mux is served")
}

/// The transport the `sniffed` event named, if any.
fn sniffed(transcript: &[Arc<Event>]) -> Option<Transport> {
    transcript.iter().find_map(|e| match e.kind {
        EventKind::Sniffed { transport } => Some(transport),
        _ => None,
    })
}

fn verdict_on(transcript: &[Arc<Event>], rule: Rule) -> Verdict {
    transcript
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Verdict(v) if v.rule == rule => Some(v.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no verdict on {rule}: {transcript:#?}"))
}

fn close_of(transcript: &[Arc<Event>]) -> CloseReason {
    match &transcript.last().expect("a transcript").kind {
        EventKind::Closed { reason } => reason.clone(),
        other => panic!("the transcript ends with {other:?}, not the close"),
    }
}

#[tokio::test]
async fn every_transport_is_served_through_the_one_port() {
    let mut tb = mux_broker(Policy::default()).await;
    let mux = tb.broker.mux_addr().unwrap();
    for transport in Transport::ALL {
        let url = mux_url(&tb, transport);
        assert!(url.contains(&format!(":{}", mux.port())), "{url}");
        assert_ne!(tb.broker.addr(transport), Some(mux), "the transport's own listener is another");
        let attempt = tb.attempt_at(&url, &doc_example(transport)).await;
        attempt.assert_accepted();
        assert!(
            matches!(attempt.transcript[0].kind, EventKind::Accepted { listener: Listener::Mux, .. }),
            "{transport}: {:#?}",
            attempt.transcript
        );
        assert_eq!(sniffed(&attempt.transcript), Some(transport), "{:#?}", attempt.transcript);
        let mut io = attempt.io.unwrap();
        io.send(&Packet::Pingreq).await.unwrap();
        assert_eq!(io.read().await.unwrap(), Some(Packet::Pingresp), "{transport}");
    }
}

#[tokio::test]
async fn the_sniffed_event_reads_like_the_others() {
    let mut tb = mux_broker(Policy::default()).await;
    let attempt = tb.attempt_at(&mux_url(&tb, Transport::Wss), &doc_example(Transport::Wss)).await;
    let lines: Vec<String> = attempt.transcript.iter().take(2).map(|e| mock_broker::render::line(e)).collect();
    assert!(lines[0].contains("accepted mux from 127.0.0.1:"), "{lines:?}");
    assert!(lines[1].ends_with("sniffed wss (T-MUX)"), "{lines:?}");
    let json: Vec<serde_json::Value> =
        attempt.transcript.iter().take(2).map(|e| serde_json::to_value(&**e).unwrap()).collect();
    assert_eq!(json[0]["listener"], "mux", "{json:?}");
    assert!(json[0].get("transport").is_none(), "{json:?}");
    assert_eq!((&json[1]["event"], &json[1]["transport"]), (&"sniffed".into(), &"wss".into()));
}

#[tokio::test]
async fn securemode_follows_the_sniffed_transport() {
    let mut tb = mux_broker(Policy::default()).await;
    let code = Policy::default().securemode_refusal;
    for (transport, other) in
        [(Transport::Ws, Transport::Wss), (Transport::Wss, Transport::Ws), (Transport::Tcp, Transport::Tls)]
    {
        let attempt = tb.attempt_at(&mux_url(&tb, transport), &doc_example(other)).await;
        let verdict = attempt.assert_refused(code, Rule::ASecuremode);
        assert!(verdict.expected.contains(&format!("over {transport}")), "{verdict:#?}");
    }
    tb.attempt_at(&mux_url(&tb, Transport::Tls), &doc_example(Transport::Wss)).await.assert_accepted();
}

#[tokio::test]
async fn bad_first_bytes_are_a_named_t_mux_refusal() {
    let mut tb = mux_broker(Policy::default()).await;
    let addr = tb.broker.mux_addr().unwrap();
    for (bytes, received) in [
        (&b"POST /mqtt HTTP/1.1\r\n\r\n"[..], r#"0x50 0x4f 0x53 0x54 ("POST")"#),
        (&[0x30, 0x02, 0x00, 0x00][..], "0x30 0x02 0x00 0x00"),
        (&b"GEX"[..], r#"0x47 0x45 0x58 ("GEX")"#),
    ] {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(bytes).await.unwrap();
        let conn = tb.next_conn().await;
        let transcript = tb.until(conn, |k| matches!(k, EventKind::Closed { .. })).await;
        let verdict = verdict_on(&transcript, Rule::TMux);
        assert_eq!(verdict.outcome, Outcome::Fail, "{verdict:#?}");
        assert_eq!((verdict.expected.as_ref(), verdict.received.as_str()), (EXPECTED_OUTSIDE, received));
        let line = transcript.iter().map(|e| mock_broker::render::line(e)).find(|l| l.contains("T-MUX")).unwrap();
        assert!(line.contains(&format!("FAIL T-MUX: expected {EXPECTED_OUTSIDE}; received 0x")), "{line}");
        assert!(
            matches!(close_of(&transcript), CloseReason::Violation { rule, .. } if rule == "T-MUX"),
            "{transcript:#?}"
        );
        assert_eq!(sniffed(&transcript), None, "nothing was sniffed");
        let mut rest = Vec::new();
        let read = timeout(PATIENCE, tcp.read_to_end(&mut rest)).await.expect("closed in time");
        assert!(read.is_err() || rest.is_empty(), "nothing answered: {rest:?}");
    }
}

#[tokio::test]
async fn bad_bytes_inside_tls_are_refused_too() {
    let mut tb = mux_broker(Policy::default()).await;
    let mut io = tb.dial_url(&mux_url(&tb, Transport::Tls), &DialOptions::default()).await;
    io.write_bytes(&[0x16, 0x03, 0x01]).await.unwrap(); // TLS again, inside TLS
    let conn = tb.next_conn().await;
    let transcript = tb.until(conn, |k| matches!(k, EventKind::Closed { .. })).await;
    let verdict = verdict_on(&transcript, Rule::TMux);
    assert_eq!(verdict.expected, "inside TLS, an MQTT CONNECT (0x10) or an HTTP upgrade (GET )");
    assert_eq!(verdict.received, "0x16 0x03 0x01");
    assert!(matches!(close_of(&transcript), CloseReason::Violation { rule, .. } if rule == "T-MUX"));
}

/// A client that sends nothing, or stops in the middle of the first bytes, or sends nothing
/// inside its TLS, is cut exactly at the connect deadline, as on every other listener. (The
/// TLS and WebSocket stages' own deadlines are set beyond it here; `limits.rs` tests those.)
#[tokio::test(start_paused = true)]
async fn a_silent_client_meets_the_connect_deadline() {
    let deadline = Duration::from_secs(3600);
    let stages = deadline * 2;
    let policy = Policy {
        connect_timeout: deadline,
        tls_handshake_timeout: stages,
        ws_upgrade_timeout: stages,
        ..Policy::default()
    };
    let mut tb = mux_broker(policy).await;
    tb.patience = deadline * 2;
    let addr = tb.broker.mux_addr().unwrap();
    let mut open = Vec::new(); // kept open: a close would end the connection sooner
    for start in [&b""[..], b"GE", &[0x16]] {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(start).await.unwrap();
        open.push(tcp);
        assert_cut_at_deadline(&mut tb, deadline, &format!("{start:?}")).await;
    }
    let _io = tb.dial_url(&mux_url(&tb, Transport::Tls), &DialOptions::default()).await;
    assert_cut_at_deadline(&mut tb, deadline, "TLS, then nothing inside").await;
}

/// The next connection closes for want of CONNECT exactly `deadline` after it was accepted.
async fn assert_cut_at_deadline(tb: &mut TestBroker, deadline: Duration, what: &str) {
    let accepted = tb.next_accepted().await;
    let (reason, at) = tb.closed(accepted.conn).await;
    assert_eq!(reason, CloseReason::ConnectTimeout { timeout_ms: deadline.as_millis() as u64 }, "{what}");
    assert_eq!(at - accepted.at, deadline, "{what}");
}

#[tokio::test(start_paused = true)]
async fn byte_faults_shape_mux_connections() {
    let mut tb = mux_broker(Policy::default()).await;
    tb.broker.arm(FaultSpec::new(Fault::Trickle { bytes: 1, every_ms: 100 })).await.unwrap();
    let attempt = tb.attempt_at(&mux_url(&tb, Transport::Tcp), &doc_example(Transport::Tcp)).await;
    attempt.assert_accepted();
    let mut io = attempt.io.unwrap();
    let sent = Instant::now();
    io.send(&Packet::Pingreq).await.unwrap();
    assert_eq!(io.read().await.unwrap(), Some(Packet::Pingresp));
    assert_eq!(sent.elapsed(), Duration::from_millis(200), "two bytes, one per 100 ms");
}

#[tokio::test]
async fn tls_faults_hit_mux_connections() {
    let mut tb = mux_broker(Policy::default()).await;
    tb.broker.arm(FaultSpec::new(Fault::BadCertificate { cert: BadCert::Untrusted }).times(1)).await.unwrap();
    let options = DialOptions { ca_pem: tb.broker.ca_pem().map(str::to_string), ..DialOptions::default() };
    let url = mux_url(&tb, Transport::Wss);
    let err = connector::dial(&url, &options).await.err().expect("the untrusted certificate is refused");
    assert!(err.to_string().to_lowercase().replace(' ', "").contains("unknownissuer"), "{err}");
    let conn = tb.next_conn().await;
    assert!(matches!(tb.closed(conn).await.0, CloseReason::HandshakeFailed { .. }));
    connector::dial(&url, &options).await.expect("the good certificate again");
}
