//! The library API: build a broker, start it, act as the cloud side, shut it down.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use mock_broker::{Broker, Transport};
//! let broker = Broker::builder().device("a1B2c3D4e5F", "sensor-01", "s3cr3t").start().await?;
//! let mut events = broker.events();
//! println!("connect to {}", broker.url(Transport::Ws).unwrap());
//! # Ok(()) }
//! ```

mod live_edits;

use crate::events::{Bus, ConnId, EventKind, EventStats, EventStream};
use crate::expect::{Ledger, verify_on_drop};
use crate::fault::{BadCert, Fault, FaultError, FaultId, FaultSpec};
use crate::hub::{Command, Delivery, DeviceKey};
use crate::mqtt::{Publish, QoS};
use crate::policy::Policy;
use crate::registry::{Device, Registry, RegistryError};
use crate::secret::Secret;
use crate::server::{self, Shared};
use crate::tls::{self, Authority, ServerCert, Validity};
use crate::transport::{Listener, Transport};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Why a broker could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("binding the {listener} listener on {addr}: {source}")]
    Bind { listener: Listener, addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("no listener is enabled")]
    NoListener,
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
}

/// Why a cloud-side action did not happen.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloudError {
    #[error("device {0}/{1} is not online")]
    Offline(String, String),
    #[error("connection #{0} is not an online device")]
    NoConnection(ConnId),
    /// S-QOS: the platform publishes downlinks at QoS 0 or 1 only.
    #[error("QoS 2 is not supported (S-QOS): publish at QoS 0 or 1")]
    Qos2,
    /// A topic name a PUBLISH may not carry: empty, with a wildcard, or with U+0000.
    #[error("topic {topic:?} cannot be published to: {reason}")]
    InvalidTopic { topic: String, reason: &'static str },
}

/// How often a cloud-side publish is routed again when the connection it was sent to has
/// just left (its state then moves to a successor or a stored session).
const REROUTES: usize = 8;

/// Where the server certificate comes from.
enum CertSource {
    /// Minted at start: a CA plus a leaf for localhost, 127.0.0.1, ::1 and the extra names.
    Mint { extra_names: Vec<String> },
    /// Given by the user, with the CA PEM to hand to clients.
    Given { cert: ServerCert, ca_pem: String },
}

/// Builds a [`Broker`].
pub struct BrokerBuilder {
    registry: Registry,
    /// The first device that broke an ID- rule, reported by `start`.
    invalid_device: Option<crate::registry::RegistryError>,
    policy: Policy,
    listeners: BTreeMap<Transport, SocketAddr>,
    /// The mux's address (T-MUX), when it is served.
    mux: Option<SocketAddr>,
    cert: CertSource,
}

const LOCALHOST_ANY_PORT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

impl BrokerBuilder {
    fn new() -> BrokerBuilder {
        BrokerBuilder {
            registry: Registry::default(),
            invalid_device: None,
            policy: Policy::default(),
            listeners: Transport::ALL.into_iter().map(|t| (t, LOCALHOST_ANY_PORT)).collect(),
            mux: None,
            cert: CertSource::Mint { extra_names: Vec::new() },
        }
    }

    /// Uses `registry` as the device registry (replacing devices added so far).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Adds an enabled device; one that breaks an ID- rule makes `start` fail.
    pub fn device(mut self, product_key: &str, device_name: &str, secret: impl Into<Secret>) -> Self {
        let added = self.registry.add_device(Device {
            product_key: product_key.into(),
            device_name: device_name.into(),
            secret: secret.into(),
            enabled: true,
        });
        if let Err(e) = added {
            self.invalid_device.get_or_insert(e);
        }
        self
    }

    /// Sets the broker's reactions and limits.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Serves only these transports (each on 127.0.0.1, port 0, unless set by `listen`).
    pub fn transports(mut self, transports: &[Transport]) -> Self {
        self.listeners.retain(|t, _| transports.contains(t));
        for t in transports {
            self.listeners.entry(*t).or_insert(LOCALHOST_ANY_PORT);
        }
        self
    }

    /// Serves `transport` on `addr`.
    pub fn listen(mut self, transport: Transport, addr: SocketAddr) -> Self {
        self.listeners.insert(transport, addr);
        self
    }

    /// Also serves the mux on `addr` (T-MUX): one port for all four transports, each told
    /// from its first bytes (TLS, then `GET ` for wss or CONNECT for tls; `GET ` for ws;
    /// CONNECT for tcp). It serves all four whatever [`BrokerBuilder::transports`] keeps.
    pub fn mux(mut self, addr: SocketAddr) -> Self {
        self.mux = Some(addr);
        self
    }

