//! Shared helpers of the broker's integration tests: a broker with the test vectors'
//! identity (`mock_broker::auth::vectors`), CONNECT packets encoded by mqttbytes (an encoder
//! that is not ours), and real connections over every transport.
#![allow(dead_code)] // each test binary uses its own subset of these helpers

pub mod http;

use bytes::BytesMut;
use mock_broker::connector::{self, DialOptions};
use mock_broker::events::{Event, EventKind, EventStream};
use mock_broker::mqtt::{ConnackCode, Packet};
use mock_broker::wire::PacketIo;
use mock_broker::{Broker, CloseReason, Outcome, Policy, Rule, Transport, Verdict};
use std::sync::Arc;
use std::time::Duration;

/// The identity of the test vectors (`mock_broker::auth::vectors`).
pub const PK: &str = "pk";
pub const DN: &str = "device";
pub const SECRET: &str = "secret";

/// How long a test waits for anything the broker does on loopback.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A started broker with the vectors' device, and a subscription to its events.
pub struct TestBroker {
    /// Shared, so a control endpoint or a scenario player can hold it too.
    pub broker: Arc<Broker>,
    pub events: EventStream,
    /// How long to wait for an event: [`PATIENCE`], or longer for paused-clock tests whose
    /// broker timers lie minutes ahead.
    pub patience: Duration,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        Self::with_policy(Policy::default()).await
    }

    pub async fn with_policy(policy: Policy) -> TestBroker {
        let broker = Broker::builder().device(PK, DN, SECRET).policy(policy).start().await.expect("the broker starts");
        Self::wrap(broker)
    }

    /// A broker for a paused clock, `policy` otherwise: timers minutes ahead are reached at
    /// once, so the connect timeout (24 h) and the test's patience (1 h) lie beyond them.
    pub async fn paused(policy: Policy) -> TestBroker {
        let mut tb = Self::with_policy(Policy { connect_timeout: Duration::from_secs(24 * 3600), ..policy }).await;
        tb.patience = Duration::from_secs(3600);
        tb
    }

    /// Wraps a broker built by the test itself.
    pub fn wrap(broker: Broker) -> TestBroker {
        TestBroker { events: broker.events(), broker: Arc::new(broker), patience: PATIENCE }
    }

    /// Connects over `transport`, trusting the broker's CA.
    pub async fn dial(&self, transport: Transport) -> PacketIo {
        self.dial_with(transport, &DialOptions::default()).await
    }

    pub async fn dial_with(&self, transport: Transport, options: &DialOptions) -> PacketIo {
        let url = self.broker.url(transport).expect("the transport is served");
        self.dial_url(&url, options).await
    }

    /// Connects to `url` (the mux's, say), trusting the broker's CA.
    pub async fn dial_url(&self, url: &str, options: &DialOptions) -> PacketIo {
        let options = DialOptions { ca_pem: self.broker.ca_pem().map(str::to_string), ..options.clone() };
        connector::dial(url, &options).await.unwrap_or_else(|e| panic!("dialing {url}: {e}"))
    }

    /// Sends `connect` (raw bytes) on a new connection and returns the CONNACK code (None if
    /// the broker closed without one) with the connection's whole transcript.
    pub async fn attempt(&mut self, transport: Transport, connect: &[u8]) -> Attempt {
        let url = self.broker.url(transport).expect("the transport is served");
        self.attempt_at(&url, connect).await
    }

    /// [`TestBroker::attempt`] on `url`.
    pub async fn attempt_at(&mut self, url: &str, connect: &[u8]) -> Attempt {
        let mut io = self.dial_url(url, &DialOptions::default()).await;
        io.write_bytes(connect).await.expect("CONNECT is written");
        let code = read_connack(&mut io).await;
        let accepted = self.next_accepted().await;
        let conn = accepted.conn;
        let mut transcript = vec![accepted];
        if code != Some(ConnackCode::Accepted) {
            let rest = self.events.transcript(conn, self.patience).await;
            transcript.extend(rest.unwrap_or_else(|e| panic!("the transcript of connection #{conn} has a gap: {e}")));
            return Attempt { code, transcript, io: None };
        }
        transcript.extend(self.until(conn, |k| matches!(k, EventKind::Online { .. })).await);
        Attempt { code, transcript, io: Some(io) }
    }

    /// The id of the next connection accepted.
    pub async fn next_conn(&mut self) -> u64 {
        self.next_accepted().await.conn
    }

    /// The `accepted` event of the next connection.
    pub async fn next_accepted(&mut self) -> Arc<Event> {
        self.events
            .wait_for(self.patience, |e| matches!(e.kind, EventKind::Accepted { .. }))
            .await
            .unwrap_or_else(|e| panic!("a connection is accepted: {e}"))
    }

    /// Events of `conn` up to and including the first one `stop` accepts.
    pub async fn until(&mut self, conn: u64, stop: impl Fn(&EventKind) -> bool) -> Vec<Arc<Event>> {
        let mut seen = Vec::new();
        loop {
            let event = self
                .events
                .wait_for(self.patience, |e| e.conn == conn)
                .await
                .unwrap_or_else(|e| panic!("connection #{conn}: {e}; so far: {seen:#?}"));
            let done = stop(&event.kind);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }

    /// Waits for connection `conn` to close and returns why.
    pub async fn closed(&mut self, conn: u64) -> (CloseReason, Duration) {
        let events = self.until(conn, |k| matches!(k, EventKind::Closed { .. })).await;
        let last = events.last().expect("at least the close");
        match &last.kind {
            EventKind::Closed { reason } => (reason.clone(), last.at),
            _ => unreachable!("until stops at Closed"),
        }
    }
}

