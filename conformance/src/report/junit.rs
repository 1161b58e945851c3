//! `junit.xml` (quick-junit) for CI systems: Jenkins, GitLab and GitHub test reporters.
//!
//! Layout, chosen for how those render it:
//! - one `<testsuite>` per client rule (`C-SECUREMODE` ...), in the order of `CLIENT_RULES`:
//!   GitLab and the GitHub reporters list suites, so a run reads rule by rule; Jenkins groups
//!   by `classname`, which is the same rule ID;
//! - one `<testcase name="case[transport]" classname="C-RULE">` per case and transport;
//! - fail -> `<failure message="explanation" type="finding rules">` whose text is the findings,
//!   measured values and the client's last lines; error (the kit failed) -> `<error>`; not
//!   run -> `<skipped message="reason">`; warn -> a passed testcase whose `<system-out>` notes
//!   the warning and its findings (CI systems have no warning state);
//! - a client rule with no case in the run still gets an empty suite whose `coverage` property
//!   and `<system-out>` say why it was not exercised, so the CI view shows what was not checked.

use super::{details, label, rule_order};
use crate::model::{CaseReport, RunReport};
use crate::outcome::CaseVerdict;
use anyhow::Context;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file written into `--out DIR`.
pub const FILE_NAME: &str = "junit.xml";

/// The JUnit report of a run.
pub fn build(report: &RunReport) -> Report {
    let mut junit = Report::new(format!("conformance of {}", report.client));
    junit.set_time(Duration::from_millis(report.duration_ms));
    for rule in rule_order(report) {
        let mut suite = TestSuite::new(rule);
        suite.add_property(Property::new("client", &report.client));
        suite.add_property(Property::new("profile", &report.profile));
        let cases: Vec<&CaseReport> = super::ordered(report).into_iter().filter(|c| c.client_rule == rule).collect();
        if let Some(coverage) = report.coverage.iter().find(|c| c.rule == rule) {
            let text = match (coverage.verdict, coverage.reason.is_empty()) {
                (Some(verdict), true) => format!("exercised: {}", label(verdict)),
                (Some(verdict), false) => format!("exercised: {} ({})", label(verdict), coverage.reason),
                (None, _) => format!("not exercised: {}", coverage.reason),
            };
            if cases.is_empty() {
                suite.set_system_out(&text);
            }
            suite.add_property(Property::new("coverage", text));
        }
        suite.set_time(Duration::from_millis(cases.iter().map(|c| c.duration_ms).sum()));
        suite.add_test_cases(cases.into_iter().map(test_case));
        junit.add_test_suite(suite);
    }
    junit
}

fn test_case(case: &CaseReport) -> TestCase {
    let result = &case.result;
    let text = details(case).join("\n");
    let status = match result.verdict {
        CaseVerdict::Pass | CaseVerdict::Warn => TestCaseStatus::success(),
        CaseVerdict::Fail | CaseVerdict::Error => {
            let kind =
                if result.verdict == CaseVerdict::Fail { NonSuccessKind::Failure } else { NonSuccessKind::Error };
            let mut status = TestCaseStatus::non_success(kind);
            status.set_message(&result.explanation).set_description(&text);
            let rules: Vec<&str> = result.findings.iter().map(|f| f.rule.id()).collect();
            status.set_type(if rules.is_empty() { case.client_rule.clone() } else { rules.join(", ") });
            status
        }
        CaseVerdict::NotRun => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(&result.explanation);
            status
        }
    };
    let mut test = TestCase::new(format!("{}[{}]", case.case, case.transport), status);
    test.set_classname(&case.client_rule).set_time(Duration::from_millis(case.duration_ms));
    if result.verdict == CaseVerdict::Warn {
        test.set_system_out(format!("WARN ({}): {}", case.client_rule, text));
    }
    test
}

