//! The broker's reactions where the platform is silent or the rule is configurable.
//!
//! Every field whose platform behaviour is assumed (confidence Low in the rule table,
//! [`crate::rules`]) says so; the defaults are the reactions the rule table names (and
//! `RULES.md` lists). Reports label verdicts on these rules "assumed".
//!
//! The resource limits (connections, the CONNECT size, handshake deadlines, subscriptions,
//! the verdict budget, the outbound queue and write timeout) keep one hostile or broken
//! client from exhausting the broker; the README's "Reliability and limits" lists them.
//!
//! A running broker's policy can change (`Broker::set_policy`, `Broker::update_policy`):
//! each connection keeps the policy it was accepted with, new connections get the new one.
//! The fields of [`FIXED_AT_START`] are fixed when the broker starts; a change of one is
//! refused with a [`PolicyError`].

use crate::mqtt::{ConnackCode, QoS};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the broker does with a QoS 2 PUBLISH (S-QOS, assumed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Qos2PublishReaction {
    /// Close the connection (the default).
    Close,
    /// Drop the message and keep the connection.
    Drop,
}

/// What the broker does with a PUBLISH whose payload is over the limit (S-PAYLOAD, assumed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OversizeReaction {
    /// Close the connection (the default).
    Close,
    /// Drop the message and keep the connection.
    Drop,
}

/// How the keepalive cut is timed (K-TIMEOUT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepaliveCheck {
    /// The platform's way: every `period` (phase `phase` after broker start) the broker cuts
    /// each device silent for more than 1.5 x keepalive. The cut falls in [1.5K, 1.5K + period].
    Periodic { period: Duration, phase: Duration },
    /// Deterministic, for tests: the cut happens exactly 1.5 x keepalive after the last packet.
    Exact,
}

