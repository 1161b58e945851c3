//! Who is online, and the sessions kept for offline devices (S-KICK, S-CLEAN).
//!
//! The hub maps each device (productKey + deviceName, not the MQTT client id) to its one live
//! connection and lets the cloud side reach it. With cleanSession=0 a device's subscriptions
//! and the QoS 1 messages published while it is offline are kept here until it returns.

use crate::events::ConnId;
use crate::mqtt::Publish;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::mpsc;

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
    /// Deliver a downlink PUBLISH if the device subscribed to its topic.
    Deliver(Publish),
    /// S-KICK: the same device logged in on connection `by`.
    Kick { by: ConnId },
    /// Close the connection (cloud side).
    Close,
    /// The armed faults changed: apply those now due.
    Faults,
}

/// The most QoS 1 messages kept for one offline device; older ones are dropped first.
/// The platform's retention is unknown (S-CLEAN, assumed).
pub const OFFLINE_QUEUE_LIMIT: usize = 1000;

/// A cleanSession=0 session kept while its device is offline.
#[derive(Debug, Default)]
pub struct StoredSession {
    pub subscriptions: Vec<String>,
    pub queue: VecDeque<Publish>,
}

struct Online {
    conn: ConnId,
    tx: mpsc::Sender<Command>,
    persistent: bool,
}

#[derive(Default)]
struct State {
    online: HashMap<DeviceKey, Online>,
    by_conn: HashMap<ConnId, mpsc::Sender<Command>>,
    stored: HashMap<DeviceKey, StoredSession>,
}

/// The broker-wide registry of live connections and stored sessions.
#[derive(Default)]
pub struct Hub {
    state: Mutex<State>,
}

/// What happened to a cloud-side publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routed {
    /// Handed to the device's live connection.
    Sent(ConnId),
    /// The device is offline with a stored session: queued for its return.
    Queued,
    /// The device is offline and keeps no session: dropped.
    Offline,
}

impl Hub {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock would be a bug elsewhere; keep serving regardless.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `conn` the device's live connection. Returns the connection it replaces (to be
    /// kicked) and, for cleanSession=0, the stored session it resumes.
    pub fn login(
        &self,
        key: &DeviceKey,
        conn: ConnId,
        tx: mpsc::Sender<Command>,
        clean_session: bool,
    ) -> (Option<(ConnId, mpsc::Sender<Command>)>, Option<StoredSession>) {
        let mut state = self.state();
        state.by_conn.insert(conn, tx.clone());
        let previous = state
            .online
            .insert(key.clone(), Online { conn, tx, persistent: !clean_session })
            .map(|old| (old.conn, old.tx));
        let resumed = if clean_session {
            state.stored.remove(key);
            None
        } else {
            state.stored.remove(key)
        };
        (previous, resumed)
    }

    /// Ends `conn`. If it was the device's live connection with cleanSession=0, its
    /// subscriptions are stored for the next login.
    pub fn logout(&self, key: Option<&DeviceKey>, conn: ConnId, subscriptions: Vec<String>) {
        let mut state = self.state();
        state.by_conn.remove(&conn);
        let Some(key) = key else { return };
        if state.online.get(key).is_some_and(|o| o.conn == conn) {
            let online = state.online.remove(key).expect("checked above");
            if online.persistent {
                state.stored.insert(key.clone(), StoredSession { subscriptions, queue: VecDeque::new() });
            }
        }
    }

    /// The live connection of a device.
    pub fn connection_of(&self, key: &DeviceKey) -> Option<(ConnId, mpsc::Sender<Command>)> {
        self.state().online.get(key).map(|o| (o.conn, o.tx.clone()))
    }

    /// The command channels of every live connection.
    pub fn senders(&self) -> Vec<mpsc::Sender<Command>> {
        self.state().by_conn.values().cloned().collect()
    }

    /// The command channel of a live connection.
    pub fn sender(&self, conn: ConnId) -> Option<mpsc::Sender<Command>> {
        self.state().by_conn.get(&conn).cloned()
    }

    /// Routes a cloud-side publish: to the live connection, into a stored session's queue
    /// (QoS 1 only), or nowhere.
    pub fn route(&self, key: &DeviceKey, publish: Publish) -> (Routed, Option<(mpsc::Sender<Command>, Publish)>) {
        let mut state = self.state();
        if let Some(online) = state.online.get(key) {
            return (Routed::Sent(online.conn), Some((online.tx.clone(), publish)));
        }
        match state.stored.get_mut(key) {
            Some(session) if publish.qos != crate::mqtt::QoS::AtMostOnce => {
                if session.queue.len() == OFFLINE_QUEUE_LIMIT {
                    session.queue.pop_front();
                }
                session.queue.push_back(publish);
                (Routed::Queued, None)
            }
            _ => (Routed::Offline, None),
        }
    }
}
