//! Who is online, the sessions kept for cleanSession=0 devices, and each device's uplink rate
//! (S-KICK, S-CLEAN, S-RATE).
//!
//! The hub maps each device (productKey + deviceName, not the MQTT client id) to its one live
//! connection and lets the cloud side reach it. It mirrors the live connection's
//! subscriptions, with their granted QoS, so that a cloud-side publish is routed, and its
//! [`Delivery`] known, under one lock.
//!
//! A cleanSession=0 session outlives its connection. When the device goes offline its state
//! (subscriptions, QoS 1 downlinks sent but unacknowledged, QoS 1 downlinks not yet sent) is
//! stored here, within the policy's limits and for the policy's expiry (both assumed: the
//! platform's retention is unknown, S-CLEAN is rated L). When the same device logs in again
//! while its old connection is still up (S-KICK), the old connection's state is handed to the
//! new one: [`Hub::login`] registers a hand-over keyed by the old connection, and the old
//! connection's [`Hub::logout`], whenever it comes, sends its state through it. Login and
//! logout both take the hub's lock, so either the old connection left first (its state is
//! stored, and the login resumes it) or the login came first (the hand-over is registered
//! before the old connection can leave); nothing falls between.

use crate::events::{Bus, ConnId, EventKind};
use crate::mqtt::{Publish, QoS};
use crate::policy::Policy;
use crate::subscriptions::Subscriptions;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// A device's identity on the platform.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceKey {
    pub product_key: String,
    pub device_name: String,
}

impl DeviceKey {
    pub fn new(product_key: impl Into<String>, device_name: impl Into<String>) -> DeviceKey {
        DeviceKey { product_key: product_key.into(), device_name: device_name.into() }
    }
}

/// What the cloud side (or a newer login) asks of a live connection.
#[derive(Debug)]
pub enum Command {
    /// Deliver a downlink PUBLISH if the device subscribed to its topic. Boxed, so that
    /// every connection's command queue, whose slots are allocated per block of 32, stays
    /// small.
    Deliver(Box<Publish>),
    /// S-KICK: the same device logged in on connection `by`.
    Kick { by: ConnId },
    /// Close the connection (cloud side).
    Close,
    /// The armed faults changed: apply those now due.
    Faults,
}

/// The state of a cleanSession=0 session between two connections (S-CLEAN).
#[derive(Debug, Default)]
pub struct StoredSession {
    /// Moved here from the connection that left, never copied.
    pub subscriptions: Subscriptions,
    /// QoS 1 downlinks, oldest first: those sent but not acknowledged carry their packet id
    /// and are redelivered with DUP=1 under that same id, as [MQTT-4.4.0-1] demands ("using
    /// their original Packet Identifiers"); those never sent carry none and get one when sent.
    pub messages: VecDeque<Publish>,
    /// The packet id the session used last, so that new ids do not collide with the
    /// redelivered ones.
    pub last_packet_id: u16,
}

/// A stored session, while its device is offline.
struct Stored {
    session: StoredSession,
    /// When the device went offline: the expiry counts from here.
    since: Instant,
    /// The connection that left it, which the hub's events about it name.
    conn: ConnId,
    /// Payload and topic bytes of `session.messages`.
    bytes: usize,
}

struct Online {
    conn: ConnId,
    tx: mpsc::Sender<Command>,
    persistent: bool,
    /// A mirror of the connection's subscriptions, updated filter by filter.
    subscriptions: Subscriptions,
}

/// S-RATE: one device's accepted uplinks in the last second, counted per millisecond, so that
/// its memory is bounded by the window's 1000 milliseconds whatever the rate limit (a
/// timestamp per message would grow with the rate: a million a second under a raised limit).
struct RateWindow {
    /// The window's time origin: milliseconds are counted from it.
    origin: Instant,
    /// (millisecond since `origin`, messages accepted in it), oldest first.
    accepted: VecDeque<(u64, u32)>,
    /// The sum of the counts in `accepted`.
    total: u64,
    /// True since the last message dropped, until one is accepted again.
    dropping: bool,
}

