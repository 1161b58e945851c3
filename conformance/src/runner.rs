//! Runs the catalogue against one client: every case on every transport it applies to, up to
//! `jobs` at a time (timer cases, which mostly wait, side by side besides them, up to
//! [`TIMER_JOBS`]), each against a broker of its own.
//!
//! [`plan`] expands the catalogue into (case, transport) rows and gives each row that will
//! not run its reason, first that applies of:
//! 1. `--only` names neither the case nor a rule it checks, or `--skip` names one of them;
//! 2. the case applies to none of the run's transports (one row, on the run's first
//!    transport, says so; a case that applies to some of them simply has no row for the
//!    others);
//! 3. `--profile quick` and the case runs on real-time timers;
//! 4. the client profile does not claim the transport, any selected sign method, or a
//!    capability the case needs.
//!
//! [`run`] runs the other rows, longest expected first so that a timer case does not start
//! last, and returns every row in catalogue order. Progress goes to a callback as cases start
//! and finish; a case that panics is an error row, not a lost run.
//!
//! With [`RunConfig::snapshots`] set, each row that ran (pass, warn or fail) has its
//! transcript, redacted of the identities the case handed its client, compared with the
//! client's stored snapshot before the row is reported ([`crate::snapshot`]): a changed one
//! turns a pass into a warning carrying the diff, a new one is written for review.

use crate::cases::sign_property::SignProperty;
use crate::cases::{self, CaseContext, Timing};
use crate::catalogue::{CASES, CaseInfo};
use crate::child::ClientCommand;
use crate::model::{CaseReport, RunReport};
use crate::outcome::{CaseResult, CaseVerdict};
use crate::profile::ClientProfile;
use crate::snapshot::{self, RunIds};
use mock_broker::Transport;
use mock_broker::auth::SignMethod;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Which cases a run includes: `quick` leaves the real-time timer cases out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuiteProfile {
    Quick,
    Full,
}

impl SuiteProfile {
    pub fn name(self) -> &'static str {
        match self {
            SuiteProfile::Quick => "quick",
            SuiteProfile::Full => "full",
        }
    }
}

impl fmt::Display for SuiteProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SuiteProfile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "quick" => Ok(SuiteProfile::Quick),
            "full" => Ok(SuiteProfile::Full),
            other => Err(format!("unknown profile {other:?}: expected quick or full")),
        }
    }
}

/// Everything a run needs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub client: ClientCommand,
    /// The client's name in reports (a fixture name or the executable's file name).
    pub client_name: String,
    pub profile: ClientProfile,
    /// The transports to run, in order (`--transport`).
    pub transports: Vec<Transport>,
    /// The sign methods selected (`--sign-method`); empty selects all three.
    pub sign_methods: Vec<SignMethod>,
    /// Case IDs to run exclusively (`--only`); empty runs all.
    pub only: Vec<String>,
    /// Case IDs to leave out (`--skip`).
    pub skip: Vec<String>,
    pub suite: SuiteProfile,
    /// Cases run at the same time.
    pub jobs: usize,
    pub timing: Timing,
    /// The folder of per-client transcript snapshots (`--snapshots`); `None` compares none
    /// (`--no-snapshots`).
    pub snapshots: Option<PathBuf>,
    /// How `sign` explores identities (C-SIGN as a property).
    pub sign_property: SignProperty,
    /// Whether the cases' brokers show signatures in full in their verdicts
    /// (`--reveal-signatures`, [`mock_broker::Policy::reveal_signatures`]).
    pub reveal_signatures: bool,
}

/// How many timer cases run at once, besides the `--jobs` others: each mostly waits on real
/// time with one client process and one broker, so they need not queue behind each other.
pub const TIMER_JOBS: usize = 32;

/// The default number of parallel cases other than timer cases: the CPUs, at least 2.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)
}

/// Why a run cannot be planned.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "{0:?} in {1} names no case: give a case ID ({cases}), a client rule (C-...) or a platform rule a case \
         checks (A-SIGN-CONTENT...)",
        cases = crate::catalogue::ids()
    )]
    UnknownCase(String, &'static str),
    #[error("no transport selected")]
    NoTransport,
}

