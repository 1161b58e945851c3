//! `reconnect` (C-RECONNECT): after the server ends the connection, the client reconnects,
//! waiting at least 1 s, backing off on repeated failures, with fresh credentials (K-CLOSE,
//! S-KICK). Real time.
//!
//! Once the client is online, the broker ends its connection [`HOLD`] after each CONNACK in
//! three ways, in order: a plain close, a kick as a second login would do (S-KICK), and a TCP
//! reset. After the reset it refuses the next two CONNECTs with 0x03 (server unavailable, as
//! while the platform restarts) and then lets the client back online.
//!
//! Interpretations:
//! - The intervals judged run from each server-side end of an online connection to the next
//!   connection the client opens. The retries inside the 0x03 streak are measured and
//!   reported, but C-REFUSED judges retries after a refusal (case `refused`), so a client
//!   that loops on refusals only does not fail here.
//! - Fail: an interval under 1 s (less `backoff::MEASURE_TOLERANCE`), or no reconnect within
//!   [`PATIENCE`] (longer than the 60 s cap SDKs use). Warn: the intervals do not grow
//!   (constant backoff). Pass: they grow (exponential or linear, jitter or not).
//! - Fresh credentials: every reconnect must authenticate again; a refusal by an A- rule
//!   fails. A timestamp reused from an earlier CONNECT is reported as a measured fact (the
//!   platform does not check freshness, A-TIMESTAMP).

use super::CaseContext;
use super::attempts::{Attempt, attempts};
use super::backoff;
use super::harness::{Conclusion, Harness, Setup};
use super::secs;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::fault::{Fault, FaultSpec, Trigger};
use mock_broker::{CloseReason, EventKind, Rule, Verdict};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// The platform rules `reconnect` judges.
pub const RULES: &[Rule] = &[Rule::KClose, Rule::SKick];
/// How long each connection stays up before the broker ends it.
pub const HOLD: Duration = Duration::from_secs(1);
/// How long the case waits for a reconnect.
pub const PATIENCE: Duration = Duration::from_secs(70);
/// How many CONNECTs the 0x03 streak refuses.
const REFUSALS: u32 = 2;

/// How the broker ends the connections, in order.
fn endings() -> [Fault; 3] {
    [Fault::Close, Fault::Kick, Fault::Reset]
}

/// Runs `reconnect`.
pub async fn run(ctx: &CaseContext) -> CaseResult {
    let mut setup = Setup::judging(ctx, RULES);
    setup.stay = ctx.timing.timer_budget + ctx.timing.settle;
    let (mut harness, _) = match Harness::start_online(ctx, setup, "no connection could be ended", |_| Vec::new()).await
    {
        Ok(started) => started,
        Err(result) => return result,
    };
    for (i, ending) in endings().into_iter().enumerate() {
        let spec = FaultSpec::new(ending).trigger(Trigger::AfterConnackMs(HOLD.as_millis() as u64)).times(1);
        if let Err(message) = harness.arm(spec).await {
            return CaseResult::error(message);
        }
        let closed = harness.until(Instant::now() + PATIENCE, |e| matches!(e.kind, EventKind::Closed { .. })).await;
        if closed.is_none() {
            break;
        }
        if i == endings().len() - 1 {
            let refuse = FaultSpec::new(Fault::RefuseConnect { code: 3 }).times(REFUSALS);
            if let Err(message) = harness.arm(refuse).await {
                return CaseResult::error(message);
            }
        }
        let online = harness.until(Instant::now() + PATIENCE, |e| matches!(e.kind, EventKind::Online { .. })).await;
        if online.is_none() {
            break;
        }
    }
    let finished = harness.finish().await;
    let conclusion = judge(&attempts(&finished.transcript));
    finished.into_result(conclusion)
}

/// A server-side end of an online connection, and what followed it.
struct Reconnect {
    how: &'static str,
    /// From the close to the next accepted connection; `None` if none came.
    after: Option<Duration>,
}

/// The words for how the broker ended a connection, if it ended it.
fn ended_by_server(reason: &CloseReason) -> Option<&'static str> {
    match reason {
        CloseReason::Faulted { fault } if fault.contains("reset") => Some("TCP reset"),
        CloseReason::Faulted { .. } => Some("close"),
        CloseReason::Kicked { .. } => Some("kick (S-KICK)"),
        _ => None,
    }
}

