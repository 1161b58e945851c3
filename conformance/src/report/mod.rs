//! The outputs of a run: what a user reads and what CI consumes.
//!
//! - [`console`]: one progress line per finished case while the run goes, then the summary
//!   (a table grouped by client rule, a block per fail / warn / error, the rule coverage and
//!   a one-line total);
//! - [`json`]: `report.json`, the serde form of [`RunReport`];
//! - [`junit`]: `junit.xml`, one testcase per case and transport;
//! - [`html`]: `report.html`, one self-contained page (failures first, the verdict table,
//!   each failure's findings and output, the sign comparison, [`timeline`]s of the timed
//!   cases drawn as inline SVG, the rule coverage);
//! - [`coverage`]: which client rules (`C-SECUREMODE` ... `C-RESUB`, see `RULES.md`)
//!   the run exercised and why the others were not, so a green run never hides what was not
//!   checked;
//! - [`matrix`]: several clients' rule coverage side by side (`matrix.json`);
//! - [`exit_code`]: what `--fail-on warn|fail` makes of a run.
//!
//! Every output reads the same [`RunReport`]; the order and the plain-text details of a case
//! (findings, measured values, the client's last lines) are shared here so the console and
//! JUnit say the same thing.

pub mod console;
pub mod coverage;
pub mod html;
pub mod json;
pub mod junit;
pub mod matrix;
pub mod timeline;

use crate::model::{CaseReport, RunReport, Severity};
use crate::outcome::CaseVerdict;
use serde_json::Value;

/// How many of the client's last stdout / stderr lines a report shows.
pub const TAIL_LINES: usize = 10;

/// The verdict at or above which a run exits with 1 (`--fail-on`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// A warning is enough (strict CI).
    Warn,
    /// Only a failure counts (the default).
    #[default]
    Fail,
}

/// The process exit code of a run: 2 when the kit itself errored on some case (the run is
/// incomplete, whatever the client did); else 1 when some case's verdict is at or above
/// `fail_on`; else 0. Cases that did not run never fail a run: the coverage section says
/// what they leave unchecked.
pub fn exit_code(report: &RunReport, fail_on: FailOn) -> i32 {
    if report.has_errors() {
        return 2;
    }
    let threshold = match fail_on {
        FailOn::Warn => CaseVerdict::Warn,
        FailOn::Fail => CaseVerdict::Fail,
    };
    match report.worst() {
        Some(worst) if worst >= threshold => 1,
        _ => 0,
    }
}

/// The upper-case label of a verdict, as the console and JUnit show it.
pub fn label(verdict: CaseVerdict) -> &'static str {
    match verdict {
        CaseVerdict::Pass => "PASS",
        CaseVerdict::Warn => "WARN",
        CaseVerdict::Fail => "FAIL",
        CaseVerdict::NotRun => "NOT-RUN",
        CaseVerdict::Error => "ERROR",
    }
}

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Must => "MUST",
        Severity::Should => "SHOULD",
    }
}

/// `text` with the characters HTML and XML give a meaning to escaped, for text and
/// attribute values alike: client output and transcripts are untrusted.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The client rules a report shows, in order: those of [`coverage::CLIENT_RULES`] first (in its
/// order), then any other rule a case names, in order of appearance.
fn rule_order(report: &RunReport) -> Vec<&str> {
    let mut rules: Vec<&str> = coverage::CLIENT_RULES.iter().map(|r| r.id).collect();
    for case in &report.cases {
        if !rules.contains(&case.client_rule.as_str()) {
            rules.push(&case.client_rule);
        }
    }
    rules
}

/// The case IDs of `rule`, in order of first appearance.
fn case_ids<'r>(report: &'r RunReport, rule: &str) -> Vec<&'r str> {
    let mut ids: Vec<&str> = Vec::new();
    for case in report.cases.iter().filter(|c| c.client_rule == rule) {
        if !ids.contains(&case.case.as_str()) {
            ids.push(&case.case);
        }
    }
    ids
}

/// The cases grouped by rule (in [`rule_order`]), then by case ID, then by transport order.
fn ordered(report: &RunReport) -> Vec<&CaseReport> {
    let mut out = Vec::with_capacity(report.cases.len());
    for rule in rule_order(report) {
        for id in case_ids(report, rule) {
            let mut runs: Vec<&CaseReport> =
                report.cases.iter().filter(|c| c.client_rule == rule && c.case == id).collect();
            runs.sort_by_key(|c| c.transport);
            out.extend(runs);
        }
    }
    out
}

/// How many cases ended with each verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    pass: usize,
    warn: usize,
    fail: usize,
    not_run: usize,
    error: usize,
}

impl Counts {
    fn of(report: &RunReport) -> Counts {
        let mut counts = Counts::default();
        for case in &report.cases {
            *match case.result.verdict {
                CaseVerdict::Pass => &mut counts.pass,
                CaseVerdict::Warn => &mut counts.warn,
                CaseVerdict::Fail => &mut counts.fail,
                CaseVerdict::NotRun => &mut counts.not_run,
                CaseVerdict::Error => &mut counts.error,
            } += 1;
        }
        counts
    }

    /// `12 passed, 1 warned, 1 failed, 2 not run, 0 errors`.
    fn line(self) -> String {
        let errors = if self.error == 1 { "error" } else { "errors" };
        format!(
            "{} passed, {} warned, {} failed, {} not run, {} {errors}",
            self.pass, self.warn, self.fail, self.not_run, self.error
        )
    }
}

