//! Placeholder: being written.
use super::{Direction, Packet, Violation};
use bytes::BytesMut;

/// Decodes one packet from the front of `buf`, consuming its bytes.
pub fn decode(buf: &mut BytesMut, direction: Direction, max_packet_len: usize) -> Result<Option<Packet>, Violation> {
    let _ = (buf, direction, max_packet_len);
    todo!()
}
