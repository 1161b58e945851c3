//! Property tests of the MQTT codec in `mock_broker::mqtt`:
//! - the decoder never panics on arbitrary or mutated bytes, consumes nothing while a packet
//!   is incomplete, consumes exactly one canonical packet when it yields one, and reaches
//!   the same verdict however the bytes are split;
//! - differential oracle: packets written by `mqttbytes` 0.6 decode to the same content,
//!   and `mqttbytes` reads back what we encode;
//! - round trip: our encode, then our decode fed in random-sized chunks, is the identity.

use bytes::{Bytes, BytesMut};
use mock_broker::mqtt::{
    Connack, ConnackCode, Connect, Direction, Packet, Protocol, Publish, QoS, Suback, SubackCode, Subscribe,
    Unsubscribe, Violation, Will, decode, encode,
};
use mqttbytes::v4;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

// Generators of valid packets.

/// A string without U+0000, drawn from all of Unicode.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[^\\x00]{{0,{max}}}")).expect("regex")
}

fn non_empty_text(max: usize) -> impl Strategy<Value = String> {
    text(max).prop_filter("non-empty", |t| !t.is_empty())
}

/// A topic level without wildcards or separators.
fn level() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[^\\x00+#/]{0,6}").expect("regex")
}

fn topic_name() -> impl Strategy<Value = String> {
    vec(level(), 1..4).prop_map(|levels| levels.join("/")).prop_filter("non-empty", |t| !t.is_empty())
}

fn topic_filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![3 => level(), 1 => Just("+".to_owned())];
    (vec(level, 0..4), any::<bool>())
        .prop_map(|(mut levels, multi)| {
            if multi {
                levels.push("#".to_owned());
            }
            levels.join("/")
        })
        .prop_filter("non-empty", |f| !f.is_empty())
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
}

fn packet_id() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