/// The last `n` lines of a captured output, trailing blank lines aside.
fn tail(text: &str, n: usize) -> Vec<&str> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// A measured value as one line, or as several for a multi-line string (a snapshot diff).
fn measured_lines(key: &str, value: &Value) -> Vec<String> {
    match value {
        Value::String(s) if s.contains('\n') => {
            let mut lines = vec![format!("{key}:")];
            lines.extend(s.trim_end().lines().map(|l| format!("  | {l}")));
            lines
        }
        Value::String(s) => vec![format!("{key} = {s}")],
        other => vec![format!("{key} = {other}")],
    }
}

/// The plain-text details of a case a user needs to act on it: the explanation, every
/// finding (`RULE: expected X; received Y` and its detail), the measured values, how the
/// client ended and its last lines of stderr and stdout. Shared by the console (indented)
/// and JUnit (as a failure's text).
fn details(case: &CaseReport) -> Vec<String> {
    let result = &case.result;
    let mut out = vec![format!("why: {}", result.explanation)];
    for finding in &result.findings {
        let assumed = if finding.assumed { " (assumed)" } else { "" };
        out.push(format!(
            "finding: [{}] {}{assumed}: expected {}; received {}",
            label(CaseVerdict::of(finding.outcome)),
            finding.rule,
            finding.expected,
            finding.received
        ));
        out.extend(finding.detail.lines().map(|l| format!("    {l}")));
    }
    for (key, value) in &result.measured {
        let mut lines = measured_lines(key, value).into_iter();
        if let Some(first) = lines.next() {
            out.push(format!("measured: {first}"));
        }
        out.extend(lines.map(|l| format!("    {l}")));
    }
    if let Some(client) = &result.client {
        let ended = match client.exit_code {
            Some(code) => format!("exit code {code}"),
            None => "ended by a signal".to_string(),
        };
        let stopped = if client.stopped_by_suite { ", stopped by the suite" } else { "" };
        out.push(format!("client: {ended}{stopped}: {}", client.command));
        for (name, text) in [("stderr", &client.stderr_tail), ("stdout", &client.stdout_tail)] {
            let lines = tail(text, TAIL_LINES);
            if lines.is_empty() {
                out.push(format!("{name}: (empty)"));
            } else {
                let last =
                    if lines.len() == 1 { "last line".to_string() } else { format!("last {} lines", lines.len()) };
                out.push(format!("{name} ({last}):"));
                out.extend(lines.iter().map(|l| format!("  | {l}")));
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod fixtures;

#[cfg(test)]
mod tests {
    use super::*;
    use fixtures::*;

    #[test]
    fn report_exit_code_follows_fail_on() {
        let mut report = sample_report();
        assert_eq!(exit_code(&report, FailOn::Fail), 2, "an error makes the run incomplete");
        report.cases.retain(|c| c.result.verdict != CaseVerdict::Error);
        assert_eq!(exit_code(&report, FailOn::Fail), 1);
        assert_eq!(exit_code(&report, FailOn::Warn), 1);
        report.cases.retain(|c| c.result.verdict != CaseVerdict::Fail);
        assert_eq!(exit_code(&report, FailOn::Fail), 0, "a warning passes --fail-on fail");
        assert_eq!(exit_code(&report, FailOn::Warn), 1, "a warning fails --fail-on warn");
        report.cases.retain(|c| c.result.verdict != CaseVerdict::Warn);
        assert_eq!(exit_code(&report, FailOn::Warn), 0);
        report.cases.retain(|c| c.result.verdict == CaseVerdict::NotRun);
        assert_eq!(exit_code(&report, FailOn::Warn), 0, "not-run cases never fail a run");
    }

    #[test]
    fn report_fail_on_parses_from_the_command_line() {
        use clap::ValueEnum;
        assert_eq!(FailOn::from_str("warn", false), Ok(FailOn::Warn));
        assert_eq!(FailOn::from_str("fail", false), Ok(FailOn::Fail));
        assert!(FailOn::from_str("pass", false).is_err());
        assert_eq!(FailOn::default(), FailOn::Fail);
    }

    #[test]
    fn report_orders_cases_by_rule_then_case_then_transport() {
        let report = sample_report();
        let order: Vec<String> = ordered(&report).iter().map(|c| format!("{}[{}]", c.case, c.transport)).collect();
        assert_eq!(
            order,
            [
                "securemode[ws]",
                "securemode[wss]",
                "securemode[tcp]",
                "securemode[tls]",
                "keepalive-range[tcp]",
                "ping-idle[ws]",
                "tls-verify[wss]",
                "odd-rule[tcp]"
            ]
        );
        assert_eq!(rule_order(&report).last(), Some(&"C-ODD"), "unknown rules come after the client rules");
    }

    #[test]
    fn report_counts_and_tail() {
        let counts = Counts::of(&sample_report());
        assert_eq!(counts, Counts { pass: 3, warn: 1, fail: 1, not_run: 2, error: 1 });
        assert_eq!(counts.line(), "3 passed, 1 warned, 1 failed, 2 not run, 1 error");
        assert_eq!(tail("a\nb\nc\n\n", 2), ["b", "c"]);
        assert!(tail(" \n", 2).is_empty());
    }

    #[test]
    fn report_details_carry_findings_measured_and_output_tail() {
        let report = sample_report();
        let fail = report.cases.iter().find(|c| c.result.verdict == CaseVerdict::Fail).unwrap();
        let text = details(fail).join("\n");
        assert!(text.contains("finding: [FAIL] A-KEEPALIVE (assumed): expected 30..=1200 s; received 0 s"), "{text}");
        assert!(text.contains("    keepalive 0 disables the timer"), "{text}");
        assert!(text.contains("measured: keepalive_declared = 0"), "{text}");
        assert!(text.contains("client: exit code 1: "), "{text}");
        assert!(text.contains("  | stderr line 15"), "{text}");
        assert!(!text.contains("stderr line 05"), "only the last {TAIL_LINES} lines: {text}");
    }
}
