//! A verdict: what the broker concluded about one rule for one connection.
//!
//! Verdicts are plain values; they are turned into text only by the sink that prints them
//! (see `events::render`).

use crate::rules::Rule;
use serde::Serialize;
use std::borrow::Cow;

/// The outcome of checking one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The client followed the rule.
    Pass,
    /// The client did something the platform tolerates but a conformant client avoids.
    Warn,
    /// The client broke the rule; the broker reacted as the platform would.
    Fail,
}

/// One rule checked, with what was expected and what was received.
///
/// `expected` and `received` never hold a device secret; a signature's verdict shows the
/// rebuilt sign content, the algorithm and both hex digests, which reveal no secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub rule: Rule,
    pub outcome: Outcome,
    /// What the rule asks for: most often a fixed text, kept without a copy (a broker keeps
    /// a dozen such verdicts per connection in its history).
    pub expected: Cow<'static, str>,
    pub received: String,
    /// Extra explanation (for example the sign content rebuilt), empty when there is none.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// True where the broker's reaction is a documented guess (confidence Low in the rule table).
    pub assumed: bool,
}

impl Verdict {
    fn new(rule: Rule, outcome: Outcome, expected: impl Into<Cow<'static, str>>, received: impl Into<String>) -> Self {
        Verdict {
            rule,
            outcome,
            expected: expected.into(),
            received: received.into(),
            detail: String::new(),
            assumed: rule.is_assumed() && outcome != Outcome::Pass,
        }
    }

    /// The client followed `rule`.
    pub fn pass(rule: Rule, expected: impl Into<Cow<'static, str>>, received: impl Into<String>) -> Self {
        Self::new(rule, Outcome::Pass, expected, received)
    }

    /// The client did something tolerated but not recommended.
    pub fn warn(rule: Rule, expected: impl Into<Cow<'static, str>>, received: impl Into<String>) -> Self {
        Self::new(rule, Outcome::Warn, expected, received)
    }

    /// The client broke `rule`.
    pub fn fail(rule: Rule, expected: impl Into<Cow<'static, str>>, received: impl Into<String>) -> Self {
        Self::new(rule, Outcome::Fail, expected, received)
    }

    /// Adds an explanation.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }
}
