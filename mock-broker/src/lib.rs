//! Placeholder crate root, being written.
pub mod auth;
pub mod mqtt;
pub mod policy;
pub mod registry;
pub mod rules;
pub mod topics;
pub mod transport;
pub mod verdict;
