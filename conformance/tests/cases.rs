//! The cases run end to end against real client programs (`tests/clients/`): a small
//! conformant Python client with switches that break (or limit) one thing each, and a shell
//! script that gives up at once. Real sockets on port 0, real child processes, real time.
//!
//! The fixture clients (`fixtures/`) are the full self-test; these only check the runner and
//! the cases' judgements. On failure, every assertion dumps the row: verdict, findings,
//! measured values, the client's command and output, the broker's transcript.

mod support;

use conformance::child::ClientCommand;
use conformance::model::CaseReport;
use conformance::outcome::CaseVerdict::{self, Fail, NotRun, Pass};
use conformance::runner::{self, RunConfig, SuiteProfile};
use mock_broker::auth::SignMethod;
use mock_broker::{Transport, render};
use std::time::Duration;
use support::{config, python_client, script};

/// Runs the configuration; every row.
pub async fn run(config: &RunConfig) -> Vec<CaseReport> {
    runner::run(config, |_| {}).await.expect("the run is planned")
}

/// The row of `case` on `transport`.
pub fn row<'r>(reports: &'r [CaseReport], case: &str, transport: Transport) -> &'r CaseReport {
    reports.iter().find(|r| r.case == case && r.transport == transport).unwrap_or_else(|| {
        panic!("no row {case}[{transport}] in {:?}", reports.iter().map(|r| (&r.case, r.transport)).collect::<Vec<_>>())
    })
}

/// Everything about a row, for a failure message.
pub fn dump(report: &CaseReport) -> String {
    let r = &report.result;
    let mut text = format!(
        "\n=== {}[{}]: {} ({} ms)\nwhy: {}\n",
        report.case,
        report.transport,
        r.verdict.name(),
        report.duration_ms,
        r.explanation
    );
    for f in &r.findings {
        text.push_str(&format!(
            "finding: {:?} {}: expected {}; received {} {}\n",
            f.outcome, f.rule, f.expected, f.received, f.detail
        ));
    }
    text.push_str(&format!("measured: {}\n", serde_json::to_string(&r.measured).unwrap()));
    if let Some(c) = &r.client {
        text.push_str(&format!(
            "client: {} exit={:?} stopped={}\nstdout:\n{}stderr:\n{}",
            c.command, c.exit_code, c.stopped_by_suite, c.stdout_tail, c.stderr_tail
        ));
    }
    text.push_str("transcript:\n");
    for event in &r.transcript {
        text.push_str(&render::line(event));
        text.push('\n');
    }
    text.push_str("while stopping:\n");
    for event in &r.stopping {
        text.push_str(&render::line(event));
        text.push('\n');
    }
    text
}

/// Asserts the row's verdict, dumping the row when it differs.
pub fn assert_verdict(report: &CaseReport, verdict: CaseVerdict) {
    assert_eq!(report.result.verdict, verdict, "{}", dump(report));
}

fn text(report: &CaseReport) -> String {
    dump(report)
}

