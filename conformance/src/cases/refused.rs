//! `refused` (C-REFUSED): after a refused CONNACK the client does not retry in a tight loop
//! (A-CONNACK). Real time.
//!
//! The broker refuses the client's CONNECTs with 0x04 (bad username or password), then 0x05
//! (not authorized), then twice 0x03 (server unavailable), whatever their credentials, and
//! then lets it online. The case watches until the client is online, stops trying, or
//! [`WINDOW`] has passed since the first refusal.
//!
//! Interpretations:
//! - Fail: a retry sooner than 1 s after a refusal (less `backoff::MEASURE_TOLERANCE`).
//! - Pass: the client stops (exits or stays quiet), or retries at least 1 s apart with
//!   growing waits. Warn: retries at least 1 s apart whose waits never grow.
//! - The attempts and their spacing are reported as measured values.

use super::CaseContext;
use super::attempts::attempts;
use super::backoff;
use super::harness::{Conclusion, Harness, Setup, explain};
use super::secs;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::fault::{Fault, FaultSpec};
use mock_broker::{EventKind, Rule, Verdict};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// The platform rule `refused` judges.
pub const RULES: &[Rule] = &[Rule::AConnack];
/// The refusals, in order: (CONNACK code, how many times).
const REFUSALS: [(u8, u32); 3] = [(4, 1), (5, 1), (3, 2)];
/// How long after the first refusal the case watches.
pub const WINDOW: Duration = Duration::from_secs(40);

/// Runs `refused`.
pub async fn run(ctx: &CaseContext) -> CaseResult {
    let mut setup = Setup::judging(ctx, RULES);
    setup.stay = ctx.timing.timer_budget + ctx.timing.settle;
    setup.faults =
        REFUSALS.iter().map(|(code, n)| FaultSpec::new(Fault::RefuseConnect { code: *code }).times(*n)).collect();
    let mut harness = match Harness::start(ctx, setup).await {
        Ok(harness) => harness,
        Err(message) => return CaseResult::error(message),
    };
    if harness.first_connect().await.is_none() {
        let finished = harness.finish().await;
        let conclusion = finished.without_connect();
        return finished.into_result(conclusion);
    }
    harness.until(Instant::now() + WINDOW, |e| matches!(e.kind, EventKind::Online { .. })).await;
    let finished = harness.finish().await;
    let attempts = attempts(&finished.transcript);
    let conclusion = judge(&attempts, finished.client.exit_code);
    finished.into_result(conclusion)
}

/// Judges the attempts of a `refused` run; `exit_code` is how the client ended, if by itself.
fn judge(attempts: &[super::attempts::Attempt], exit_code: Option<i32>) -> Conclusion {
    let refused: Vec<usize> = (0..attempts.len()).filter(|i| attempts[*i].refused()).collect();
    let retries: Vec<(u8, Duration)> = refused
        .iter()
        .filter_map(|i| {
            let (at, reason) = attempts[*i].closed.as_ref()?;
            let code = match reason {
                mock_broker::CloseReason::Refused { code, .. } => code.as_u8(),
                _ => return None,
            };
            attempts.get(i + 1).map(|next| (code, next.accepted.saturating_sub(*at)))
        })
        .collect();
    let intervals: Vec<Duration> = retries.iter().map(|(_, d)| *d).collect();
    let schedule = backoff::classify(&intervals);
    let expected = "no retry sooner than 1 s after a refused CONNACK, and growing waits";
    let conclusion = if refused.is_empty() {
        Conclusion::new(CaseVerdict::Error, "the broker refused no CONNECT of the client")
    } else if let Some((code, wait)) = retries.iter().find(|(_, d)| backoff::too_soon(*d)) {
        let finding = Verdict::fail(
            Rule::AConnack,
            expected,
            format!("retried {} ms after CONNACK 0x{code:02x}", wait.as_millis()),
        )
        .with_detail(format!("{} attempts in all; a tight loop hammers a platform that said no", attempts.len()));
        Conclusion::new(CaseVerdict::Fail, explain(&finding)).with_findings(vec![finding])
    } else if retries.len() < refused.len() {
        let how = match exit_code {
            Some(code) => format!("exited with code {code}"),
            None => "stopped trying".to_owned(),
        };
        let spacing: Vec<String> = retries.iter().map(|(c, d)| format!("{} s after 0x{c:02x}", secs(*d))).collect();
        let received = if spacing.is_empty() {
            format!("{how} after the first refusal")
        } else {
            format!("retried {} and then {how}", spacing.join(", "))
        };
        let finding = Verdict::pass(Rule::AConnack, expected, received);
        Conclusion::new(CaseVerdict::Pass, explain(&finding)).with_findings(vec![finding])
    } else {
        let spacing: Vec<String> = retries.iter().map(|(c, d)| format!("{} s after 0x{c:02x}", secs(*d))).collect();
        let received = format!("{}: {}", schedule.describe(), spacing.join(", "));
        if schedule.backs_off() || retries.len() < 2 {
            let finding = Verdict::pass(Rule::AConnack, expected, received);
            Conclusion::new(CaseVerdict::Pass, explain(&finding)).with_findings(vec![finding])
        } else {
            let finding = Verdict::warn(Rule::AConnack, expected, received)
                .with_detail("retries that never slow down keep a refused device hammering the platform");
            Conclusion::new(CaseVerdict::Warn, explain(&finding)).with_findings(vec![finding])
        }
    };
    conclusion
        .measure("attempts", json!(attempts.len()))
        .measure("refusals", json!(refused.len()))
        .measure("retry_waits_s", json!(intervals.iter().map(|d| secs(*d)).collect::<Vec<_>>()))
        .measure("backoff", json!(schedule))
}

#[cfg(test)]
mod tests {
    use super::super::attempts::Attempt;
    use super::*;
    use mock_broker::CloseReason;
    use mock_broker::mqtt::ConnackCode;

    fn refused_then(waits_ms: &[u64], last_online: bool) -> Vec<Attempt> {
        let mut at = 0;
        let mut list = Vec::new();
        for wait in waits_ms {
            let reason =
                CloseReason::Refused { code: ConnackCode::ServerUnavailable, rule: "fault refuse_connect".into() };
            list.push(Attempt {
                conn: list.len() as u64 + 1,
                accepted: Duration::from_millis(at),
                connect: None,
                online: None,
                closed: Some((Duration::from_millis(at + 10), reason)),
            });
            at += 10 + wait;
        }
        if last_online {
            let online = Some(Duration::from_millis(at + 5));
            list.push(Attempt { conn: 99, accepted: Duration::from_millis(at), connect: None, online, closed: None });
        }
        list
    }

    #[test]
    fn tight_retries_fail_growing_ones_pass_and_stopping_passes() {
        assert_eq!(judge(&refused_then(&[50, 50, 50, 50], true), None).verdict, CaseVerdict::Fail);
        assert_eq!(judge(&refused_then(&[1000, 2100, 3900, 8200], true), None).verdict, CaseVerdict::Pass);
        assert_eq!(judge(&refused_then(&[1000, 1000, 1000, 1000], true), None).verdict, CaseVerdict::Warn);
        let stopped = judge(&refused_then(&[0], false)[..1], Some(1));
        assert_eq!(stopped.verdict, CaseVerdict::Pass);
        assert!(stopped.explanation.contains("exited with code 1"), "{}", stopped.explanation);
    }
}
