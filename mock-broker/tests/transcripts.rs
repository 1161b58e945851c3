//! Snapshot tests (insta) of whole transcripts, as a user reads them: the readable lines of
//! the CLI and the JSON lines of `--json`. Ports and wall-clock times are redacted; the
//! paused-clock keepalive transcript keeps its exact times.

mod support;

use mock_broker::auth::vectors::{N1, V1};
use mock_broker::policy::KeepaliveCheck;
use mock_broker::{EventKind, Policy, Transport, render};
use support::*;

/// Readable lines with ports (and, unless `keep_times`, times) redacted.
fn lines(events: &[std::sync::Arc<mock_broker::Event>]) -> String {
    events.iter().map(|e| render::line(e)).collect::<Vec<_>>().join("\n")
}

fn settings(keep_times: bool) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"(127\.0\.0\.1|localhost):\d+", "$1:[port]");
    if !keep_times {
        settings.add_filter(r"(?m)^\s*\d+\.\d{3}s", "[time]");
    }
    settings
}

async fn transcript_of(
    transport: Transport,
    client_id: &str,
    username: &str,
    password: &str,
    keep_alive: u16,
) -> String {
    let mut tb = TestBroker::start().await;
    let attempt = tb.attempt(transport, &connect_bytes(client_id, username, password, keep_alive)).await;
    lines(&attempt.transcript)
}

#[tokio::test]
async fn accepted_doc_example_over_wss() {
    let mut tb = TestBroker::start().await;
    let attempt = tb.attempt(Transport::Wss, &doc_example(Transport::Wss)).await;
    settings(false).bind(|| insta::assert_snapshot!(lines(&attempt.transcript)));
}

#[tokio::test]
async fn refused_unsorted_signature_n1() {
    let text = transcript_of(
        Transport::Ws,
        "12345|securemode=3,signmethod=hmacsha1,timestamp=789|",
        "device&pk",
        N1.signature,
        60,
    )
    .await;
    settings(false).bind(|| insta::assert_snapshot!(text));
}

#[tokio::test]
async fn refused_securemode_over_tls() {
    let text = transcript_of(
        Transport::Tls,
        "12345|securemode=3,signmethod=hmacsha1,timestamp=789|",
        "device&pk",
        V1.signature,
        60,
    )
    .await;
    settings(false).bind(|| insta::assert_snapshot!(text));
}

#[tokio::test]
async fn refused_keepalive_zero_over_tcp() {
    let text = transcript_of(
        Transport::Tcp,
        "12345|securemode=3,signmethod=hmacsha1,timestamp=789|",
        "device&pk",
        V1.signature,
        0,
    )
    .await;
    settings(false).bind(|| insta::assert_snapshot!(text));
}

#[tokio::test(start_paused = true)]
async fn keepalive_cut_with_exact_times() {
    let mut tb = TestBroker::paused(Policy { keepalive_check: KeepaliveCheck::Exact, ..Policy::default() }).await;
    let attempt = tb.attempt(Transport::Ws, &doc_example(Transport::Ws)).await;
    let conn = attempt.transcript[0].conn;
    let rest = tb.until(conn, |k| matches!(k, EventKind::Closed { .. })).await;
    let all: Vec<_> = attempt.transcript.iter().chain(rest.iter()).cloned().collect();
    settings(true).bind(|| insta::assert_snapshot!(lines(&all)));
}

#[tokio::test]
async fn json_events_of_a_refusal() {
    let mut tb = TestBroker::start().await;
    let attempt = tb
        .attempt(
            Transport::Ws,
            &connect_bytes("12345|securemode=3,signmethod=hmacsha1,timestamp=789|", "nobody&pk", "00", 60),
        )
        .await;
    let events: Vec<_> = attempt.transcript.iter().map(|e| serde_json::to_value(&**e).unwrap()).collect();
    settings(false).bind(|| {
        insta::assert_json_snapshot!(events, {
            "[].at_ms" => "[ms]",
            "[].peer" => "[peer]",
            "[].host" => "[host]",
        })
    });
}
