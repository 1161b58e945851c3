//! The WebSocket stream against frames built by hand: every stateful violation with its
//! message, the control frames and their answers, the message limit, and properties over
//! any payload, fragmentation and split of the bytes into reads, in both roles.

use super::*;
use crate::wire::ws_frame::Header;
use proptest::collection::vec;
use proptest::prelude::*;

const KEY: [u8; 4] = [0x0b, 0xad, 0xf0, 0x0d];
const LIMIT: usize = 100;

/// One frame as `sender` sends it: masked with `key` from a client, unmasked from a server.
fn frame(sender: Role, fin: bool, opcode: OpCode, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mask = (sender == Role::Client).then_some(key);
    let (header, len) = Header { fin, opcode, mask, len: payload.len() as u64 }.encode();
    let mut body = payload.to_vec();
    if let Some(key) = mask {
        ws_frame::apply_mask(&mut body, key, 0);
    }
    [&header[..len], &body].concat()
}

/// A whole frame from a client.
fn from_client(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    frame(Role::Client, true, opcode, payload, KEY)
}

/// What a server's stream makes of `bytes` fed at once: the MQTT bytes, the answers, and
/// whether the stream goes on.
fn serve(bytes: &[u8]) -> (Vec<u8>, Vec<u8>, Result<bool, ReadError>) {
    let mut ws = WsStream::new(Role::Server, LIMIT);
    let (mut inbound, mut outbound) = (BytesMut::new(), BytesMut::new());
    let result = ws.feed(&mut bytes.to_vec(), &mut inbound, &mut outbound);
    (inbound.to_vec(), outbound.to_vec(), result)
}