#[tokio::test]
async fn a_conformant_client_passes_every_case_over_tcp_and_tls() {
    let mut config = config(python_client(&[]), &[Transport::Tcp, Transport::Tls], &[]);
    config.suite = SuiteProfile::Quick;
    let reports = run(&config).await;
    for case in ["securemode", "sign", "username", "client-id", "keepalive"] {
        for transport in [Transport::Tcp, Transport::Tls] {
            let report = row(&reports, case, transport);
            assert_verdict(report, Pass);
            assert!(!report.result.findings.is_empty(), "{}", text(report));
        }
    }
    for case in ["tls-untrusted-ca", "tls-expired", "tls-wrong-host"] {
        let report = row(&reports, case, Transport::Tls);
        assert_verdict(report, Pass);
        assert!(report.result.explanation.contains("the handshake failed"), "{}", text(report));
    }
    let keepalive = row(&reports, "keepalive", Transport::Tcp);
    assert_eq!(keepalive.result.measured["keepalive_declared"], 300, "the hint: {}", text(keepalive));
    let sign = row(&reports, "sign", Transport::Tls);
    let runs = sign.result.measured["sign_runs"].as_array().unwrap();
    let declared: Vec<&str> = runs.iter().map(|r| r["sign_method_declared"].as_str().unwrap()).collect();
    assert_eq!(declared, ["hmacmd5", "hmacsha1", "hmacsha256"], "{}", text(sign));
    assert_eq!(sign.result.findings.len(), 9, "three verdicts per sign method: {}", text(sign));
    let securemode = row(&reports, "securemode", Transport::Tls);
    assert_eq!(securemode.result.explanation, "A-SECUREMODE: securemode=2", "{}", text(securemode));
    assert!(!securemode.result.transcript.is_empty());
    let client = securemode.result.client.as_ref().unwrap();
    assert!(
        client.stopped_by_suite && client.stdout_tail.contains("connecting to tls://localhost:"),
        "{}",
        text(securemode)
    );
    assert_verdict(row(&reports, "ping", Transport::Tcp), NotRun);
    let websocket = row(&reports, "websocket", Transport::Tcp);
    assert_eq!(websocket.result.explanation, "applies over ws, wss only; this run covers tcp, tls");
}

#[tokio::test]
async fn over_websocket_the_subprotocol_and_binary_frames_pass() {
    let config = config(python_client(&[]), &[Transport::Ws, Transport::Wss], &["websocket", "tls-expired"]);
    let reports = run(&config).await;
    for transport in [Transport::Ws, Transport::Wss] {
        let report = row(&reports, "websocket", transport);
        assert_verdict(report, Pass);
        assert_eq!(report.result.measured["subprotocol_echoed"], "mqtt", "{}", text(report));
        let rules: Vec<&str> = report.result.findings.iter().map(|f| f.rule.id()).collect();
        assert_eq!(rules, ["T-WS-SUBPROTO", "T-WS"], "{}", text(report));
    }
    assert_verdict(row(&reports, "tls-expired", Transport::Wss), Pass);
}

#[tokio::test]
async fn websocket_fails_a_client_offering_no_subprotocol_or_sending_text_frames() {
    let none = run(&config(python_client(&["--subprotocol", ""]), &[Transport::Ws], &["websocket"])).await;
    let report = row(&none, "websocket", Transport::Ws);
    assert_verdict(report, Fail);
    assert!(
        report.result.explanation.starts_with("T-WS-SUBPROTO: expected mqtt or mqttv3.1 offered; received none"),
        "{}",
        text(report)
    );
    let text_frames = run(&config(python_client(&["--text-frames"]), &[Transport::Wss], &["websocket"])).await;
    let report = row(&text_frames, "websocket", Transport::Wss);
    assert_verdict(report, Fail);
    assert!(
        report.result.findings.iter().any(|f| f.rule.id() == "T-WS" && f.received.contains("text frame")),
        "{}",
        text(report)
    );
}

#[tokio::test]
async fn a_wrong_securemode_fails_its_case_with_the_broker_explanation_and_blocks_later_rules() {
    let config = config(
        python_client(&["--securemode", "2"]),
        &[Transport::Tcp],
        &["securemode", "username", "sign", "keepalive"],
    );
    let reports = run(&config).await;
    let securemode = row(&reports, "securemode", Transport::Tcp);
    assert_verdict(securemode, Fail);
    let finding = &securemode.result.findings[0];
    assert_eq!(
        (finding.rule.id(), finding.expected.as_ref(), finding.received.as_str()),
        ("A-SECUREMODE", "securemode=3 over tcp", "securemode=2")
    );
    assert!(securemode.result.explanation.contains("securemode=2 is for wss and tls"), "{}", text(securemode));
    let client = securemode.result.client.as_ref().unwrap();
    assert!(client.stderr_tail.contains("refused: CONNACK 0x02"), "{}", text(securemode));
    for case in ["username", "sign"] {
        let report = row(&reports, case, Transport::Tcp);
        assert_verdict(report, NotRun);
        assert!(
            report
                .result
                .explanation
                .contains("not reached: the broker refused the CONNECT at A-SECUREMODE (CONNACK 0x02)"),
            "{}",
            text(report)
        );
    }
    assert_verdict(row(&reports, "keepalive", Transport::Tcp), Pass);
}

