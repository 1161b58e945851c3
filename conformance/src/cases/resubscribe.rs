//! `resubscribe` (C-RESUB): after a reconnect with session present 0 the client subscribes
//! again to what it had (S-CLEAN). Real time.
//!
//! The broker closes the connection right after answering the client's first SUBSCRIBE. On the
//! client's next connection the case checks CONNACK's session-present flag and watches for
//! [`WINDOW`] for its SUBSCRIBEs.
//!
//! Interpretations:
//! - Session present 1 (the client asked for cleanSession=0 and the broker kept its session):
//!   pass, it need not subscribe again.
//! - Session present 0: every filter of the first connection must be subscribed again; a
//!   missing one fails, naming it.
//! - A client that subscribes to nothing, or does not reconnect (C-RECONNECT's case says
//!   why), is not judged here.

use super::CaseContext;
use super::harness::{Conclusion, Finished, Harness, Setup, explain};
use super::reconnect::PATIENCE;
use super::secs;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::fault::{Fault, FaultSpec, Inbound, Trigger};
use mock_broker::{ConnId, EventKind, Rule, Verdict};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// The platform rule `resubscribe` judges.
pub const RULES: &[Rule] = &[Rule::SClean];
/// How long the client has to subscribe, on its first connection and on the next.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Runs `resubscribe`.
pub async fn run(ctx: &CaseContext) -> CaseResult {
    let mut setup = Setup::judging(ctx, RULES);
    setup.stay = ctx.timing.timer_budget + ctx.timing.settle;
    let first_subscribe = Trigger::AfterPackets { kind: Inbound::Subscribe, n: 1 };
    setup.faults = vec![FaultSpec::new(Fault::Close).trigger(first_subscribe).times(1)];
    let (mut harness, first) =
        match Harness::start_online(ctx, setup, "no reconnect could be watched", |_| Vec::new()).await {
            Ok(started) => started,
            Err(result) => return result,
        };
    let conn = first.conn;
    if let Some(again) = harness.next_online(conn, WINDOW, PATIENCE).await {
        let suback = |e: &mock_broker::Event| {
            e.conn == again && matches!(&e.kind, EventKind::PacketOut(p) if p.packet == "SUBACK")
        };
        harness.until(Instant::now() + WINDOW, suback).await;
        // Further SUBSCRIBEs may follow the first at once.
        harness.until(Instant::now() + Duration::from_millis(500), |_| false).await;
    }
    let finished = harness.finish().await;
    let conclusion = judge(&finished, conn);
    finished.into_result(conclusion)
}

/// The filters connection `conn` subscribed to, in order.
fn filters(finished: &Finished, conn: ConnId) -> Vec<String> {
    let mut filters: Vec<String> = Vec::new();
    for event in finished.events_of(conn) {
        if let EventKind::PacketIn(p) = &event.kind
            && p.packet == "SUBSCRIBE"
        {
            // Items read `filter (QoS n)`.
            for item in &p.items {
                let filter = item.rsplit_once(" (QoS").map_or(item.as_str(), |(f, _)| f).to_owned();
                if !filters.contains(&filter) {
                    filters.push(filter);
                }
            }
        }
    }
    filters
}

fn judge(finished: &Finished, conn: ConnId) -> Conclusion {
    let before = filters(finished, conn);
    if before.is_empty() {
        let text = format!("inconclusive: the client subscribed to nothing within {} s of CONNACK", secs(WINDOW));
        return Conclusion::new(CaseVerdict::NotRun, text);
    }
    let next = finished.transcript.iter().find_map(|e| match &e.kind {
        EventKind::Online { session_present, .. } if e.conn > conn => Some((e.conn, *session_present)),
        _ => None,
    });
    let Some((again, session_present)) = next else {
        let text = format!(
            "inconclusive: the client did not come back online within {} s after the broker closed the connection; \
             the case reconnect judges C-RECONNECT",
            secs(PATIENCE)
        );
        return Conclusion::new(CaseVerdict::NotRun, text).measure("subscribed", json!(before));
    };
    let after = filters(finished, again);
    let missing: Vec<&String> = before.iter().filter(|f| !after.contains(f)).collect();
    let expected = format!("after a reconnect with session present 0, SUBSCRIBE again to {}", before.join(", "));
    let conclusion = if session_present {
        let finding = Verdict::pass(Rule::SClean, expected, "session present 1: the broker kept the subscriptions");
        Conclusion::new(CaseVerdict::Pass, explain(&finding)).with_findings(vec![finding])
    } else if missing.is_empty() {
        let finding = Verdict::pass(Rule::SClean, expected, format!("subscribed again to {}", after.join(", ")));
        Conclusion::new(CaseVerdict::Pass, explain(&finding)).with_findings(vec![finding])
    } else {
        let received = if after.is_empty() {
            format!("no SUBSCRIBE within {} s of the new CONNACK (session present 0)", secs(WINDOW))
        } else {
            format!(
                "subscribed again to {} but not to {}",
                after.join(", "),
                missing.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
            )
        };
        let finding = Verdict::fail(Rule::SClean, expected, received)
            .with_detail("with cleanSession=1 the platform forgets subscriptions: downlinks to them are lost");
        Conclusion::new(CaseVerdict::Fail, explain(&finding)).with_findings(vec![finding])
    };
    conclusion
        .measure("subscribed", json!(before))
        .measure("subscribed_again", json!(after))
        .measure("session_present", json!(session_present))
}