fn payload(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn will() -> impl Strategy<Value = Will> {
    (topic_name(), payload(32), qos(), any::<bool>()).prop_map(|(topic, payload, qos, retain)| Will {
        topic,
        payload,
        qos,
        retain,
    })
}

/// User name and password as the model allows: a password only with a user name.
type Login = (Option<String>, Option<Bytes>);

/// Any login the decoder accepts: empty names, binary passwords.
fn any_login() -> impl Strategy<Value = Login> {
    let password = proptest::option::of(payload(24));
    proptest::option::of((text(16), password)).prop_map(|login| match login {
        Some((user, password)) => (Some(user), password),
        None => (None, None),
    })
}

/// A login `mqttbytes` can write: it omits empty fields and takes passwords as strings.
fn oracle_login() -> impl Strategy<Value = Login> {
    let password = proptest::option::of(non_empty_text(16).prop_map(Bytes::from));
    proptest::option::of((non_empty_text(16), password)).prop_map(|login| match login {
        Some((user, password)) => (Some(user), password),
        None => (None, None),
    })
}

fn connect(
    protocol: impl Strategy<Value = Protocol>,
    login: impl Strategy<Value = Login>,
) -> impl Strategy<Value = Packet> {
    let will = proptest::option::of(will());
    (protocol, text(30), any::<bool>(), any::<u16>(), login, will).prop_map(
        |(protocol, client_id, clean_session, keep_alive, (username, password), will)| {
            Packet::Connect(Connect { protocol, client_id, clean_session, keep_alive, username, password, will })
        },
    )
}

fn publish() -> impl Strategy<Value = Packet> {
    (any::<bool>(), qos(), any::<bool>(), topic_name(), packet_id(), payload(64)).prop_map(
        |(dup, qos, retain, topic, id, payload)| {
            let acknowledged = qos != QoS::AtMostOnce;
            Packet::Publish(Publish {
                dup: dup && acknowledged,
                qos,
                retain,
                topic,
                packet_id: acknowledged.then_some(id),
                payload,
            })
        },
    )
}

/// Packets with only a packet identifier that travel both ways.
fn publish_ack() -> impl Strategy<Value = Packet> {
    prop_oneof![
        packet_id().prop_map(Packet::Puback),
        packet_id().prop_map(Packet::Pubrec),
        packet_id().prop_map(Packet::Pubrel),
        packet_id().prop_map(Packet::Pubcomp),
    ]
}

fn client_packet(connect: BoxedStrategy<Packet>) -> impl Strategy<Value = Packet> {
    let subscribe = (packet_id(), vec((topic_filter(), qos()), 1..4))
        .prop_map(|(packet_id, filters)| Packet::Subscribe(Subscribe { packet_id, filters }));
    let unsubscribe = (packet_id(), vec(topic_filter(), 1..4))
        .prop_map(|(packet_id, filters)| Packet::Unsubscribe(Unsubscribe { packet_id, filters }));
    prop_oneof![
        connect,
        publish(),
        publish_ack(),
        subscribe,
        unsubscribe,
        Just(Packet::Pingreq),
        Just(Packet::Disconnect),
    ]
}

fn server_packet() -> impl Strategy<Value = Packet> {
    let code = prop_oneof![
        Just(ConnackCode::Accepted),
        Just(ConnackCode::UnacceptableProtocol),
        Just(ConnackCode::IdentifierRejected),
        Just(ConnackCode::ServerUnavailable),
        Just(ConnackCode::BadCredentials),
        Just(ConnackCode::NotAuthorized),
    ];
    let connack = (any::<bool>(), code).prop_map(|(present, code)| {
        let session_present = present && code == ConnackCode::Accepted;
        Packet::Connack(Connack { session_present, code })
    });
    let suback_code = prop_oneof![qos().prop_map(SubackCode::Granted), Just(SubackCode::Failure)];
    let suback = (packet_id(), vec(suback_code, 1..5))
        .prop_map(|(packet_id, codes)| Packet::Suback(Suback { packet_id, codes }));
    prop_oneof![
        connack,
        publish(),
        publish_ack(),
        suback,
        packet_id().prop_map(Packet::Unsuback),
        Just(Packet::Pingresp),
    ]
}

/// Any valid packet with the direction it may travel in.
fn any_packet() -> impl Strategy<Value = (Direction, Packet)> {
    let connect = connect(prop_oneof![Just(Protocol::V31), Just(Protocol::V311)], any_login());
    prop_oneof![
        client_packet(connect.boxed()).prop_map(|p| (Direction::FromClient, p)),
        server_packet().prop_map(|p| (Direction::FromServer, p)),
    ]
}

/// A valid packet `mqttbytes` 0.6 can represent (MQTT 3.1.1 only, UTF-8 passwords).
fn oracle_packet() -> impl Strategy<Value = (Direction, Packet)> {
    let connect = connect(Just(Protocol::V311), oracle_login());
    prop_oneof![
        client_packet(connect.boxed()).prop_map(|p| (Direction::FromClient, p)),
        server_packet().prop_map(|p| (Direction::FromServer, p)),
    ]
}

/// Valid packets, several in a row, all for one direction.
fn packet_stream() -> impl Strategy<Value = (Direction, Vec<Packet>)> {
    let connect = connect(prop_oneof![Just(Protocol::V31), Just(Protocol::V311)], any_login());
    prop_oneof![
        vec(client_packet(connect.boxed()), 1..5).prop_map(|p| (Direction::FromClient, p)),
        vec(server_packet(), 1..5).prop_map(|p| (Direction::FromServer, p)),
    ]
}

/// Encoded valid packets with a few bytes changed and perhaps cut short: bytes that reach
/// deep into the decoder, unlike uniformly random ones.
fn mutated_bytes() -> impl Strategy<Value = Vec<u8>> {
    let edits = vec((any::<Index>(), any::<u8>()), 0..4);
    (vec(any_packet(), 1..3), edits, proptest::option::of(any::<Index>())).prop_map(|(packets, edits, cut)| {
        let mut bytes = encoded(packets.iter().map(|(_, p)| p));
        for (at, xor) in edits {
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        bytes
    })
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::FromClient), Just(Direction::FromServer)]
}

fn max_packet_len() -> impl Strategy<Value = usize> {
    prop_oneof![Just(0), 1..8usize, 8..512usize, Just(usize::MAX)]
}

// Helpers.

fn encoded<'a>(packets: impl IntoIterator<Item = &'a Packet>) -> Vec<u8> {
    let mut out = BytesMut::new();
    for packet in packets {
        encode(packet, &mut out).expect("a valid packet encodes");
    }
    out.to_vec()
}

/// The first byte and the body of an encoded packet, without its remaining length.
fn split_header(bytes: &[u8]) -> (u8, &[u8]) {
    let length_bytes = bytes[1..].iter().position(|b| b & 0x80 == 0).expect("complete length");
    (bytes[0], &bytes[2 + length_bytes..])
}

