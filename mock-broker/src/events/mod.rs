//! The transcript: structured events every connection produces, and the bus that carries them.
//!
//! Events are plain values, numbered and kept in the bus's bounded history (`bus`);
//! nothing is formatted on the hot path. Sinks (the CLI's stdout printer, a JSON-lines file,
//! the control endpoint, a test) read them with [`crate::Broker::events`] (from now on) or
//! [`crate::Broker::history`] (from the start).

mod bus;
mod filter;

pub(crate) use bus::{Bus, Entry};
pub use bus::{EventStats, EventStream, HistoryStats, StreamError, WaitError};
pub(crate) use filter::Closest;
pub use filter::{Ended, EventFilter, NoMatch, UnknownKind};

use crate::mqtt::{ConnackCode, Packet, Protocol, QoS};
use crate::transport::{Listener, Transport};
use crate::verdict::Verdict;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

/// A connection's number, unique within one broker, counting from 1.
pub type ConnId = u64;

/// One thing that happened, on one connection.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// The connection it happened on.
    pub conn: ConnId,
    /// Time since the broker started (tokio time, so paused-clock tests see exact values).
    #[serde(serialize_with = "serialize_millis", rename = "at_ms")]
    pub at: Duration,
    #[serde(flatten)]
    pub kind: EventKind,
}

pub(crate) fn serialize_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// What happened.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A TCP connection arrived on a listener: a transport's own (`"transport": "ws"`) or the
    /// mux (`"listener": "mux"`), whose transport a `sniffed` event names later.
    Accepted {
        #[serde(flatten)]
        listener: Listener,
        peer: SocketAddr,
    },
    /// T-MUX: the mux told the connection's transport from its first bytes (and, under TLS,
    /// from the first bytes inside it).
    Sniffed { transport: Transport },
    /// The TLS and/or WebSocket handshake finished (T-HOST, T-WS-PATH, T-WS-SUBPROTO). Boxed:
    /// the largest kind, it would set the size of every event in the history.
    Handshake(Box<Handshake>),
    /// The CONNECT packet, secrets left out (the password only by its length).
    Connect(ConnectSummary),
    /// One rule checked.
    Verdict(Verdict),
    /// A packet the broker received after CONNECT.
    PacketIn(PacketSummary),
    /// A packet the broker sent.
    PacketOut(PacketSummary),
    /// The device came online as `product_key`/`device_name`.
    Online { product_key: String, device_name: String, session_present: bool },
    /// A cloud-side publish could not be delivered.
    Undelivered { topic: String, reason: String },
    /// A fault was armed, applied, used up or cleared (connection 0: the broker itself).
    Fault(FaultEvent),
    /// S-CLEAN: a message kept for an offline cleanSession=0 device was dropped (a stored
    /// session's limit, or its expiry). `conn` is the connection that left the session.
    QueueDropped { topic: String, reason: String },
    /// The connection ended.
    Closed { reason: CloseReason },
    /// Accepting a connection failed `count` times since the last such event, the last time
    /// with `error` (out of file descriptors, say); on connection 0, at most one a second per
    /// listener. The broker keeps serving.
    AcceptFailed {
        #[serde(flatten)]
        listener: Listener,
        error: String,
        count: u64,
    },
    /// The connection's verdict budget (`Policy::verdicts_per_second`) was spent: `verdicts`
    /// more verdicts in that second were counted but not recorded one by one; `rules` names
    /// their rules.
    Suppressed { verdicts: u64, rules: Vec<String> },
}

impl EventKind {
    /// Every kind's name, as the `event` field of the JSON form writes it.
    pub const NAMES: [&'static str; 14] = [
        "accepted",
        "sniffed",
        "handshake",
        "connect",
        "verdict",
        "packet_in",
        "packet_out",
        "online",
        "undelivered",
        "fault",
        "queue_dropped",
        "closed",
        "accept_failed",
        "suppressed",
    ];

    /// This kind's name, as the `event` field of the JSON form writes it.
    pub fn name(&self) -> &'static str {
        Self::NAMES[self.index()]
    }

    /// This kind's place in [`EventKind::NAMES`].
    fn index(&self) -> usize {
        match self {
            EventKind::Accepted { .. } => 0,
            EventKind::Sniffed { .. } => 1,
            EventKind::Handshake(_) => 2,
            EventKind::Connect(_) => 3,
            EventKind::Verdict(_) => 4,
            EventKind::PacketIn(_) => 5,
            EventKind::PacketOut(_) => 6,
            EventKind::Online { .. } => 7,
            EventKind::Undelivered { .. } => 8,
            EventKind::Fault(_) => 9,
            EventKind::QueueDropped { .. } => 10,
            EventKind::Closed { .. } => 11,
            EventKind::AcceptFailed { .. } => 12,
            EventKind::Suppressed { .. } => 13,
        }
    }
}

