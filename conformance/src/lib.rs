//! The conformance suite: drives any Aliyun IoT device client, as a child process, against
//! the mock broker and says, per platform rule, pass / warn / fail and why.
//!
//! Being written; see ARCHITECTURE.md.

pub mod model;
pub mod outcome;
