//! The report of a whole run, as every output (console, `report.json`, `junit.xml`) sees it.

use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::Transport;
use serde::Serialize;

/// How binding a case's rule is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// The platform refuses or cuts a client that breaks it.
    Must,
    /// A conformant client does it; the platform may not notice at once.
    Should,
}

/// One case run on one transport.
#[derive(Clone, Debug, Serialize)]
pub struct CaseReport {
    /// The case ID, e.g. `securemode`.
    pub case: String,
    pub title: String,
    /// The client rule checked, e.g. `C-SECUREMODE`.
    pub client_rule: String,
    /// The platform rules behind it, e.g. `A-SECUREMODE`.
    pub platform_rules: Vec<String>,
    pub severity: Severity,
    pub transport: Transport,
    pub duration_ms: u64,
    #[serde(flatten)]
    pub result: CaseResult,
}

/// Whether a run exercised a rule, so a green run never hides what was not checked.
#[derive(Clone, Debug, Serialize)]
pub struct RuleCoverage {
    /// A client rule (`C-...`, see `report::coverage::CLIENT_RULES`).
    pub rule: String,
    /// The worst verdict of the cases that ran it; `None` when none did.
    pub verdict: Option<CaseVerdict>,
    /// Why it was not exercised (no case in this catalogue yet, left out by the profile,
    /// not claimed by the client...), empty when it was.
    pub reason: String,
}

/// A whole run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The client's name (a fixture name, or the executable's file name).
    pub client: String,
    /// The command line the client ran with, placeholders unexpanded.
    pub command: String,
    /// `quick` or `full`.
    pub profile: String,
    pub transports: Vec<Transport>,
    /// Unix time of the start, in milliseconds.
    pub started_unix_ms: u64,
    pub duration_ms: u64,
    pub cases: Vec<CaseReport>,
    pub coverage: Vec<RuleCoverage>,
}

impl RunReport {
    /// The worst verdict among the cases that ran (not-run and error aside), `None` if none ran.
    pub fn worst(&self) -> Option<CaseVerdict> {
        self.cases
            .iter()
            .map(|c| c.result.verdict)
            .filter(|v| matches!(v, CaseVerdict::Pass | CaseVerdict::Warn | CaseVerdict::Fail))
            .max()
    }

    /// True when the kit itself failed somewhere.
    pub fn has_errors(&self) -> bool {
        self.cases.iter().any(|c| c.result.verdict == CaseVerdict::Error)
    }
}
