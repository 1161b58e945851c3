//! `mqtt_decode`: the strict MQTT decoder on arbitrary bytes, in both directions, with small
//! and large packet limits.
//!
//! The first byte picks the direction (bit 0) and the limit (bits 1-2: 2, 64, 4096 bytes or
//! 1 MiB); the rest is the stream. Every packet decoded must encode again and decode to
//! itself, and the oversize-PUBLISH probe the reader runs first must agree with the decoder.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mock_broker::mqtt::{Direction, Packet, decode, encode, oversize_publish};

const LIMITS: [usize; 4] = [2, 64, 4096, 1 << 20];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else { return };
    let direction = if selector & 1 == 0 { Direction::FromClient } else { Direction::FromServer };
    let max = LIMITS[usize::from((selector >> 1) & 3)];
    let mut buf = BytesMut::from(stream);
    loop {
        let oversize = oversize_publish(&buf, direction, max);
        match decode(&mut buf, direction, max) {
            Ok(Some(packet)) => {
                assert!(oversize.is_none(), "a packet over the limit was decoded: {packet:?}");
                round_trip(&packet, direction);
            }
            Ok(None) | Err(_) => break,
        }
    }
});

/// What the decoder yields, the encoder writes, and the decoder reads back unchanged.
fn round_trip(packet: &Packet, direction: Direction) {
    let mut out = BytesMut::new();
    encode(packet, &mut out).unwrap_or_else(|v| panic!("a decoded packet does not encode: {v}: {packet:?}"));
    let again = decode(&mut out, direction, usize::MAX);
    assert_eq!(again.as_ref().ok().and_then(Option::as_ref), Some(packet), "{again:?}");
    assert!(out.is_empty(), "bytes left over after the re-encoded packet");
}