    /// Adds a host name (or IP) to the minted certificate, e.g.
    /// `a1B2c3D4e5F.iot-as-mqtt.cn-shanghai.aliyuncs.com` (T-HOST).
    pub fn extra_name(mut self, name: &str) -> Self {
        if let CertSource::Mint { extra_names } = &mut self.cert {
            extra_names.push(name.into());
        }
        self
    }

    /// Serves a given certificate instead of minting one; `ca_pem` is what clients trust.
    pub fn certificate(mut self, cert: ServerCert, ca_pem: String) -> Self {
        self.cert = CertSource::Given { cert, ca_pem };
        self
    }

    /// Binds every listener and starts serving.
    pub async fn start(self) -> Result<Broker, StartError> {
        if let Some(e) = self.invalid_device {
            return Err(e.into());
        }
        if self.listeners.is_empty() && self.mux.is_none() {
            return Err(StartError::NoListener);
        }
        let needs_tls = self.mux.is_some() || self.listeners.keys().any(|t| t.is_tls());
        let mut cert_names = tls::leaf_names(&[]);
        let (tls, ca_pem) = match (needs_tls, self.cert) {
            (false, _) => (None, None),
            (true, CertSource::Mint { extra_names }) => {
                let ca = Authority::generate("Aliyun IoT mock broker CA")?;
                cert_names = tls::leaf_names(&extra_names);
                let leaf = ca.issue(&cert_names, Validity::Current)?;
                let pem = ca.pem().to_string();
                (Some((leaf.server_config()?, Some(ca))), Some(pem))
            }
            (true, CertSource::Given { cert, ca_pem }) => (Some((cert.server_config()?, None)), Some(ca_pem)),
        };
        let mut bound = Vec::new();
        let wanted = self.listeners.into_iter().map(|(t, addr)| (Listener::Transport(t), addr));
        for (kind, addr) in wanted.chain(self.mux.map(|addr| (Listener::Mux, addr))) {
            let bind_error = |source| StartError::Bind { listener: kind, addr, source };
            let listener = server::bind(addr).map_err(bind_error)?;
            let local = listener.local_addr().map_err(bind_error)?;
            bound.push((kind, listener, local));
        }
        let epoch = Instant::now();
        let bus = Bus::new(epoch, self.policy.history_events);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (alive_tx, alive_rx) = mpsc::channel(1);
        let shared = Arc::new(Shared::new(bus, self.registry, self.policy, tls, cert_names, epoch, stop_rx));
        let (mut addrs, mut mux) = (BTreeMap::new(), None);
        for (kind, listener, local) in bound {
            match kind {
                Listener::Transport(transport) => addrs.insert(transport, local),
                Listener::Mux => mux.replace(local),
            };
            tokio::spawn(server::accept_loop(listener, kind, shared.clone(), alive_tx.clone()));
        }
        Ok(Broker { shared, addrs, mux, ca_pem, stop: stop_tx, alive: alive_rx, expected: Mutex::default() })
    }
}

/// A running mock broker. Dropping it without [`Broker::shutdown`] stops it too.
pub struct Broker {
    pub(crate) shared: Arc<Shared>,
    addrs: BTreeMap<Transport, SocketAddr>,
    /// The mux's address, when it is served.
    mux: Option<SocketAddr>,
    ca_pem: Option<String>,
    stop: watch::Sender<bool>,
    alive: mpsc::Receiver<()>,
    /// The broker's own scope of expectations ([`Broker::expect`]).
    expected: Mutex<Ledger>,
}

