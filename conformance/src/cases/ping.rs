//! `ping` (C-PING): the client sends at least one packet within every keepalive interval when
//! otherwise idle (K-TIMER, K-TIMEOUT). Real time.
//!
//! The client is asked for `IOT_KEEPALIVE=30` and the broker cuts exactly at 1.5 x keepalive
//! (`KeepaliveCheck::Exact`), keepalive range opened to 1..=65535. Once the client is online
//! with a declared keepalive K, the case watches a window of 2K + margin (margin: K/4, at
//! most 5 s) after CONNACK and measures the gaps between CONNACK and the inbound packets, and
//! the silence from the last packet to the end of the window.
//!
//! Interpretations:
//! - A gap over K fails, even below the 1.5K at which the platform cuts: C-PING asks for a
//!   packet within *every* interval. A tolerance of K/10 (at most 1 s) absorbs scheduling
//!   jitter of a client that pings exactly every K.
//! - A cut for K-TIMEOUT fails, with the broker's verdict as the finding.
//! - A window longer than the timer budget (`--timer-budget`, 120 s by default, so K up to
//!   about 57 s) is not run, stating the declared keepalive and the time it would take.
//! - A connection the client ends itself before the window is over, with no gap over K so
//!   far, is not run (inconclusive); the contract asked it to stay (`IOT_STAY_SECONDS` is the
//!   budget plus the settle time).

use super::harness::{Conclusion, Finished, FirstConnect, Harness, Setup, explain};
use super::{CaseContext, secs};
use crate::catalogue::TIMER_KEEPALIVE;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::policy::KeepaliveCheck;
use mock_broker::{CloseReason, EventKind, Rule, Verdict};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// The platform rules `ping` judges.
const RULES: &[Rule] = &[Rule::KTimer, Rule::KTimeout];
/// The longest margin added to the window of two keepalive intervals.
const MAX_MARGIN: Duration = Duration::from_secs(5);
/// The longest jitter tolerated above the keepalive.
const MAX_TOLERANCE: Duration = Duration::from_secs(1);

/// The window watched for a declared keepalive of `keep_alive` seconds: 2K + margin.
pub fn window(keep_alive: u16) -> Duration {
    let k = Duration::from_secs(u64::from(keep_alive));
    2 * k + (k / 4).min(MAX_MARGIN)
}

/// How far over the keepalive a gap may go before it counts as a miss.
fn tolerance(keep_alive: u16) -> Duration {
    (Duration::from_secs(u64::from(keep_alive)) / 10).min(MAX_TOLERANCE)
}

/// Runs `ping`.
pub async fn run(ctx: &CaseContext) -> CaseResult {
    let mut setup = Setup::judging(ctx, RULES);
    setup.keepalive = TIMER_KEEPALIVE;
    setup.policy.keepalive_check = KeepaliveCheck::Exact;
    setup.stay = ctx.timing.timer_budget + ctx.timing.settle;
    let declared = |first: &FirstConnect| vec![("keepalive_declared", json!(first.connect.keep_alive))];
    let (mut harness, first) = match Harness::start_online(ctx, setup, "C-PING could not be measured", declared).await {
        Ok(started) => started,
        Err(result) => return result,
    };
    let keep_alive = first.connect.keep_alive;
    let declared = ("keepalive_declared", json!(keep_alive));
    let needed = window(keep_alive);
    let budget = ctx.timing.timer_budget;
    if needed > budget {
        let finished = harness.finish().await;
        let text = format!(
            "declared keepalive {keep_alive} s: measuring C-PING takes {} s (2 x keepalive + margin), over the timer \
             budget of {} s (--timer-budget); the client {} IOT_KEEPALIVE={TIMER_KEEPALIVE}",
            secs(needed),
            secs(budget),
            if keep_alive == TIMER_KEEPALIVE { "honoured" } else { "did not honour" }
        );
        return finished.into_result(Conclusion::new(CaseVerdict::NotRun, text).measure(declared.0, declared.1));
    }
    let conn = first.conn;
    let end = Instant::now() + needed;
    harness.until(end, |e| e.conn == conn && matches!(e.kind, EventKind::Closed { .. })).await;
    let finished = harness.finish().await;
    let conclusion = judge(&finished, conn, keep_alive, needed);
    finished.into_result(conclusion.measure(declared.0, declared.1))
}