/// The broker's configurable reactions.
#[derive(Clone, Debug)]
pub struct Policy {
    /// A-KEEPALIVE: the accepted keepalive range in seconds (30..=1200).
    pub keepalive_range: (u16, u16),
    /// A-KEEPALIVE: the CONNACK code for a keepalive outside the range (0x02, code assumed).
    pub keepalive_refusal: ConnackCode,
    /// A-CID-LEN: the longest clientId prefix, in characters (64).
    pub client_id_max_chars: usize,
    /// A-SECUREMODE: the CONNACK code for a securemode that does not match the transport
    /// (0x02, assumed).
    pub securemode_refusal: ConnackCode,
    /// A-SIGNMETHOD: the CONNACK code for an unknown or mis-cased signmethod (0x02, assumed).
    pub signmethod_refusal: ConnackCode,
    /// A-DEVICE: the CONNACK code for an unknown device (0x04, assumed).
    pub unknown_device_refusal: ConnackCode,
    /// A-DEVICE: the CONNACK code for a disabled device (0x05, assumed).
    pub disabled_device_refusal: ConnackCode,
    /// K-TIMEOUT: how the keepalive cut is timed.
    pub keepalive_check: KeepaliveCheck,
    /// How long a new connection may take to deliver its CONNECT (and finish its TLS and
    /// WebSocket handshakes) before it is closed.
    pub connect_timeout: Duration,
    /// S-QOS: reaction to a QoS 2 PUBLISH (assumed).
    pub qos2_publish: Qos2PublishReaction,
    /// S-QOS: the QoS granted to a QoS 2 subscription (1, assumed).
    pub qos2_subscribe_grant: QoS,
    /// S-PUB-DENY: whether a dropped QoS 1 PUBLISH still gets its PUBACK (true, assumed).
    pub puback_denied_publish: bool,
    /// S-RATE: uplink messages per second per device (30); the excess is dropped.
    pub uplink_rate_per_second: u32,
    /// S-PAYLOAD: the largest PUBLISH payload in bytes (256 KiB, assumed).
    pub payload_limit: usize,
    /// S-PAYLOAD: reaction to a larger payload (close, assumed).
    pub oversize: OversizeReaction,
    /// S-CLEAN: the most QoS 1 messages a stored cleanSession=0 session keeps (1000,
    /// assumed); at the limit the oldest is dropped, with a `queue_dropped` event.
    pub stored_session_max_messages: usize,
    /// S-CLEAN: the most payload and topic bytes a stored session keeps (1 MiB, assumed); at
    /// the limit the oldest messages are dropped, with a `queue_dropped` event each, and a
    /// single message larger than this is not stored at all.
    pub stored_session_max_bytes: usize,
    /// S-CLEAN: how long a stored session outlives its device's last connection (7 days,
    /// assumed). An expired session is dropped when its device logs in or a message is
    /// routed to it (checked lazily, on tokio time): the login starts a fresh session.
    pub stored_session_expiry: Duration,
    /// T-WS-PATH: the WebSocket paths accepted; empty accepts any path (the default).
    pub ws_paths: Vec<String>,
    /// T-WS: the largest WebSocket message (and frame) in bytes; `None` (the default) is
    /// [`Policy::max_packet_len`] plus [`WS_MESSAGE_MARGIN`], so that one message holds the
    /// largest packet and a few small ones after it. A larger message is refused by the
    /// WebSocket layer before its MQTT is read: an S-PAYLOAD fail (assumed: a PUBLISH is the
    /// only packet a client makes that large) and a close whatever [`Policy::oversize`] says,
    /// since the message's bytes are lost. A PUBLISH over the packet limit sent in smaller
    /// messages is skipped as on a byte stream. Assumed: the platform's limit is unknown.
    pub ws_message_limit: Option<usize>,
    /// The most connections open at once (10 000). One more is accepted and closed at once
    /// (`closed` with reason `limit`, naming `max_connections`).
    pub max_connections: usize,
    /// The largest packet read before authentication, CONNECT included (8 KiB): a larger one
    /// closes the connection (reason `limit`, naming `max_connect_len`) before it is
    /// buffered. The packet limit ([`Policy::max_packet_len`]) applies only after CONNACK.
    pub max_connect_len: usize,
    /// How long the TLS handshake (wss, tls) may take (5 s), within the connect timeout.
    pub tls_handshake_timeout: Duration,
    /// How long the WebSocket upgrade (ws, wss) may take (5 s), within the connect timeout.
    pub ws_upgrade_timeout: Duration,
    /// S-SUB-DENY: the most subscriptions one device holds (1000, assumed: the platform's
    /// limit is unknown). The filters of a SUBSCRIBE beyond it get 0x80 and a failed verdict.
    pub max_subscriptions: usize,
    /// The most verdicts one connection records per second (100). Beyond it, verdicts are
    /// counted and summarised in one `suppressed` event, so that a flood on one connection
    /// cannot make the subscribers of the event bus lag and lose other connections' events.
    pub verdicts_per_second: u32,
    /// Cloud-side commands (downlinks, kicks) queued for one connection (64); beyond it the
    /// cloud side waits. With the write timeout, it bounds what a client that never reads
    /// costs.
    pub outbound_queue: usize,
    /// The most events the broker's history keeps (65 536): the oldest make room for new
    /// ones, and are counted as evicted ([`crate::Broker::event_stats`]); a reader left
    /// behind is told how many it missed.
    pub history_events: usize,
    /// The most uplinks (device PUBLISHes the broker accepted) the cloud side's view keeps
    /// ([`crate::Broker::uplinks`]): 4096 messages and 16 MiB of payload and topic bytes; the
    /// oldest make room for new ones and are counted as evicted, and a reader left behind
    /// is told how many it missed.
    pub uplink_history: usize,
    pub uplink_history_bytes: usize,
    /// How long one write may wait on a client that does not read (10 s); then the
    /// connection is closed (reason `limit`, naming `write_timeout`).
    pub write_timeout: Duration,
    /// Whether a failing signature verdict shows digests in full (`--reveal-signatures`).
    /// Off by default: the platform has no freshness window on the timestamp, so the expected
    /// signature is a password it would accept for that clientId, and CI logs are widely
    /// read. Verdicts then show a digest's first 8 hex digits and its length
    /// (`fafd82a3… (40 hex digits)`). Devices of the embedded demo registry, whose secret is
    /// published, are always shown in full.
    pub reveal_signatures: bool,
}

/// The largest payload limit the CLI takes: the largest MQTT remaining length (268,435,455
/// bytes), since no packet can carry more.
pub const MAX_PAYLOAD_LIMIT: usize = 268_435_455;

/// What a WebSocket message may hold beyond the largest packet, by default (64 KiB).
pub const WS_MESSAGE_MARGIN: usize = 64 * 1024;

impl Default for Policy {
    fn default() -> Self {
        Policy {
            keepalive_range: (30, 1200),
            keepalive_refusal: ConnackCode::IdentifierRejected,
            client_id_max_chars: 64,
            securemode_refusal: ConnackCode::IdentifierRejected,
            signmethod_refusal: ConnackCode::IdentifierRejected,
            unknown_device_refusal: ConnackCode::BadCredentials,
            disabled_device_refusal: ConnackCode::NotAuthorized,
            keepalive_check: KeepaliveCheck::Periodic { period: Duration::from_secs(30), phase: Duration::ZERO },
            connect_timeout: Duration::from_secs(10),
            qos2_publish: Qos2PublishReaction::Close,
            qos2_subscribe_grant: QoS::AtLeastOnce,
            puback_denied_publish: true,
            uplink_rate_per_second: 30,
            payload_limit: 256 * 1024,
            oversize: OversizeReaction::Close,
            stored_session_max_messages: 1000,
            stored_session_max_bytes: 1024 * 1024,
            stored_session_expiry: Duration::from_secs(7 * 24 * 3600),
            ws_paths: Vec::new(),
            ws_message_limit: None,
            max_connections: 10_000,
            max_connect_len: 8 * 1024,
            tls_handshake_timeout: Duration::from_secs(5),
            ws_upgrade_timeout: Duration::from_secs(5),
            max_subscriptions: 1000,
            verdicts_per_second: 100,
            outbound_queue: 64,
            history_events: 1 << 16,
            uplink_history: 4096,
            uplink_history_bytes: 16 << 20,
            write_timeout: Duration::from_secs(10),
            reveal_signatures: false,
        }
    }
}

