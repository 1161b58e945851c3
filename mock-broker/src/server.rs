//! Listeners and the state every connection shares.
//!
//! Each listener (one per transport, plus the optional mux) binds its own address (port 0 by
//! default, so parallel brokers never collide) with an explicit backlog and spawns one task
//! per accepted connection.

use crate::events::{Bus, ConnId, EventKind};
use crate::fault::armory::Faults;
use crate::hub::Hub;
use crate::policy::{Policy, PolicyError};
use crate::registry::Registry;
use crate::session;
use crate::tls::Authority;
use crate::transport::Listener;
use crate::uplinks::Uplinks;
use rustls::ServerConfig;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The listen backlog: the default (1024) overflows when thousands of devices connect at once,
/// and the kernel then retries SYNs only after a second.
const LISTEN_BACKLOG: u32 = 8192;

/// How long an accept loop pauses when accepting fails (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The shortest time between two `accept_failed` events (and log lines) of one listener.
const ACCEPT_REPORT_EVERY: Duration = Duration::from_secs(1);

/// What every connection task shares.
pub(crate) struct Shared {
    pub bus: Bus,
    pub hub: Hub,
    /// The uplinks the broker accepted, for the cloud side's server-side subscription.
    pub uplinks: Uplinks,
    /// The device registry, editable at run time (enable, disable, rotate a secret); read
    /// at each CONNECT and topic check, never held across an await.
    registry: RwLock<Registry>,
    /// The policy for connections accepted from now on; each connection keeps a snapshot of
    /// the one it was accepted with.
    policy: RwLock<Arc<Policy>>,
    pub tls: Option<Arc<ServerConfig>>,
    /// The CA that issued the served certificate, when the broker minted it: it issues the
    /// expired and wrong-host certificates of the `bad_certificate` fault.
    pub authority: Option<Authority>,
    /// The names the served certificate carries, for the bad certificates of that fault.
    pub cert_names: Vec<String>,
    /// The faults armed on this broker.
    pub faults: Faults,
    /// The broker's start: keepalive checks are aligned to it.
    pub epoch: Instant,
    /// Turns true once when the broker shuts down.
    pub shutdown: watch::Receiver<bool>,
    next_conn: AtomicU64,
    /// Connections admitted and not yet ended (at most `policy.max_connections`).
    open: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(
        bus: Bus,
        registry: Registry,
        policy: Policy,
        tls: Option<(Arc<ServerConfig>, Option<Authority>)>,
        cert_names: Vec<String>,
        epoch: Instant,
        shutdown: watch::Receiver<bool>,
    ) -> Shared {
        let (tls, authority) = tls.map_or((None, None), |(config, authority)| (Some(config), authority));
        Shared {
            faults: Faults::new(bus.clone()),
            hub: Hub::new(bus.clone(), &policy),
            uplinks: Uplinks::new(epoch, policy.uplink_history, policy.uplink_history_bytes),
            bus,
            registry: RwLock::new(registry),
            policy: RwLock::new(Arc::new(policy)),
            tls,
            authority,
            cert_names,
            epoch,
            shutdown,
            next_conn: AtomicU64::new(1),
            open: AtomicUsize::new(0),
        }
    }

    /// The registry as it is now.
    pub(crate) fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        // A panic while holding the lock would be a bug elsewhere; the registry stays usable.
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The registry, for a change.
    pub(crate) fn registry_mut(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The policy for a connection accepted now.
    pub(crate) fn policy(&self) -> Arc<Policy> {
        self.policy.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Edits the policy for the connections accepted from now on, unless the edit changes a
    /// field fixed at start; returns the new policy.
    pub(crate) fn update_policy(&self, edit: impl FnOnce(&mut Policy)) -> Result<Arc<Policy>, PolicyError> {
        let mut current = self.policy.write().unwrap_or_else(|e| e.into_inner());
        let mut edited = Policy::clone(&current);
        edit(&mut edited);
        current.check_change(&edited)?;
        *current = Arc::new(edited);
        Ok(current.clone())
    }

    pub(crate) fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts a new connection in, unless `limit` connections are open already (false).
    fn admit(&self, limit: usize) -> bool {
        self.open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1)).is_ok()
    }

    /// Counts an admitted connection out.
    fn release(&self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Failed accepts of one listener not yet reported: at most one `accept_failed` event (and
/// one log line) per [`ACCEPT_REPORT_EVERY`], with the count since the last one, so that a
/// listener out of file descriptors neither floods the transcript nor goes unnoticed.
#[derive(Default)]
struct AcceptFailures {
    pending: u64,
    last_error: String,
    reported: Option<Instant>,
}

impl AcceptFailures {
    fn record(&mut self, error: &io::Error) {
        self.pending += 1;
        self.last_error = error.to_string();
    }

    /// Reports the pending failures if there are some and the last report is old enough (or
    /// `now_anyway`: at shutdown).
    fn report(&mut self, shared: &Shared, listener: Listener, now_anyway: bool) {
        let due = self.reported.is_none_or(|at| at.elapsed() >= ACCEPT_REPORT_EVERY);
        if self.pending == 0 || !(due || now_anyway) {
            return;
        }
        let (count, error) = (std::mem::take(&mut self.pending), std::mem::take(&mut self.last_error));
        tracing::warn!(%listener, count, "accepting connections failed: {error}; still serving");
        shared.bus.emit(0, EventKind::AcceptFailed { listener, error, count });
        self.reported = Some(Instant::now());
    }
}

/// Binds `addr` with the broker's backlog.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Accepts connections for `kind` (a transport's listener, or the mux) until shutdown. Every
/// connection task holds a clone of `alive`, so shutdown can wait for the last one to finish.
/// A connection over `max_connections` is still accepted, so that it is recorded and closed
/// at once rather than left in the backlog; a failed accept (EMFILE...) is reported on
/// connection 0, rate-limited, and retried after a pause.
pub(crate) async fn accept_loop(listener: TcpListener, kind: Listener, shared: Arc<Shared>, alive: mpsc::Sender<()>) {
    let mut shutdown = shared.shutdown.clone();
    let mut failures = AcceptFailures::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    failures.report(&shared, kind, false);
                    let shared = shared.clone();
                    let alive = alive.clone();
                    tokio::spawn(async move {
                        let policy = shared.policy();
                        let admitted = shared.admit(policy.max_connections);
                        session::serve(tcp, peer, kind, shared.clone(), policy, admitted).await;
                        if admitted {
                            shared.release();
                        }
                        drop(alive);
                    });
                }
                Err(e) => {
                    failures.record(&e);
                    failures.report(&shared, kind, false);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            _ = stopped(&mut shutdown) => {
                failures.report(&shared, kind, true);
                return;
            }
        }
    }
}

/// Resolves once the broker shuts down (at once if it already has).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // An error means the broker handle is gone, which is a shutdown too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
