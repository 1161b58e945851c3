//! The seed corpus of the coverage-guided fuzz targets (`fuzz/corpus/TARGET/` at the
//! workspace root), generated here with the crate's own encoder: a valid packet of every type
//! in each direction, the CONNECTs real clients send (`auth::vectors::real_clients`), the
//! WebSocket upgrade and frames around them, and the hostile shapes the battery uses.
//!
//! The test fails while a committed seed differs from what is generated here or is missing;
//! `MOCK_BROKER_WRITE_SEEDS=1 cargo test -p mock-broker --test fuzz_seeds` writes them.

use bytes::Bytes;
use mock_broker::Transport;
use mock_broker::auth::vectors::{self, real_clients};
use mock_broker::mqtt::{
    Connack, ConnackCode, Connect, Packet, Protocol, QoS, Suback, SubackCode, Subscribe, Unsubscribe, Will,
};
use std::path::{Path, PathBuf};
use support::{WS_BINARY, WS_UPGRADE, encoded, session_packets, uplink, ws_frame};

mod support;

/// The fuzz targets' selector bytes (see each target's docs).
mod selector {
    /// `mqtt_decode`: from a client / from the server, with the 1 MiB limit (bits 1-2 = 3).
    pub const FROM_CLIENT: u8 = 0b110;
    pub const FROM_SERVER: u8 = 0b111;
    /// `mqtt_decode`: from a client with the 64-byte limit.
    pub const FROM_CLIENT_SMALL: u8 = 0b010;
    /// `ws_frames`: the default limits, and the small ones.
    pub const WS_DEFAULT: u8 = 0;
    pub const WS_SMALL: u8 = 1;
}

/// The order of `connection`'s transports: `selector % 5` picks one, 4 is the mux.
const CONNECTION_TRANSPORTS: [Transport; 4] = [Transport::Ws, Transport::Wss, Transport::Tcp, Transport::Tls];

fn bytes_of(packets: &[Packet]) -> Vec<u8> {
    encoded(packets)
}

/// The CONNECT a real client sends (the vectors' device), with `client_id` and `password`.
fn connect(client_id: &str, password: &str) -> Packet {
    Packet::Connect(Connect {
        protocol: Protocol::V311,
        client_id: client_id.into(),
        clean_session: true,
        keep_alive: 60,
        username: Some("device&pk".into()),
        password: Some(Bytes::copy_from_slice(password.as_bytes())),
        will: None,
    })
}

/// The doc example's CONNECT with the securemode `transport` needs.
fn doc_connect(transport: Transport) -> Packet {
    let id = format!("12345|securemode={},signmethod=hmacsha1,timestamp=789|", transport.expected_securemode());
    connect(&id, vectors::V1.signature)
}

fn publish(qos: QoS, packet_id: Option<u16>) -> Packet {
    uplink(qos, packet_id)
}

/// A session a client opens over `transport`: the doc example's CONNECT, then the support
/// module's session packets.
fn session(transport: Transport) -> Vec<Packet> {
    [vec![doc_connect(transport)], session_packets()].concat()
}

/// A valid packet of every type a client sends.
fn client_packets() -> Vec<(&'static str, Packet)> {
    let with_will = Packet::Connect(Connect {
        protocol: Protocol::V31,
        client_id: "12345|securemode=3|".into(),
        clean_session: false,
        keep_alive: 30,
        username: Some("device&pk".into()),
        password: None,
        will: Some(Will {
            topic: "/pk/device/user/will".into(),
            payload: Bytes::from_static(b"gone"),
            qos: QoS::AtLeastOnce,
            retain: false,
        }),
    });
    vec![
        ("connect", doc_connect(Transport::Tcp)),
        ("connect_will_v31", with_will),
        ("publish_qos0", publish(QoS::AtMostOnce, None)),
        ("publish_qos1", publish(QoS::AtLeastOnce, Some(7))),
        ("publish_qos2", publish(QoS::ExactlyOnce, Some(8))),
        ("puback", Packet::Puback(7)),
        ("pubrec", Packet::Pubrec(8)),
        ("pubrel", Packet::Pubrel(8)),
        ("pubcomp", Packet::Pubcomp(8)),
        (
            "subscribe",
            Packet::Subscribe(Subscribe {
                packet_id: 9,
                filters: vec![
                    ("/pk/device/user/#".into(), QoS::AtMostOnce),
                    ("/sys/pk/device/thing/+".into(), QoS::ExactlyOnce),
                ],
            }),
        ),
        ("unsubscribe", Packet::Unsubscribe(Unsubscribe { packet_id: 10, filters: vec!["/pk/device/user/#".into()] })),
        ("pingreq", Packet::Pingreq),
        ("disconnect", Packet::Disconnect),
    ]
}