/// Judges the packet gaps of connection `conn` over `window` after its CONNACK.
fn judge(finished: &Finished, conn: u64, keep_alive: u16, window: Duration) -> Conclusion {
    let mut online = None;
    let mut packets = Vec::new();
    let mut pingreqs = 0;
    let mut closed = None;
    for event in finished.events_of(conn) {
        match &event.kind {
            EventKind::Online { .. } => online = Some(event.at),
            EventKind::PacketIn(p) if online.is_some() => {
                packets.push(event.at);
                pingreqs += usize::from(p.packet == "PINGREQ");
            }
            EventKind::Closed { reason } => closed = Some((event.at, reason.clone())),
            _ => {}
        }
    }
    let Some(start) = online else {
        return Conclusion::new(CaseVerdict::Error, "the transcript lost the client's CONNACK");
    };
    let end = start + window;
    let closed = closed.filter(|(at, _)| *at < end);
    let stop = closed.as_ref().map_or(end, |(at, _)| *at);
    packets.retain(|at| *at <= stop);
    let mut marks = vec![start];
    marks.extend(&packets);
    let gaps: Vec<Duration> = marks.windows(2).map(|w| w[1] - w[0]).collect();
    let last = *marks.last().expect("marks start with CONNACK");
    let silent_at_end = stop - last;
    let k = Duration::from_secs(u64::from(keep_alive));
    let allowed = k + tolerance(keep_alive);
    let longest = gaps.iter().copied().chain([silent_at_end]).max().unwrap_or_default();
    let mut conclusion = verdict(finished, conn, keep_alive, &marks, silent_at_end, allowed, closed.as_ref());
    conclusion = conclusion
        .measure("ping_intervals_s", json!(gaps.iter().map(|g| secs(*g)).collect::<Vec<_>>()))
        .measure("silent_at_end_s", json!(secs(silent_at_end)))
        .measure("longest_gap_s", json!(secs(longest)))
        .measure("window_s", json!(secs(window)))
        .measure("tolerance_s", json!(secs(allowed - k)))
        .measure("packets_in", json!(packets.len()))
        .measure("pingreq_count", json!(pingreqs));
    conclusion
}

fn verdict(
    finished: &Finished,
    conn: u64,
    keep_alive: u16,
    marks: &[Duration],
    silent_at_end: Duration,
    allowed: Duration,
    closed: Option<&(Duration, CloseReason)>,
) -> Conclusion {
    let start = marks[0];
    let expected = format!("a packet within every {keep_alive} s keepalive interval");
    if let Some((at, CloseReason::KeepaliveTimeout { silent_ms, .. })) = closed {
        let findings = finished.verdicts_on(conn, &[Rule::KTimeout]);
        let text = findings.first().map_or_else(
            || format!("cut for K-TIMEOUT after {} s of silence", secs(Duration::from_millis(*silent_ms))),
            |v| format!("cut {} s after CONNACK: {}", secs(*at - start), explain(v)),
        );
        return Conclusion::new(CaseVerdict::Fail, text).with_findings(findings);
    }
    let last = marks[marks.len() - 1];
    let stop = last + silent_at_end;
    let spans: Vec<(Duration, Duration)> = marks.windows(2).map(|w| (w[0], w[1])).chain([(last, stop)]).collect();
    if let Some(&(from, to)) = spans.iter().find(|(from, to)| *to - *from > allowed) {
        let received = format!(
            "{} s without a packet, from {} s to {} s after CONNACK",
            secs(to - from),
            secs(from - start),
            secs(to - start)
        );
        let finding = Verdict::fail(Rule::KTimer, expected, received).with_detail(format!(
            "the platform cuts only after 1.5 x {keep_alive} s (K-TIMEOUT), but C-PING asks for a packet within each \
             interval; gaps up to {} s are tolerated as jitter",
            secs(allowed)
        ));
        return Conclusion::new(CaseVerdict::Fail, explain(&finding)).with_findings(vec![finding]);
    }
    if let Some((at, reason)) = closed {
        let text = format!(
            "inconclusive: the connection ended {} s after CONNACK ({}), before the {} s window was over; no gap over \
             {keep_alive} s until then",
            secs(*at - start),
            reason.label(),
            secs(stop - start)
        );
        return Conclusion::new(CaseVerdict::NotRun, text);
    }
    let longest = spans.iter().map(|(from, to)| *to - *from).max().unwrap_or_default();
    let received = format!("longest silence {} s over {} s", secs(longest), secs(stop - start));
    let finding = Verdict::pass(Rule::KTimer, expected, received);
    Conclusion::new(CaseVerdict::Pass, explain(&finding)).with_findings(vec![finding])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_two_keepalives_and_a_bounded_margin() {
        assert_eq!(window(30), Duration::from_secs(65));
        assert_eq!(window(2), Duration::from_millis(4500));
        assert_eq!(window(300), Duration::from_secs(605));
        assert_eq!(tolerance(30), Duration::from_secs(1));
        assert_eq!(tolerance(2), Duration::from_millis(200));
    }
}
