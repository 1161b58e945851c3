//! `qos` (C-QOS) and `topics` (C-TOPICS): judged on what the client publishes and subscribes
//! in its normal life, on the broker's verdicts (S-QOS; S-TOPIC-OWN through S-PUB-DENY and
//! S-SUB-DENY).
//!
//! The contract hands the client its own topics (`IOT_PUBLISH_TOPIC`, `IOT_SUBSCRIBE_TOPIC`).
//! Once it is online, the case watches for [`WINDOW`] or until it has both published and
//! subscribed.
//!
//! Interpretations:
//! - `qos`: any QoS 2 PUBLISH or subscription fails (S-QOS). The case's broker drops a QoS 2
//!   PUBLISH instead of closing (the policy's other reaction), so the client's later packets
//!   are still seen.
//! - `topics`: any PUBLISH or SUBSCRIBE to a topic the device has no right to fails.
//! - A client that neither publishes nor subscribes within the window is not run, with that
//!   reason: nothing could be judged.

use super::CaseContext;
use super::harness::{Conclusion, Finished, Harness, Setup, explain};
use super::secs;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::policy::Qos2PublishReaction;
use mock_broker::{EventKind, Outcome, Rule, Verdict};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// The platform rule `qos` judges.
pub const QOS_RULES: &[Rule] = &[Rule::SQos];
/// The platform rules `topics` judges.
pub const TOPIC_RULES: &[Rule] = &[Rule::STopicOwn, Rule::SPubDeny, Rule::SSubDeny];
/// How long after CONNACK the case watches the client's traffic.
pub const WINDOW: Duration = Duration::from_secs(8);

/// Which use of the session a case judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    Qos,
    Topics,
}

impl Usage {
    fn rules(self) -> &'static [Rule] {
        match self {
            Usage::Qos => QOS_RULES,
            Usage::Topics => TOPIC_RULES,
        }
    }
}

/// Runs `qos` or `topics`.
pub async fn run(ctx: &CaseContext, usage: Usage) -> CaseResult {
    let mut setup = Setup::judging(ctx, usage.rules());
    setup.policy.qos2_publish = Qos2PublishReaction::Drop;
    let (mut harness, first) =
        match Harness::start_online(ctx, setup, "what it publishes could not be seen", |_| Vec::new()).await {
            Ok(started) => started,
            Err(result) => return result,
        };
    let conn = first.conn;
    let (mut published, mut subscribed) = (false, false);
    harness
        .until(Instant::now() + WINDOW, |e| {
            if let EventKind::PacketIn(p) = &e.kind
                && e.conn == conn
            {
                published |= p.packet == "PUBLISH";
                subscribed |= p.packet == "SUBSCRIBE";
            }
            published && subscribed
        })
        .await;
    // The verdicts on the last packet follow it.
    harness.until(Instant::now() + Duration::from_millis(300), |_| false).await;
    let finished = harness.finish().await;
    let conclusion = judge(&finished, conn, usage);
    finished.into_result(conclusion)
}

fn judge(finished: &Finished, conn: mock_broker::ConnId, usage: Usage) -> Conclusion {
    let mut used = Vec::new();
    for event in finished.events_of(conn) {
        if let EventKind::PacketIn(p) = &event.kind {
            match p.packet {
                "PUBLISH" => used.push(format!(
                    "PUBLISH {} QoS {}",
                    p.topic.as_deref().unwrap_or(""),
                    p.qos.map_or(0, |q| q as u8)
                )),
                "SUBSCRIBE" => used.push(format!("SUBSCRIBE {}", p.items.join(", "))),
                _ => {}
            }
        }
    }
    let findings = finished.verdicts_on(conn, usage.rules());
    let bad: Vec<&Verdict> = findings
        .iter()
        .filter(|v| v.outcome == Outcome::Fail || (usage == Usage::Qos && v.outcome == Outcome::Warn))
        .collect();
    let conclusion = if let Some(first) = bad.first() {
        let mut finding = (*first).clone();
        finding.outcome = Outcome::Fail;
        let text = if bad.len() > 1 {
            format!("{} (and {} more)", explain(&finding), bad.len() - 1)
        } else {
            explain(&finding)
        };
        Conclusion::new(CaseVerdict::Fail, text).with_findings(bad.into_iter().cloned().collect())
    } else if used.is_empty() {
        Conclusion::new(
            CaseVerdict::NotRun,
            format!("inconclusive: the client neither published nor subscribed within {} s of CONNACK", secs(WINDOW)),
        )
    } else {
        let (rule, expected) = match usage {
            Usage::Qos => (Rule::SQos, "QoS 0 or 1 on every PUBLISH and subscription"),
            Usage::Topics => (Rule::STopicOwn, "only the device's own topics"),
        };
        let finding = Verdict::pass(rule, expected, used.join("; "));
        Conclusion::new(CaseVerdict::Pass, explain(&finding)).with_findings(vec![finding])
    };
    conclusion.measure("used", json!(used))
}
