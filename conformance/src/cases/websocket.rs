//! `websocket` (C-WS): over ws and wss the client offers the subprotocol `mqtt` (or
//! `mqttv3.1`) and sends MQTT in binary frames (T-WS-SUBPROTO, T-WS).
//!
//! The case watches the first connection through its handshake, CONNECT and CONNACK, then
//! the settle time for packets that follow (a client may switch to text frames only after
//! CONNECT), or until it closes.
//!
//! Interpretations:
//! - Offering no MQTT subprotocol fails the case. The broker only warns, as the platform
//!   accepts it, but C-WS asks for the offer: Paho Java and servers other than the platform
//!   fail the handshake without it. The broker's warning is the finding.
//! - A text frame fails (the broker closes the connection, naming T-WS); the finding is built
//!   from that close. A text frame that is not valid UTF-8 (MQTT bytes sent as text often are
//!   not) is refused by the WebSocket layer as a transport error naming UTF-8; it counts as a
//!   text frame too.
//! - Binary frames pass once at least one MQTT packet arrived and no connection was closed
//!   for a text frame.

use super::CaseContext;
use super::harness::{Conclusion, Finished, Harness, Setup, Step, explain, text_frame};
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::{EventKind, Outcome, Rule, Verdict};
use serde_json::json;
use tokio::time::Instant;

/// The platform rules `websocket` judges.
const RULES: &[Rule] = &[Rule::TWsSubproto, Rule::TWs];
const BINARY: &str = "MQTT packets in binary WebSocket frames";

/// Runs `websocket`.
pub async fn run(ctx: &CaseContext) -> CaseResult {
    let mut harness = match Harness::start(ctx, Setup::judging(ctx, RULES)).await {
        Ok(harness) => harness,
        Err(message) => return CaseResult::error(message),
    };
    let mut deadline = harness.spawned() + ctx.timing.connect;
    let mut first = None;
    loop {
        match harness.step(deadline).await {
            Step::Event(event) if *first.get_or_insert(event.conn) == event.conn => match event.kind {
                EventKind::Online { .. } => deadline = Instant::now() + ctx.timing.settle,
                EventKind::Closed { .. } => break,
                _ => {}
            },
            Step::Event(_) | Step::Exited => {}
            Step::Deadline => break,
        }
    }
    let finished = harness.finish().await;
    let conclusion = judge(&finished);
    finished.into_result(conclusion)
}

/// Judges the first connection's handshake and every connection's frames.
fn judge(finished: &Finished) -> Conclusion {
    let text_frame = finished.closes().find_map(|(conn, reason)| text_frame(reason).map(|what| (conn, what)));
    let handshake = finished.transcript.iter().find_map(|e| match &e.kind {
        EventKind::Handshake(h) => Some((e.conn, h.clone())),
        _ => None,
    });
    let Some((conn, handshake)) = handshake else {
        return Conclusion::new(CaseVerdict::Fail, finished.no_connect());
    };
    let mut findings = finished.verdicts_on(conn, &[Rule::TWsSubproto]);
    let packets =
        finished.events_of(conn).filter(|e| matches!(e.kind, EventKind::Connect(_) | EventKind::PacketIn(_))).count();
    let measured = [
        ("subprotocols_offered", json!(handshake.subprotocols)),
        ("subprotocol_echoed", json!(handshake.subprotocol)),
        ("ws_path", json!(handshake.ws_path)),
        ("ws_host", json!(handshake.host)),
        ("mqtt_packets_in", json!(packets)),
    ];
    let conclusion = if let Some((closed, message)) = text_frame {
        let finding = Verdict::fail(Rule::TWs, BINARY, format!("{message} on connection #{closed}"))
            .with_detail("the broker closed the connection");
        let text = explain(&finding);
        findings.push(finding);
        Conclusion::new(CaseVerdict::Fail, text)
    } else if let Some(warned) = findings.iter().find(|v| v.outcome != Outcome::Pass) {
        let text = format!(
            "{}; the platform tolerates this but C-WS asks for the offer: Paho Java and other servers fail the \
             handshake without it",
            explain(warned)
        );
        Conclusion::new(CaseVerdict::Fail, text)
    } else if packets == 0 {
        Conclusion::new(CaseVerdict::Fail, finished.no_connect())
    } else {
        let finding = Verdict::pass(Rule::TWs, BINARY, format!("{packets} MQTT packet(s), no text frame"));
        findings.push(finding);
        let received: Vec<String> = findings.iter().map(|v| format!("{}: {}", v.rule, v.received)).collect();
        Conclusion::new(CaseVerdict::Pass, received.join("; "))
    };
    measured.into_iter().fold(conclusion.with_findings(findings), |c, (k, v)| c.measure(k, v))
}