/// A valid packet of every type the server sends.
fn server_packets() -> Vec<(&'static str, Packet)> {
    vec![
        ("connack", Packet::Connack(Connack { session_present: true, code: ConnackCode::Accepted })),
        ("connack_refused", Packet::Connack(Connack { session_present: false, code: ConnackCode::BadCredentials })),
        ("publish_qos1", publish(QoS::AtLeastOnce, Some(11))),
        ("puback", Packet::Puback(11)),
        (
            "suback",
            Packet::Suback(Suback {
                packet_id: 9,
                codes: vec![SubackCode::Granted(QoS::AtLeastOnce), SubackCode::Failure],
            }),
        ),
        ("unsuback", Packet::Unsuback(10)),
        ("pingresp", Packet::Pingresp),
    ]
}

/// Byte shapes the decoder must refuse, one statement each.
fn hostile_streams() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("remaining_length_5_bytes", vec![0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]),
        ("reserved_type_0", vec![0x00, 0x00]),
        ("pingreq_flags", vec![0xc1, 0x00]),
        ("publish_qos3", vec![0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01]),
        ("publish_wildcard", vec![0x30, 0x03, 0x00, 0x01, b'#']),
        ("subscribe_empty", vec![0x82, 0x02, 0x00, 0x01]),
        ("connect_nul_client_id", {
            let mut b = bytes_of(&[doc_connect(Transport::Tcp)]);
            b[14] = 0;
            b
        }),
    ]
}

/// A client's mask for the seeds' frames.
const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    ws_frame(opcode, MASK, payload)
}

const BINARY: u8 = WS_BINARY;

/// An upgrade, then each packet of `packets` in a binary frame of its own.
fn ws_stream(packets: &[Packet]) -> Vec<u8> {
    let mut out = WS_UPGRADE.to_vec();
    for packet in packets {
        out.extend(frame(BINARY, &bytes_of(std::slice::from_ref(packet))));
    }
    out
}

fn with_selector(selector: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![selector];
    out.extend_from_slice(bytes);
    out
}

