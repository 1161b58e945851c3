//! `pong-loss` and `dead-link` (C-PONG-LOSS): the client notices that its PINGREQs go
//! unanswered and drops the connection (K-PING). Real time.
//!
//! The client is asked for `IOT_KEEPALIVE=30`. Once it is online, the broker either withholds
//! every PINGRESP and answers everything else (`pong-loss`), or swallows everything and
//! answers nothing (`dead-link`, a blackhole: what a link that died without a FIN looks like
//! from the device).
//!
//! Interpretations:
//! - The bound: a client sends a packet within each keepalive K (C-PING) and gives a PINGREQ
//!   up once its answer is a keepalive late, so it must drop the connection within 2K after
//!   CONNACK, plus the margin of the `ping` case (K/4, at most 5 s).
//! - Pass: the client closed the connection within the bound (the detection time is
//!   reported). Fail: it was still connected at the bound, having sent PINGREQs that went
//!   unanswered.
//! - A client that sent no PINGREQ within the bound is not judged here (C-PING's case says
//!   why), nor is a reconnect after the drop (C-RECONNECT's): both are reported.

use super::CaseContext;
use super::harness::{Conclusion, Finished, Harness, Setup, explain};
use super::ping::window;
use super::secs;
use crate::catalogue::TIMER_KEEPALIVE;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::fault::{Fault, FaultSpec, Reply};
use mock_broker::{CloseReason, ConnId, EventKind, Rule, Verdict};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;

/// The platform rule the pong-loss cases judge.
pub const RULES: &[Rule] = &[Rule::KPing];
/// How long after the drop the case waits to see a reconnect, for the report.
const RECONNECT_WATCH: Duration = Duration::from_secs(5);

/// How the link fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// PINGRESP withheld, everything else answered.
    Pingresp,
    /// Nothing answered, everything read (blackhole).
    Link,
}

impl Loss {
    fn fault(self) -> Fault {
        match self {
            Loss::Pingresp => Fault::Withhold { reply: Reply::Pingresp },
            Loss::Link => Fault::Blackhole,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Loss::Pingresp => "every PINGRESP withheld",
            Loss::Link => "the link blackholed (nothing answered)",
        }
    }
}

/// Runs `pong-loss` or `dead-link`.
pub async fn run(ctx: &CaseContext, loss: Loss) -> CaseResult {
    let mut setup = Setup::judging(ctx, RULES);
    setup.keepalive = TIMER_KEEPALIVE;
    setup.stay = ctx.timing.timer_budget + ctx.timing.settle;
    setup.faults = vec![FaultSpec::new(loss.fault())];
    let (mut harness, first) =
        match Harness::start_online(ctx, setup, "no PINGREQ could go unanswered", |_| Vec::new()).await {
            Ok(started) => started,
            Err(result) => return result,
        };
    let keep_alive = first.connect.keep_alive;
    let bound = window(keep_alive);
    if bound > ctx.timing.timer_budget {
        let finished = harness.finish().await;
        let text = format!(
            "declared keepalive {keep_alive} s: the bound of {} s is over the timer budget of {} s (--timer-budget)",
            secs(bound),
            secs(ctx.timing.timer_budget)
        );
        return finished.into_result(Conclusion::new(CaseVerdict::NotRun, text));
    }
    let conn = first.conn;
    let closed =
        harness.until(Instant::now() + bound, |e| e.conn == conn && matches!(e.kind, EventKind::Closed { .. }));
    if closed.await.is_some() {
        harness.until(Instant::now() + RECONNECT_WATCH, |e| matches!(e.kind, EventKind::Online { .. })).await;
    }
    let finished = harness.finish().await;
    let conclusion = judge(&finished, conn, keep_alive, bound, loss);
    finished.into_result(conclusion)
}

fn judge(finished: &Finished, conn: ConnId, keep_alive: u16, bound: Duration, loss: Loss) -> Conclusion {
    let mut online = None;
    let mut pings = Vec::new();
    let mut closed = None;
    for event in finished.events_of(conn) {
        match &event.kind {
            EventKind::Online { .. } => online = Some(event.at),
            EventKind::PacketIn(p) if p.packet == "PINGREQ" => pings.push(event.at),
            EventKind::Closed { reason } => closed = Some((event.at, reason.clone())),
            _ => {}
        }
    }
    let Some(start) = online else {
        return Conclusion::new(CaseVerdict::Error, "the transcript lost the client's CONNACK");
    };
    let reconnected = finished.transcript.iter().any(|e| e.conn > conn && matches!(e.kind, EventKind::Online { .. }));
    let closed_in_time = closed.as_ref().filter(|(at, reason)| {
        *at <= start + bound && !matches!(reason, CloseReason::Shutdown | CloseReason::KeepaliveTimeout { .. })
    });
    let pings_in_bound: Vec<Duration> = pings.iter().copied().filter(|at| *at <= start + bound).collect();
    let expected = format!("the connection dropped within {} s of CONNACK once PINGREQs go unanswered", secs(bound));
    let conclusion = match (closed_in_time, pings_in_bound.first()) {
        (Some((at, _)), _) => {
            let received = format!(
                "dropped {} s after CONNACK ({} PINGREQ unanswered, {})",
                secs(*at - start),
                pings_in_bound.len(),
                loss.words()
            );
            let finding = Verdict::pass(Rule::KPing, expected, received);
            Conclusion::new(CaseVerdict::Pass, explain(&finding))
                .with_findings(vec![finding])
                .measure("detection_s", json!(secs(*at - start)))
        }
        (None, None) => Conclusion::new(
            CaseVerdict::NotRun,
            format!(
                "inconclusive: the client sent no PINGREQ within {} s of CONNACK (keepalive {keep_alive} s), so none \
                 went unanswered; the case ping judges C-PING",
                secs(bound)
            ),
        ),
        (None, Some(first_ping)) => {
            let received = format!(
                "still connected {} s after CONNACK, {} PINGREQ unanswered (the first {} s after CONNACK; {})",
                secs(bound),
                pings_in_bound.len(),
                secs(*first_ping - start),
                loss.words()
            );
            let finding = Verdict::fail(Rule::KPing, expected, received).with_detail(
                "a device that does not notice a dead link stays offline until the platform's keepalive cut or for ever",
            );
            Conclusion::new(CaseVerdict::Fail, explain(&finding)).with_findings(vec![finding])
        }
    };
    conclusion
        .measure("keepalive_declared", json!(keep_alive))
        .measure("bound_s", json!(secs(bound)))
        .measure("pingreq_unanswered", json!(pings_in_bound.len()))
        .measure("reconnected", json!(reconnected))
}