/// Calls `decode` and checks what it did to the buffer: nothing while a packet is
/// incomplete, and for a packet exactly the bytes our encoder writes for it (the remaining
/// length aside: the decoder accepts non-minimal encodings).
fn decode_checked(buf: &mut BytesMut, direction: Direction, max: usize) -> Result<Option<Packet>, Violation> {
    let before = buf.clone();
    let result = decode(buf, direction, max);
    let consumed = &before[..before.len() - buf.len()];
    assert_eq!(&before[consumed.len()..], &buf[..], "only a prefix is consumed");
    match &result {
        Ok(None) => assert!(consumed.is_empty(), "consumed {consumed:02x?} but returned None"),
        Ok(Some(packet)) => {
            assert!(consumed.len() <= max, "a packet over the limit came through");
            let again = encoded([packet]);
            assert_eq!(split_header(&again), split_header(consumed), "{packet:?}");
        }
        Err(_) => {}
    }
    result
}

/// What decoding a stream came to: the packets, then a violation or the unread rest.
#[derive(Debug, PartialEq)]
struct Outcome {
    packets: Vec<Packet>,
    violation: Option<Violation>,
    unread: usize,
}

/// Feeds `bytes` in chunks of the given sizes (cycled), decoding all it can after each.
fn feed(bytes: &[u8], chunks: &[usize], direction: Direction, max: usize) -> Outcome {
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    let mut rest = bytes;
    for &chunk in chunks.iter().cycle() {
        let (now, later) = rest.split_at(chunk.min(rest.len()));
        buf.extend_from_slice(now);
        rest = later;
        loop {
            match decode_checked(&mut buf, direction, max) {
                Ok(Some(packet)) => packets.push(packet),
                Ok(None) => break,
                Err(violation) => {
                    return Outcome { packets, violation: Some(violation), unread: 0 };
                }
            }
        }
        if rest.is_empty() {
            break;
        }
    }
    Outcome { packets, violation: None, unread: buf.len() }
}

fn v4_qos(qos: QoS) -> mqttbytes::QoS {
    match qos {
        QoS::AtMostOnce => mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => mqttbytes::QoS::ExactlyOnce,
    }
}

fn v4_connect(c: &Connect) -> v4::Connect {
    let mut v = v4::Connect::new(c.client_id.clone());
    v.keep_alive = c.keep_alive;
    v.clean_session = c.clean_session;
    v.last_will =
        c.will.as_ref().map(|w| v4::LastWill::new(w.topic.clone(), w.payload.to_vec(), v4_qos(w.qos), w.retain));
    v.login = c.username.as_ref().map(|user| {
        let password = c.password.as_ref().map(|p| p.to_vec()).unwrap_or_default();
        v4::Login::new(user.clone(), String::from_utf8(password).expect("a UTF-8 password"))
    });
    v
}

fn v4_connack(c: &Connack) -> v4::ConnAck {
    let code = match c.code {
        ConnackCode::Accepted => v4::ConnectReturnCode::Success,
        ConnackCode::UnacceptableProtocol => v4::ConnectReturnCode::RefusedProtocolVersion,
        ConnackCode::IdentifierRejected => v4::ConnectReturnCode::BadClientId,
        ConnackCode::ServerUnavailable => v4::ConnectReturnCode::ServiceUnavailable,
        ConnackCode::BadCredentials => v4::ConnectReturnCode::BadUserNamePassword,
        ConnackCode::NotAuthorized => v4::ConnectReturnCode::NotAuthorized,
    };
    v4::ConnAck::new(code, c.session_present)
}

fn v4_publish(p: &Publish) -> v4::Publish {
    let mut v = v4::Publish::from_bytes(p.topic.clone(), v4_qos(p.qos), p.payload.clone());
    v.dup = p.dup;
    v.retain = p.retain;
    v.pkid = p.packet_id.unwrap_or(0);
    v
}

fn v4_subscribe(s: &Subscribe) -> v4::Subscribe {
    let filters = s.filters.iter().map(|(f, q)| v4::SubscribeFilter::new(f.clone(), v4_qos(*q)));
    let mut v = v4::Subscribe::new_many(filters);
    v.pkid = s.packet_id;
    v
}

fn v4_suback(s: &Suback) -> v4::SubAck {
    let codes = s.codes.iter().map(|code| match code {
        SubackCode::Granted(q) => v4::SubscribeReasonCode::Success(v4_qos(*q)),
        SubackCode::Failure => v4::SubscribeReasonCode::Failure,
    });
    v4::SubAck::new(s.packet_id, codes.collect())
}

