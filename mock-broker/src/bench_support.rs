//! Entry points for the criterion benchmarks (`mock-broker/benches/`): the parts of the
//! broker private to it that a benchmark must drive in process. Not an API: hidden from the
//! docs, and nothing but the benchmarks uses it.

use crate::events::{Bus, ConnId, EventKind, EventStream, PacketSummary};
use crate::mqtt::{Packet, Publish, QoS};
use bytes::Bytes;
use tokio::time::Instant;

/// The transcript's event path as a connection uses it: the broker's bus with its history.
pub struct EventPath {
    bus: Bus,
    publish: Packet,
}

impl EventPath {
    /// A bus keeping `history` events, and the QoS 1 PUBLISH on `topic` with a `payload_len`
    /// payload whose `packet_in` event [`EventPath::publish_in`] records.
    pub fn new(history: usize, topic: &str, payload_len: usize) -> EventPath {
        let publish = Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: topic.into(),
            packet_id: Some(1),
            payload: Bytes::from(vec![0u8; payload_len]),
        });
        EventPath { bus: Bus::new(Instant::now(), history), publish }
    }

    /// Records the PUBLISH's `packet_in` event and its PUBACK's `packet_out` on `conn`, as
    /// the session does for every QoS 1 uplink.
    pub fn publish_in(&self, conn: ConnId) {
        self.bus.emit(conn, EventKind::PacketIn(PacketSummary::of(&self.publish)));
        self.bus.emit(conn, EventKind::PacketOut(PacketSummary::of(&Packet::Puback(1))));
    }

    /// A reader of every event from now on.
    pub fn reader(&self) -> EventStream {
        self.bus.subscribe()
    }
}
