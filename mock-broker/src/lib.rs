//! A mock of the Alibaba Cloud (Aliyun) IoT Platform's MQTT broker, for offline tests.
//!
//! It accepts exactly what the platform accepts over ws, wss, tcp and tls, refuses what it
//! refuses with the same CONNACK code, and explains every verdict by the platform rule ID of
//! the rule table in [`rules`] (`A-SECUREMODE`, `K-TIMEOUT`, ...). See `ARCHITECTURE.md`.
//!
//! Layout:
//! - [`broker`]: the library API ([`Broker`], [`BrokerBuilder`]), in the spirit of wiremock.
//! - [`server`], [`handshake`], [`wire`], [`session`]: a connection from accept to close;
//!   [`mux`]: the optional listener that serves all four transports on one port (T-MUX);
//!   `ws_upgrade`: the HTTP upgrade to WebSocket, at both ends.
//! - [`mqtt`]: the strict MQTT 3.1/3.1.1 codec; [`auth`]: CONNECT authentication;
//!   [`keepalive`], [`topics`], [`subscriptions`], [`hub`]: the session rules.
//! - [`events`], [`verdict`], [`rules`], [`render`]: the transcript and its wording.
//! - [`registry`], [`policy`], [`tls`], [`transport`]: configuration; [`secret`]: the
//!   [`Secret`] type every crate keeps a deviceSecret in, and constant-time comparison.
//! - [`control`] (HTTP with JSON), [`scenario`] (a timeline in TOML) and [`cloud`]: driving a
//!   running broker from outside.

pub mod auth;
#[doc(hidden)]
pub mod bench_support;
pub mod broker;
pub mod cli;
pub mod cloud;
pub mod connector;
pub mod control;
pub mod credentials;
pub mod events;
pub mod expect;
pub mod fault;
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
pub mod hub;
pub mod keepalive;
pub mod mqtt;
mod mux;
mod observe;
pub mod policy;
pub mod redact;
pub mod registry;
pub mod render;
pub mod rules;
pub mod scenario;
pub mod secret;
mod server;
mod session;
pub mod subscriptions;
pub mod tls;
pub mod topics;
pub mod transport;
pub mod uplinks;
pub mod verdict;
pub mod wire;
mod ws_upgrade;

pub use broker::{Broker, BrokerBuilder, CloudError, StartError};
pub use credentials::Credentials;
pub use events::{CloseReason, ConnId, Event, EventFilter, EventKind, EventStream, NoMatch};
pub use expect::{Expectation, Expectations, Unmet};
pub use hub::Delivery;
pub use policy::Policy;
pub use registry::Registry;
pub use rules::Rule;
pub use secret::Secret;
pub use transport::Transport;
pub use uplinks::{Uplink, UplinkFilter, UplinkStream};
pub use verdict::{Outcome, Verdict};
