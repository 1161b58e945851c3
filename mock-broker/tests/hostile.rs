//! The hostile-client battery: clients that break MQTT, WebSocket, TLS or simply never finish,
//! one table of cases driven through one helper ([`Battery::run`]).
//!
//! Each case names a transport, what the client does (bytes before any handshake, after the
//! handshakes, or after an accepted CONNECT; or nothing at all, or never reading), and the
//! close the broker must give it with the rule or reason the transcript names. Throughout,
//! a well-behaved device on another connection pings and gets its PINGRESP before the case,
//! while the hostile connection is open, and after it closed: a hostile client ends only its
//! own connection. Limits of their own (connection count, CONNECT cap, subscription floods)
//! are `limits.rs`'s.

mod support;

use mock_broker::Delivery;
use mock_broker::Event;
use mock_broker::mqtt::QoS;
use mock_broker::{CloseReason, EventKind, Outcome, Policy, Rule, Transport};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

/// The hostile cases' deadline before CONNECT: short, so that slowloris cases end quickly.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(800);
/// The well-behaved device, beside the vectors' `device` which the hostile clients use.
/// The topic the never-reading device subscribes to.
const DOWNLINK: &str = "/pk/device/user/get";
/// What the broker allows a write to a client that does not read, plus a margin.
const NEVER_READ_BOUND: Duration = Duration::from_secs(10 + 5);

/// Where the client's bytes go.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// On a fresh TCP connection to the transport's port, before any handshake.
    Raw,
    /// On the mux's port, before any handshake.
    RawMux,
    /// After the transport's TLS and WebSocket handshakes (on WebSocket, in one binary frame).
    Handshaken,
    /// On a ws connection upgraded by hand: the bytes are raw WebSocket frames.
    Upgraded,
    /// After a CONNECT the broker accepted.
    Connected,
}

/// What the hostile client does.
#[derive(Clone, Debug)]
enum Act {
    /// Sends these bytes at that stage, then waits, holding the connection open.
    Send(Stage, Vec<u8>),
    /// CONNECTs over raw TCP with a tiny receive buffer, subscribes and never reads, while
    /// the cloud side publishes large downlinks to it.
    NeverReads,
}

/// The close the case must end with.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// `CloseReason::Violation` naming this rule or MQTT statement.
    Violation(&'static str),
    /// `CloseReason::Violation` naming this rule, after a failed verdict on it.
    Verdict(Rule),
    /// `CloseReason::ConnectTimeout` after the connect deadline.
    Timeout,
    /// `CloseReason::HandshakeFailed` whose message says this.
    Handshake(&'static str),
    /// `CloseReason::Limit` naming this limit (a `Policy` field), within the bound a client
    /// that never reads is held.
    Limit(&'static str),
}

struct Case {
    name: &'static str,
    transport: Transport,
    act: Act,
    expect: Expect,
}

fn case(name: &'static str, transport: Transport, act: Act, expect: Expect) -> Case {
    Case { name, transport, act, expect }
}

/// A fixed header and body: one packet as raw bytes (bodies here are under 128 bytes).
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128);
    [&[first, body.len() as u8][..], body].concat()
}

/// A length-prefixed MQTT string of raw bytes.
fn string(raw: &[u8]) -> Vec<u8> {
    [&(raw.len() as u16).to_be_bytes()[..], raw].concat()
}

/// A CONNECT with this raw clientId and username (MQTT 3.1.1, keepalive 60, no password).
fn raw_connect(client_id: &[u8], username: &[u8]) -> Vec<u8> {
    let body = [&string(b"MQTT")[..], &[4, 0x82, 0, 60], &string(client_id), &string(username)].concat();
    packet(0x10, &body)
}

/// A QoS 0 PUBLISH to this raw topic.
fn raw_publish(topic: &[u8]) -> Vec<u8> {
    packet(0x30, &[&string(topic)[..], b"{}"].concat())
}

/// A SUBSCRIBE (packet id 1) of this raw filter at QoS 0.
fn raw_subscribe(filter: &[u8]) -> Vec<u8> {
    packet(0x82, &[&[0, 1][..], &string(filter), &[0]].concat())
}