#[derive(Default)]
struct State {
    online: HashMap<DeviceKey, Online>,
    by_conn: HashMap<ConnId, mpsc::Sender<Command>>,
    stored: HashMap<DeviceKey, Stored>,
    /// Hand-overs owed by a kicked cleanSession=0 connection to its successor, by the kicked
    /// connection.
    handovers: HashMap<ConnId, oneshot::Sender<StoredSession>>,
    rates: HashMap<DeviceKey, RateWindow>,
}

/// The stored-session limits (from [`Policy`]).
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_messages: usize,
    max_bytes: usize,
    expiry: Duration,
}

/// The broker-wide registry of live connections and stored sessions.
pub struct Hub {
    state: Mutex<State>,
    bus: Bus,
    limits: Limits,
}

/// What happened to a cloud-side publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to the device's live connection `conn`, which subscribed to the topic; it goes
    /// out at `qos`, the lower of the published and the granted QoS.
    Delivered { conn: ConnId, qos: QoS },
    /// The device is online on `conn` but no subscription matches the topic: not sent, and
    /// recorded as an `undelivered` event.
    Undelivered { conn: ConnId },
    /// The device is offline with a stored cleanSession=0 session whose subscriptions match
    /// at QoS 1: queued for its return (S-CLEAN).
    Queued,
    /// The device is offline and the message is dropped: no stored session (or it expired),
    /// no matching stored subscription, QoS 0, or larger than the stored-session byte limit.
    Dropped,
}

/// Where [`Hub::route`] sends a publish: the delivery and, for a live connection, the
/// channel and the publish (at its downlink QoS) to send on it.
pub type Route = (Delivery, Option<(mpsc::Sender<Command>, Publish)>);

/// What a login finds.
#[derive(Debug)]
pub struct Login {
    /// The connection it replaces, to be kicked (S-KICK).
    pub previous: Option<(ConnId, mpsc::Sender<Command>)>,
    /// The session it resumes.
    pub resume: Resume,
}

/// The session a login resumes.
#[derive(Debug)]
pub enum Resume {
    /// A fresh session: cleanSession=1, or nothing stored.
    Fresh,
    /// The session stored when the device went offline.
    Stored(StoredSession),
    /// The session of the live connection being kicked, which it sends when it leaves.
    /// `subscriptions` are its subscriptions at login, which the hub already routes by.
    Handover { state: oneshot::Receiver<StoredSession>, subscriptions: Subscriptions },
}

/// The S-RATE count of one uplink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateCount {
    /// True when the message is within the rate and accepted.
    pub accepted: bool,
    /// For a dropped message, true if it is the first dropped since one was last accepted.
    pub first_dropped: bool,
    /// Messages in the last second, this one included (dropped ones not counted before it).
    pub count: u64,
}

fn size_of(publish: &Publish) -> usize {
    publish.payload.len().saturating_add(publish.topic.len())
}

