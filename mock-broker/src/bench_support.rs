//! Entry points for the criterion benchmarks (`mock-broker/benches/`): the parts of the
//! broker private to it that a benchmark must drive in process (the transcript's events and
//! the uplink log of an accepted PUBLISH). Not an API: hidden from the
//! docs, and nothing but the benchmarks uses it.

use crate::events::{Bus, ConnId, EventKind, EventStream, PacketSummary};
use crate::hub::DeviceKey;
use crate::mqtt::{Packet, Publish, QoS};
use crate::policy::Policy;
use crate::uplinks::Uplinks;
use bytes::Bytes;
use std::sync::Arc;
use tokio::time::Instant;

/// A device's QoS 1 PUBLISH on `topic` (packet id 1), also for the uplink log's unit tests.
pub(crate) fn qos1_publish(topic: &str, payload: Bytes) -> Publish {
    Publish { dup: false, qos: QoS::AtLeastOnce, retain: false, topic: topic.into(), packet_id: Some(1), payload }
}

/// The cloud side's uplink log as a connection feeds it, with the default limits.
pub struct UplinkPath {
    uplinks: Uplinks,
    device: Arc<DeviceKey>,
    publish: Publish,
}

impl UplinkPath {
    /// A log with `Policy`'s default limits, and the PUBLISH [`UplinkPath::record`] records.
    pub fn new(topic: &str, payload_len: usize) -> UplinkPath {
        let policy = Policy::default();
        UplinkPath {
            uplinks: Uplinks::new(Instant::now(), policy.uplink_history, policy.uplink_history_bytes),
            device: Arc::new(DeviceKey::new("a1DemoPrdct", "demo-device")),
            publish: qos1_publish(topic, Bytes::from(vec![0u8; payload_len])),
        }
    }

    /// Records the PUBLISH as accepted on `conn`, as the session does for every uplink.
    pub fn record(&self, conn: ConnId) {
        self.uplinks.record(conn, &self.device, &self.publish);
    }
}

/// The transcript's event path as a connection uses it: the broker's bus with its history.
pub struct EventPath {
    bus: Bus,
    publish: Packet,
}

impl EventPath {
    /// A bus keeping `history` events, and the QoS 1 PUBLISH on `topic` with a `payload_len`
    /// payload whose `packet_in` event [`EventPath::publish_in`] records.
    pub fn new(history: usize, topic: &str, payload_len: usize) -> EventPath {
        let publish = Packet::Publish(qos1_publish(topic, Bytes::from(vec![0u8; payload_len])));
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
