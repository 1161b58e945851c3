//! Fault injection: the broker causes, on purpose, what takes fleets down in the field — a
//! platform restart refusing logins, a link that dies silently, a lost PINGRESP, a device
//! kicked by its twin, a certificate rotated to a bad one — so that a test can watch how a
//! device client copes.
//!
//! - [`spec`]: what a fault is ([`Fault`]), whom it hits ([`Scope`]), when ([`Trigger`]), as
//!   plain values read from JSON and TOML.
//! - `armory`: the faults armed on one broker and each connection's view of them.
//! - `shaping`: the byte stream wrapper that trickles, cuts after N bytes and resets.
//!
//! Every fault runs on tokio time and is an event in the transcript (`fault`, with phases
//! armed, applied, disarmed and cleared).

pub(crate) mod armory;
pub(crate) mod shaping;
pub mod spec;

pub use armory::FaultId;
pub use spec::{BadCert, Fault, FaultError, FaultSpec, Inbound, Reply, Scope, Trigger};
