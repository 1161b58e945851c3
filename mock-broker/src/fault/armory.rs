//! The armed faults of one broker, and each connection's view of them.
//!
//! [`Faults`] holds what is armed; a connection holds a [`ConnFaults`] and asks at each point
//! of its life what to do: at accept, in the TLS handshake, in the WebSocket upgrade, on
//! CONNECT, on each reply, after each inbound packet, and at the instants its timed faults
//! are due. A fault *activates* on a connection when its trigger is reached there: an action
//! then happens once, a reply or shaping fault holds from then on. Every application is an
//! event in the transcript, and a fault armed with `times` disarms itself after that many.
//!
//! With nothing armed (the common case) every question is answered by one atomic load, so
//! the hot path pays nothing for the feature.

use super::spec::{Fault, FaultError, FaultSpec, Layer, Reply, Scope, Trigger};
use crate::events::{Bus, ConnId, EventKind, FaultEvent, FaultPhase};
use crate::hub::DeviceKey;
use rustls::ServerConfig;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// A fault's number, unique within one broker, counting from 1.
pub type FaultId = u64;

/// One armed fault.
struct Armed {
    id: FaultId,
    spec: FaultSpec,
    /// How many more times it may fire; `None`: without limit.
    left: Option<u32>,
    /// For `Scope::Next`: how many more connections it may take, and those it took.
    capture_left: u32,
    captured: Vec<ConnId>,
    /// For `BadCertificate`: the configuration serving the bad certificate.
    tls: Option<Arc<ServerConfig>>,
}

impl Armed {
    fn hits(&self, conn: &ConnFaults) -> bool {
        match &self.spec.scope {
            Scope::All => true,
            Scope::Device(device) => conn.device.as_ref() == Some(&device.0),
            Scope::Next(_) => self.captured.contains(&conn.conn),
        }
    }
}

#[derive(Default)]
struct State {
    next_id: FaultId,
    armed: Vec<Armed>,
}

/// The faults armed on one broker.
pub(crate) struct Faults {
    state: Mutex<State>,
    /// How many are armed: zero lets every question return at once.
    count: AtomicUsize,
    bus: Bus,
}

/// What happens in the TLS handshake.
pub(crate) enum TlsFate {
    Normal,
    CloseMidHandshake,
    Serve(Arc<ServerConfig>),
}

/// What happens to a CONNECT that authenticated.
#[derive(Default)]
pub(crate) struct ConnectFate {
    /// Refuse it with this CONNACK code.
    pub refuse: Option<u8>,
    /// Answer with this session-present flag.
    pub session_present: Option<bool>,
}

/// What happens to one reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReplyFate {
    Send,
    Withhold,
    Delay(Duration),
}

/// What one connection knows of the faults: its scope keys and its trigger progress.
pub(crate) struct ConnFaults {
    conn: ConnId,
    device: Option<DeviceKey>,
    online_at: Option<Instant>,
    /// Packet-count progress of each `AfterPackets` fault.
    counted: Vec<(FaultId, u32)>,
    /// Faults already activated here (each activates at most once per connection).
    activated: Vec<FaultId>,
    /// Reply faults active here.
    replies: Vec<(FaultId, Fault)>,
}

impl ConnFaults {
    /// The connection is online as `device` from `at` (its CONNACK).
    pub(crate) fn online(&mut self, device: DeviceKey, at: Instant) {
        self.device = Some(device);
        self.online_at = Some(at);
    }

    /// The device, once known, so CONNECT-time faults can match a device scope.
    pub(crate) fn identify(&mut self, device: DeviceKey) {
        self.device = Some(device);
    }
}