#[tokio::test]
async fn a_keepalive_outside_the_range_fails_only_the_keepalive_case() {
    let config = config(python_client(&["--keepalive", "15"]), &[Transport::Tcp], &["keepalive", "securemode"]);
    let reports = run(&config).await;
    let keepalive = row(&reports, "keepalive", Transport::Tcp);
    assert_verdict(keepalive, Fail);
    assert!(
        keepalive.result.explanation.starts_with("A-KEEPALIVE (assumed): expected 30..=1200 s; received 15 s"),
        "{}",
        text(keepalive)
    );
    assert_eq!(keepalive.result.measured["keepalive_declared"], 15);
    assert_verdict(row(&reports, "securemode", Transport::Tcp), Pass);
}

#[tokio::test]
async fn a_client_that_exits_at_once_fails_with_its_last_words_and_no_secret() {
    let client = ClientCommand { program: script("exits_at_once.sh"), args: vec![] };
    let reports = run(&config(client, &[Transport::Ws], &["securemode"])).await;
    let report = row(&reports, "securemode", Transport::Ws);
    assert_verdict(report, Fail);
    let why = &report.result.explanation;
    assert!(
        why.starts_with("the client exited (exit code 3) before sending a CONNECT; it never connected to the broker"),
        "{}",
        text(report)
    );
    assert!(
        why.ends_with("its last output: fatal: cannot parse IOT_URL=ws://127.0.0.1:") || why.contains("(secret ***)"),
        "{}",
        text(report)
    );
    let client = report.result.client.as_ref().unwrap();
    assert_eq!(client.exit_code, Some(3));
    assert!(!client.stopped_by_suite);
    assert!(client.stdout_tail.starts_with("starting with secret ***\n"), "{}", text(report));
    assert!(client.stderr_tail.ends_with("(secret ***)\n"), "{}", text(report));
}

#[tokio::test]
async fn a_client_that_never_connects_fails_after_the_connect_timeout() {
    let client = ClientCommand { program: "sh".into(), args: vec!["-c".into(), "echo waiting; exec sleep 30".into()] };
    let mut config = config(client, &[Transport::Tcp], &["username"]);
    config.timing.connect = Duration::from_secs(1);
    let reports = run(&config).await;
    let report = row(&reports, "username", Transport::Tcp);
    assert_verdict(report, Fail);
    assert_eq!(
        report.result.explanation,
        "no CONNECT within 1 s; it never connected to the broker; its last output: waiting"
    );
    assert!(report.duration_ms < 5000, "{}", text(report));
}

#[tokio::test]
async fn a_client_that_ignores_sigterm_is_killed_and_the_case_still_judges_it() {
    let reports = run(&config(python_client(&["--ignore-term"]), &[Transport::Tcp], &["client-id"])).await;
    let report = row(&reports, "client-id", Transport::Tcp);
    assert_verdict(report, Pass);
    assert_eq!(report.result.measured["client_stop"], "SIGKILL after 1 s grace", "{}", text(report));
    let client = report.result.client.as_ref().unwrap();
    assert_eq!((client.exit_code, client.stopped_by_suite), (None, true));
}