fn violation_of(bytes: &[u8]) -> String {
    match serve(bytes).2 {
        Err(ReadError::FrameViolation(what)) => what,
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn a_continuation_with_nothing_to_continue_is_a_violation() {
    assert_eq!(
        violation_of(&from_client(OpCode::Continuation, b"x")),
        "a continuation frame with no fragmented message to continue (RFC 6455 5.4)"
    );
}

#[test]
fn a_new_data_frame_inside_a_fragmented_message_is_a_violation() {
    let first = frame(Role::Client, false, OpCode::Binary, b"ab", KEY);
    for (opcode, name) in [(OpCode::Binary, "binary"), (OpCode::Text, "text")] {
        let bytes = [first.clone(), from_client(opcode, b"cd")].concat();
        assert_eq!(
            violation_of(&bytes),
            format!("a new {name} frame while a fragmented message is unfinished (RFC 6455 5.4)")
        );
    }
}

#[test]
fn a_message_over_the_limit_is_refused_at_its_header_before_its_payload() {
    // The header alone announces it: nothing of the payload is needed, or buffered.
    let (header, len) = Header { fin: true, opcode: OpCode::Binary, mask: Some(KEY), len: 1 << 40 }.encode();
    let (inbound, _, result) = serve(&header[..len]);
    assert!(matches!(result, Err(ReadError::MessageTooLong { size, limit: LIMIT }) if size == 1 << 40), "{result:?}");
    assert!(inbound.is_empty());
    // Fragments count together: 60 bytes, then a header for 60 more.
    let bytes =
        [frame(Role::Client, false, OpCode::Binary, &[7; 60], KEY), from_client(OpCode::Continuation, &[7; 60])]
            .concat();
    let (inbound, _, result) = serve(&bytes);
    assert!(matches!(result, Err(ReadError::MessageTooLong { size: 120, limit: LIMIT })), "{result:?}");
    assert_eq!(inbound, [7; 60]);
    // A message of exactly the limit is read.
    assert_eq!(serve(&from_client(OpCode::Binary, &[1; LIMIT])).0, [1; LIMIT]);
}

#[test]
fn a_text_frame_says_whether_it_was_utf8() {
    let text = |fin: bool, payload: &[u8]| match serve(&frame(Role::Client, fin, OpCode::Text, payload, KEY)).2 {
        Err(ReadError::TextFrame { utf8 }) => utf8,
        other => panic!("expected a text frame error, got {other:?}"),
    };
    assert!(text(true, "CONNECT é".as_bytes()));
    assert!(text(true, b""));
    assert!(!text(true, &[0x10, 0xff, 0x00]));
    // A first fragment may end inside a character; a whole message may not.
    assert!(text(false, &"é".as_bytes()[..1]));
    assert!(!text(true, &"é".as_bytes()[..1]));
}

#[test]
fn a_ping_is_answered_with_its_payload_and_a_pong_is_ignored() {
    let bytes = [from_client(OpCode::Ping, b"are you there"), from_client(OpCode::Pong, b"unasked")].concat();
    let (inbound, outbound, result) = serve(&bytes);
    assert!(matches!(result, Ok(true)));
    assert!(inbound.is_empty());
    assert_eq!(outbound, frame(Role::Server, true, OpCode::Pong, b"are you there", KEY));
}

#[test]
fn a_close_is_answered_with_its_code_and_ends_the_stream() {
    let after = from_client(OpCode::Binary, b"ignored");
    let close = from_client(OpCode::Close, &[&1000u16.to_be_bytes()[..], b"bye"].concat());
    let (inbound, outbound, result) = serve(&[close, after.clone()].concat());
    assert!(matches!(result, Ok(false)));
    assert!(inbound.is_empty(), "nothing after the close is read");
    assert_eq!(outbound, frame(Role::Server, true, OpCode::Close, &1000u16.to_be_bytes(), KEY));
    let (_, outbound, result) = serve(&[from_client(OpCode::Close, b""), after].concat());
    assert!(matches!(result, Ok(false)));
    assert_eq!(outbound, frame(Role::Server, true, OpCode::Close, b"", KEY));
}

#[test]
fn a_bad_close_frame_is_a_violation() {
    for (body, expected) in [
        (vec![3], "a close frame with a 1-byte body: a body starts with a 2-byte status code (RFC 6455 5.5.1)"),
        (1005u16.to_be_bytes().to_vec(), "close code 1005 may not be sent in a close frame (RFC 6455 7.4)"),
        (
            [&1000u16.to_be_bytes()[..], &[0xff]].concat(),
            "a close frame whose reason is not valid UTF-8 (RFC 6455 5.5.1)",
        ),
    ] {
        assert_eq!(violation_of(&from_client(OpCode::Close, &body)), expected);
    }
}

#[test]
fn empty_frames_carry_nothing_and_the_stream_goes_on() {
    let bytes = [
        frame(Role::Client, false, OpCode::Binary, b"", KEY),
        from_client(OpCode::Continuation, b"x"),
        from_client(OpCode::Binary, b""),
    ]
    .concat();
    let (inbound, outbound, result) = serve(&bytes);
    assert!(matches!(result, Ok(true)));
    assert_eq!((inbound, outbound), (b"x".to_vec(), Vec::new()));
}

#[test]
fn a_close_sent_once_is_not_sent_again() {
    let mut ws = WsStream::new(Role::Server, LIMIT);
    let mut out = BytesMut::new();
    ws.close(&mut out, Some(4000), "fault injected");
    ws.close(&mut out, None, "");
    assert_eq!(&out[..], frame(Role::Server, true, OpCode::Close, b"\x0f\xa0fault injected", KEY));
}

/// The other role.
fn peer(role: Role) -> Role {
    match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    }
}

fn any_role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Server), Just(Role::Client)]
}

