//! `kick-war` (C-RECONNECT): two instances of one device run at once and kick each other
//! (S-KICK); the case measures the kick loop. Real time.
//!
//! Two devices flashed with the same identity are a fleet failure of their own: each login
//! kicks the other, which reconnects and kicks back. A client cannot stop its twin, but it can
//! keep the loop from becoming a storm by backing off after being kicked.
//!
//! Interpretations:
//! - The case watches [`WINDOW`] and counts the kicks (S-KICK closes by another login) and
//!   the intervals between them; the count is the finding a user needs ("two devices share
//!   one identity").
//! - Fail: the kicked instance never logs in again (C-RECONNECT), or kicks less than
//!   [`STORM_BELOW`] apart (a kick storm; 1 s less a margin for how the interval is read).
//!   Warn: intervals that never grow. Pass: they grow (backing off).

use super::CaseContext;
use super::harness::{Conclusion, Harness, Setup, explain};
use super::secs;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::{CloseReason, Event, EventKind, Rule, Verdict};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The platform rule `kick-war` judges.
pub const RULES: &[Rule] = &[Rule::SKick];
/// Kicks closer than this are a storm. An interval between kicks is one instance's wait
/// plus its reconnect, read off two connections' events, so a client that waits exactly 1 s
/// (`MIN_WAIT`) can show 0.999 s: the 100 ms margin keeps such a client out of the storm.
pub const STORM_BELOW: Duration = Duration::from_millis(900);
/// How long the twins are watched.
pub const WINDOW: Duration = Duration::from_secs(20);

/// Runs `kick-war`.
pub async fn run(ctx: &CaseContext) -> CaseResult {
    let mut setup = Setup::judging(ctx, RULES);
    setup.stay = ctx.timing.timer_budget + ctx.timing.settle;
    let (mut harness, _) = match Harness::start_online(ctx, setup, "no twin could kick it", |_| Vec::new()).await {
        Ok(started) => started,
        Err(result) => return result,
    };
    if let Err(message) = harness.spawn_twin(&ctx.client) {
        return CaseResult::error(message);
    }
    let start = Instant::now();
    harness.until(start + WINDOW, |_| false).await;
    let finished = harness.finish().await;
    let conclusion = judge(&finished.transcript, WINDOW);
    finished.into_result(conclusion)
}

/// Judges the kicks of a transcript watched for `window`.
fn judge(transcript: &[Arc<Event>], window: Duration) -> Conclusion {
    let kicks: Vec<(Duration, u64)> = transcript
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Closed { reason: CloseReason::Kicked { by } } if by != 0 => Some((e.at, by)),
            _ => None,
        })
        .collect();
    let intervals: Vec<Duration> = kicks.windows(2).map(|w| w[1].0 - w[0].0).collect();
    // The kicked instance comes back when a connection newer than the kicker's goes online.
    let came_back = kicks
        .first()
        .is_some_and(|(_, by)| transcript.iter().any(|e| e.conn > *by && matches!(e.kind, EventKind::Online { .. })));
    let expected = "after being kicked by a second login of the same device: a reconnect, backing off";
    let listed = intervals.iter().map(|d| format!("{} s", secs(*d))).collect::<Vec<_>>().join(", ");
    let count = format!("{} kicks in {} s", kicks.len(), secs(window));
    let conclusion = if kicks.is_empty() {
        Conclusion::new(
            CaseVerdict::NotRun,
            "inconclusive: the second instance kicked no one (it did not log in while the first was online)",
        )
    } else if !came_back {
        let finding =
            Verdict::fail(Rule::SKick, expected, format!("{count}: the kicked instance never logged in again"));
        Conclusion::new(CaseVerdict::Fail, explain(&finding)).with_findings(vec![finding])
    } else if let Some(quick) = intervals.iter().find(|d| **d < STORM_BELOW) {
        let received = format!("{count}, {} ms apart at the closest", quick.as_millis());
        let finding = Verdict::fail(Rule::SKick, expected, received)
            .with_detail("a kick storm: two devices share one identity, and each reconnects at once after every kick");
        Conclusion::new(CaseVerdict::Fail, explain(&finding)).with_findings(vec![finding])
    } else if slowing(&intervals) {
        let finding = Verdict::pass(Rule::SKick, expected, format!("{count}, slowing down: {listed}"))
            .with_detail("a kick loop all the same: two devices share one identity");
        Conclusion::new(CaseVerdict::Pass, explain(&finding)).with_findings(vec![finding])
    } else {
        let finding = Verdict::warn(Rule::SKick, expected, format!("{count}, at a steady pace: {listed}"))
            .with_detail("a kick loop that never slows down: two devices share one identity");
        Conclusion::new(CaseVerdict::Warn, explain(&finding)).with_findings(vec![finding])
    };
    conclusion
        .measure("kicks", json!(kicks.len()))
        .measure("kick_intervals_s", json!(intervals.iter().map(|d| secs(*d)).collect::<Vec<_>>()))
}

/// Whether the kicks slow down: the later half of the intervals at least 1.5 times the
/// earlier half on average (the twins' backoffs interleave, so ratios of neighbours say
/// little). Fewer than two intervals: the loop stopped, which is slowing down too.
fn slowing(intervals: &[Duration]) -> bool {
    if intervals.len() < 2 {
        return true;
    }
    let mean = |d: &[Duration]| d.iter().map(Duration::as_secs_f64).sum::<f64>() / d.len() as f64;
    let (early, late) = intervals.split_at(intervals.len() / 2);
    mean(late) >= 1.5 * mean(early)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connection i+1 is kicked at each instant by connection i+2, which goes online.
    fn kicks(at_ms: &[u64]) -> Vec<Arc<Event>> {
        let mut events = Vec::new();
        for (i, ms) in at_ms.iter().enumerate() {
            let (conn, by, at) = (i as u64 + 1, i as u64 + 2, Duration::from_millis(*ms));
            let online =
                EventKind::Online { product_key: "pk".into(), device_name: "dn".into(), session_present: false };
            events.push(Arc::new(Event { conn: by, at, kind: online }));
            let reason = CloseReason::Kicked { by };
            events.push(Arc::new(Event { conn, at, kind: EventKind::Closed { reason } }));
        }
        events
    }

    #[test]
    fn a_storm_fails_a_steady_loop_warns_a_slowing_one_passes() {
        assert_eq!(judge(&kicks(&[0, 50, 100, 150]), WINDOW).verdict, CaseVerdict::Fail);
        assert_eq!(judge(&kicks(&[0, 1000, 2000, 3000]), WINDOW).verdict, CaseVerdict::Warn);
        assert_eq!(judge(&kicks(&[0, 1003, 2002, 3001]), WINDOW).verdict, CaseVerdict::Warn, "1 s waits, 999 ms apart");
        assert_eq!(judge(&kicks(&[0, 850, 1700, 2550]), WINDOW).verdict, CaseVerdict::Fail);
        let slowing = judge(&kicks(&[0, 1000, 3000, 7000]), WINDOW);
        assert_eq!(slowing.verdict, CaseVerdict::Pass);
        assert!(slowing.explanation.contains("4 kicks"), "{}", slowing.explanation);
        assert_eq!(judge(&[], WINDOW).verdict, CaseVerdict::NotRun);
        let gave_up = judge(&kicks(&[0])[1..], WINDOW);
        assert_eq!(gave_up.verdict, CaseVerdict::Fail);
        assert!(gave_up.explanation.contains("never logged in again"), "{}", gave_up.explanation);
    }
}