/// The same packet as an `mqttbytes` value.
fn to_v4(packet: &Packet) -> v4::Packet {
    match packet {
        Packet::Connect(c) => v4::Packet::Connect(v4_connect(c)),
        Packet::Connack(c) => v4::Packet::ConnAck(v4_connack(c)),
        Packet::Publish(p) => v4::Packet::Publish(v4_publish(p)),
        Packet::Puback(id) => v4::Packet::PubAck(v4::PubAck::new(*id)),
        Packet::Pubrec(id) => v4::Packet::PubRec(v4::PubRec::new(*id)),
        Packet::Pubrel(id) => v4::Packet::PubRel(v4::PubRel::new(*id)),
        Packet::Pubcomp(id) => v4::Packet::PubComp(v4::PubComp::new(*id)),
        Packet::Subscribe(s) => v4::Packet::Subscribe(v4_subscribe(s)),
        Packet::Suback(s) => v4::Packet::SubAck(v4_suback(s)),
        Packet::Unsubscribe(u) => {
            v4::Packet::Unsubscribe(v4::Unsubscribe { pkid: u.packet_id, topics: u.filters.clone() })
        }
        Packet::Unsuback(id) => v4::Packet::UnsubAck(v4::UnsubAck::new(*id)),
        Packet::Pingreq => v4::Packet::PingReq,
        Packet::Pingresp => v4::Packet::PingResp,
        Packet::Disconnect => v4::Packet::Disconnect,
    }
}

/// The bytes `mqttbytes` writes. Its `Error` is not a `std::error::Error`: shown with `{:?}`.
fn v4_bytes(packet: &v4::Packet) -> BytesMut {
    let mut out = BytesMut::new();
    let written = match packet {
        v4::Packet::Connect(p) => p.write(&mut out),
        v4::Packet::ConnAck(p) => p.write(&mut out),
        v4::Packet::Publish(p) => p.write(&mut out),
        v4::Packet::PubAck(p) => p.write(&mut out),
        v4::Packet::PubRec(p) => p.write(&mut out),
        v4::Packet::PubRel(p) => p.write(&mut out),
        v4::Packet::PubComp(p) => p.write(&mut out),
        v4::Packet::Subscribe(p) => p.write(&mut out),
        v4::Packet::SubAck(p) => p.write(&mut out),
        v4::Packet::Unsubscribe(p) => p.write(&mut out),
        v4::Packet::UnsubAck(p) => p.write(&mut out),
        v4::Packet::PingReq => v4::PingReq.write(&mut out),
        v4::Packet::PingResp => v4::PingResp.write(&mut out),
        v4::Packet::Disconnect => v4::Disconnect.write(&mut out),
    };
    if let Err(e) = written {
        panic!("mqttbytes could not write {packet:?}: {e:?}");
    }
    out
}

// Properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..96),
        direction in direction(),
        max in max_packet_len(),
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = decode_checked(&mut buf, direction, max) {}
    }

    #[test]
    fn mutated_packets_get_one_verdict_however_split(
        bytes in mutated_bytes(),
        chunks in vec(1..16usize, 1..8),
        direction in direction(),
        max in max_packet_len(),
    ) {
        let whole = feed(&bytes, &[bytes.len().max(1)], direction, max);
        let split = feed(&bytes, &chunks, direction, max);
        prop_assert_eq!(whole, split);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn we_decode_what_mqttbytes_writes((direction, packet) in oracle_packet()) {
        let mut buf = v4_bytes(&to_v4(&packet));
        let written = buf.len();
        let decoded = decode_checked(&mut buf, direction, written);
        prop_assert_eq!(decoded, Ok(Some(packet)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn mqttbytes_reads_what_we_encode((_, packet) in oracle_packet()) {
        let mut buf = BytesMut::from(&encoded([&packet])[..]);
        match v4::read(&mut buf, usize::MAX) {
            Ok(read) => prop_assert_eq!(read, to_v4(&packet)),
            Err(e) => prop_assert!(false, "mqttbytes refused {:?}: {:?}", packet, e),
        }
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn encode_then_decode_in_chunks_is_the_identity(
        (direction, packets) in packet_stream(),
        chunks in vec(1..48usize, 1..8),
    ) {
        let bytes = encoded(&packets);
        let outcome = feed(&bytes, &chunks, direction, usize::MAX);
        prop_assert_eq!(outcome, Outcome { packets, violation: None, unread: 0 });
    }

    #[test]
    fn a_packet_exactly_at_the_limit_passes_and_one_byte_over_fails(
        (direction, packet) in any_packet(),
    ) {
        let bytes = encoded([&packet]);
        let at = decode(&mut BytesMut::from(&bytes[..]), direction, bytes.len());
        prop_assert_eq!(at, Ok(Some(packet)));
        // Only the fixed header is buffered: the limit needs no more.
        let header_len = bytes.len() - split_header(&bytes).1.len();
        let over = decode(&mut BytesMut::from(&bytes[..header_len]), direction, bytes.len() - 1);
        prop_assert_eq!(over.map_err(|v| v.statement), Err("limit"));
    }
}
