//! A mock of the Alibaba Cloud (Aliyun) IoT Platform's MQTT broker, for offline tests.
//!
//! It accepts exactly what the platform accepts over ws, wss, tcp and tls, refuses what it
//! refuses with the same CONNACK code, and explains every verdict by the platform rule ID of
//! the rule table in [`rules`] (`A-SECUREMODE`, `K-TIMEOUT`, ...). In a test it is a test
//! double in the spirit of wiremock: start it, declare what must happen, run the code under
//! test, and have it say at the end, precisely, what did not happen.
//!
//! # Tutorial
//!
//! ## 1. Start a broker with a device
//!
//! Every listener binds 127.0.0.1 on a free port, so tests run in parallel; TLS uses a CA
//! minted at start ([`Broker::ca_pem`]). [`Broker::credentials`] gives the clientId, username
//! and password the platform expects of a device over a transport, signed with a method, so
//! any MQTT client can log in a correct device.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mock_broker::auth::SignMethod;
//! use mock_broker::{Broker, Transport};
//!
//! let broker = Broker::builder().device("a1B2c3D4e5F", "sensor-01", "s3cr3tS3cr3t").start().await?;
//! let url = broker.url(Transport::Wss).unwrap(); // wss://localhost:PORT/mqtt
//! let login = broker.credentials("a1B2c3D4e5F", "sensor-01", Transport::Wss, SignMethod::HmacSha256)?;
//! assert!(login.client_id.contains("|securemode=2,signmethod=hmacsha256,timestamp="));
//! assert_eq!(login.username, "sensor-01&a1B2c3D4e5F");
//! # let _ = url; Ok(()) }
//! ```
//!
//! ## 2. Declare expectations, run the device, verify
//!
//! [`Expectation`]s count what happens after they are declared. [`Broker::finish`] verifies
//! them (waiting, for one not yet met, until its window closes) and shuts the broker down; a broker dropped with
//! expectations unverified verifies them and panics with the report. A scope of its own
//! ([`Broker::expectations`]) covers one block of a test.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mock_broker::auth::SignMethod;
//! use mock_broker::connector::{DialOptions, dial};
//! use mock_broker::mqtt::{Connect, Packet, Protocol};
//! use mock_broker::{Broker, Expectation, Rule, Transport};
//! use std::time::Duration;
//!
//! let broker = Broker::builder().device("a1B2c3D4e5F", "sensor-01", "s3cr3tS3cr3t").start().await?;
//! broker
//!     .expect(Expectation::online("a1B2c3D4e5F", "sensor-01").within(Duration::from_secs(1)))
//!     .expect(Expectation::publishes("a1B2c3D4e5F", "sensor-01", "/a1B2c3D4e5F/sensor-01/user/update"))
//!     .expect(Expectation::never_breaks(Rule::AKeepalive));
//!
//! // The device under test: here it only logs in (keepalive 10 s: A-KEEPALIVE wants 30..=1200).
//! let login = broker.credentials("a1B2c3D4e5F", "sensor-01", Transport::Tcp, SignMethod::HmacSha1)?;
//! let mut device = dial(&broker.url(Transport::Tcp).unwrap(), &DialOptions::default()).await?;
//! let connect = Connect {
//!     protocol: Protocol::V311,
//!     client_id: login.client_id,
//!     clean_session: true,
//!     keep_alive: 10,
//!     username: Some(login.username),
//!     password: Some(login.password.into_bytes().into()),
//!     will: None,
//! };
//! device.send(&Packet::Connect(connect)).await?;
//! let _refused = device.read().await;
//!
//! let report = broker.finish().await.unwrap_err().to_string();
//! assert!(report.contains("#1 NOT MET: a1B2c3D4e5F/sensor-01 comes online within 1 s"));
//! assert!(report.contains("#3 NOT MET: no device breaks A-KEEPALIVE"));
//! assert!(report.contains("FAIL A-KEEPALIVE (assumed): expected 30..=1200 s; received 10 s"));
//! # Ok(()) }
//! ```
//!
//! The report lists each expectation, expected against observed, the failed verdicts and
//! refusals involved, and the tail of the transcript (`examples/device_test.rs` pins one).
//!
//! ## 3. Be the cloud side
//!
//! What devices publish, and the broker accepts, reaches the cloud side as the platform's
//! server-side subscription delivers it: topic, QoS, payload bytes and time
//! ([`Broker::uplinks`], [`Broker::wait_uplink`]). [`Broker::publish`] sends a downlink;
//! [`Broker::wait_online`] and [`Broker::wait_subscribed`] wait for a device to be ready for one.
//!
//! ```no_run
//! # async fn demo(broker: mock_broker::Broker) -> Result<(), Box<dyn std::error::Error>> {
//! use mock_broker::mqtt::QoS;
//! use mock_broker::UplinkFilter;
//! use std::time::Duration;
//! let patience = Duration::from_secs(5);
//! let reading = broker.wait_uplink(UplinkFilter::any().topic("/a1B2c3D4e5F/+/user/update"), patience).await?;
//! println!("{} sent {:?}", reading.device_name, reading.text());
//! broker.wait_subscribed("a1B2c3D4e5F", "sensor-01", "/a1B2c3D4e5F/sensor-01/user/get", patience).await?;
//! broker.publish("a1B2c3D4e5F", "sensor-01", "/a1B2c3D4e5F/sensor-01/user/get", "on", QoS::AtLeastOnce).await?;
//! # Ok(()) }
//! ```
//!
//! ## 4. Read the history
//!
//! Every event since the start is kept, within `Policy::history_events`, an overflow counted
//! ([`Broker::event_stats`]). [`Broker::events_matching`] filters it by kind, connection,
//! device and rule; [`Broker::wait_event`] waits for a match, and says, when none comes, what
//! it waited for and which events came closest ([`NoMatch`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mock_broker::{Broker, EventFilter, Rule};
//! use std::time::Duration;
//! let broker = Broker::builder().device("a1B2c3D4e5F", "sensor-01", "s3cr3tS3cr3t").start().await?;
//! let refusals = EventFilter::kind("closed")?.device("a1B2c3D4e5F", "sensor-01").rule(Rule::ASignContent);
//! assert!(broker.events_matching(&refusals).is_empty());
//! let none = broker.wait_event(&refusals, Duration::from_millis(10)).await.unwrap_err();
//! assert!(none.to_string().starts_with(
//!     "no event with event=closed device=a1B2c3D4e5F/sensor-01 rule=A-SIGN-CONTENT within 10 ms"
//! ));
//! # Ok(()) }
//! ```
//!
//! ## 5. Change the platform while the test runs
//!
//! Devices are added, removed, disabled and enabled ([`Broker::add_device`],
//! [`Broker::remove_device`], [`Broker::set_enabled`]); a new secret makes the next CONNECT
//! signed with the old one fail A-SIGN-CONTENT, the verdict saying it was the previous secret
//! ([`Broker::rotate_secret`]); [`Broker::update_policy`] changes the reactions and limits for
//! new connections. Faults ([`fault`]) make the platform misbehave on purpose.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mock_broker::Broker;
//! let broker = Broker::builder().start().await?;
//! broker.add_device("a1B2c3D4e5F", "sensor-02", "s3cr3tS3cr3t")?;
//! broker.rotate_secret("a1B2c3D4e5F", "sensor-02", "n3wS3cr3tN3wS3cr3t")?;
//! let policy = broker.update_policy(|p| p.keepalive_range = (60, 300))?;
//! assert_eq!(policy.keepalive_range, (60, 300));
//! # Ok(()) }
//! ```
//!
//! ## 6. From other languages
//!
//! `mock-broker --control --ready-file broker.json` serves all of the above over HTTP with
//! JSON ([`control`]); `bindings/python` (a pytest plugin) and `bindings/node` (a `node:test`
//! helper) in the repository start the binary and drive it.
//!
//! # Layout
//!
//! - [`broker`]: [`Broker`] and [`BrokerBuilder`]; the test-double parts: [`expect`],
//!   [`uplinks`], [`credentials`], [`events`] (with [`EventFilter`]).
//! - `server`, `handshake`, [`wire`], `session`: a connection from accept to close; `mux`: the
//!   optional listener that serves all four transports on one port (T-MUX).
//! - [`mqtt`]: the strict MQTT 3.1/3.1.1 codec; [`auth`]: CONNECT authentication; [`topics`]:
//!   topic rights; [`connector`]: the client side of the four transports.
//! - [`verdict`], [`rules`], [`render`]: verdicts and their wording.
//! - [`registry`], [`policy`], [`tls`], [`transport`]: configuration; [`secret`]: the
//!   [`Secret`] type every crate keeps a deviceSecret in, and constant-time comparison.
//! - [`control`] (HTTP with JSON), [`scenario`] (a timeline in TOML), [`fault`]: driving a
//!   running broker from outside.
//!
//! The `mock-broker` binary's command line is not part of this API. See `ARCHITECTURE.md`.

pub mod auth;
#[doc(hidden)]
pub mod bench_support;
pub mod broker;
mod cloud;
pub mod connector;
pub mod control;
pub mod credentials;
pub mod events;
pub mod expect;
pub mod fault;
#[doc(hidden)]
pub mod fuzzing;
mod handshake;
mod hub;
mod keepalive;
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
mod subscriptions;
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