impl Hub {
    /// A hub emitting its events on `bus`, with `policy`'s stored-session limits.
    pub(crate) fn new(bus: Bus, policy: &Policy) -> Hub {
        Hub {
            state: Mutex::default(),
            bus,
            limits: Limits {
                max_messages: policy.stored_session_max_messages,
                max_bytes: policy.stored_session_max_bytes,
                expiry: policy.stored_session_expiry,
            },
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock would be a bug elsewhere; keep serving regardless.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the device's stored session if it has expired (checked lazily, on tokio time).
    fn expire(&self, state: &mut State, key: &DeviceKey) {
        let expired = state.stored.get(key).is_some_and(|s| s.since.elapsed() > self.limits.expiry);
        if expired {
            let stored = state.stored.remove(key).expect("checked above");
            for publish in stored.session.messages {
                let reason = format!("the stored session expired after {} s offline", self.limits.expiry.as_secs());
                self.bus.emit(stored.conn, EventKind::QueueDropped { topic: publish.topic, reason });
            }
        }
    }

    /// Makes `conn` the device's live connection and says what it replaces and resumes.
    pub fn login(&self, key: &DeviceKey, conn: ConnId, tx: mpsc::Sender<Command>, clean_session: bool) -> Login {
        let mut state = self.state();
        self.expire(&mut state, key);
        state.by_conn.insert(conn, tx.clone());
        let persistent = !clean_session;
        let stored = state.stored.remove(key);
        let old = state.online.remove(key);
        let resume = match (&old, stored) {
            (_, _) if clean_session => Resume::Fresh,
            (Some(old), _) if old.persistent => {
                let (handover, state_rx) = oneshot::channel();
                state.handovers.insert(old.conn, handover);
                Resume::Handover { state: state_rx, subscriptions: old.subscriptions.clone() }
            }
            (Some(_), _) => Resume::Fresh,
            (None, Some(stored)) => Resume::Stored(stored.session),
            (None, None) => Resume::Fresh,
        };
        let subscriptions = match &resume {
            Resume::Fresh => Subscriptions::default(),
            Resume::Stored(session) => session.subscriptions.clone(),
            Resume::Handover { subscriptions, .. } => subscriptions.clone(),
        };
        state.online.insert(key.clone(), Online { conn, tx, persistent, subscriptions });
        Login { previous: old.map(|o| (o.conn, o.tx)), resume }
    }

    /// Changes the mirror of the live connection's subscriptions, which routing reads: a
    /// SUBSCRIBE or UNSUBSCRIBE passes only its own filters, never the whole set.
    pub fn update_subscriptions(&self, key: &DeviceKey, conn: ConnId, change: impl FnOnce(&mut Subscriptions)) {
        if let Some(online) = self.state().online.get_mut(key).filter(|o| o.conn == conn) {
            change(&mut online.subscriptions);
        }
    }

    /// Ends `conn`. `session` is its cleanSession=0 state (`None` for a clean session): kept
    /// for the next login if `conn` was the device's live connection, handed to the
    /// connection that kicked it if one waits, else dropped.
    pub fn logout(&self, key: Option<&DeviceKey>, conn: ConnId, session: Option<StoredSession>) {
        let mut state = self.state();
        state.by_conn.remove(&conn);
        let handover = state.handovers.remove(&conn);
        let Some(key) = key else { return };
        if state.online.get(key).is_some_and(|o| o.conn == conn) {
            let online = state.online.remove(key).expect("checked above");
            if let (true, Some(session)) = (online.persistent, session) {
                let bytes = session.messages.iter().map(size_of).sum();
                let mut stored = Stored { session, since: Instant::now(), conn, bytes };
                self.trim(&mut stored);
                state.stored.insert(key.clone(), stored);
            }
        } else if let (Some(handover), Some(session)) = (handover, session) {
            // The successor may have stopped waiting; the state is dropped then.
            let _ = handover.send(session);
        }
    }

    /// Drops the oldest stored messages beyond the limits, each an event.
    fn trim(&self, stored: &mut Stored) {
        let Limits { max_messages, max_bytes, .. } = self.limits;
        while stored.session.messages.len() > max_messages || stored.bytes > max_bytes {
            let Some(oldest) = stored.session.messages.pop_front() else { break };
            stored.bytes -= size_of(&oldest);
            let reason = if stored.session.messages.len() >= max_messages {
                format!("the stored session holds at most {max_messages} messages; the oldest is dropped")
            } else {
                format!("the stored session holds at most {max_bytes} bytes; the oldest is dropped")
            };
            self.bus.emit(stored.conn, EventKind::QueueDropped { topic: oldest.topic, reason });
        }
    }

    /// The live connection of a device.
    pub fn connection_of(&self, key: &DeviceKey) -> Option<(ConnId, mpsc::Sender<Command>)> {
        self.state().online.get(key).map(|o| (o.conn, o.tx.clone()))
    }

    /// The live connection's subscription to exactly `filter`, with its granted QoS.
    pub fn subscription(&self, key: &DeviceKey, filter: &str) -> Option<(ConnId, QoS)> {
        let state = self.state();
        let online = state.online.get(key)?;
        online.subscriptions.iter().find(|(f, _)| *f == filter).map(|(_, qos)| (online.conn, qos))
    }

    /// The command channels of every live connection.
    pub fn senders(&self) -> Vec<mpsc::Sender<Command>> {
        self.state().by_conn.values().cloned().collect()
    }

    /// The command channel of a live connection.
    pub fn sender(&self, conn: ConnId) -> Option<mpsc::Sender<Command>> {
        self.state().by_conn.get(&conn).cloned()
    }

    /// Routes a cloud-side publish: to the live connection if it subscribed (at the downlink
    /// QoS), into a stored session's queue (QoS 1 only), or nowhere.
    pub fn route(&self, key: &DeviceKey, mut publish: Publish) -> Route {
        let mut state = self.state();
        if let Some(online) = state.online.get(key) {
            let Some(qos) = online.subscriptions.downlink_qos(&publish.topic, publish.qos) else {
                return (Delivery::Undelivered { conn: online.conn }, None);
            };
            publish.qos = qos;
            return (Delivery::Delivered { conn: online.conn, qos }, Some((online.tx.clone(), publish)));
        }
        self.expire(&mut state, key);
        let Some(stored) = state.stored.get_mut(key) else { return (Delivery::Dropped, None) };
        let qos = stored.session.subscriptions.downlink_qos(&publish.topic, publish.qos);
        if qos != Some(QoS::AtLeastOnce) {
            return (Delivery::Dropped, None);
        }
        let size = size_of(&publish);
        if size > self.limits.max_bytes {
            let reason =
                format!("{size} bytes: larger than the stored session's limit of {} bytes", self.limits.max_bytes);
            self.bus.emit(stored.conn, EventKind::QueueDropped { topic: publish.topic, reason });
            return (Delivery::Dropped, None);
        }
        publish.qos = QoS::AtLeastOnce;
        stored.bytes += size;
        stored.session.messages.push_back(publish);
        self.trim(stored);
        (Delivery::Queued, None)
    }

    /// S-RATE: counts one uplink of `key` in a sliding one-second window, across its
    /// connections. A message is accepted while fewer than `limit` were accepted in the last
    /// second; dropped ones do not count.
    pub fn count_uplink(&self, key: &DeviceKey, limit: u32) -> RateCount {
        let now = Instant::now();
        let mut state = self.state();
        // The key is cloned only for a device's first message, not for every one.
        match state.rates.get_mut(key) {
            Some(window) => window.count(now, limit),
            None => state.rates.entry(key.clone()).or_insert_with(|| RateWindow::new(now)).count(now, limit),
        }
    }
}

impl RateWindow {
    fn new(origin: Instant) -> RateWindow {
        RateWindow { origin, accepted: VecDeque::new(), total: 0, dropping: false }
    }

    /// Counts one message at `now` against `limit` a second. Messages accepted in a
    /// millisecond at least 1000 ms before `now`'s leave the window.
    fn count(&mut self, now: Instant, limit: u32) -> RateCount {
        const WINDOW_MS: u64 = 1000;
        let ms = u64::try_from(now.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX);
        while let Some(&(at, n)) = self.accepted.front()
            && ms.saturating_sub(at) >= WINDOW_MS
        {
            self.accepted.pop_front();
            self.total -= u64::from(n);
        }
        let before = self.total;
        let count = before.saturating_add(1);
        if before < u64::from(limit) {
            match self.accepted.back_mut() {
                Some((at, n)) if *at == ms && *n < u32::MAX => *n += 1,
                _ => self.accepted.push_back((ms, 1)),
            }
            self.total += 1;
            self.dropping = false;
            return RateCount { accepted: true, first_dropped: false, count };
        }
        let first_dropped = !self.dropping;
        self.dropping = true;
        RateCount { accepted: false, first_dropped, count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn hub() -> Hub {
        Hub::new(Bus::new(Instant::now(), 16), &Policy::default())
    }

    fn key() -> DeviceKey {
        DeviceKey::new("pk", "device")
    }

    fn session(payload: &'static str) -> StoredSession {
        let publish = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "/pk/device/user/get".into(),
            packet_id: Some(7),
            payload: Bytes::from_static(payload.as_bytes()),
        };
        StoredSession {
            subscriptions: [("/pk/device/user/get".to_string(), QoS::AtLeastOnce)].into_iter().collect(),
            messages: VecDeque::from([publish]),
            last_packet_id: 7,
        }
    }

    /// The old connection leaves after the new login: its state goes through the hand-over.
    #[tokio::test]
    async fn a_logout_after_the_login_hands_the_session_over() {
        let hub = hub();
        let (tx, _rx) = mpsc::channel(1);
        assert!(matches!(hub.login(&key(), 1, tx.clone(), false).resume, Resume::Fresh));
        hub.update_subscriptions(&key(), 1, |s| *s = session("x").subscriptions);
        let login = hub.login(&key(), 2, tx, false);
        assert_eq!(login.previous.map(|(conn, _)| conn), Some(1));
        let Resume::Handover { state, subscriptions } = login.resume else { panic!("a hand-over") };
        assert_eq!(subscriptions, session("x").subscriptions, "routing uses them at once");
        hub.logout(Some(&key()), 1, Some(session("handed")));
        let handed = state.await.expect("handed over");
        assert_eq!(&handed.messages[0].payload[..], b"handed");
        assert_eq!(hub.connection_of(&key()).map(|(conn, _)| conn), Some(2), "the old logout leaves the new online");
    }

    /// The old connection leaves before the new login: the login resumes the stored state.
    #[tokio::test]
    async fn a_logout_before_the_login_stores_the_session() {
        let hub = hub();
        let (tx, _rx) = mpsc::channel(1);
        hub.login(&key(), 1, tx.clone(), false);
        hub.logout(Some(&key()), 1, Some(session("stored")));
        let login = hub.login(&key(), 2, tx, false);
        assert!(login.previous.is_none());
        let Resume::Stored(stored) = login.resume else { panic!("the stored session") };
        assert_eq!(&stored.messages[0].payload[..], b"stored");
        assert_eq!(stored.last_packet_id, 7);
    }

    #[tokio::test]
    async fn the_rate_count_never_overflows() {
        let hub = hub();
        for _ in 0..3 {
            let count = hub.count_uplink(&key(), u32::MAX);
            assert!(count.accepted);
        }
        let other = DeviceKey::new("pk", "other");
        let first = hub.count_uplink(&other, 0);
        assert_eq!(first, RateCount { accepted: false, first_dropped: true, count: 1 });
        let second = hub.count_uplink(&other, 0);
        assert_eq!(second, RateCount { accepted: false, first_dropped: false, count: 1 });
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_slides_by_the_millisecond_and_its_memory_does_not_grow_with_the_rate() {
        let hub = hub();
        let start = Instant::now();
        for _ in 0..100_000 {
            assert!(hub.count_uplink(&key(), 100_000).accepted);
        }
        assert_eq!(
            hub.count_uplink(&key(), 100_000),
            RateCount { accepted: false, first_dropped: true, count: 100_001 }
        );
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(!hub.count_uplink(&key(), 100_000).accepted, "999 ms on, all are still in the window");
        assert_eq!(hub.state().rates[&key()].accepted.len(), 1, "one entry for a millisecond's messages");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        assert_eq!(hub.count_uplink(&key(), 100_000), RateCount { accepted: true, first_dropped: false, count: 1 });
    }
}
