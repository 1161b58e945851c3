//! Placeholder: being written.
use super::Packet;
use bytes::BytesMut;

/// Appends the packet's bytes to `out`.
pub fn encode(packet: &Packet, out: &mut BytesMut) -> Result<(), super::Violation> {
    let _ = (packet, out);
    todo!()
}
