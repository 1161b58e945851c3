//! Hand-built reports for the output tests: one of each verdict (pass, warn, fail with
//! findings and output tail, not-run with its reason, error), over the four transports, with
//! client rule IDs (C-SECUREMODE, C-KEEPALIVE, C-PING, C-TLS-VERIFY) plus one rule outside
//! [`CLIENT_RULES`](super::coverage::CLIENT_RULES).

use crate::model::{CaseReport, RunReport, Severity};
use crate::outcome::{CaseResult, CaseVerdict, ClientRun};
use mock_broker::{Rule, Transport, Verdict};
use serde_json::json;
use std::collections::BTreeMap;

/// The explanation of the failing case, with the characters XML must escape.
pub const FAIL_EXPLANATION: &str = "keepalive 0 is outside 30..=1200 s: the client sent \"0\" & got <CONNACK 0x02>";

fn case(
    case: &str,
    rule: &str,
    platform: &[&str],
    transport: Transport,
    duration_ms: u64,
    result: CaseResult,
) -> CaseReport {
    CaseReport {
        case: case.to_string(),
        title: format!("the {case} case"),
        client_rule: rule.to_string(),
        platform_rules: platform.iter().map(|r| r.to_string()).collect(),
        severity: if rule == "C-PING" { Severity::Should } else { Severity::Must },
        transport,
        duration_ms,
        result,
    }
}

fn ran(
    verdict: CaseVerdict,
    explanation: &str,
    findings: Vec<Verdict>,
    measured: &[(&str, serde_json::Value)],
) -> CaseResult {
    CaseResult {
        verdict,
        explanation: explanation.to_string(),
        findings,
        measured: measured.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
        client: Some(ClientRun {
            command: "./client --url ws://127.0.0.1:1883 --secret ***".to_string(),
            exit_code: Some(0),
            stopped_by_suite: true,
            stdout_tail: "connected\n".to_string(),
            stderr_tail: String::new(),
        }),
        transcript: Vec::new(),
        stopping: Vec::new(),
        identities: Vec::new(),
    }
}

fn securemode(transport: Transport) -> CaseReport {
    let declared = transport.expected_securemode();
    let result = ran(
        CaseVerdict::Pass,
        &format!("declared securemode={declared} over {transport}"),
        vec![Verdict::pass(
            Rule::ASecuremode,
            format!("securemode={declared} over {transport}"),
            format!("securemode={declared}"),
        )],
        &[("securemode_declared", json!(declared))],
    );
    case("securemode", "C-SECUREMODE", &["A-SECUREMODE"], transport, 400 + transport as u64 * 10, result)
}

/// A run with every kind of verdict.
pub fn sample_report() -> RunReport {
    let stderr: String = (1..=15).map(|i| format!("stderr line {i:02}\n")).collect();
    let mut fail = ran(
        CaseVerdict::Fail,
        FAIL_EXPLANATION,
        vec![
            Verdict::fail(Rule::AKeepalive, "30..=1200 s", "0 s")
                .with_detail("keepalive 0 disables the timer\nthe platform refuses it"),
        ],
        &[("keepalive_declared", json!(0))],
    );
    fail.client = Some(ClientRun {
        command: "./client --url tcp://127.0.0.1:1883 --secret ***".to_string(),
        exit_code: Some(1),
        stopped_by_suite: false,
        stdout_tail: "connecting\nrefused: 2\n".to_string(),
        stderr_tail: stderr,
    });
    let warn = ran(
        CaseVerdict::Warn,
        "pinged at 0.99 x keepalive: tolerated, but the cut is close",
        vec![Verdict::warn(Rule::KTimer, "a packet within every keepalive interval", "59.8 s and 60.2 s of silence")],
        &[("keepalive_declared", json!(60)), ("ping_intervals_s", json!([59.8, 60.2]))],
    );
    let mut tls_not_claimed = CaseResult::not_run("not claimed by the client: no TLS support");
    tls_not_claimed.measured.insert("claimed".to_string(), json!(["ws", "wss", "tcp"]));
    RunReport {
        client: "demo-client".to_string(),
        command: "./client --url {url} --secret {secret}".to_string(),
        profile: "quick".to_string(),
        transports: Transport::ALL.to_vec(),
        started_unix_ms: 1_700_000_000_000,
        duration_ms: 12_345,
        cases: vec![
            securemode(Transport::Ws),
            case("ping-idle", "C-PING", &["K-TIMER", "K-TIMEOUT"], Transport::Ws, 61_200, warn),
            securemode(Transport::Wss),
            case("keepalive-range", "C-KEEPALIVE", &["A-KEEPALIVE"], Transport::Tcp, 1_500, fail),
            securemode(Transport::Tcp),
            case(
                "tls-verify",
                "C-TLS-VERIFY",
                &["T-WSS", "T-TLS"],
                Transport::Wss,
                3,
                CaseResult::error("could not spawn the client: No such file or directory (os error 2)"),
            ),
            case("odd-rule", "C-ODD", &[], Transport::Tcp, 0, CaseResult::not_run("left out by the quick profile")),
            {
                let mut tls = securemode(Transport::Tls);
                tls.result = tls_not_claimed;
                tls.duration_ms = 0;
                tls
            },
        ],
        coverage: Vec::new(),
    }
}

/// [`sample_report`] with its coverage computed, as the runner hands it to the outputs.
pub fn sample_with_coverage() -> RunReport {
    let mut report = sample_report();
    report.coverage =
        super::coverage::compute(&report, &["C-SECUREMODE", "C-KEEPALIVE", "C-PING", "C-TLS-VERIFY", "C-WS"]);
    report
}
