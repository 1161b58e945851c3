//! The kit's WebSocket (its own RFC 6455 framing and HTTP upgrade) against an independent
//! implementation, tokio-tungstenite, over real sockets, in both directions: a tungstenite
//! client talks to the broker, and the kit's connector talks to a tungstenite server. Also
//! the upgrade's answers to requests a client gets wrong, and a CONNECT sent behind the
//! upgrade request without waiting for the answer.

mod support;

use futures_util::{SinkExt, StreamExt};
use mock_broker::connector::{self, DialOptions};
use mock_broker::mqtt::Packet;
use mock_broker::{CloseReason, EventKind, Transport};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

/// The next message a tungstenite peer reads, within [`PATIENCE`].
async fn next_message(ws: &mut WebSocketStream<TcpStream>) -> Message {
    timeout(PATIENCE, ws.next()).await.expect("a message in time").expect("the stream is open").expect("a valid frame")
}

/// A binary frame, FIN set or not: a fragment of a message when not.
fn fragment(opcode: Data, bytes: &[u8], fin: bool) -> Message {
    Message::Frame(Frame::message(bytes.to_vec(), OpCode::Data(opcode), fin))
}

#[tokio::test]
async fn a_tungstenite_client_fragments_pings_and_closes() {
    let mut tb = TestBroker::start().await;
    let mut ws = tungstenite_client(&tb, "/mqtt", Some("mqtt")).await.unwrap();
    let conn = tb.next_conn().await;
    // The CONNECT in a fragmented message, a ping between its fragments.
    let connect = doc_example(Transport::Ws);
    let (head, tail) = connect.split_at(5);
    ws.send(fragment(Data::Binary, head, false)).await.unwrap();
    ws.send(Message::Ping("between fragments".into())).await.unwrap();
    ws.send(fragment(Data::Continue, tail, true)).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::Pong("between fragments".into()));
    assert_eq!(next_message(&mut ws).await, Message::Binary(vec![0x20, 2, 0, 0].into()), "CONNACK");
    // A PINGREQ split across two messages, then two in one.
    ws.send(Message::Binary(vec![0xc0].into())).await.unwrap();
    ws.send(Message::Binary(vec![0x00, 0xc0, 0x00, 0xc0, 0x00].into())).await.unwrap();
    for _ in 0..3 {
        assert_eq!(next_message(&mut ws).await, Message::Binary(vec![0xd0, 0].into()), "PINGRESP");
    }
    // The close is answered with its code, and the stream ends.
    ws.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "bye".into() }))).await.unwrap();
    match next_message(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected the close answered, got {other:?}"),
    }
    assert!(timeout(PATIENCE, ws.next()).await.expect("the end in time").is_none());
    assert_eq!(tb.closed(conn).await.0, CloseReason::ClientClosed);
}

/// A tungstenite server on a free port that offers `mqtt` back, runs `script` on the first
/// connection, and returns its URL.
async fn tungstenite_server<F>(script: impl FnOnce(WebSocketStream<TcpStream>) -> F + Send + 'static) -> String
where
    F: Future<Output = ()> + Send,
{
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        // The error type is tungstenite's callback contract.
        #[allow(clippy::result_large_err)]
        let echo_mqtt = |_: &Request, mut response: Response| {
            response.headers_mut().insert("sec-websocket-protocol", "mqtt".parse().unwrap());
            Ok(response)
        };
        script(tokio_tungstenite::accept_hdr_async(tcp, echo_mqtt).await.unwrap()).await;
    });
    format!("ws://{addr}/mqtt")
}

