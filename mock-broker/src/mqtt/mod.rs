//! A strict MQTT 3.1 / 3.1.1 codec of our own.
//!
//! `decode` takes bytes in the direction they travel and yields one packet, `None` while
//! the packet is incomplete, or a [`Violation`] naming the MQTT normative statement the
//! bytes break (`MQTT-3.1.2-3` style). `encode` writes any packet.

mod decode;
mod encode;
mod kind;
mod packet;

pub use decode::{OversizePublish, SIZE_LIMIT, decode, oversize_publish, whole_packet_buffered};
pub use encode::{encode, put_remaining_length};
pub use packet::*;

/// Which side sent the bytes: a packet only a server may send is a violation from a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server: what the broker reads.
    FromClient,
    /// Server to client: what a client (a fixture, a test) reads.
    FromServer,
}

/// Why bytes are not a valid MQTT packet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("[{statement}] {message}")]
pub struct Violation {
    /// The normative statement broken, for example `MQTT-3.1.2-3`, or for a limit of the
    /// mock's own, `limit`.
    pub statement: &'static str,
    /// What was wrong, in words.
    pub message: String,
    /// The CONNACK the server owes before closing, where MQTT says so (an unsupported
    /// protocol level gets 0x01).
    pub connack: Option<ConnackCode>,
}

impl Violation {
    pub(crate) fn new(statement: &'static str, message: impl Into<String>) -> Self {
        Violation { statement, message: message.into(), connack: None }
    }
}