/// The result of one CONNECT.
pub struct Attempt {
    pub code: Option<ConnackCode>,
    pub transcript: Vec<Arc<Event>>,
    /// The open connection, when accepted.
    pub io: Option<PacketIo>,
}

impl Attempt {
    /// The verdicts in the transcript.
    pub fn verdicts(&self) -> Vec<&Verdict> {
        self.transcript
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Verdict(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    /// The verdict on `rule`; panics with the whole transcript when there is none.
    pub fn verdict(&self, rule: Rule) -> &Verdict {
        self.verdicts()
            .into_iter()
            .find(|v| v.rule == rule)
            .unwrap_or_else(|| panic!("no verdict on {rule}: {:#?}", self.transcript))
    }

    /// Asserts a refusal with `code`, blamed on `rule` both in a failed verdict and in the close.
    pub fn assert_refused(&self, code: ConnackCode, rule: Rule) -> &Verdict {
        assert_eq!(self.code, Some(code), "CONNACK code; transcript: {:#?}", self.transcript);
        let verdict = self.verdict(rule);
        assert_eq!(verdict.outcome, Outcome::Fail, "{verdict:#?}");
        let closed = self.transcript.iter().find_map(|e| match &e.kind {
            EventKind::Closed { reason } => Some(reason.clone()),
            _ => None,
        });
        assert_eq!(closed, Some(CloseReason::Refused { code, rule: rule.id().to_string() }));
        verdict
    }

    /// Asserts an accepted CONNECT with no failed verdict.
    pub fn assert_accepted(&self) {
        assert_eq!(self.code, Some(ConnackCode::Accepted), "transcript: {:#?}", self.transcript);
        let failed: Vec<_> = self.verdicts().into_iter().filter(|v| v.outcome == Outcome::Fail).collect();
        assert!(failed.is_empty(), "failed verdicts on an accepted CONNECT: {failed:#?}");
    }
}

/// Reads packets until CONNACK; None if the connection closes first.
pub async fn read_connack(io: &mut PacketIo) -> Option<ConnackCode> {
    match tokio::time::timeout(PATIENCE, io.read()).await.expect("the broker answers CONNECT in time") {
        Ok(Some(Packet::Connack(ack))) => Some(ack.code),
        Ok(Some(other)) => panic!("expected CONNACK, got {other:?}"),
        Ok(None) | Err(_) => None,
    }
}

/// A CONNECT encoded by mqttbytes (MQTT 3.1.1).
pub fn connect_bytes(client_id: &str, username: &str, password: &str, keep_alive: u16) -> Vec<u8> {
    let mut connect = mqttbytes::v4::Connect::new(client_id);
    connect.keep_alive = keep_alive;
    connect.set_login(username, password);
    let mut buf = BytesMut::new();
    connect.write(&mut buf).expect("mqttbytes encodes the CONNECT");
    buf.to_vec()
}

/// The doc's worked example (clientId 12345, timestamp 789, hmacsha1; password V1) with the
/// securemode `transport` needs.
pub fn doc_example(transport: Transport) -> Vec<u8> {
    let client_id = format!("12345|securemode={},signmethod=hmacsha1,timestamp=789|", transport.expected_securemode());
    connect_bytes(&client_id, "device&pk", mock_broker::auth::vectors::V1.signature, 60)
}

/// The client side of an HTTP upgrade to WebSocket on `/mqtt`, offering `mqtt`, as raw bytes.
pub const WS_UPGRADE: &[u8] = b"GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n";

/// WebSocket opcodes of RFC 6455.
pub const WS_TEXT: u8 = 0x1;
pub const WS_BINARY: u8 = 0x2;
pub const WS_PING: u8 = 0x9;

/// The header of a client WebSocket frame (FIN set) of `opcode` announcing `len` bytes,
/// masked with `mask` (a client must mask; `None` sends it unmasked).
pub fn ws_frame_header(opcode: u8, mask: Option<[u8; 4]>, len: u64) -> Vec<u8> {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![0x80 | opcode];
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xffff => out.extend([&[mask_bit | 126][..], &(len as u16).to_be_bytes()].concat()),
        _ => out.extend([&[mask_bit | 127][..], &len.to_be_bytes()].concat()),
    }
    out.extend(mask.unwrap_or_default().iter().take(if mask.is_some() { 4 } else { 0 }));
    out
}

/// A whole client WebSocket frame of `opcode` around `payload`, masked with `mask` or not.
pub fn ws_frame(opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = ws_frame_header(opcode, mask, payload.len() as u64);
    let key = mask.unwrap_or_default();
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// The packets of a short, valid session over `transport` after the doc example's CONNECT
/// (see [`session_bytes`]): SUBSCRIBE, PUBLISH at QoS 0 and 1, PINGREQ, UNSUBSCRIBE,
/// DISCONNECT.
pub fn session_packets() -> Vec<Packet> {
    use mock_broker::mqtt::{QoS, Subscribe, Unsubscribe};
    let publish = uplink;
    vec![
        Packet::Subscribe(Subscribe { packet_id: 1, filters: vec![("/pk/device/user/get".into(), QoS::AtLeastOnce)] }),
        publish(QoS::AtMostOnce, None),
        publish(QoS::AtLeastOnce, Some(2)),
        Packet::Pingreq,
        Packet::Unsubscribe(Unsubscribe { packet_id: 3, filters: vec!["/pk/device/user/get".into()] }),
        Packet::Disconnect,
    ]
}

/// A PUBLISH a device sends on its own `/pk/device/user/update`.
pub fn uplink(qos: mock_broker::mqtt::QoS, packet_id: Option<u16>) -> Packet {
    Packet::Publish(mock_broker::mqtt::Publish {
        dup: false,
        qos,
        retain: false,
        topic: "/pk/device/user/update".into(),
        packet_id,
        payload: bytes::Bytes::from_static(b"{\"temperature\":21.5}"),
    })
}

/// Packets encoded back to back by the crate's encoder.
pub fn encoded(packets: &[Packet]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for packet in packets {
        mock_broker::mqtt::encode(packet, &mut buf).expect("the packets encode");
    }
    buf.to_vec()
}

/// A valid session's bytes over `transport`: the doc example's CONNECT, then
/// [`session_packets`].
pub fn session_bytes(transport: Transport) -> Vec<u8> {
    [doc_example(transport), encoded(&session_packets())].concat()
}

/// A WebSocket client that is not ours (tokio-tungstenite) on `tb`'s ws listener at `path`,
/// offering `subprotocols` (`None`: no header): an independent check of the broker's upgrade
/// and frames, and a way to send what `PacketIo` never sends.
pub async fn tungstenite_client(
    tb: &TestBroker,
    path: &str,
    subprotocols: Option<&str>,
) -> Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>, String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let addr = tb.broker.addr(Transport::Ws).expect("a ws listener");
    let mut request = format!("ws://{addr}{path}").into_client_request().expect("a valid request");
    if let Some(offered) = subprotocols {
        request.headers_mut().insert("sec-websocket-protocol", offered.parse().expect("a header value"));
    }
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("the broker accepts");
    tokio_tungstenite::client_async(request, tcp).await.map(|(ws, _)| ws).map_err(|e| e.to_string())
}

/// Waits for a `mock-broker` child's ready file, failing with the broker's stderr if it never comes.
pub fn wait_ready(child: &mut std::process::Child, path: &std::path::Path) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(path) {
            return serde_json::from_str(&text).expect("the ready file is JSON");
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("mock-broker exited with {status}: {err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no ready file within 20 s");
}

/// Sends [`WS_UPGRADE`] on `tcp` and reads the broker's answer up to the end of its head:
/// a client must wait for it before its first frame (RFC 6455 4.1; the broker would still
/// read frames pipelined behind the request). Returns the head, which says whether it was a
/// 101.
pub async fn ws_upgrade_by_hand(tcp: &mut tokio::net::TcpStream) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(WS_UPGRADE).await.expect("the upgrade request is written");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        match tokio::time::timeout(PATIENCE, tcp.read(&mut byte)).await.expect("the broker answers the upgrade") {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A CONNECT of the test device signed with hmacsha1 for the clientId prefix of `client_id`
/// (no timestamp), keepalive 60 s.
pub fn signed_connect(client_id: &str, clean_session: bool) -> Vec<u8> {
    let content = mock_broker::auth::sign_content(Some(client_id.split('|').next().unwrap()), DN, PK, None);
    let password = mock_broker::auth::sign(mock_broker::auth::SignMethod::HmacSha1, SECRET, &content);
    let mut connect = mqttbytes::v4::Connect::new(client_id);
    connect.keep_alive = 60;
    connect.clean_session = clean_session;
    connect.set_login("device&pk", password.as_str());
    let mut buf = bytes::BytesMut::new();
    connect.write(&mut buf).unwrap();
    buf.to_vec()
}

/// A broker serving the test device and a well-behaved `observer` device of the same product
/// (with `policy`, the mux on a free port too), and that observer online over tcp: the
/// robustness tests check it is served before, during and after each hostile connection.
pub async fn with_observer(policy: Policy) -> (TestBroker, Observer) {
    let broker = Broker::builder()
        .device(PK, DN, SECRET)
        .device(PK, OBSERVER, SECRET)
        .policy(policy)
        .mux("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .expect("the broker starts");
    let mut tb = TestBroker::wrap(broker);
    let password = mock_broker::auth::sign(
        mock_broker::auth::SignMethod::HmacSha1,
        SECRET,
        &mock_broker::auth::sign_content(Some(OBSERVER), OBSERVER, PK, None),
    );
    let connect = connect_bytes("observer|securemode=3,signmethod=hmacsha1|", "observer&pk", &password, 60);
    let attempt = tb.attempt(Transport::Tcp, &connect).await;
    attempt.assert_accepted();
    (tb, Observer { io: attempt.io.expect("the observer is online") })
}

/// The well-behaved device's name.
pub const OBSERVER: &str = "observer";

/// A well-behaved device online on its own connection.
pub struct Observer {
    io: PacketIo,
}

impl Observer {
    /// Pings; `Err` says how it was not answered within [`PATIENCE`].
    pub async fn served(&mut self) -> Result<(), String> {
        let answer = tokio::time::timeout(PATIENCE, async {
            self.io.send(&Packet::Pingreq).await.map_err(|e| e.to_string())?;
            self.io.read().await.map_err(|e| e.to_string())
        })
        .await;
        match answer {
            Ok(Ok(Some(Packet::Pingresp))) => Ok(()),
            other => Err(format!("the well-behaved device was not served: {other:?}")),
        }
    }
}

/// Where `cargo xtask test` installed the interop dependencies (paho-mqtt and pytest, MQTT.js):
/// the path in `var` (`MOCK_BROKER_INTEROP_PYTHONPATH` or `MOCK_BROKER_INTEROP_NODE_PATH`).
pub fn interop_dependency_path(var: &str) -> std::path::PathBuf {
    let path = std::env::var_os(var).unwrap_or_else(|| {
        panic!(
            "{var} is not set: run the tests with `cargo xtask test`, which installs paho-mqtt, pytest and MQTT.js; \
             or run `cargo xtask interop-deps`, export the variables it prints, and add \
             `--features mock-broker/interop,conformance/interop` to cargo test"
        )
    });
    std::path::PathBuf::from(path)
}