/// One client frame around `payload`, masked or not.
fn frame(opcode: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    ws_frame(opcode, masked.then_some([0x5a, 0x0f, 0xc3, 0x96]), payload)
}

/// `frame` with its first byte's flags (FIN, RSV1-3) replaced by `flags`, its opcode kept.
fn with_first_byte(flags: u8, frame: &[u8]) -> Vec<u8> {
    [&[flags | (frame[0] & 0x0F)][..], &frame[1..]].concat()
}

/// The first bytes of a TLS ClientHello: a handshake record announcing 512 bytes, 9 sent.
const HALF_CLIENT_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];

fn cases() -> Vec<Case> {
    use Act::Send;
    use Expect::*;
    use Stage::*;
    use mock_broker::Transport::{Tcp, Tls, Ws, Wss};
    let connect = doc_example(Tcp);
    let half_connect = connect[..connect.len() / 2].to_vec();
    let mut cases = vec![
        // Garbage before CONNECT.
        case("garbage_reserved_type", Tcp, Send(Raw, vec![0xff; 16]), Violation("MQTT-2.2.1")),
        case("garbage_http_on_tcp", Tcp, Send(Raw, b"GET / HTTP/1.1\r\n\r\n".to_vec()), Violation("MQTT-2.2.2-1")),
        case("garbage_text_on_tls", Tls, Send(Raw, b"hello, broker\r\n".to_vec()), Handshake("TLS")),
        case("garbage_on_the_mux", Tcp, Send(RawMux, b"\x00\x01garbage".to_vec()), Violation("T-MUX")),
        case(
            "http_without_upgrade",
            Ws,
            Send(Raw, b"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
            Handshake("WebSocket"),
        ),
        // Packets before CONNECT, of every type a client may send.
        case(
            "publish_before_connect",
            Wss,
            Send(Handshaken, raw_publish(b"/pk/device/user/a")),
            Violation("MQTT-3.1.0-1"),
        ),
        case("puback_before_connect", Tcp, Send(Handshaken, packet(0x40, &[0, 1])), Violation("MQTT-3.1.0-1")),
        case("pubrec_before_connect", Tls, Send(Handshaken, packet(0x50, &[0, 1])), Violation("MQTT-3.1.0-1")),
        case("pubrel_before_connect", Ws, Send(Handshaken, packet(0x62, &[0, 1])), Violation("MQTT-3.1.0-1")),
        case("pubcomp_before_connect", Wss, Send(Handshaken, packet(0x70, &[0, 1])), Violation("MQTT-3.1.0-1")),
        case("subscribe_before_connect", Tcp, Send(Handshaken, raw_subscribe(b"/a")), Violation("MQTT-3.1.0-1")),
        case(
            "unsubscribe_before_connect",
            Tls,
            Send(Handshaken, packet(0xa2, &[&[0, 1][..], &string(b"/a")].concat())),
            Violation("MQTT-3.1.0-1"),
        ),
        case("pingreq_before_connect", Ws, Send(Handshaken, packet(0xc0, &[])), Violation("MQTT-3.1.0-1")),
        case("disconnect_before_connect", Wss, Send(Handshaken, packet(0xe0, &[])), Violation("MQTT-3.1.0-1")),
        // A second CONNECT.
        case("second_connect", Tls, Send(Connected, doc_example(Tls)), Violation("MQTT-3.1.0-2")),
        // Remaining lengths.
        case(
            "connect_over_the_packet_limit",
            Tcp,
            Send(Raw, vec![0x10, 0x80, 0x80, 0x80, 0x60]),
            Limit("max_connect_len"),
        ),
        case(
            "subscribe_over_the_packet_limit",
            Ws,
            Send(Connected, vec![0x82, 0x80, 0x80, 0x80, 0x01]),
            Violation("limit"),
        ),
        case(
            "publish_over_the_packet_limit",
            Tcp,
            Send(Connected, vec![0x30, 0x80, 0x80, 0x80, 0x01]),
            Verdict(Rule::SPayload),
        ),
        case(
            "remaining_length_of_5_bytes",
            Tcp,
            Send(Raw, vec![0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Violation("MQTT-2.2.3"),
        ),
        case(
            "remaining_length_of_5_bytes_connected",
            Wss,
            Send(Connected, vec![0xc0, 0x80, 0x80, 0x80, 0x80, 0x01]),
            Violation("MQTT-2.2.3"),
        ),
        // Reserved fixed-header flags, each packet type a client sends.
        case("flags_connect", Tcp, Send(Raw, [&[0x11][..], &connect[1..]].concat()), Violation("MQTT-2.2.2-1")),
        case(
            "flags_publish_qos3",
            Tcp,
            Send(Connected, packet(0x36, &[&string(b"/a")[..], &[0, 1]].concat())),
            Violation("MQTT-3.3.1-4"),
        ),
        case("flags_publish_dup_qos0", Ws, Send(Connected, packet(0x38, &string(b"/a"))), Violation("MQTT-3.3.1-2")),
        case("flags_puback", Tls, Send(Connected, packet(0x41, &[0, 1])), Violation("MQTT-2.2.2-1")),
        case("flags_pubrec", Wss, Send(Connected, packet(0x52, &[0, 1])), Violation("MQTT-2.2.2-1")),
        case("flags_pubrel", Tcp, Send(Connected, packet(0x60, &[0, 1])), Violation("MQTT-2.2.2-1")),
        case("flags_pubcomp", Ws, Send(Connected, packet(0x78, &[0, 1])), Violation("MQTT-2.2.2-1")),
        case(
            "flags_subscribe",
            Tls,
            Send(Connected, [&[0x80][..], &raw_subscribe(b"/a")[1..]].concat()),
            Violation("MQTT-2.2.2-1"),
        ),
        case(
            "flags_unsubscribe",
            Wss,
            Send(Connected, packet(0xa0, &[&[0, 1][..], &string(b"/a")].concat())),
            Violation("MQTT-2.2.2-1"),
        ),
        case("flags_pingreq", Tcp, Send(Connected, packet(0xc1, &[])), Violation("MQTT-2.2.2-1")),
        case("flags_disconnect", Ws, Send(Connected, packet(0xe4, &[])), Violation("MQTT-2.2.2-1")),
        // Strings: ill-formed UTF-8 and U+0000.
        case(
            "client_id_invalid_utf8",
            Tcp,
            Send(Raw, raw_connect(b"dev\xc3\x28|securemode=3|", b"device&pk")),
            Violation("MQTT-1.5.3-1"),
        ),
        case(
            "client_id_nul",
            Ws,
            Send(Handshaken, raw_connect(b"dev\0|securemode=3|", b"device&pk")),
            Violation("MQTT-1.5.3-2"),
        ),
        case(
            "username_invalid_utf8",
            Tls,
            Send(Handshaken, raw_connect(b"12345|securemode=2|", b"device\xed\xa0\x80&pk")),
            Violation("MQTT-1.5.3-1"),
        ),
        case(
            "username_nul",
            Wss,
            Send(Handshaken, raw_connect(b"12345|securemode=2|", b"device\0&pk")),
            Violation("MQTT-1.5.3-2"),
        ),
        case("topic_invalid_utf8", Tcp, Send(Connected, raw_publish(b"/pk/device/\xff")), Violation("MQTT-1.5.3-1")),
        case("topic_nul", Tls, Send(Connected, raw_publish(b"/pk/device/\0")), Violation("MQTT-1.5.3-2")),
        case("filter_invalid_utf8", Ws, Send(Connected, raw_subscribe(b"/pk/\xc0\xaf")), Violation("MQTT-1.5.3-1")),
        case("filter_nul", Wss, Send(Connected, raw_subscribe(b"/pk/\0/#")), Violation("MQTT-1.5.3-2")),
        // Wildcards in a PUBLISH topic; empty SUBSCRIBE and UNSUBSCRIBE.
        case("publish_topic_with_hash", Tcp, Send(Connected, raw_publish(b"/pk/device/#")), Violation("MQTT-3.3.2-2")),
        case("publish_topic_with_plus", Wss, Send(Connected, raw_publish(b"/pk/+/user")), Violation("MQTT-3.3.2-2")),
        case("empty_subscribe", Tls, Send(Connected, packet(0x82, &[0, 1])), Violation("MQTT-3.8.3-3")),
        case("empty_unsubscribe", Ws, Send(Connected, packet(0xa2, &[0, 1])), Violation("MQTT-3.10.3-2")),
        // Server-only packets from a client, before and after CONNECT.
        case("connack_before_connect", Tcp, Send(Raw, packet(0x20, &[0, 0])), Violation("MQTT-3.2")),
        case("suback_before_connect", Ws, Send(Handshaken, packet(0x90, &[0, 1, 0])), Violation("MQTT-3.9")),
        case("unsuback_before_connect", Tls, Send(Handshaken, packet(0xb0, &[0, 1])), Violation("MQTT-3.11")),
        case("pingresp_before_connect", Wss, Send(Handshaken, packet(0xd0, &[])), Violation("MQTT-3.13")),
        case("connack_connected", Wss, Send(Connected, packet(0x20, &[0, 0])), Violation("MQTT-3.2")),
        case("suback_connected", Tcp, Send(Connected, packet(0x90, &[0, 1, 0])), Violation("MQTT-3.9")),
        case("unsuback_connected", Ws, Send(Connected, packet(0xb0, &[0, 1])), Violation("MQTT-3.11")),
        case("pingresp_connected", Tls, Send(Connected, packet(0xd0, &[])), Violation("MQTT-3.13")),
        // WebSocket framing.
        case("ws_text_frame", Ws, Send(Upgraded, frame(WS_TEXT, true, b"CONNECT")), Verdict(Rule::TWs)),
        case("ws_text_frame_not_utf8", Ws, Send(Upgraded, frame(WS_TEXT, true, &connect)), Verdict(Rule::TWs)),
        case(
            "ws_oversize_frame",
            Ws,
            Send(Upgraded, ws_frame_header(WS_BINARY, Some([1, 2, 3, 4]), 1 << 30)),
            Verdict(Rule::SPayload),
        ),
        case("ws_unmasked_frame", Ws, Send(Upgraded, frame(WS_BINARY, false, &connect)), Verdict(Rule::TWs)),
        case("ws_continuation_without_start", Ws, Send(Upgraded, frame(0x0, true, &connect)), Verdict(Rule::TWs)),
        case("ws_reserved_opcode", Ws, Send(Upgraded, frame(0x3, true, &connect)), Verdict(Rule::TWs)),
        case(
            "ws_reserved_bits",
            Ws,
            Send(Upgraded, with_first_byte(0x40, &frame(WS_BINARY, true, &connect))),
            Verdict(Rule::TWs),
        ),
        case(
            "ws_fragmented_ping",
            Ws,
            Send(Upgraded, with_first_byte(0, &frame(WS_PING, true, b"x"))),
            Verdict(Rule::TWs),
        ),
        case(
            "ws_new_message_inside_a_fragmented_one",
            Ws,
            Send(
                Upgraded,
                [with_first_byte(0, &frame(WS_BINARY, true, &connect[..4])), frame(WS_BINARY, true, &connect)].concat(),
            ),
            Verdict(Rule::TWs),
        ),
        case(
            "ws_length_with_its_top_bit_set",
            Ws,
            Send(Upgraded, [&[0x80 | WS_BINARY, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1][..], &[1, 2, 3, 4]].concat()),
            Verdict(Rule::TWs),
        ),
        // Slowloris at every stage: silence, half a TLS handshake, half an upgrade, half a CONNECT.
        case("silence_tcp", Tcp, Send(Raw, Vec::new()), Timeout),
        case("silence_ws", Ws, Send(Raw, Vec::new()), Timeout),
        case("silence_tls", Tls, Send(Raw, Vec::new()), Timeout),
        case("silence_wss", Wss, Send(Raw, Vec::new()), Timeout),
        case("silence_mux", Tcp, Send(RawMux, Vec::new()), Timeout),
        case("half_client_hello_tls", Tls, Send(Raw, HALF_CLIENT_HELLO.to_vec()), Timeout),
        case("half_client_hello_wss", Wss, Send(Raw, HALF_CLIENT_HELLO.to_vec()), Timeout),
        case("half_client_hello_mux", Tls, Send(RawMux, HALF_CLIENT_HELLO.to_vec()), Timeout),
        case("half_upgrade_ws", Ws, Send(Raw, WS_UPGRADE[..40].to_vec()), Timeout),
        case("half_upgrade_mux", Ws, Send(RawMux, WS_UPGRADE[..40].to_vec()), Timeout),
        case("half_connect_tcp", Tcp, Send(Raw, half_connect.clone()), Timeout),
        case("half_connect_ws", Ws, Send(Handshaken, half_connect.clone()), Timeout),
        case("half_connect_tls", Tls, Send(Handshaken, half_connect.clone()), Timeout),
        case("half_connect_wss", Wss, Send(Handshaken, half_connect), Timeout),
        // A client that never reads.
        case("never_reads", Tcp, Act::NeverReads, Expect::Limit("write_timeout")),
    ];
    cases.sort_by_key(|c| c.name);
    cases
}

/// A broker with the vectors' device (for the hostile clients) and the observer's, on the
/// four transports and the mux, with a short connect deadline.
struct Battery {
    tb: TestBroker,
    observer: Observer,
}

impl Battery {
    async fn start() -> Battery {
        let policy = Policy { connect_timeout: CONNECT_TIMEOUT, ..Policy::default() };
        let (mut tb, observer) = with_observer(policy).await;
        // The never-reading client's connection is quiet while its write waits to time out.
        tb.patience = NEVER_READ_BOUND;
        Battery { tb, observer }
    }

    /// The observer pings and is answered.
    async fn observer_served(&mut self, case: &str, when: &str) {
        if let Err(e) = self.observer.served().await {
            panic!("{case}: {e} {when} the case");
        }
    }

    /// Runs one case: the observer is served before, during and after, and the hostile
    /// connection ends as expected, naming its rule.
    async fn run(&mut self, case: &Case) {
        self.observer_served(case.name, "before").await;
        let started = tokio::time::Instant::now();
        let (conn, held) = self.act(case).await;
        self.observer_served(case.name, "during").await;
        let transcript = self.tb.until(conn, |k| matches!(k, EventKind::Closed { .. })).await;
        let took = started.elapsed();
        drop(held);
        self.observer_served(case.name, "after").await;
        check(case, &transcript, took);
    }

    /// Starts the case's client; returns its connection id and what must stay open.
    async fn act(&mut self, case: &Case) -> (u64, Held) {
        match &case.act {
            Act::NeverReads => self.never_reads().await,
            Act::Send(stage @ (Stage::Raw | Stage::RawMux), bytes) => {
                let addr = match stage {
                    Stage::RawMux => self.tb.broker.mux_addr(),
                    _ => self.tb.broker.addr(case.transport),
                };
                let mut tcp = TcpStream::connect(addr.expect("served")).await.expect("the broker accepts");
                let conn = self.tb.next_conn().await;
                tcp.write_all(bytes).await.expect("the bytes are written");
                (conn, Held::open(tcp))
            }
            Act::Send(Stage::Upgraded, bytes) => {
                let mut tcp = TcpStream::connect(self.tb.broker.addr(case.transport).expect("served")).await.unwrap();
                let conn = self.tb.next_conn().await;
                let head = ws_upgrade_by_hand(&mut tcp).await;
                assert!(head.starts_with("HTTP/1.1 101"), "{}: the upgrade is refused: {head}", case.name);
                tcp.write_all(bytes).await.expect("the frames are written");
                (conn, Held::open(tcp))
            }
            Act::Send(Stage::Handshaken, bytes) => {
                let mut io = self.tb.dial(case.transport).await;
                let conn = self.tb.next_conn().await;
                io.write_bytes(bytes).await.expect("the bytes are written");
                (conn, Held::open(io))
            }
            Act::Send(Stage::Connected, bytes) => {
                let attempt = self.tb.attempt(case.transport, &doc_example(case.transport)).await;
                attempt.assert_accepted();
                let conn = attempt.transcript[0].conn;
                let mut io = attempt.io.expect("online");
                io.write_bytes(bytes).await.expect("the bytes are written");
                (conn, Held::open(io))
            }
        }
    }

    /// A device that CONNECTs over raw TCP with a small receive buffer, subscribes, and
    /// never reads while the cloud side publishes large downlinks to it.
    async fn never_reads(&mut self) -> (u64, Held) {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.set_recv_buffer_size(4096).expect("a small receive buffer");
        let mut tcp = socket.connect(self.tb.broker.addr(Transport::Tcp).unwrap()).await.expect("connected");
        let conn = self.tb.next_conn().await;
        tcp.write_all(&doc_example(Transport::Tcp)).await.expect("CONNECT is written");
        tcp.write_all(&raw_subscribe(DOWNLINK.as_bytes())).await.expect("SUBSCRIBE is written");
        self.tb.until(conn, |k| matches!(k, EventKind::PacketOut(p) if p.packet == "SUBACK")).await;
        let broker = self.tb.broker.clone();
        let flood = tokio::spawn(async move {
            let _client = tcp;
            let payload = bytes::Bytes::from(vec![b'x'; 128 * 1024]);
            while let Ok(Delivery::Delivered { .. }) =
                broker.publish(PK, DN, DOWNLINK, payload.clone(), QoS::AtMostOnce).await
            {}
        });
        (conn, Held { _open: None, task: Some(flood) })
    }
}

/// What a case's client keeps open until its close is seen: its connection, or the task
/// that owns it (aborted on drop).
struct Held {
    _open: Option<Box<dyn std::any::Any + Send>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Held {
    fn open(connection: impl std::any::Any + Send) -> Held {
        Held { _open: Some(Box::new(connection)), task: None }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The close is the one expected, and the transcript names the rule.
fn check(case: &Case, transcript: &[Arc<Event>], took: Duration) {
    let name = case.name;
    let Some(EventKind::Closed { reason }) = transcript.last().map(|e| &e.kind) else {
        unreachable!("the transcript ends with the close")
    };
    match case.expect {
        Expect::Violation(rule) => {
            assert!(matches!(reason, CloseReason::Violation { rule: r, .. } if r == rule), "{name}: {reason:?}")
        }
        Expect::Verdict(rule) => {
            assert!(matches!(reason, CloseReason::Violation { rule: r, .. } if r == rule.id()), "{name}: {reason:?}");
            let failed = transcript
                .iter()
                .any(|e| matches!(&e.kind, EventKind::Verdict(v) if v.rule == rule && v.outcome == Outcome::Fail));
            assert!(failed, "{name}: no failed {rule} verdict in {transcript:#?}");
        }
        Expect::Timeout => {
            assert_eq!(
                reason,
                &CloseReason::ConnectTimeout { timeout_ms: CONNECT_TIMEOUT.as_millis() as u64 },
                "{name}"
            );
            assert!(took < CONNECT_TIMEOUT + PATIENCE, "{name}: closed after {took:?}");
        }
        Expect::Handshake(words) => assert!(
            matches!(reason, CloseReason::HandshakeFailed { message } if message.contains(words)),
            "{name}: {reason:?}"
        ),
        Expect::Limit(name_of) => {
            assert!(matches!(reason, CloseReason::Limit { limit, .. } if limit == name_of), "{name}: {reason:?}");
            assert!(took < NEVER_READ_BOUND, "{name}: the connection was held for {took:?}");
        }
    }
}

/// Runs every case over `transport` on a broker of its own, one after the other.
async fn battery(transport: Transport) {
    let mut battery = Battery::start().await;
    let cases: Vec<_> = cases().into_iter().filter(|c| c.transport == transport).collect();
    assert!(!cases.is_empty());
    for case in &cases {
        battery.run(case).await;
    }
}

#[test]
fn the_battery_has_at_least_50_cases_with_distinct_names() {
    let cases = cases();
    let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names repeat");
    assert!(cases.len() >= 50, "{} cases", cases.len());
}

#[tokio::test]
async fn hostile_tcp_clients_end_only_their_own_connection() {
    battery(Transport::Tcp).await;
}

#[tokio::test]
async fn hostile_ws_clients_end_only_their_own_connection() {
    battery(Transport::Ws).await;
}

#[tokio::test]
async fn hostile_tls_clients_end_only_their_own_connection() {
    battery(Transport::Tls).await;
}

#[tokio::test]
async fn hostile_wss_clients_end_only_their_own_connection() {
    battery(Transport::Wss).await;
}