#[tokio::test]
async fn a_client_configured_by_placeholders_gets_every_value() {
    let args = [
        "--no-env",
        "--url",
        "{url}",
        "--product-key",
        "{product_key}",
        "--device-name",
        "{device_name}",
        "--device-secret",
        "{device_secret}",
        "--client-id",
        "{client_id}",
        "--sign-method",
        "{sign_method}",
        "--ca-file",
        "{ca_file}",
        "--stay",
        "{stay_seconds}",
        "--keepalive",
        "{keepalive}",
    ];
    let mut config = config(python_client(&args), &[Transport::Tls], &["sign", "username"]);
    config.sign_methods = vec![SignMethod::HmacSha256];
    let reports = run(&config).await;
    assert_verdict(row(&reports, "username", Transport::Tls), Pass);
    let sign = row(&reports, "sign", Transport::Tls);
    assert_verdict(sign, Pass);
    assert_eq!(sign.result.measured["sign_method_declared"], "hmacsha256", "{}", text(sign));
    let command = &sign.result.client.as_ref().unwrap().command;
    assert!(command.contains("--device-secret '***'") || command.contains("--device-secret ***"), "{command}");
    assert!(command.contains("--url tls://localhost:"), "{command}");
}

#[tokio::test]
async fn tls_verify_cases_fail_a_client_that_accepts_any_certificate() {
    let config = config(
        python_client(&["--insecure"]),
        &[Transport::Tls],
        &["tls-untrusted-ca", "tls-expired", "tls-wrong-host"],
    );
    let reports = run(&config).await;
    for case in ["tls-untrusted-ca", "tls-expired", "tls-wrong-host"] {
        let report = row(&reports, case, Transport::Tls);
        assert_verdict(report, Fail);
        assert!(report.result.explanation.starts_with("the client accepted a certificate"), "{}", text(report));
        assert_eq!(report.result.findings[0].rule.id(), "T-TLS");
    }
}