/// A message as `sender` sends it: `payload` cut into fragments at `cuts` (binary, then
/// continuations), each with a key of its own, a ping after each fragment `pings` marks.
/// Returns the bytes and the pings' payloads.
fn message(sender: Role, payload: &[u8], cuts: &[prop::sample::Index], pings: &[bool]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
    at.push(0);
    at.push(payload.len());
    at.sort_unstable();
    let fragments: Vec<&[u8]> = at.windows(2).map(|w| &payload[w[0]..w[1]]).collect();
    let (mut bytes, mut pinged) = (Vec::new(), Vec::new());
    for (i, fragment) in fragments.iter().enumerate() {
        let opcode = if i == 0 { OpCode::Binary } else { OpCode::Continuation };
        let key = [i as u8, 0x5a, 0xc3, !(i as u8)];
        bytes.extend(frame(sender, i + 1 == fragments.len(), opcode, fragment, key));
        if pings.get(i).copied().unwrap_or(false) {
            let ping = vec![i as u8; i % 7];
            bytes.extend(frame(sender, true, OpCode::Ping, &ping, key));
            pinged.push(ping);
        }
    }
    (bytes, pinged)
}

/// Feeds `bytes` to a stream of `role`, in reads cut at `splits`.
fn feed_in_reads(role: Role, bytes: &[u8], splits: &[prop::sample::Index]) -> (Vec<u8>, Vec<u8>) {
    let mut at: Vec<usize> = splits.iter().map(|i| i.index(bytes.len() + 1)).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    let mut ws = WsStream::new(role, 1 << 20);
    let (mut inbound, mut outbound) = (BytesMut::new(), BytesMut::new());
    for w in at.windows(2) {
        let going_on = ws.feed(&mut bytes[w[0]..w[1]].to_vec(), &mut inbound, &mut outbound).expect("valid frames");
        assert!(going_on);
    }
    (inbound.to_vec(), outbound.to_vec())
}

/// Splits `bytes` into the frames `receiver` reads: (opcode, masked, payload unmasked).
fn frames_of(bytes: &[u8], receiver: Role) -> Vec<(OpCode, bool, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (header, len) = Header::parse(rest, receiver).expect("a valid header").expect("a whole header");
        let end = len + header.len as usize;
        let mut payload = rest[len..end].to_vec();
        if let Some(key) = header.mask {
            ws_frame::apply_mask(&mut payload, key, 0);
        }
        frames.push((header.opcode, header.mask.is_some(), payload));
        rest = &rest[end..];
    }
    frames
}

proptest! {
    /// Whatever the payload, its fragmentation, the pings between fragments and the reads
    /// the bytes arrive in, the receiver hands on the payload whole and answers each ping,
    /// masking exactly when it is the client.
    #[test]
    fn any_message_in_any_reads_is_read_whole(
        sender in any_role(),
        payload in vec(any::<u8>(), 0..3000),
        cuts in vec(any::<prop::sample::Index>(), 0..6),
        pings in vec(any::<bool>(), 0..6),
        splits in vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let receiver = peer(sender);
        let (bytes, pinged) = message(sender, &payload, &cuts, &pings);
        let (inbound, outbound) = feed_in_reads(receiver, &bytes, &splits);
        prop_assert_eq!(&inbound, &payload);
        let pongs: Vec<_> = pinged.into_iter().map(|p| (OpCode::Pong, receiver == Role::Client, p)).collect();
        prop_assert_eq!(frames_of(&outbound, sender), pongs.clone());
        // Read at once, the same (a client's keys differ from one frame to the next).
        let (at_once, answers) = feed_in_reads(receiver, &bytes, &[]);
        prop_assert_eq!(at_once, payload);
        prop_assert_eq!(frames_of(&answers, sender), pongs);
    }

    /// A stream writes frames as its role must, and the peer reads back what was written.
    #[test]
    fn frames_written_are_masked_by_role_and_read_back(
        role in any_role(),
        payloads in vec(vec(any::<u8>(), 0..300), 1..5),
    ) {
        let mut ws = WsStream::new(role, 1 << 20);
        let mut out = BytesMut::new();
        for payload in &payloads {
            ws.put_frame(&mut out, OpCode::Binary, payload);
        }
        let frames = frames_of(&out, peer(role));
        let expected: Vec<_> = payloads.iter().map(|p| (OpCode::Binary, role == Role::Client, p.clone())).collect();
        prop_assert_eq!(frames, expected);
        let (inbound, _) = feed_in_reads(peer(role), &out, &[]);
        prop_assert_eq!(inbound, payloads.concat());
    }
}
