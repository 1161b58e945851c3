//! What one case concluded about one client on one transport.

use crate::contract::Identity;
use mock_broker::{Event, Outcome, Verdict};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A case's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseVerdict {
    /// The client did what the rule demands.
    Pass,
    /// The client did something tolerated that a conformant client avoids.
    Warn,
    /// The client broke the rule.
    Fail,
    /// The case did not run: the client does not claim the capability, the profile leaves it
    /// out, or its timing exceeds the budget. The reason says which.
    NotRun,
    /// The kit itself failed (could not start a broker, spawn the client...): no verdict on
    /// the client.
    Error,
}

impl CaseVerdict {
    /// The lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            CaseVerdict::Pass => "pass",
            CaseVerdict::Warn => "warn",
            CaseVerdict::Fail => "fail",
            CaseVerdict::NotRun => "not-run",
            CaseVerdict::Error => "error",
        }
    }

    /// The case verdict a broker verdict implies.
    pub fn of(outcome: Outcome) -> CaseVerdict {
        match outcome {
            Outcome::Pass => CaseVerdict::Pass,
            Outcome::Warn => CaseVerdict::Warn,
            Outcome::Fail => CaseVerdict::Fail,
        }
    }
}

/// How the client process ended and what it printed last.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ClientRun {
    /// The command line, placeholders expanded, the secret replaced by `***`.
    pub command: String,
    /// Exit code, or `None` when a signal ended it.
    pub exit_code: Option<i32>,
    /// True when the suite had to stop it (SIGTERM, then SIGKILL after the grace period).
    pub stopped_by_suite: bool,
    /// The last lines of stdout and stderr (bounded), secret redacted.
    pub stdout_tail: String,
    pub stderr_tail: String,
}

/// The result of one case on one transport.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    pub verdict: CaseVerdict,
    /// One sentence a user reads first: why this verdict (for not-run, the reason).
    pub explanation: String,
    /// The broker's verdicts that decided the case (rule ID, expected vs received, detail).
    pub findings: Vec<Verdict>,
    /// Values measured (keepalive declared, ping intervals seen, reconnect delays...).
    pub measured: BTreeMap<String, serde_json::Value>,
    /// The client process, when one ran.
    pub client: Option<ClientRun>,
    /// The broker's transcript of the case (every connection) up to where the case stopped
    /// watching: what it judged on, and what the transcript snapshot pins. Not part of
    /// `report.json`.
    #[serde(skip)]
    pub transcript: Vec<Arc<Event>>,
    /// What the broker logged after that, while the suite stopped the client and shut the
    /// broker down (the client's last packets, its DISCONNECT, the closes). How much of it
    /// happens races with the stop, so the snapshot leaves it out; failure dumps show it.
    /// Not part of `report.json`.
    #[serde(skip)]
    pub stopping: Vec<Arc<Event>>,
    /// The identities handed to the client in the runs the transcript holds (a case that runs
    /// the client several times, like `sign`, lists each), so that the transcript snapshot
    /// can redact them; not part of `report.json`.
    #[serde(skip)]
    pub identities: Vec<Identity>,
}

impl CaseResult {
    /// A case that did not run, and why.
    pub fn not_run(reason: impl Into<String>) -> CaseResult {
        Self::bare(CaseVerdict::NotRun, reason)
    }

    /// The kit failed, and how.
    pub fn error(reason: impl Into<String>) -> CaseResult {
        Self::bare(CaseVerdict::Error, reason)
    }

    fn bare(verdict: CaseVerdict, explanation: impl Into<String>) -> CaseResult {
        CaseResult {
            verdict,
            explanation: explanation.into(),
            findings: Vec::new(),
            measured: BTreeMap::new(),
            client: None,
            transcript: Vec::new(),
            stopping: Vec::new(),
            identities: Vec::new(),
        }
    }
}
