//! CONNECT authentication, as the platform's A- rules describe it.
//!
//! - `client_id`: the mqttClientId parsed into the clientId prefix and its params
//!   (A-CID-FORMAT).
//! - `sign`: the signature, [`sign_content`] and [`sign`] (A-SIGNMETHOD, A-SIGN-CONTENT,
//!   A-SIGN-HEX), shared by the broker and a reference client.
//! - `check`: [`authenticate`], one verdict per rule in platform order, stopping at the
//!   first refusal.
//! - `password` and `diagnose`: the signature verdicts, and on a mismatch the likely mistake
//!   (unsorted content, another algorithm, a dropped field, an empty key...).
//! - `render`: quoting client values in verdicts, and blanking the device secret.
//! - [`vectors`]: the signature test vectors V1-V9, U1 and N1-N3.
//!
//! **Invariant:** no verdict holds a deviceSecret.

mod check;
mod client_id;
mod diagnose;
mod password;
mod render;
mod sign;
pub mod vectors;

pub use check::{AuthReport, Identity, Refusal, authenticate};
pub use client_id::{ClientIdError, MqttClientId};
pub use sign::{SignMethod, sign, sign_content};

#[cfg(test)]
mod tests;