/// Judges the attempts of a `reconnect` run.
fn judge(attempts: &[Attempt]) -> Conclusion {
    let mut reconnects = Vec::new();
    for (i, attempt) in attempts.iter().enumerate() {
        let Some((at, reason)) = &attempt.closed else { continue };
        let Some(how) = ended_by_server(reason).filter(|_| attempt.online.is_some()) else { continue };
        let after = attempts.get(i + 1).map(|next| next.accepted.saturating_sub(*at));
        reconnects.push(Reconnect { how, after });
    }
    let refused_retries: Vec<f64> = attempts
        .windows(2)
        .filter(|w| w[0].refused())
        .filter_map(|w| w[0].closed.as_ref().map(|(at, _)| secs(w[1].accepted.saturating_sub(*at))))
        .collect();
    let intervals: Vec<Duration> = reconnects.iter().filter_map(|r| r.after).collect();
    let schedule = backoff::classify(&intervals);
    let reused = reused_timestamps(attempts);
    let auth_refusal = attempts.iter().skip(1).find_map(|a| match &a.closed {
        Some((_, CloseReason::Refused { rule, code })) if rule.starts_with("A-") => Some((a.conn, rule.clone(), *code)),
        _ => None,
    });
    let expected = "a reconnect at least 1 s after the server ends the connection, backing off, with fresh credentials";
    let conclusion = if reconnects.is_empty() {
        Conclusion::new(CaseVerdict::Error, "the broker ended no online connection of the client")
    } else if let Some(r) = reconnects.iter().find(|r| r.after.is_none()) {
        let finding = Verdict::fail(
            Rule::KClose,
            expected,
            format!("no reconnect after the {} (waited {} s)", r.how, secs(PATIENCE)),
        );
        Conclusion::new(CaseVerdict::Fail, super::harness::explain(&finding)).with_findings(vec![finding])
    } else if let Some((r, after)) =
        reconnects.iter().find_map(|r| r.after.filter(|a| backoff::too_soon(*a)).map(|a| (r, a)))
    {
        let finding =
            Verdict::fail(Rule::KClose, expected, format!("reconnected {} ms after the {}", after.as_millis(), r.how))
                .with_detail("a fleet that comes back at once after a platform restart is a reconnect storm");
        Conclusion::new(CaseVerdict::Fail, super::harness::explain(&finding)).with_findings(vec![finding])
    } else if let Some((conn, rule, code)) = auth_refusal {
        let finding = Verdict::fail(
            Rule::KClose,
            expected,
            format!("reconnect #{conn} was refused at {rule} (CONNACK 0x{:02x})", code.as_u8()),
        )
        .with_detail("a reconnect must sign again with the device's credentials");
        Conclusion::new(CaseVerdict::Fail, super::harness::explain(&finding)).with_findings(vec![finding])
    } else {
        let waits: Vec<String> =
            reconnects.iter().filter_map(|r| r.after.map(|a| format!("{} s after the {}", secs(a), r.how))).collect();
        let received = format!("{}: {}", schedule.describe(), waits.join(", "));
        if schedule.backs_off() {
            let finding = Verdict::pass(Rule::KClose, expected, received);
            Conclusion::new(CaseVerdict::Pass, super::harness::explain(&finding)).with_findings(vec![finding])
        } else {
            let retry_waits: Vec<Duration> = refused_retries.iter().map(|s| Duration::from_secs_f64(*s)).collect();
            let detail = if backoff::classify(&retry_waits).backs_off() {
                format!(
                    "it backs off between refused logins ({} s) but starts again after every connection that \
                     succeeded, so a device the platform cuts soon after login comes back at the same pace for ever",
                    refused_retries.iter().map(f64::to_string).collect::<Vec<_>>().join(", ")
                )
            } else {
                "waits that never grow keep hammering a platform that is down; back off exponentially with jitter"
                    .into()
            };
            let finding = Verdict::warn(Rule::KClose, expected, received).with_detail(detail);
            Conclusion::new(CaseVerdict::Warn, super::harness::explain(&finding)).with_findings(vec![finding])
        }
    };
    conclusion
        .measure("reconnect_intervals_s", json!(intervals.iter().map(|d| secs(*d)).collect::<Vec<_>>()))
        .measure("backoff", json!(schedule))
        .measure("retries_after_refusal_s", json!(refused_retries))
        .measure("timestamps_reused", json!(reused))
        .measure("connections", json!(attempts.len()))
}

/// How many CONNECTs reused a timestamp an earlier CONNECT of the run had sent.
fn reused_timestamps(attempts: &[Attempt]) -> usize {
    let stamps: Vec<&str> = attempts.iter().filter_map(Attempt::timestamp).collect();
    stamps.iter().enumerate().filter(|(i, s)| stamps[..*i].contains(s)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(conn: u64, accepted_ms: u64, online: bool, closed: Option<(u64, CloseReason)>) -> Attempt {
        Attempt {
            conn,
            accepted: Duration::from_millis(accepted_ms),
            connect: None,
            online: online.then(|| Duration::from_millis(accepted_ms + 5)),
            closed: closed.map(|(ms, r)| (Duration::from_millis(ms), r)),
        }
    }

    fn faulted(what: &str) -> CloseReason {
        CloseReason::Faulted { fault: what.into() }
    }

    fn run(intervals_ms: &[u64]) -> Conclusion {
        let mut at = 0;
        let mut list = Vec::new();
        let reasons = [faulted("close the connection"), CloseReason::Kicked { by: 0 }, faulted("TCP reset")];
        for (i, gap) in intervals_ms.iter().enumerate() {
            list.push(attempt(i as u64 + 1, at, true, Some((at + 1000, reasons[i % 3].clone()))));
            at += 1000 + gap;
        }
        list.push(attempt(intervals_ms.len() as u64 + 1, at, true, None));
        judge(&list)
    }

    #[test]
    fn growing_waits_pass_constant_ones_warn_and_quick_ones_fail() {
        assert_eq!(run(&[1100, 2300, 4100]).verdict, CaseVerdict::Pass);
        let constant = run(&[1000, 1000, 1000]);
        assert_eq!(constant.verdict, CaseVerdict::Warn);
        assert!(constant.explanation.contains("constant backoff"), "{}", constant.explanation);
        let storm = run(&[50, 50, 50]);
        assert_eq!(storm.verdict, CaseVerdict::Fail);
        assert!(storm.explanation.contains("reconnected 50 ms after the close"), "{}", storm.explanation);
    }

    #[test]
    fn no_reconnect_fails_naming_the_ending() {
        let list = vec![attempt(1, 0, true, Some((1000, CloseReason::Kicked { by: 0 })))];
        let conclusion = judge(&list);
        assert_eq!(conclusion.verdict, CaseVerdict::Fail);
        assert!(conclusion.explanation.contains("no reconnect after the kick"), "{}", conclusion.explanation);
    }
}
