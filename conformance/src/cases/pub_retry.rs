//! `pub-retry` (C-PUB-RETRY): a QoS 1 PUBLISH left without its PUBACK is sent again, with
//! the same packet id and DUP=1, once the client has reconnected (S-PUBACK,
//! [MQTT-4.4.0-1]). Real time.
//!
//! The broker withholds the PUBACK of the client's first QoS 1 PUBLISH and closes the
//! connection right after it. On the client's next connection the case watches for
//! [`WINDOW`] for that message.
//!
//! Interpretations:
//! - Pass: a PUBLISH on the same topic with the same packet id and DUP=1.
//! - Warn: the same packet id with DUP=0 ([MQTT-3.3.1-1] asks for DUP=1; the id still marks
//!   it as the same message).
//! - Fail: none, or one sent as a new message (another packet id): the platform cannot tell
//!   it is the same message.
//! - A client that publishes no QoS 1 message within the window, or does not reconnect
//!   (C-RECONNECT's case says why), is not judged here.

use super::CaseContext;
use super::harness::{Conclusion, Finished, Harness, Setup, explain};
use super::reconnect::PATIENCE;
use super::secs;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::events::PacketSummary;
use mock_broker::fault::{Fault, FaultSpec, Inbound, Reply, Trigger};
use mock_broker::mqtt::QoS;
use mock_broker::{ConnId, EventKind, Rule, Verdict};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// The platform rule `pub-retry` judges.
pub const RULES: &[Rule] = &[Rule::SPuback];
/// How long the client has to publish, on its first connection and on the next.
pub const WINDOW: Duration = Duration::from_secs(10);

fn is_qos1_publish(p: &PacketSummary) -> bool {
    p.packet == "PUBLISH" && p.qos == Some(QoS::AtLeastOnce)
}

/// Runs `pub-retry`.
pub async fn run(ctx: &CaseContext) -> CaseResult {
    let mut setup = Setup::judging(ctx, RULES);
    setup.stay = ctx.timing.timer_budget + ctx.timing.settle;
    let first_qos1 = Trigger::AfterPackets { kind: Inbound::Publish, n: 1 };
    setup.faults = vec![
        FaultSpec::new(Fault::Withhold { reply: Reply::Puback }).times(1),
        FaultSpec::new(Fault::Close).trigger(first_qos1).times(1),
    ];
    let (mut harness, first) =
        match Harness::start_online(ctx, setup, "no PUBLISH could be left unacknowledged", |_| Vec::new()).await {
            Ok(started) => started,
            Err(result) => return result,
        };
    let conn = first.conn;
    if let Some(again) = harness.next_online(conn, WINDOW, PATIENCE).await {
        let resent =
            |e: &mock_broker::Event| matches!(&e.kind, EventKind::PacketIn(p) if e.conn == again && is_qos1_publish(p));
        harness.until(Instant::now() + WINDOW, resent).await;
    }
    let finished = harness.finish().await;
    let conclusion = judge(&finished, conn);
    finished.into_result(conclusion)
}

/// The QoS 1 PUBLISHes connection `conn` sent.
fn publishes(finished: &Finished, conn: ConnId) -> Vec<PacketSummary> {
    finished
        .events_of(conn)
        .filter_map(|e| match &e.kind {
            EventKind::PacketIn(p) if is_qos1_publish(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn judge(finished: &Finished, conn: ConnId) -> Conclusion {
    let Some(original) = publishes(finished, conn).into_iter().next() else {
        let text = format!("inconclusive: the client published no QoS 1 message within {} s of CONNACK", secs(WINDOW));
        return Conclusion::new(CaseVerdict::NotRun, text);
    };
    let topic = original.topic.clone().unwrap_or_default();
    let id = original.packet_id.unwrap_or_default();
    let next = finished.transcript.iter().find_map(|e| match &e.kind {
        EventKind::Online { .. } if e.conn > conn => Some(e.conn),
        _ => None,
    });
    let Some(again) = next else {
        let text = format!(
            "inconclusive: the client did not come back online within {} s after the broker closed the connection; \
             the case reconnect judges C-RECONNECT",
            secs(PATIENCE)
        );
        return Conclusion::new(CaseVerdict::NotRun, text);
    };
    let later = publishes(finished, again);
    let same_topic: Vec<&PacketSummary> = later.iter().filter(|p| p.topic.as_deref() == Some(&topic)).collect();
    let expected = format!("PUBLISH {topic} resent with packet id {id} and DUP=1 after the reconnect");
    let retry = same_topic.iter().find(|p| p.packet_id == Some(id) && p.dup);
    let conclusion = match (retry, same_topic.first()) {
        (Some(_), _) => {
            let finding = Verdict::pass(Rule::SPuback, expected, format!("resent with packet id {id} and DUP=1"));
            Conclusion::new(CaseVerdict::Pass, explain(&finding)).with_findings(vec![finding])
        }
        (None, Some(p)) if p.packet_id == Some(id) => {
            let finding = Verdict::warn(Rule::SPuback, expected, format!("resent with packet id {id} but DUP=0"))
                .with_detail(
                    "[MQTT-3.3.1-1] asks for DUP=1 on a re-delivery; the packet id still lets the receiver tell it \
                     is the same message",
                );
            Conclusion::new(CaseVerdict::Warn, explain(&finding)).with_findings(vec![finding])
        }
        (None, Some(p)) => {
            let received = format!(
                "sent again as a new message: packet id {}, DUP={}",
                p.packet_id.map_or("none".into(), |i| i.to_string()),
                u8::from(p.dup)
            );
            let finding = Verdict::fail(Rule::SPuback, expected, received)
                .with_detail("a retry keeps its packet id so that the receiver can tell it is the same message");
            Conclusion::new(CaseVerdict::Fail, explain(&finding)).with_findings(vec![finding])
        }
        (None, None) => {
            let received = format!("no PUBLISH on {topic} within {} s of the new CONNACK", secs(WINDOW));
            let finding = Verdict::fail(Rule::SPuback, expected, received)
                .with_detail("the message was never acknowledged: without a retry it is lost");
            Conclusion::new(CaseVerdict::Fail, explain(&finding)).with_findings(vec![finding])
        }
    };
    conclusion.measure("withheld_packet_id", json!(id)).measure("topic", json!(topic))
}