/// Every seed: (target, file name, contents).
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: String, bytes: Vec<u8>| seeds.push((target, name, bytes));

    for (name, packet) in client_packets() {
        add(
            "mqtt_decode",
            format!("client_{name}"),
            with_selector(selector::FROM_CLIENT, &bytes_of(std::slice::from_ref(&packet))),
        );
    }
    for (name, packet) in server_packets() {
        add("mqtt_decode", format!("server_{name}"), with_selector(selector::FROM_SERVER, &bytes_of(&[packet])));
    }
    add(
        "mqtt_decode",
        "client_session".into(),
        with_selector(selector::FROM_CLIENT, &bytes_of(&session(Transport::Tcp))),
    );
    add("mqtt_decode", "client_session_small_limit".into(), {
        with_selector(selector::FROM_CLIENT_SMALL, &bytes_of(&session(Transport::Tcp)))
    });
    for (name, bytes) in hostile_streams() {
        add("mqtt_decode", format!("hostile_{name}"), with_selector(selector::FROM_CLIENT, &bytes));
    }

    // client_id: selector (transport, protocol, cleanSession), then clientId 0xFF username 0xFF password.
    for (index, (name, client_id, password, transports)) in real_clients().into_iter().enumerate() {
        let selector = Transport::ALL.iter().position(|t| *t == transports[0]).expect("a transport") as u8;
        let mut bytes = vec![selector];
        for field in [client_id.as_bytes(), b"device&pk", password.as_bytes()] {
            bytes.extend_from_slice(field);
            bytes.push(0xff);
        }
        bytes.pop();
        add("client_id", format!("real_client_{index}_{}", name.replace(' ', "_").to_lowercase()), bytes);
    }
    for vector in vectors::VECTORS {
        let id = format!("12345|securemode=3,signmethod={},timestamp=789|", vector.method.name());
        let bytes = [&[0u8][..], id.as_bytes(), b"\xffdevice&pk\xff", vector.signature.as_bytes()].concat();
        add("client_id", format!("vector_{}", vector.name.to_lowercase()), bytes);
    }

    add("ws_frames", "session".into(), with_selector(selector::WS_DEFAULT, &ws_stream(&session(Transport::Ws))));
    add(
        "ws_frames",
        "session_small_limits".into(),
        with_selector(selector::WS_SMALL, &ws_stream(&session(Transport::Ws))),
    );
    let connect = bytes_of(&[doc_connect(Transport::Ws)]);
    let (head, tail) = connect.split_at(5);
    let split = [WS_UPGRADE, &frame(BINARY, head), &frame(BINARY, tail)].concat();
    add("ws_frames", "packet_across_frames".into(), with_selector(selector::WS_DEFAULT, &split));
    let pings = [WS_UPGRADE, &frame(0x9, b"ping"), &frame(BINARY, &connect), &frame(0x8, &[0x03, 0xe8])].concat();
    add("ws_frames", "ping_and_close".into(), with_selector(selector::WS_DEFAULT, &pings));
    let text = [WS_UPGRADE, &frame(0x1, b"CONNECT")].concat();
    add("ws_frames", "text_frame".into(), with_selector(selector::WS_DEFAULT, &text));
    let big = [WS_UPGRADE, &frame(BINARY, &[0u8; 300])].concat();
    add("ws_frames", "oversize_frame".into(), with_selector(selector::WS_SMALL, &big));

    // connection: selector % 5 = transport (4: the mux), selector / 5 % 2 = 0 raw, 1 after the handshakes.
    for (index, transport) in CONNECTION_TRANSPORTS.into_iter().enumerate() {
        let after = index as u8 + 5;
        let mqtt = bytes_of(&session(transport));
        add("connection", format!("{transport}_after_handshake_session"), with_selector(after, &mqtt));
        let hostile = hostile_streams().into_iter().next().expect("a hostile stream").1;
        add("connection", format!("{transport}_after_handshake_bad_length"), with_selector(after, &hostile));
    }
    add("connection", "tcp_raw_session".into(), with_selector(2, &bytes_of(&session(Transport::Tcp))));
    add("connection", "ws_raw_upgrade_session".into(), with_selector(0, &ws_stream(&session(Transport::Ws))));
    add("connection", "mux_raw_tcp_session".into(), with_selector(4, &bytes_of(&session(Transport::Tcp))));
    add("connection", "mux_raw_ws_session".into(), with_selector(4, &ws_stream(&session(Transport::Ws))));
    add("connection", "tls_raw_garbage".into(), with_selector(3, &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3]));
    seeds
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

#[test]
fn the_committed_seed_corpus_is_as_generated() {
    let write = std::env::var_os("MOCK_BROKER_WRITE_SEEDS").is_some();
    let mut stale = Vec::new();
    for (target, name, bytes) in seeds() {
        let path = corpus_dir().join(target).join(&name);
        if write {
            std::fs::create_dir_all(path.parent().expect("a folder")).expect("the corpus folder is created");
            std::fs::write(&path, &bytes).expect("the seed is written");
        } else if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            stale.push(format!("{target}/{name}"));
        }
    }
    assert!(
        stale.is_empty(),
        "seeds missing or stale (MOCK_BROKER_WRITE_SEEDS=1 cargo test -p mock-broker --test fuzz_seeds writes them): {stale:#?}"
    );
}

#[test]
fn every_target_has_seeds_and_names_are_unique() {
    let seeds = seeds();
    for target in ["mqtt_decode", "client_id", "ws_frames", "connection"] {
        assert!(seeds.iter().any(|(t, _, _)| *t == target), "{target} has no seed");
    }
    let mut names: Vec<_> = seeds.iter().map(|(t, n, _)| format!("{t}/{n}")).collect();
    names.sort();
    let count = names.len();
    names.dedup();
    assert_eq!(names.len(), count, "seed names repeat");
}