#[tokio::test]
async fn the_connector_talks_to_a_tungstenite_server() {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let url = tungstenite_server(|mut ws| async move {
        // tungstenite refuses unmasked frames from a client: this one was masked.
        assert_eq!(next_message(&mut ws).await, Message::Binary(vec![0xc0, 0].into()), "PINGREQ");
        // Two PINGRESPs: one in a frame of its own with the first byte of the second, the
        // rest in a frame of its own; then a ping and a close.
        ws.send(Message::Binary(vec![0xd0, 0, 0xd0].into())).await.unwrap();
        ws.send(Message::Binary(vec![0].into())).await.unwrap();
        ws.send(Message::Ping("are you there".into())).await.unwrap();
        ws.send(Message::Close(Some(CloseFrame { code: CloseCode::Away, reason: "done".into() }))).await.unwrap();
        let pong = next_message(&mut ws).await;
        let close = next_message(&mut ws).await;
        done_tx.send((pong, close)).unwrap();
    })
    .await;
    let mut io = connector::dial(&url, &DialOptions::default()).await.expect("the upgrade succeeds");
    io.send(&Packet::Pingreq).await.unwrap();
    for _ in 0..2 {
        assert_eq!(timeout(PATIENCE, io.read()).await.unwrap().unwrap(), Some(Packet::Pingresp));
    }
    assert_eq!(timeout(PATIENCE, io.read()).await.unwrap().unwrap(), None, "the close ends the stream");
    let (pong, close) = timeout(PATIENCE, done_rx).await.unwrap().unwrap();
    assert_eq!(pong, Message::Pong("are you there".into()));
    assert!(matches!(&close, Message::Close(Some(frame)) if frame.code == CloseCode::Away), "{close:?}");
}

#[tokio::test]
async fn a_connect_sent_behind_the_upgrade_request_is_read() {
    let mut tb = TestBroker::start().await;
    let mut tcp = TcpStream::connect(tb.broker.addr(Transport::Ws).unwrap()).await.unwrap();
    let conn = tb.next_conn().await;
    let connect = ws_frame(WS_BINARY, Some([9, 8, 7, 6]), &doc_example(Transport::Ws));
    tcp.write_all(&[WS_UPGRADE, &connect].concat()).await.unwrap();
    tb.until(conn, |k| matches!(k, EventKind::Online { .. })).await;
    let mut answer = Vec::new();
    while !answer.ends_with(&[0x82, 4, 0x20, 2, 0, 0]) {
        let mut byte = [0u8];
        timeout(PATIENCE, tcp.read_exact(&mut byte)).await.expect("the answer in time").unwrap();
        answer.push(byte[0]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"), "{}", String::from_utf8_lossy(&answer));
}

#[tokio::test]
async fn a_bad_upgrade_request_is_answered_400_saying_what_was_wrong() {
    let mut tb = TestBroker::start().await;
    let upgrade = std::str::from_utf8(WS_UPGRADE).unwrap();
    // A head that never ends: exactly the cap, all of it read (unread bytes would turn the
    // broker's close into a reset that can beat its answer).
    let start = "GET /mqtt HTTP/1.1\r\nX-Padding: ";
    let oversize = format!("{start}{}", "x".repeat(8192 - start.len()));
    for (request, why) in [
        (upgrade.replacen("GET", "POST", 1), "the method is POST; an upgrade is a GET (RFC 6455 4.1)"),
        (upgrade.replacen("HTTP/1.1", "HTTP/1.0", 1), "HTTP/1.0: an upgrade needs HTTP/1.1 (RFC 6455 4.1)"),
        (upgrade.replacen("Upgrade: websocket\r\n", "", 1), "no Upgrade: websocket header (RFC 6455 4.2.1)"),
        (
            upgrade.replacen("Connection: Upgrade", "Connection: keep-alive", 1),
            "the Connection header does not name Upgrade (RFC 6455 4.2.1)",
        ),
        (
            upgrade.replacen("Version: 13", "Version: 8", 1),
            "Sec-WebSocket-Version is \"8\"; the broker speaks 13 (RFC 6455 4.2.1)",
        ),
        (
            upgrade.replacen("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "", 1),
            "no Sec-WebSocket-Key header (RFC 6455 4.2.1)",
        ),
        ("GET /mqtt HTTP/1.1\r\nHost x\r\n\r\n".to_string(), "malformed request head: invalid header name"),
        (oversize, "the request head is over 8192 bytes"),
    ] {
        let mut tcp = TcpStream::connect(tb.broker.addr(Transport::Ws).unwrap()).await.unwrap();
        let conn = tb.next_conn().await;
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        timeout(PATIENCE, tcp.read_to_string(&mut answer)).await.expect("answered in time").unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{why}: {answer}");
        assert!(answer.ends_with(&format!("\r\n\r\n{why}\n")), "{why}: {answer}");
        let (reason, _) = tb.closed(conn).await;
        let expected = CloseReason::HandshakeFailed { message: format!("WebSocket upgrade: {why}; answered 400") };
        assert_eq!(reason, expected);
    }
}