/// What happened to an injected fault.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FaultEvent {
    /// The fault's number within its broker.
    pub id: u64,
    /// Its name: the one it was armed with, or its description.
    pub name: String,
    /// Its kind as scenario files write it (`withhold`, `refuse_connect`...).
    pub fault: &'static str,
    pub phase: FaultPhase,
}

/// The life of a fault.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultPhase {
    /// Armed on the broker.
    Armed,
    /// Applied to a connection.
    Applied,
    /// Used up its `times` and disarmed itself.
    Disarmed,
    /// Cleared by the user.
    Cleared,
}

/// What the TLS and WebSocket handshakes revealed.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Handshake {
    /// TLS server name indication (wss, tls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// WebSocket request path (ws, wss).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_path: Option<String>,
    /// WebSocket `Host` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Subprotocols the client offered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subprotocols: Vec<String>,
    /// The subprotocol the broker echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subprotocol: Option<String>,
}

/// CONNECT fields as received; the password appears only as its length.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ConnectSummary {
    pub protocol: Protocol,
    pub client_id: String,
    pub username: Option<String>,
    pub password_len: Option<usize>,
    pub keep_alive: u16,
    pub clean_session: bool,
    pub will: bool,
}

/// A packet reduced to what a transcript needs.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PacketSummary {
    pub packet: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet_id: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<QoS>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_len: Option<usize>,
    /// PUBLISH: the DUP flag, shown only when set (a redelivery, MQTT-4.4.0-1).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dup: bool,
    /// SUBSCRIBE filters with requested QoS, SUBACK codes, or a CONNACK code.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
}

impl PacketSummary {
    /// Summarises a packet.
    pub fn of(packet: &Packet) -> PacketSummary {
        let mut s = PacketSummary {
            packet: packet.name(),
            packet_id: None,
            topic: None,
            qos: None,
            payload_len: None,
            dup: false,
            items: Vec::new(),
        };
        match packet {
            Packet::Publish(p) => {
                s.packet_id = p.packet_id;
                s.topic = Some(p.topic.clone());
                s.qos = Some(p.qos);
                s.payload_len = Some(p.payload.len());
                s.dup = p.dup;
            }
            Packet::Puback(id)
            | Packet::Pubrec(id)
            | Packet::Pubrel(id)
            | Packet::Pubcomp(id)
            | Packet::Unsuback(id) => s.packet_id = Some(*id),
            Packet::Subscribe(sub) => {
                s.packet_id = Some(sub.packet_id);
                s.items = sub.filters.iter().map(|(f, q)| format!("{f} (QoS {})", *q as u8)).collect();
            }
            Packet::Suback(ack) => {
                s.packet_id = Some(ack.packet_id);
                s.items = ack.codes.iter().map(|c| format!("0x{:02x}", c.as_u8())).collect();
            }
            Packet::Unsubscribe(u) => {
                s.packet_id = Some(u.packet_id);
                s.items = u.filters.clone();
            }
            Packet::Connack(c) => s.items = vec![format!("0x{:02x}", c.code.as_u8())],
            Packet::Connect(_) | Packet::Pingreq | Packet::Pingresp | Packet::Disconnect => {}
        }
        s
    }
}

/// Why a connection ended.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CloseReason {
    /// The client closed the connection without DISCONNECT.
    ClientClosed,
    /// The client sent DISCONNECT.
    ClientDisconnect,
    /// K-TIMEOUT: silent for more than 1.5 x keepalive ("Keepalive timeout").
    KeepaliveTimeout { keep_alive_s: u16, silent_ms: u64 },
    /// S-KICK: the same device logged in on connection `by` (0: the cloud side's
    /// [`crate::Broker::kick`]).
    Kicked { by: ConnId },
    /// A-CONNACK: the CONNECT was refused with `code`; `rule` is the rule that refused it.
    Refused { code: ConnackCode, rule: String },
    /// The client broke a rule or MQTT itself.
    Violation { rule: String, message: String },
    /// No CONNECT (or no finished handshake) within the connect timeout.
    ConnectTimeout { timeout_ms: u64 },
    /// The TLS or WebSocket handshake failed (or, on the mux, reading the first bytes did).
    HandshakeFailed { message: String },
    /// The cloud side (the library user) closed it.
    ClosedByCloud,
    /// An injected fault ended it (close, reset, WebSocket close frame, blackhole or
    /// half-open held to its limit...).
    Faulted { fault: String },
    /// The broker shut down.
    Shutdown,
    /// Reading or writing failed.
    TransportError { message: String },
    /// The TLS handshake or the WebSocket upgrade (`stage`: `tls` or `websocket`) did not
    /// finish within its deadline (`Policy::tls_handshake_timeout`, `ws_upgrade_timeout`).
    HandshakeTimeout { stage: String, timeout_ms: u64 },
    /// A resource limit of the broker was reached: `limit` names the `Policy` field
    /// (`max_connections`, `max_connect_len`, `write_timeout`).
    Limit { limit: String, message: String },
}