#[tokio::test]
async fn ping_passes_a_client_pinging_within_its_keepalive_and_states_the_intervals() {
    let config = config(python_client(&["--keepalive", "2", "--ping-every", "0.5"]), &[Transport::Tcp], &["ping"]);
    let reports = run(&config).await;
    let report = row(&reports, "ping", Transport::Tcp);
    assert_verdict(report, Pass);
    let measured = &report.result.measured;
    assert_eq!(
        (measured["keepalive_declared"].as_u64(), measured["window_s"].as_f64()),
        (Some(2), Some(4.5)),
        "{}",
        text(report)
    );
    let intervals: Vec<f64> =
        measured["ping_intervals_s"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(intervals.len() >= 6 && intervals.iter().all(|i| *i < 1.0), "{}", text(report));
    assert!(measured["pingreq_count"].as_u64().unwrap() >= 6);
}

#[tokio::test]
async fn ping_fails_a_client_that_never_pings_or_pings_later_than_its_keepalive() {
    let never = config(python_client(&["--keepalive", "2", "--ping-every", "0"]), &[Transport::Tcp], &["ping"]);
    let late = config(python_client(&["--keepalive", "4", "--ping-every", "5"]), &[Transport::Ws], &["ping"]);
    let (never, late) = tokio::join!(run(&never), run(&late));
    let report = row(&never, "ping", Transport::Tcp);
    assert_verdict(report, Fail);
    assert!(report.result.explanation.starts_with("cut 3.0"), "{}", text(report));
    assert!(
        report.result.explanation.contains(" s after CONNACK: K-TIMEOUT: expected a packet within 1.5 x 2 s"),
        "{}",
        text(report)
    );
    assert_eq!(report.result.findings[0].rule.id(), "K-TIMEOUT");
    let report = row(&late, "ping", Transport::Ws);
    assert_verdict(report, Fail);
    let finding = &report.result.findings[0];
    assert_eq!(finding.rule.id(), "K-TIMER", "{}", text(report));
    assert!(
        finding.received.starts_with("5") && finding.received.contains("s without a packet, from 0 s"),
        "{}",
        text(report)
    );
}

#[tokio::test]
async fn ping_is_not_run_when_the_declared_keepalive_needs_more_than_the_budget() {
    let reports = run(&config(python_client(&["--keepalive", "300"]), &[Transport::Tcp], &["ping"])).await;
    let report = row(&reports, "ping", Transport::Tcp);
    assert_verdict(report, NotRun);
    assert_eq!(
        report.result.explanation,
        "declared keepalive 300 s: measuring C-PING takes 605 s (2 x keepalive + margin), over the timer budget of 20 s \
         (--timer-budget); the client did not honour IOT_KEEPALIVE=30"
    );
    assert!(report.duration_ms < 5000, "{}", text(report));
}

/// The sign method a row asked its client for.
fn asked(report: &CaseReport) -> &str {
    report.result.measured["sign_method_asked"].as_str().unwrap_or_else(|| panic!("{}", text(report)))
}

#[tokio::test]
async fn a_client_signing_one_method_whatever_it_declares_fails_sign_only_and_the_other_cases_use_a_method_that_works()
{
    // As an SDK did: declares what IOT_SIGN_METHOD asks, computes hmacsha1 (or hmacsha256).
    let cases = ["sign", "keepalive", "username"];
    let sha1 = config(python_client(&["--sign-with", "hmacsha1"]), &[Transport::Tcp], &cases);
    let pinging = ["--sign-with", "hmacsha256", "--keepalive", "2", "--ping-every", "0.5"];
    let sha256 = config(python_client(&pinging), &[Transport::Ws], &["ping"]);
    let (sha1, sha256) = tokio::join!(run(&sha1), run(&sha256));
    let sign = row(&sha1, "sign", Transport::Tcp);
    assert_verdict(sign, Fail);
    let verdicts: Vec<&str> =
        sign.result.measured["sign_runs"].as_array().unwrap().iter().map(|r| r["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["fail", "pass", "fail"], "{}", text(sign));
    for case in ["keepalive", "username"] {
        let report = row(&sha1, case, Transport::Tcp);
        assert_verdict(report, Pass);
        assert_eq!(asked(report), "hmacsha1", "hmacsha1 is tried first: {}", text(report));
        assert!(!report.result.explanation.contains("asked for"), "nothing passed over: {}", text(report));
    }
    // ping needs the client online: hmacsha1 and hmacmd5 are refused, hmacsha256 gets through.
    let ping = row(&sha256, "ping", Transport::Ws);
    assert_verdict(ping, Pass);
    assert_eq!(asked(ping), "hmacsha256", "{}", text(ping));
    assert!(
        ping.result.explanation.ends_with(
            "(asked for hmacsha256: hmacsha1 was refused at A-SIGN-HEX (the case sign says why); hmacmd5 was \
             refused at A-SIGN-HEX (the case sign says why))"
        ),
        "{}",
        text(ping)
    );
}

#[tokio::test]
async fn a_client_supporting_one_sign_method_gets_not_run_for_the_others_and_no_failure() {
    let cases = ["sign", "keepalive", "client-id", "securemode"];
    let only = config(python_client(&["--only-sign-method", "hmacsha1"]), &[Transport::Tcp], &cases);
    let mut md5 = config(python_client(&["--only-sign-method", "hmacsha1"]), &[Transport::Tcp], &["keepalive"]);
    md5.sign_methods = vec![SignMethod::HmacMd5];
    let exit3 = ["--only-sign-method", "hmacsha256", "--unsupported-exit", "3"];
    let exit3 = config(python_client(&exit3), &[Transport::Tcp], &["sign", "keepalive"]);
    let (only, md5, exit3) = tokio::join!(run(&only), run(&md5), run(&exit3));
    for report in &only {
        assert!(!matches!(report.result.verdict, Fail | CaseVerdict::Error), "{}", text(report));
    }
    let sign = row(&only, "sign", Transport::Tcp);
    assert_verdict(sign, Pass);
    let runs = sign.result.measured["sign_runs"].as_array().unwrap();
    let verdicts: Vec<&str> = runs.iter().map(|r| r["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["not-run", "pass", "not-run"], "{}", text(sign));
    assert!(
        sign.result.explanation.contains(
            "hmacmd5: unsupported: the client exited with code 77 before connecting when asked for hmacmd5; connected \
             with hmacsha1: if it supports only hmacsha1, say so with `--sign-method hmacsha1` or `sign_methods = \
             [\"hmacsha1\"]` in --client-profile"
        ),
        "{}",
        text(sign)
    );
    for case in ["keepalive", "client-id", "securemode"] {
        let report = row(&only, case, Transport::Tcp);
        assert_verdict(report, Pass);
        assert_eq!(asked(report), "hmacsha1", "{}", text(report));
    }
    // Asked only for a method it does not support: unsupported, not broken.
    let keepalive = row(&md5, "keepalive", Transport::Tcp);
    assert_verdict(keepalive, NotRun);
    assert!(
        keepalive.result.explanation.starts_with(
            "unsupported: the client exited with code 77 before connecting when asked for hmacmd5 over tcp; its last \
             output: unsupported sign method hmacmd5: only hmacsha1"
        ),
        "{}",
        text(keepalive)
    );
    // Another exit code: the methods it exits on are not run when another one connects.
    let sign = row(&exit3, "sign", Transport::Tcp);
    assert_verdict(sign, Pass);
    assert!(
        sign.result.explanation.contains(
            "hmacmd5: the client exited with code 3 before connecting when asked for hmacmd5; connected with hmacsha256"
        ),
        "{}",
        text(sign)
    );
    let keepalive = row(&exit3, "keepalive", Transport::Tcp);
    assert_verdict(keepalive, Pass);
    assert_eq!(asked(keepalive), "hmacsha256", "{}", text(keepalive));
    assert!(
        keepalive.result.explanation.contains(
            "(asked for hmacsha256: the client exited with code 3 before connecting when asked for hmacsha1; the \
             client exited with code 3 before connecting when asked for hmacmd5)"
        ),
        "{}",
        text(keepalive)
    );
}

#[tokio::test]
async fn a_generated_device_name_breaking_a_cli_clients_username_is_a_c_username_failure() {
    // A client configured by flags whose parser loses a value starting with '-' (a generated
    // deviceName may start so): its username is then "&productKey".
    let args = [
        "--no-env",
        "--url={url}",
        "--product-key={product_key}",
        "--device-name={device_name}",
        "--device-secret={device_secret}",
        "--client-id={client_id}",
        "--sign-method={sign_method}",
        "--stay={stay_seconds}",
        "--keepalive={keepalive}",
        "--lose-dash-values",
    ];
    let dir = tempfile::tempdir().unwrap();
    let seeds = conformance::cases::sign_property::seeds_file(dir.path(), "dash-client");
    let mut config = config(python_client(&args), &[Transport::Tcp], &["username", "sign", "client-id"]);
    config.sign_methods = vec![SignMethod::HmacSha1];
    // The 7th generated identity's deviceName starts with '-'.
    config.sign_property.cases = 8;
    config.sign_property.seeds = Some(seeds.clone());
    let reports = run(&config).await;
    let username = row(&reports, "username", Transport::Tcp);
    assert_verdict(username, Fail);
    assert!(username.result.explanation.starts_with("A-USERNAME: expected "), "{}", text(username));
    let failing = &username.result.measured["failing_identity"];
    let device_name = failing["device_name"].as_str().unwrap();
    assert!(device_name.starts_with('-') && device_name.len() == 4, "shrunk, the '-' kept: {}", text(username));
    let saved = std::fs::read_to_string(&seeds).expect("the seed is saved");
    assert!(saved.contains("\"case\": \"username\"") && saved.contains(device_name), "{saved}");
    // The sign case does not judge that identity: the username case does.
    let sign = row(&reports, "sign", Transport::Tcp);
    assert_verdict(sign, Pass);
    let not_judged = sign.result.measured["identities_not_judged"].as_array().unwrap();
    assert!(
        not_judged.iter().all(|n| n["why"] == "refused at A-USERNAME, which the case username judges"),
        "{}",
        text(sign)
    );
    assert!(not_judged.iter().all(|n| n["device_name"].as_str().unwrap().starts_with('-')), "{}", text(sign));
    assert_verdict(row(&reports, "client-id", Transport::Tcp), Pass);
}
