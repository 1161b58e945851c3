//! Placeholder crate root, being written.
pub mod mqtt;
pub mod policy;
pub mod rules;
pub mod transport;
pub mod verdict;