/// One row of a run: a case on a transport, and why it will not run, if it will not.
#[derive(Clone, Debug)]
pub struct PlannedCase {
    pub case: &'static CaseInfo,
    pub transport: Transport,
    pub not_run: Option<String>,
}

impl RunConfig {
    /// The selected sign methods (all three when none is).
    fn selected_sign_methods(&self) -> Vec<SignMethod> {
        if self.sign_methods.is_empty() { SignMethod::ALL.to_vec() } else { self.sign_methods.clone() }
    }

    /// Why `case` is left out whatever the transport.
    fn left_out(&self, case: &CaseInfo) -> Option<String> {
        if !self.only.is_empty() && !self.only.iter().any(|s| case.selected_by(s)) {
            return Some(format!("left out by --only {}", self.only.join(",")));
        }
        if let Some(selector) = self.skip.iter().find(|s| case.selected_by(s)) {
            return Some(if selector == case.id {
                "skipped by --skip".to_owned()
            } else {
                format!("skipped by --skip {selector}")
            });
        }
        None
    }

    /// Why `case` does not run over `transport`, which it applies to.
    fn not_run_on(&self, case: &CaseInfo, transport: Transport) -> Option<String> {
        if case.timer && self.suite == SuiteProfile::Quick {
            return Some(format!(
                "timer case, runs in real time (about {} s): left out by --profile quick",
                case.expected.as_secs()
            ));
        }
        self.profile.not_run_reason(transport, &self.selected_sign_methods(), case.needs)
    }
}

fn names(transports: &[Transport]) -> String {
    transports.iter().map(|t| t.scheme()).collect::<Vec<_>>().join(", ")
}

/// Expands the catalogue into the run's rows, in catalogue order.
pub fn plan(config: &RunConfig) -> Result<Vec<PlannedCase>, PlanError> {
    for (ids, flag) in [(&config.only, "--only"), (&config.skip, "--skip")] {
        if let Some(unknown) = ids.iter().find(|id| !CASES.iter().any(|c| c.selected_by(id))) {
            return Err(PlanError::UnknownCase(unknown.clone(), flag));
        }
    }
    let first = *config.transports.first().ok_or(PlanError::NoTransport)?;
    let mut rows = Vec::new();
    for case in &CASES {
        let left_out = config.left_out(case);
        let applicable: Vec<Transport> =
            config.transports.iter().copied().filter(|t| case.transports.contains(t)).collect();
        if applicable.is_empty() {
            let reason = left_out.unwrap_or_else(|| {
                format!("applies over {} only; this run covers {}", names(case.transports), names(&config.transports))
            });
            rows.push(PlannedCase { case, transport: first, not_run: Some(reason) });
            continue;
        }
        for transport in applicable {
            let not_run = left_out.clone().or_else(|| config.not_run_on(case, transport));
            rows.push(PlannedCase { case, transport, not_run });
        }
    }
    Ok(rows)
}