impl CloseReason {
    /// The reason in the platform's device-log words, where it has some.
    pub fn label(&self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client closed the connection",
            CloseReason::ClientDisconnect => "client sent DISCONNECT",
            CloseReason::KeepaliveTimeout { .. } => "Keepalive timeout",
            CloseReason::Kicked { .. } => "Kicked by the same device",
            CloseReason::Refused { .. } => "CONNECT refused",
            CloseReason::Violation { .. } => "protocol violation",
            CloseReason::ConnectTimeout { .. } => "no CONNECT in time",
            CloseReason::HandshakeFailed { .. } => "handshake failed",
            CloseReason::ClosedByCloud => "closed by the cloud side",
            CloseReason::Faulted { .. } => "ended by an injected fault",
            CloseReason::Shutdown => "broker shut down",
            CloseReason::TransportError { .. } => "transport error",
            CloseReason::HandshakeTimeout { .. } => "handshake timed out",
            CloseReason::Limit { .. } => "a limit of the broker was reached",
        }
    }
}

/// Events the unit tests of the bus and its readers build.
#[cfg(test)]
pub(crate) mod test_events {
    use super::{ConnectSummary, EventKind};
    use crate::mqtt::Protocol;

    /// A CONNECT naming `username` (`deviceName&productKey`).
    pub(crate) fn connect(username: &str) -> EventKind {
        EventKind::Connect(ConnectSummary {
            protocol: Protocol::V311,
            client_id: "c".into(),
            username: Some(username.into()),
            password_len: Some(40),
            keep_alive: 60,
            clean_session: true,
            will: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_the_json_tags() {
        let kinds = [
            EventKind::Accepted { listener: Transport::Tcp.into(), peer: "127.0.0.1:1".parse().unwrap() },
            EventKind::Accepted { listener: Listener::Mux, peer: "127.0.0.1:1".parse().unwrap() },
            EventKind::Sniffed { transport: Transport::Wss },
            EventKind::Handshake(Box::default()),
            EventKind::PacketIn(PacketSummary::of(&Packet::Pingreq)),
            EventKind::PacketOut(PacketSummary::of(&Packet::Pingresp)),
            EventKind::Online { product_key: "pk".into(), device_name: "device".into(), session_present: false },
            EventKind::Undelivered { topic: "/t".into(), reason: "gone".into() },
            EventKind::Fault(FaultEvent { id: 1, name: "x".into(), fault: "kick", phase: FaultPhase::Armed }),
            EventKind::Closed { reason: CloseReason::Shutdown },
            EventKind::AcceptFailed { listener: Listener::Mux, error: "EMFILE".into(), count: 2 },
            EventKind::Suppressed { verdicts: 3, rules: vec!["S-SUB-DENY".into()] },
            EventKind::QueueDropped { topic: "/t".into(), reason: "expired".into() },
            EventKind::Verdict(Verdict::pass(crate::Rule::AKeepalive, "30..=1200", "60")),
        ];
        for kind in kinds {
            let json = serde_json::to_value(Event { conn: 1, at: Duration::ZERO, kind: kind.clone() }).unwrap();
            assert_eq!(json["event"], kind.name());
            assert!(EventKind::NAMES.contains(&kind.name()));
        }
    }

    #[test]
    fn an_accepted_event_names_a_transport_or_the_mux() {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let json = |listener| serde_json::to_value(EventKind::Accepted { listener, peer }).unwrap();
        assert_eq!(
            json(Transport::Ws.into()),
            serde_json::json!({"event": "accepted", "transport": "ws", "peer": "127.0.0.1:1"})
        );
        assert_eq!(
            json(Listener::Mux),
            serde_json::json!({"event": "accepted", "listener": "mux", "peer": "127.0.0.1:1"})
        );
    }
}
