//! The control endpoint: HTTP/1.1 with JSON on 127.0.0.1 (port 0 by default), so a test in
//! any language can drive a running broker: arm faults, publish, kick, close, enable and
//! disable, add and remove devices, rotate secrets, change the policy for new connections,
//! read or wait for transcript events, read what devices published, wait for a device online
//! or subscribed, get a device's credentials, and declare expectations verified with a report.
//! `mock-broker --control` serves it; its URL is the ready file's `control` key.
//!
//! | route | body | answer |
//! |---|---|---|
//! | `GET /faults` | | `{"faults": [{"id": 1, "fault": "kick", "scope": "all", ...}]}` |
//! | `POST /faults` | one fault ([`crate::fault::spec`]'s JSON) | 201 `{"id": N}` |
//! | `DELETE /faults/{id}` | | `{"cleared": N}`; 404 if not armed |
//! | `DELETE /faults` | | `{"cleared": COUNT}` |
//! | `POST /publish` | `{"product_key", "device_name", "topic", "payload", "qos"}` | `{"delivery": "delivered", "conn": N, "qos": Q}`, `"undelivered"` (online, not subscribed), `"queued"` (stored session) or `"dropped"`; 422 for QoS 2 or a wildcard topic |
//! | `GET /devices` | | `{"devices": [{"product_key", "device_name", "enabled", "online": CONN or null}]}` |
//! | `POST /devices/{pk}/{dn}/kick` | | `{"kicked": CONN}` (S-KICK, notice included); 404 when offline |
//! | `POST /devices/{pk}/{dn}/close` | | `{"closed": CONN}` (no notice); 404 when offline |
//! | `POST /devices/{pk}/{dn}/enable`, `POST /devices/{pk}/{dn}/disable` | | `{"product_key", "device_name", "enabled"}` |
//! | `POST /devices/{pk}/{dn}/secret` | `{"secret": "..."}` (ID-SECRET) | `{"product_key", "device_name", "rotated": true}` |
//! | `GET /events?since=CURSOR&limit=N` | | `{"events": [...], "next": CURSOR, "missed": M}` |
//! | `GET /events/wait?since=CURSOR&timeout_ms=T&event=KIND&conn=N&device=pk/dn&rule=ID` | | the first matching event after the cursor; 408 when none came within T ms, saying what it waited for, with the `closest` events |
//! | `POST /devices` | `{"product_key", "device_name", "secret", "enabled"}` (`enabled` optional, default true; ID-PK, ID-DN, ID-SECRET) | 201 `{"product_key", "device_name", "enabled"}`; 409 if registered already |
//! | `DELETE /devices/{pk}/{dn}` | | `{"removed": {"product_key", "device_name"}, "online": CONN or null}` (a live connection stays up) |
//! | `GET /policy` | | the policy for new connections: [`crate::Policy`]'s fields, durations as `*_ms`, CONNACK codes and QoS as numbers, reactions as `"close"`/`"drop"`, `keepalive_check` as `{"mode": "periodic", "period_ms", "phase_ms"}` or `{"mode": "exact"}` |
//! | `PATCH /policy` | a JSON object with any of those fields | the new policy; 400 for an unknown field (the editable ones listed), 422 for a value out of range or a change of a field fixed at start ([`crate::policy::FIXED_AT_START`]) |
//! | `GET /stats` | | `{"events": {"emitted": N, "by_kind": {"packet_in": N, ...}, "packets_in": {"PUBLISH": N, ...}, "packets_out": {"PUBACK": N, ...}, "history": {"capacity": C, "held": H, "evicted": E}}, "uplinks": {"accepted", "held", "held_bytes", "evicted"}}` ([`crate::events::EventStats`], [`crate::uplinks::UplinkStats`]) |
//! | `GET /uplinks?since=SEQ&limit=N&device=pk/dn&topic=FILTER` | | `{"uplinks": [U...], "next": SEQ, "missed": M}`: what devices published and the broker accepted ([`crate::uplinks`]); U is `{"seq", "conn", "at_ms", "product_key", "device_name", "topic", "qos", "payload_base64", "payload_text"}` (`payload_text` null unless UTF-8) |
//! | `GET /uplinks/wait?since=SEQ&timeout_ms=T&device=pk/dn&topic=FILTER` | | the first matching uplink after the cursor; 408 when none came, 410 when uplinks after the cursor were let go |
//! | `GET /devices/{pk}/{dn}/online?timeout_ms=T` | | `{"conn": N}` once the device is online (at once if it is); 408 with the closest events |
//! | `GET /devices/{pk}/{dn}/subscribed?filter=F&timeout_ms=T` | | `{"conn": N, "qos": Q}` once its live session holds a subscription to exactly F; 408 with the closest events |
//! | `GET /credentials/{pk}/{dn}?transport=ws&sign_method=hmacsha256&client_id=C` | | `{"client_id", "username", "password", "url", "host", "port", "transport", "sign_method", "securemode"}`: a correct login ([`crate::credentials`]; defaults ws, hmacsha256, `mock-broker-test`) |
//! | `POST /expectations` | `{"kind": "online", "device": "pk/dn", "within_ms": 5000}`; `"publishes"` with `"topic"` and `"times"` or `"at_least"`; `"subscribes"` with `"filter"`; `"never_refused"`; `"never_breaks"` with `"rule"` (and `"device"` optional) | 201 `{"id": N, "description": "pk/dn comes online within 5 s"}` ([`crate::expect`]); `within_ms` at most 60 000, the longest long poll |
//! | `GET /expectations` | | `{"expectations": [{"id", "description"}]}` |
//! | `POST /expectations/verify` | | after waiting for the windows still open: `{"passed": BOOL, "met": N, "results": [{"id", "description", "met", "expected", "observed", "verdicts"}], "report": TEXT or null}`; it ends them |
//! | `DELETE /expectations` | | `{"dropped": N}`, unverified |
//!
//! Events are the transcript's JSON (the serde form of [`crate::Event`]) plus `seq`, their
//! number from 1; a cursor is a `seq` (0: from the start). They come from the broker's
//! history, which keeps the last `Policy::history_events` (`--history-events`): `missed`
//! counts those after the cursor no longer kept.
//! A long poll waits at most 60 s (10 s without `timeout_ms`); `event` is a kind name
//! (`accepted`, `connect`, `verdict`, `online`, `fault`, `closed`...), `device` matches the
//! connections that named the device in their CONNECT username. Enabling, disabling, adding,
//! removing and a new secret apply from the device's next CONNECT; its live connection stays
//! up. A CONNECT signed with a rotated-out secret is refused (A-SIGN-CONTENT) with a verdict
//! that says so. A policy change applies to the connections accepted from then on; a live
//! connection keeps the policy it started with.
//!
//! Refusals are 4xx with `{"error": "..."}`: 404 for an unknown route (listing every route,
//! also as `routes`) or device, 405 for a known path with another method, 400 for bad JSON
//! (serde's message) or a bad query, 409 for a device registered already, 422 for a fault
//! [`crate::fault::FaultSpec::check`] refuses or an identity that breaks an ID- rule, 413 for a body over
//! [`ControlConfig::body_limit`], 408 for a request that does not arrive within
//! [`ControlConfig::read_timeout`]. No route ever answers with a secret.
//!
//! - `http`: hyper plumbing (connections, limits, deadlines, JSON answers).
//! - `routes`: the route table and handlers.
//! - `history`: pages and long polls over the broker's event history.
//! - `double`: the test-double routes (uplinks, device waits, credentials, expectations).
//! - `policy`: the policy as JSON, and a patch laid over it.