/// Writes `junit.xml` into `dir` (created if missing) and returns its path.
pub fn write(report: &RunReport, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(FILE_NAME);
    let xml = build(report).to_string().context("serializing the JUnit report")?;
    std::fs::write(&path, xml).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn parsed() -> (String, Report) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&sample_with_coverage(), dir.path()).unwrap();
        let xml = std::fs::read_to_string(path).unwrap();
        let report = Report::deserialize_from_str(&xml).unwrap_or_else(|e| panic!("{e:?}\n{xml}"));
        (xml, report)
    }

    fn case<'r>(report: &'r Report, name: &str) -> &'r TestCase {
        report
            .test_suites
            .iter()
            .flat_map(|s| &s.test_cases)
            .find(|c| c.name.as_str() == name)
            .unwrap_or_else(|| panic!("no testcase {name}"))
    }

    #[test]
    fn report_junit_parses_and_counts_match() {
        let (xml, report) = parsed();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"), "{xml}");
        assert_eq!((report.tests, report.failures, report.errors, report.skipped), (8, 1, 1, 2));
        assert_eq!(report.name.as_ref().unwrap().as_str(), "conformance of demo-client");
        assert_eq!(report.test_suites.len(), 16, "one suite per client rule, plus C-ODD");
        let securemode = &report.test_suites[0];
        assert_eq!(securemode.name.as_str(), "C-SECUREMODE");
        assert_eq!((securemode.tests, securemode.skipped, securemode.failures), (4, 1, 0));
        let names: Vec<&str> = securemode.test_cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["securemode[ws]", "securemode[wss]", "securemode[tcp]", "securemode[tls]"]);
        for case in report.test_suites.iter().flat_map(|s| &s.test_cases) {
            assert!(case.classname.as_ref().unwrap().as_str().starts_with("C-"), "{case:?}");
        }
    }

    #[test]
    fn report_junit_maps_each_verdict() {
        let (_, report) = parsed();
        match &case(&report, "keepalive-range[tcp]").status {
            TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, message, ty, description, .. } => {
                assert_eq!(message.as_ref().unwrap().as_str(), FAIL_EXPLANATION);
                assert_eq!(ty.as_ref().unwrap().as_str(), "A-KEEPALIVE");
                let text = description.as_ref().unwrap().as_str();
                assert!(text.contains("expected 30..=1200 s; received 0 s"), "{text}");
                assert!(text.contains("stderr line 15"), "{text}");
            }
            other => panic!("keepalive-range[tcp] is {other:?}"),
        }
        assert!(matches!(
            case(&report, "tls-verify[wss]").status,
            TestCaseStatus::NonSuccess { kind: NonSuccessKind::Error, .. }
        ));
        match &case(&report, "securemode[tls]").status {
            TestCaseStatus::Skipped { message, .. } => {
                assert_eq!(message.as_ref().unwrap().as_str(), "not claimed by the client: no TLS support")
            }
            other => panic!("securemode[tls] is {other:?}"),
        }
        let warn = case(&report, "ping-idle[ws]");
        assert!(matches!(warn.status, TestCaseStatus::Success { .. }));
        assert!(warn.system_out.as_ref().unwrap().as_str().starts_with("WARN (C-PING): why: pinged at 0.99"));
        assert_eq!(warn.time, Some(Duration::from_millis(61_200)));
        assert!(case(&report, "securemode[ws]").system_out.is_none());
    }

    #[test]
    fn report_junit_escapes_markup_in_messages() {
        let (xml, report) = parsed();
        assert!(xml.contains("&lt;CONNACK 0x02&gt;"), "{xml}");
        assert!(xml.contains("&amp; got"), "{xml}");
        assert!(xml.contains("&quot;0&quot;"), "{xml}");
        assert!(!xml.contains("<CONNACK"), "{xml}");
        let failure = &case(&report, "keepalive-range[tcp]").status;
        assert!(
            matches!(failure, TestCaseStatus::NonSuccess { message: Some(m), .. } if m.as_str() == FAIL_EXPLANATION)
        );
    }

    #[test]
    fn report_junit_shows_uncovered_rules_as_empty_suites() {
        let (_, report) = parsed();
        let sign = report.test_suites.iter().find(|s| s.name.as_str() == "C-SIGN").unwrap();
        assert_eq!(sign.tests, 0);
        assert_eq!(sign.system_out.as_ref().unwrap().as_str(), "not exercised: no case in this catalogue yet");
        let coverage = sign.properties.iter().find(|p| p.name.as_str() == "coverage").unwrap();
        assert_eq!(coverage.value.as_str(), "not exercised: no case in this catalogue yet");
        let keepalive = report.test_suites.iter().find(|s| s.name.as_str() == "C-KEEPALIVE").unwrap();
        let coverage = keepalive.properties.iter().find(|p| p.name.as_str() == "coverage").unwrap();
        assert_eq!(coverage.value.as_str(), "exercised: FAIL");
        assert!(keepalive.system_out.is_none());
        let securemode = &report.test_suites[0].properties[2];
        assert_eq!(
            securemode.value.as_str(),
            "exercised: PASS (partly exercised; not run: securemode[tls]: not claimed by the client: no TLS support)"
        );
    }
}