/// The fields a running broker cannot change, with why: what was sized at start from them.
pub const FIXED_AT_START: [(&str, &str); 6] = [
    ("history_events", "the event history is allocated when the broker starts"),
    ("uplink_history", "the uplink log keeps the limits the broker started with"),
    ("uplink_history_bytes", "the uplink log keeps the limits the broker started with"),
    ("stored_session_max_messages", "the hub keeps the stored-session limits the broker started with"),
    ("stored_session_max_bytes", "the hub keeps the stored-session limits the broker started with"),
    ("stored_session_expiry", "the hub keeps the stored-session limits the broker started with"),
];

/// Why a running broker's policy was not changed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The change touches a field of [`FIXED_AT_START`].
    #[error("policy field {field} is fixed at start ({why}): it cannot change while the broker runs")]
    FixedAtStart { field: &'static str, why: &'static str },
}

impl Policy {
    /// Checks that `new` may replace this policy in a running broker: it changes no field of
    /// [`FIXED_AT_START`] (the first one changed is named).
    pub fn check_change(&self, new: &Policy) -> Result<(), PolicyError> {
        let changed = [
            self.history_events != new.history_events,
            self.uplink_history != new.uplink_history,
            self.uplink_history_bytes != new.uplink_history_bytes,
            self.stored_session_max_messages != new.stored_session_max_messages,
            self.stored_session_max_bytes != new.stored_session_max_bytes,
            self.stored_session_expiry != new.stored_session_expiry,
        ];
        match FIXED_AT_START.into_iter().zip(changed).find(|(_, changed)| *changed) {
            Some(((field, why), _)) => Err(PolicyError::FixedAtStart { field, why }),
            None => Ok(()),
        }
    }

    /// The largest MQTT packet the decoder buffers: a PUBLISH at the payload limit with the
    /// longest topic and its header. Anything larger is never buffered: a PUBLISH is an
    /// S-PAYLOAD fail (its payload is over the limit whatever its topic), any other packet a
    /// violation of the limit.
    pub fn max_packet_len(&self) -> usize {
        self.payload_limit.saturating_add(2 + 65_535 + 2 + 5)
    }

    /// The largest WebSocket message the broker reads (see [`Policy::ws_message_limit`]).
    pub fn max_ws_message_len(&self) -> usize {
        self.ws_message_limit.unwrap_or_else(|| self.max_packet_len().saturating_add(WS_MESSAGE_MARGIN))
    }

    /// The packet limit before authentication: the CONNECT cap, never above the packet limit.
    pub fn max_connect_packet_len(&self) -> usize {
        self.max_connect_len.min(self.max_packet_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limits_saturate_instead_of_overflowing() {
        let policy = Policy { payload_limit: usize::MAX, ..Policy::default() };
        assert_eq!(policy.max_packet_len(), usize::MAX);
        assert_eq!(policy.max_ws_message_len(), usize::MAX);
        assert_eq!(policy.max_connect_packet_len(), 8 * 1024);
        let tiny = Policy { payload_limit: 0, max_connect_len: usize::MAX, ..Policy::default() };
        assert_eq!(tiny.max_connect_packet_len(), tiny.max_packet_len());
    }

    #[test]
    fn a_change_of_a_field_fixed_at_start_is_refused_by_name() {
        let start = Policy::default();
        let editable = Policy { payload_limit: 10, keepalive_range: (60, 60), ..Policy::default() };
        assert_eq!(start.check_change(&editable), Ok(()));
        let changes = [
            Policy { history_events: 10, ..Policy::default() },
            Policy { uplink_history: 10, ..Policy::default() },
            Policy { uplink_history_bytes: 10, ..Policy::default() },
            Policy { stored_session_max_messages: 1, ..Policy::default() },
            Policy { stored_session_max_bytes: 1, ..Policy::default() },
            Policy { stored_session_expiry: Duration::ZERO, ..Policy::default() },
        ];
        for (changed, (field, _)) in changes.iter().zip(FIXED_AT_START) {
            let err = start.check_change(changed).unwrap_err();
            assert!(matches!(err, PolicyError::FixedAtStart { field: named, .. } if named == field), "{err}");
            assert!(err.to_string().starts_with(&format!("policy field {field} is fixed at start (")), "{err}");
        }
    }
}