impl Broker {
    /// The broker's own expectations.
    pub(crate) fn expected(&self) -> MutexGuard<'_, Ledger> {
        // Nothing panics while holding it; if something did, the ledger is still consistent.
        self.expected.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts building a broker: all four transports on 127.0.0.1 with free ports, the
    /// platform's default policy, an empty registry.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::new()
    }

    /// The address a transport listens on.
    pub fn addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.addrs.get(&transport).copied()
    }

    /// The URL a client uses for `transport`: `ws://127.0.0.1:PORT/mqtt`,
    /// `wss://localhost:PORT/mqtt`, `tcp://127.0.0.1:PORT`, `tls://localhost:PORT`.
    pub fn url(&self, transport: Transport) -> Option<String> {
        self.addr(transport).map(|addr| url_at(transport, addr))
    }

    /// The mux's address (T-MUX), when it is served.
    pub fn mux_addr(&self) -> Option<SocketAddr> {
        self.mux
    }

    /// The URL a client uses for `transport` through the mux: as [`Broker::url`], on the
    /// mux's port (`wss://localhost:MUXPORT/mqtt`...).
    pub fn mux_url(&self, transport: Transport) -> Option<String> {
        self.mux.map(|addr| url_at(transport, addr))
    }

    /// The transports served, in order.
    pub fn transports(&self) -> impl Iterator<Item = Transport> + '_ {
        self.addrs.keys().copied()
    }

    /// The CA certificate (PEM) clients must trust for wss and tls; `None` without TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The device registry the broker serves, as it is now (a copy).
    pub fn registry(&self) -> Registry {
        self.shared.registry().clone()
    }

    /// Enables or disables a device (A-DEVICE). Its next CONNECT is judged by the new state;
    /// a live connection stays up (kick or close it to make it reconnect).
    pub fn set_enabled(&self, product_key: &str, device_name: &str, enabled: bool) -> Result<(), RegistryError> {
        self.shared.registry_mut().set_enabled(product_key, device_name, enabled)
    }

    /// Gives a device a new secret, checked against ID-SECRET. The next CONNECT signed with
    /// the old one is refused (A-SIGN-CONTENT), and its verdict says it used the previous
    /// secret and when that was replaced (the last [`crate::registry::PREVIOUS_SECRETS`] are
    /// remembered); a live connection stays up.
    pub fn rotate_secret(
        &self,
        product_key: &str,
        device_name: &str,
        secret: impl Into<Secret>,
    ) -> Result<(), RegistryError> {
        let at = self.shared.epoch.elapsed();
        self.shared.registry_mut().rotate_secret(product_key, device_name, secret.into(), at)
    }

    /// The instant the broker started: event times and scenario steps count from it.
    pub fn started_at(&self) -> Instant {
        self.shared.epoch
    }

    /// Subscribes to the broker's events from now on.
    pub fn events(&self) -> EventStream {
        self.shared.bus.subscribe()
    }

    /// Every event since the broker started, as far as the history keeps them
    /// (`Policy::history_events`): if older ones were let go, the stream's first answer is
    /// [`crate::events::StreamError::Lagged`] with their number. Then it goes on live.
    pub fn history(&self) -> EventStream {
        self.shared.bus.history()
    }

    /// The event bus, for the control endpoint's pages and long polls.
    pub(crate) fn bus(&self) -> &Bus {
        &self.shared.bus
    }

    /// How many events the broker has emitted, by kind, and how full its history is.
    pub fn event_stats(&self) -> EventStats {
        self.shared.bus.stats()
    }

    /// Publishes a downlink to a device, as the cloud side, and says what became of it (see
    /// [`Delivery`]). It goes out at the lower of `qos` and the QoS the device's subscription
    /// was granted ([MQTT-3.8.4-6]). A QoS 1 message for an offline device with a
    /// cleanSession=0 session is queued (S-CLEAN).
    ///
    /// Refused with an error, nothing sent: QoS 2 (S-QOS) and a topic that is empty or holds
    /// a wildcard.
    pub async fn publish(
        &self,
        product_key: &str,
        device_name: &str,
        topic: &str,
        payload: impl Into<Bytes>,
        qos: QoS,
    ) -> Result<Delivery, CloudError> {
        if qos == QoS::ExactlyOnce {
            return Err(CloudError::Qos2);
        }
        if let Some(reason) = crate::topics::name_problem(topic) {
            return Err(CloudError::InvalidTopic { topic: topic.into(), reason });
        }
        let mut publish =
            Publish { dup: false, qos, retain: false, topic: topic.into(), packet_id: None, payload: payload.into() };
        let key = DeviceKey::new(product_key, device_name);
        let mut last = None;
        for _ in 0..REROUTES {
            let (delivery, send) = self.shared.hub.route(&key, publish);
            match (delivery, send) {
                (Delivery::Delivered { conn, .. }, Some((tx, out))) => {
                    match tx.send(Command::Deliver(Box::new(out))).await {
                        Ok(()) => return Ok(delivery),
                        // The connection is leaving: its state moves on; route again.
                        Err(mpsc::error::SendError(Command::Deliver(back))) => {
                            publish = Publish { qos, ..*back };
                            last = Some(conn);
                            tokio::task::yield_now().await;
                        }
                        Err(_) => unreachable!("the command sent is a Deliver"),
                    }
                }
                (Delivery::Undelivered { conn }, _) => {
                    let reason = "the device has not subscribed to it".into();
                    self.shared.bus.emit(conn, EventKind::Undelivered { topic: topic.into(), reason });
                    return Ok(delivery);
                }
                (delivery, _) => return Ok(delivery),
            }
        }
        if let Some(conn) = last {
            self.shared
                .bus
                .emit(conn, EventKind::Undelivered { topic: topic.into(), reason: "the connection closed".into() });
        }
        Ok(Delivery::Dropped)
    }

    /// Closes a device's live connection as if the same device had logged in again (S-KICK),
    /// the notice included. Returns the connection closed.
    pub async fn kick(&self, product_key: &str, device_name: &str) -> Result<ConnId, CloudError> {
        let (conn, tx) = self
            .shared
            .hub
            .connection_of(&DeviceKey::new(product_key, device_name))
            .ok_or_else(|| CloudError::Offline(product_key.into(), device_name.into()))?;
        tx.send(Command::Kick { by: 0 }).await.map_err(|_| CloudError::NoConnection(conn))?;
        Ok(conn)
    }

    /// Closes connection `conn` without a notice, as the server-side close of C-RECONNECT.
    pub async fn close(&self, conn: ConnId) -> Result<(), CloudError> {
        let tx = self.shared.hub.sender(conn).ok_or(CloudError::NoConnection(conn))?;
        tx.send(Command::Close).await.map_err(|_| CloudError::NoConnection(conn))
    }

    /// Closes a device's live connection without a notice ([`Broker::close`] by device).
    /// Returns the connection closed.
    pub async fn close_device(&self, product_key: &str, device_name: &str) -> Result<ConnId, CloudError> {
        let conn = self
            .online(product_key, device_name)
            .ok_or_else(|| CloudError::Offline(product_key.into(), device_name.into()))?;
        self.close(conn).await.map(|()| conn)
    }

    /// The live connection of a device, if it is online.
    pub fn online(&self, product_key: &str, device_name: &str) -> Option<ConnId> {
        self.shared.hub.connection_of(&DeviceKey::new(product_key, device_name)).map(|(conn, _)| conn)
    }

    /// Arms a fault (see [`crate::fault`]) and returns its number. Faults triggered `now`
    /// hit the devices online at once.
    pub async fn arm(&self, spec: FaultSpec) -> Result<FaultId, FaultError> {
        let tls = match &spec.fault {
            Fault::BadCertificate { cert } => Some(self.bad_certificate(*cert)?),
            _ => None,
        };
        let id = self.shared.faults.arm(spec, tls)?;
        for tx in self.shared.hub.senders() {
            let _ = tx.send(Command::Faults).await;
        }
        Ok(id)
    }

    /// Clears fault `id`; false when it is not armed (any more).
    pub fn clear(&self, id: FaultId) -> bool {
        self.shared.faults.clear(id)
    }

    /// Clears every fault; returns how many were armed.
    pub fn clear_faults(&self) -> usize {
        self.shared.faults.clear_all()
    }

    /// The faults armed now, by number.
    pub fn faults(&self) -> Vec<(FaultId, FaultSpec)> {
        self.shared.faults.list()
    }

    /// The server configuration of a `bad_certificate` fault.
    fn bad_certificate(&self, bad: BadCert) -> Result<Arc<rustls::ServerConfig>, FaultError> {
        if self.shared.tls.is_none() {
            return Err(FaultError("bad_certificate: this broker serves no TLS listener".into()));
        }
        let names = &self.shared.cert_names;
        let minted = match (bad, &self.shared.authority) {
            (BadCert::Untrusted, _) => {
                Authority::generate("untrusted CA").and_then(|ca| ca.issue(names, Validity::Current))
            }
            (BadCert::Expired, Some(ca)) => ca.issue(names, Validity::Expired),
            (BadCert::WrongHost, Some(ca)) => ca.issue(&["wrong-host.invalid".to_string()], Validity::Current),
            (_, None) => {
                return Err(FaultError(format!(
                    "bad_certificate {bad:?}: the broker serves a given certificate and has no CA key to issue \
                     another with; only untrusted is possible"
                )));
            }
        };
        minted
            .and_then(tls::ServerCert::server_config)
            .map_err(|e| FaultError(format!("bad_certificate: minting the certificate: {e}")))
    }

    /// Stops accepting, closes every connection (reason `shutdown`) and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        // Every task holds a clone of the sender; `None` means all are gone.
        let _ = self.alive.recv().await;
    }
}

impl Drop for Broker {
    /// Stops the broker, and verifies its own expectations if some are left unverified.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let ledger = self.expected.get_mut().unwrap_or_else(|e| e.into_inner());
        verify_on_drop(ledger, &self.shared.bus);
    }
}

/// The URL of `transport` on a listener at `addr`.
fn url_at(transport: Transport, addr: SocketAddr) -> String {
    let host = url_host(addr.ip(), transport.is_tls());
    let path = if transport.is_websocket() { "/mqtt" } else { "" };
    format!("{}://{host}:{}{path}", transport.scheme(), addr.port())
}

/// The host a URL names: loopback and unspecified addresses become `127.0.0.1`, or
/// `localhost` for TLS (the name the minted certificate carries).
pub(crate) fn url_host(ip: IpAddr, tls: bool) -> String {
    if ip.is_loopback() || ip.is_unspecified() {
        return if tls {
            "localhost".into()
        } else if ip.is_ipv6() && !ip.is_unspecified() {
            "[::1]".into()
        } else {
            "127.0.0.1".into()
        };
    }
    match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    }
}