impl Faults {
    pub(crate) fn new(bus: Bus) -> Faults {
        Faults { state: Mutex::new(State::default()), count: AtomicUsize::new(0), bus }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock would be a bug elsewhere; keep serving regardless.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn idle(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    fn event(&self, conn: ConnId, id: FaultId, spec: &FaultSpec, phase: FaultPhase) {
        let event = FaultEvent { id, name: spec.label(), fault: spec.fault.kind(), phase };
        self.bus.emit(conn, EventKind::Fault(event));
    }

    /// Arms a checked fault; `tls` carries the bad certificate's configuration.
    pub(crate) fn arm(&self, spec: FaultSpec, tls: Option<Arc<ServerConfig>>) -> Result<FaultId, FaultError> {
        spec.check()?;
        let mut state = self.state();
        state.next_id += 1;
        let id = state.next_id;
        let capture_left = match spec.scope {
            Scope::Next(n) => n,
            _ => 0,
        };
        // Recorded once in force: whoever sees the `armed` event finds the fault applied.
        let event = (id, spec.clone());
        state.armed.push(Armed { id, left: spec.times, spec, capture_left, captured: Vec::new(), tls });
        self.count.store(state.armed.len(), Ordering::Release);
        self.event(0, event.0, &event.1, FaultPhase::Armed);
        Ok(id)
    }

    /// Clears one fault; false when it was not armed (any more).
    pub(crate) fn clear(&self, id: FaultId) -> bool {
        let mut state = self.state();
        let Some(at) = state.armed.iter().position(|a| a.id == id) else { return false };
        let armed = state.armed.remove(at);
        self.count.store(state.armed.len(), Ordering::Release);
        self.event(0, id, &armed.spec, FaultPhase::Cleared);
        true
    }

    /// Clears every fault; returns how many were armed.
    pub(crate) fn clear_all(&self) -> usize {
        let mut state = self.state();
        let cleared = std::mem::take(&mut state.armed);
        self.count.store(0, Ordering::Release);
        for armed in &cleared {
            self.event(0, armed.id, &armed.spec, FaultPhase::Cleared);
        }
        cleared.len()
    }

    /// What is armed now.
    pub(crate) fn list(&self) -> Vec<(FaultId, FaultSpec)> {
        self.state().armed.iter().map(|a| (a.id, a.spec.clone())).collect()
    }

    /// A new connection: the `next N` faults with room left take it.
    pub(crate) fn attach(&self, conn: ConnId) -> ConnFaults {
        let view = ConnFaults {
            conn,
            device: None,
            online_at: None,
            counted: Vec::new(),
            activated: Vec::new(),
            replies: Vec::new(),
        };
        if !self.idle() {
            for armed in self.state().armed.iter_mut().filter(|a| a.capture_left > 0) {
                armed.capture_left -= 1;
                armed.captured.push(conn);
            }
        }
        view
    }

    /// Counts one firing of fault `at` on `conn`, disarming it when its times are used up.
    fn fire(&self, state: &mut State, at: usize, conn: ConnId) {
        let armed = &mut state.armed[at];
        self.event(conn, armed.id, &armed.spec, FaultPhase::Applied);
        if let Some(left) = armed.left.as_mut() {
            *left -= 1;
            if *left == 0 {
                let armed = state.armed.remove(at);
                self.count.store(state.armed.len(), Ordering::Release);
                self.event(0, armed.id, &armed.spec, FaultPhase::Disarmed);
            }
        }
    }

    /// The first armed fault hitting `view` that `pick` accepts, fired; `pick` maps it to
    /// what the caller needs.
    fn take<T>(&self, view: &ConnFaults, pick: impl FnMut(&Armed) -> Option<T>) -> Option<T> {
        self.find(view, pick, true)
    }

    /// Like [`Faults::take`], but fired only when `fire`.
    fn find<T>(&self, view: &ConnFaults, mut pick: impl FnMut(&Armed) -> Option<T>, fire: bool) -> Option<T> {
        if self.idle() {
            return None;
        }
        let mut state = self.state();
        let (at, found) = state
            .armed
            .iter()
            .enumerate()
            .find_map(|(i, a)| if a.hits(view) { pick(a).map(|t| (i, t)) } else { None })?;
        if fire {
            self.fire(&mut state, at, view.conn);
        }
        Some(found)
    }

    /// At accept: a TCP action armed `on_accept` that takes this connection.
    pub(crate) fn at_accept(&self, view: &mut ConnFaults) -> Option<Fault> {
        let (id, fault) =
            self.take(view, |a| (a.spec.trigger == Trigger::OnAccept).then(|| (a.id, a.spec.fault.clone())))?;
        view.activated.push(id);
        Some(fault)
    }

    /// In the TLS handshake.
    pub(crate) fn tls(&self, view: &ConnFaults) -> TlsFate {
        self.take(view, |a| match (&a.spec.fault, &a.tls) {
            (Fault::TlsCloseMidHandshake, _) => Some(TlsFate::CloseMidHandshake),
            (Fault::BadCertificate { .. }, Some(config)) => Some(TlsFate::Serve(config.clone())),
            _ => None,
        })
        .unwrap_or(TlsFate::Normal)
    }

    /// In the WebSocket upgrade: the HTTP status to refuse it with.
    pub(crate) fn upgrade(&self, view: &ConnFaults) -> Option<u16> {
        self.take(view, |a| match a.spec.fault {
            Fault::RefuseUpgrade { status } => Some(status),
            _ => None,
        })
    }

    /// On an authenticated CONNECT (the device is identified on `view`).
    pub(crate) fn connect(&self, view: &mut ConnFaults) -> ConnectFate {
        let mut fate = ConnectFate {
            refuse: self.take(view, |a| match a.spec.fault {
                Fault::RefuseConnect { code } => Some(code),
                _ => None,
            }),
            ..ConnectFate::default()
        };
        if fate.refuse.is_none() {
            fate.session_present = self.take(view, |a| match a.spec.fault {
                Fault::SessionPresent { present } => Some(present),
                _ => None,
            });
            // A CONNACK fault is a reply fault that must be active before CONNACK exists; it
            // fires when the reply is withheld or delayed.
            let is_connack = |a: &Armed| match &a.spec.fault {
                Fault::Withhold { reply: Reply::Connack } | Fault::Delay { reply: Reply::Connack, .. }
                    if a.spec.trigger == Trigger::Now =>
                {
                    Some((a.id, a.spec.fault.clone()))
                }
                _ => None,
            };
            let connack = self.find(view, is_connack, false);
            view.replies.extend(connack);
        }
        fate
    }

    /// What happens to a reply about to be sent.
    pub(crate) fn reply(&self, view: &mut ConnFaults, reply: Reply) -> ReplyFate {
        if view.replies.is_empty() {
            return ReplyFate::Send;
        }
        let found = view.replies.iter().find_map(|(id, fault)| match fault {
            Fault::Withhold { reply: r } if *r == reply => Some((*id, ReplyFate::Withhold)),
            Fault::Delay { reply: r, delay_ms } if *r == reply => {
                Some((*id, ReplyFate::Delay(Duration::from_millis(*delay_ms))))
            }
            _ => None,
        });
        let Some((id, fate)) = found else { return ReplyFate::Send };
        let mut state = self.state();
        match state.armed.iter().position(|a| a.id == id) {
            Some(at) => {
                self.fire(&mut state, at, view.conn);
                fate
            }
            None => {
                // Cleared or used up since it activated here.
                view.replies.retain(|(i, _)| *i != id);
                ReplyFate::Send
            }
        }
    }

    /// Activates every fault whose trigger `reached` says is reached on `view` and that has
    /// not activated there yet. Reply faults join the connection's active set; actions and
    /// shaping faults are returned, in arming order, to be carried out now.
    fn activate(&self, view: &mut ConnFaults, mut reached: impl FnMut(&Armed, &mut ConnFaults) -> bool) -> Vec<Fault> {
        if self.idle() {
            return Vec::new();
        }
        let mut state = self.state();
        let mut due = Vec::new();
        let mut at = 0;
        while at < state.armed.len() {
            let armed = &state.armed[at];
            let layer = armed.spec.fault.layer();
            let eligible = matches!(layer, Layer::Action | Layer::Shaping | Layer::Reply)
                && !view.activated.contains(&armed.id)
                && armed.hits(view);
            if !(eligible && reached(armed, view)) {
                at += 1;
                continue;
            }
            view.activated.push(armed.id);
            if layer == Layer::Reply {
                view.replies.push((armed.id, armed.spec.fault.clone()));
                at += 1;
                continue;
            }
            due.push(armed.spec.fault.clone());
            let before = state.armed.len();
            self.fire(&mut state, at, view.conn);
            at += usize::from(state.armed.len() == before);
        }
        due
    }

    /// Once online, and whenever faults change: those armed `now` that hit this connection.
    pub(crate) fn now(&self, view: &mut ConnFaults) -> Vec<Fault> {
        self.activate(view, |a, _| a.spec.trigger == Trigger::Now)
    }

    /// After an inbound packet named `packet` (`PINGREQ`...).
    pub(crate) fn packet_in(&self, view: &mut ConnFaults, packet: &str) -> Vec<Fault> {
        self.activate(view, |a, view| {
            let Trigger::AfterPackets { kind, n } = a.spec.trigger else { return false };
            if !kind.counts(packet) {
                return false;
            }
            let count = match view.counted.iter_mut().find(|(id, _)| *id == a.id) {
                Some((_, count)) => count,
                None => {
                    view.counted.push((a.id, 0));
                    &mut view.counted.last_mut().expect("just pushed").1
                }
            };
            *count += 1;
            *count >= n
        })
    }

    /// The timed faults due at `now` (those `after_connack_ms` whose moment has come).
    pub(crate) fn timed(&self, view: &mut ConnFaults, now: Instant) -> Vec<Fault> {
        let Some(online) = view.online_at else { return Vec::new() };
        self.activate(view, |a, _| match a.spec.trigger {
            Trigger::AfterConnackMs(ms) => online + Duration::from_millis(ms) <= now,
            _ => false,
        })
    }

    /// The next instant a timed fault is due on this connection, if any.
    pub(crate) fn next_due(&self, view: &ConnFaults) -> Option<Instant> {
        let online = view.online_at?;
        if self.idle() {
            return None;
        }
        self.state()
            .armed
            .iter()
            .filter(|a| !view.activated.contains(&a.id) && a.hits(view))
            .filter_map(|a| match a.spec.trigger {
                Trigger::AfterConnackMs(ms) => Some(online + Duration::from_millis(ms)),
                _ => None,
            })
            .min()
    }
}
