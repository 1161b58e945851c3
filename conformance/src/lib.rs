//! The conformance suite: drives any Aliyun IoT device client, as a child process, against
//! the mock broker and says, per platform rule, pass / warn / fail and why.
//!
//! Layout:
//! - [`contract`]: what a client is handed (environment variables, argument placeholders, a
//!   generated identity); [`child`]: the client as a child process (output tails, secret
//!   redaction, SIGTERM then SIGKILL); [`profile`]: what a client claims to support.
//! - [`catalogue`]: every case with the rules it checks; [`cases`]: how each case runs and
//!   judges, each against a broker of its own.
//! - [`runner`]: cases x transports, filters, not-run reasons, parallel runs, progress;
//!   [`cli`]: the `conformance` command (`cargo xtask conformance`).
//! - [`model`], [`outcome`]: the report model every output reads; [`report`]: the console,
//!   `report.json`, `junit.xml`, `report.html` and rule coverage; [`snapshot`]: per-client
//!   transcript snapshots.
//! - [`rules_reference`]: `RULES.md`, generated from the rule tables and the catalogue
//!   (`conformance --rules-reference`, `cargo xtask rules`).

pub mod cases;
pub mod catalogue;
pub mod child;
pub mod cli;
pub mod contract;
pub mod model;
pub mod outcome;
pub mod profile;
pub mod report;
pub mod rules_reference;
pub mod runner;
pub mod snapshot;