/// What the runner reports while it runs.
pub enum Progress<'a> {
    /// A case started on a transport.
    Started { case: &'static CaseInfo, transport: Transport },
    /// A row is done (not-run rows included, reported before anything runs).
    Finished(&'a CaseReport),
}

/// A case's row in the report.
pub fn case_report(case: &CaseInfo, transport: Transport, duration: Duration, result: CaseResult) -> CaseReport {
    CaseReport {
        case: case.id.to_owned(),
        title: case.title.to_owned(),
        client_rule: case.client_rule.to_owned(),
        platform_rules: case.platform_rules.iter().map(|r| r.id().to_owned()).collect(),
        severity: case.severity,
        transport,
        duration_ms: duration.as_millis() as u64,
        result,
    }
}

/// Runs the planned rows; returns every row, in catalogue order.
pub async fn run(config: &RunConfig, mut progress: impl FnMut(Progress<'_>)) -> Result<Vec<CaseReport>, PlanError> {
    let planned = plan(config)?;
    let mut reports: Vec<Option<CaseReport>> = vec![None; planned.len()];
    let mut queue = Vec::new();
    for (i, row) in planned.iter().enumerate() {
        match &row.not_run {
            Some(reason) => {
                let report = case_report(row.case, row.transport, Duration::ZERO, CaseResult::not_run(reason.clone()));
                progress(Progress::Finished(&report));
                reports[i] = Some(report);
            }
            None => queue.push(i),
        }
    }
    queue.sort_by_key(|&i| std::cmp::Reverse(planned[i].case.expected));
    // Timer cases mostly wait on real time: they run side by side, outside --jobs.
    let (timers, others): (Vec<usize>, Vec<usize>) = queue.into_iter().partition(|&i| planned[i].case.timer);
    let mut queues = [VecDeque::from(timers), VecDeque::from(others)];
    let limits = [TIMER_JOBS, config.jobs.max(1)];
    let mut busy = [0usize; 2];
    let sign_methods = config.profile.usable_sign_methods(&config.selected_sign_methods());
    let mut running = JoinSet::new();
    let mut started = HashMap::new();
    loop {
        for pool in 0..2 {
            while busy[pool] < limits[pool] {
                let Some(i) = queues[pool].pop_front() else { break };
                let row = &planned[i];
                let ctx = CaseContext {
                    transport: row.transport,
                    client: config.client.clone(),
                    sign_methods: sign_methods.clone(),
                    chosen_method: None,
                    timing: config.timing,
                    sign_property: config.sign_property.clone(),
                    reveal_signatures: config.reveal_signatures,
                };
                let case = row.case;
                progress(Progress::Started { case, transport: row.transport });
                let handle = running.spawn(async move { cases::run(case, &ctx).await });
                started.insert(handle.id(), (i, pool, Instant::now()));
                busy[pool] += 1;
            }
        }
        let Some(joined) = running.join_next_with_id().await else { break };
        let (id, mut result) = match joined {
            Ok((id, result)) => (id, result),
            Err(e) => (e.id(), CaseResult::error(format!("the case itself failed: {e}"))),
        };
        let (i, pool, at) = started.remove(&id).expect("every task is recorded when spawned");
        busy[pool] -= 1;
        let elapsed = at.elapsed();
        if let Some(dir) = &config.snapshots {
            compare_snapshot(dir, &config.client_name, &planned[i], &mut result);
        }
        let report = case_report(planned[i].case, planned[i].transport, elapsed, result);
        progress(Progress::Finished(&report));
        reports[i] = Some(report);
    }
    Ok(reports.into_iter().map(|r| r.expect("every row is reported")).collect())
}

/// Compares the transcript of a row that ran (pass, warn or fail) with the client's stored
/// snapshot under `dir`, redacting the identities the case handed its client, and records
/// the outcome on the row. A snapshot that cannot be read or written makes the row an error:
/// the run is incomplete.
fn compare_snapshot(dir: &Path, client: &str, row: &PlannedCase, result: &mut CaseResult) {
    if !matches!(result.verdict, CaseVerdict::Pass | CaseVerdict::Warn | CaseVerdict::Fail) {
        return;
    }
    let ids: Vec<RunIds> = result.identities.iter().map(RunIds::from).collect();
    let text = snapshot::redact(&result.transcript, &ids);
    match snapshot::check(dir, client, row.case.id, row.transport, &text) {
        Ok(outcome) => outcome.apply(result),
        Err(e) => {
            result.explanation = format!(
                "{}: {}; but the transcript snapshot under {} could not be checked: {e}",
                result.verdict.name(),
                result.explanation,
                dir.display()
            );
            result.verdict = CaseVerdict::Error;
        }
    }
}

/// The run's report, from its rows. Coverage is left empty: the report module computes it.
pub fn run_report(config: &RunConfig, cases: Vec<CaseReport>, started: SystemTime, duration: Duration) -> RunReport {
    RunReport {
        client: config.client_name.clone(),
        command: config.client.to_string(),
        profile: config.suite.name().to_owned(),
        transports: config.transports.clone(),
        started_unix_ms: started.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        duration_ms: duration.as_millis() as u64,
        cases,
        coverage: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::CaseVerdict;

    fn config() -> RunConfig {
        RunConfig {
            client: ClientCommand { program: "/bin/true".into(), args: vec![] },
            client_name: "true".into(),
            profile: ClientProfile::claiming_everything("true"),
            transports: vec![Transport::Ws, Transport::Wss],
            sign_methods: vec![],
            only: vec![],
            skip: vec![],
            suite: SuiteProfile::Full,
            jobs: 2,
            timing: Timing::default(),
            snapshots: None,
            sign_property: SignProperty::default(),
            reveal_signatures: false,
        }
    }

    fn rows(config: &RunConfig) -> Vec<(String, &'static str, Option<String>)> {
        plan(config).unwrap().into_iter().map(|r| (r.case.id.to_owned(), r.transport.scheme(), r.not_run)).collect()
    }

    fn reason(config: &RunConfig, case: &str, transport: &str) -> Option<String> {
        rows(config).into_iter().find(|(c, t, _)| c == case && *t == transport).expect("row exists").2
    }

    #[test]
    fn cases_expand_over_the_transports_they_apply_to() {
        let rows = rows(&config());
        let ids: Vec<(&str, &str)> = rows.iter().map(|(c, t, _)| (c.as_str(), *t)).collect();
        assert_eq!(&ids[..2], [("securemode", "ws"), ("securemode", "wss")]);
        assert!(ids.contains(&("websocket", "ws")) && ids.contains(&("websocket", "wss")));
        assert!(ids.contains(&("tls-expired", "wss")) && !ids.contains(&("tls-expired", "ws")));
        assert!(rows.iter().all(|(_, _, reason)| reason.is_none()), "{rows:?}");
        assert_eq!(rows.len(), 15 * 2 + 2 + 3);
    }

    #[test]
    fn a_case_for_none_of_the_transports_gets_one_row_saying_so() {
        let mut config = config();
        config.transports = vec![Transport::Tcp];
        let reason = reason(&config, "websocket", "tcp").unwrap();
        assert_eq!(reason, "applies over ws, wss only; this run covers tcp");
        assert_eq!(rows(&config).iter().filter(|(c, _, _)| c == "tls-wrong-host").count(), 1);
    }

    #[test]
    fn only_skip_and_quick_leave_cases_out_with_a_reason() {
        let mut config = config();
        config.only = vec!["sign".into(), "ping".into()];
        config.skip = vec!["ping".into()];
        assert_eq!(reason(&config, "sign", "ws"), None);
        assert_eq!(reason(&config, "ping", "ws").unwrap(), "skipped by --skip");
        assert_eq!(reason(&config, "securemode", "wss").unwrap(), "left out by --only sign,ping");
        assert_eq!(reason(&config, "tls-expired", "wss").unwrap(), "left out by --only sign,ping");

        let mut config = super::tests::config();
        config.only = vec!["C-RECONNECT".into()];
        config.skip = vec!["kick-war".into()];
        assert_eq!(reason(&config, "reconnect", "ws"), None);
        assert_eq!(reason(&config, "kick-war", "ws").unwrap(), "skipped by --skip");
        config.skip = vec!["s-kick".into()];
        assert_eq!(reason(&config, "reconnect", "ws").unwrap(), "skipped by --skip s-kick", "it cites S-KICK too");
        assert_eq!(reason(&config, "refused", "ws").unwrap(), "left out by --only C-RECONNECT");

        let mut config = super::tests::config();
        config.suite = SuiteProfile::Quick;
        assert_eq!(
            reason(&config, "ping", "ws").unwrap(),
            "timer case, runs in real time (about 65 s): left out by --profile quick"
        );
        assert_eq!(reason(&config, "keepalive", "ws"), None);
    }

    #[test]
    fn what_the_client_does_not_claim_is_not_run() {
        let mut config = config();
        config.transports = vec![Transport::Ws, Transport::Tls];
        config.profile.transports = vec![Transport::Ws];
        assert_eq!(reason(&config, "sign", "ws"), None);
        assert_eq!(
            reason(&config, "sign", "tls").unwrap(),
            "the client does not claim transport tls (profile true claims ws)"
        );
        config.profile.sign_methods = vec![SignMethod::HmacSha256];
        config.sign_methods = vec![SignMethod::HmacMd5];
        assert!(reason(&config, "sign", "ws").unwrap().contains("none of the selected sign methods (hmacmd5)"));
    }

    #[test]
    fn unknown_case_ids_and_no_transport_are_errors() {
        let mut config = config();
        config.skip = vec!["pong".into()];
        let err = plan(&config).unwrap_err();
        assert_eq!(err, PlanError::UnknownCase("pong".into(), "--skip"));
        assert!(err.to_string().contains("securemode, sign"), "{err}");
        assert!(err.to_string().contains("a client rule (C-...)"), "{err}");
        let mut config = super::tests::config();
        config.transports.clear();
        assert_eq!(plan(&config).unwrap_err(), PlanError::NoTransport);
    }

    #[tokio::test]
    async fn rows_left_out_are_reported_without_running_anything() {
        let mut config = config();
        config.skip = crate::catalogue::CASES.iter().map(|c| c.id.to_owned()).collect();
        let mut seen = 0;
        let reports = run(&config, |p| {
            assert!(matches!(p, Progress::Finished(r) if r.result.verdict == CaseVerdict::NotRun));
            seen += 1;
        })
        .await
        .unwrap();
        assert_eq!(seen, reports.len());
        assert_eq!(reports[0].case, "securemode");
        assert_eq!(reports[0].platform_rules, ["A-SECUREMODE"]);
        assert_eq!(reports[0].result.explanation, "skipped by --skip");
        let report = run_report(&config, reports, UNIX_EPOCH + Duration::from_millis(1500), Duration::from_secs(2));
        assert_eq!((report.started_unix_ms, report.duration_ms, report.profile.as_str()), (1500, 2000, "full"));
        assert_eq!(report.worst(), None);
    }

    #[test]
    fn rows_that_ran_are_compared_with_their_snapshot_redacted_of_their_identities() {
        use crate::contract::Identity;
        use mock_broker::events::{Event, EventKind};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let row = plan(&config()).unwrap().into_iter().find(|r| r.case.id == "username").unwrap();
        let identity = Identity::generate(9);
        let online = EventKind::Online {
            product_key: identity.product_key.clone(),
            device_name: identity.device_name.clone(),
            session_present: false,
        };
        let ran = |verdict| {
            let mut result = CaseResult::not_run("x");
            result.verdict = verdict;
            result.transcript = vec![Arc::new(Event { conn: 7, at: Duration::from_millis(5), kind: online.clone() })];
            result.identities = vec![identity.clone()];
            result
        };
        let pending = dir.path().join("true/username__ws.snap.new");

        for verdict in [CaseVerdict::NotRun, CaseVerdict::Error] {
            let mut result = ran(verdict);
            compare_snapshot(dir.path(), "true", &row, &mut result);
            assert!(result.measured.is_empty() && !pending.exists(), "{verdict:?} rows are not compared");
        }
        let mut result = ran(CaseVerdict::Fail);
        compare_snapshot(dir.path(), "true", &row, &mut result);
        assert!(result.measured["snapshot"].as_str().unwrap().starts_with(snapshot::NEW_NOTE), "{result:?}");
        let written = std::fs::read_to_string(&pending).unwrap();
        assert!(written.ends_with("    [time] #1    online as [productKey]/[deviceName]\n"), "{written}");
        std::fs::rename(&pending, dir.path().join("true/username__ws.snap")).unwrap();
        let mut result = ran(CaseVerdict::Pass);
        compare_snapshot(dir.path(), "true", &row, &mut result);
        assert_eq!((result.verdict, result.measured.len()), (CaseVerdict::Pass, 0), "{result:?}");

        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let mut result = ran(CaseVerdict::Pass);
        compare_snapshot(&file, "true", &row, &mut result);
        assert_eq!(result.verdict, CaseVerdict::Error);
        assert!(result.explanation.starts_with("pass: x; but the transcript snapshot under "), "{result:?}");
    }
}