mod double;
mod history;
mod http;
mod policy;
mod routes;

use crate::broker::Broker;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the endpoint listens and what it allows.
#[derive(Clone, Debug)]
pub struct ControlConfig {
    /// Where to listen (default 127.0.0.1:0, a free port).
    pub addr: SocketAddr,
    /// The largest request body (default 64 KiB).
    pub body_limit: usize,
    /// How long a request's head, and then its body, may take to arrive (default 10 s).
    pub read_timeout: Duration,
    /// How many connections are served at once (default 64).
    pub max_connections: usize,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            body_limit: 64 * 1024,
            read_timeout: Duration::from_secs(10),
            max_connections: 64,
        }
    }
}

/// A running control endpoint.
pub struct ControlServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

/// Binds the endpoint and starts serving `broker`.
pub async fn serve(broker: Arc<Broker>, config: ControlConfig) -> io::Result<ControlServer> {
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let limits = http::Limits {
        body: config.body_limit,
        read_timeout: config.read_timeout,
        connections: config.max_connections,
    };
    let app = Arc::new(routes::App { broker, limits, expected: Default::default() });
    let (stop, stopped) = watch::channel(false);
    let server = tokio::spawn(http::serve(listener, app, stopped));
    Ok(ControlServer { addr, stop, server })
}

impl ControlServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving, ends every connection and waits until no task holds the broker.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.server).await;
    }
}

impl Drop for ControlServer {
    /// Dropped without [`ControlServer::stop`]: stops serving all the same, without waiting.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
