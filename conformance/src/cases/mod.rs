//! The cases: how each check of the catalogue runs a client against a broker of its own and
//! judges it.
//!
//! - `harness`: the plumbing every case shares (broker, client, events, transcript).
//! - `connect`: the cases judged on the broker's verdicts about the first CONNECT
//!   (`securemode`, `keepalive`; `username` and `client-id` over generated identities).
//! - [`sign`]: `sign`, one client run per identity and sign method;
//!   [`sign_property`]: the identities of `sign`, `username` and `client-id` generated,
//!   shrunk and kept as regression seeds.
//! - [`methods`]: the sign method each other case hands its client.
//! - `ping`: `ping`, in real time.
//! - `websocket`: `websocket`.
//! - `tls_verify`: `tls-untrusted-ca`, `tls-expired`, `tls-wrong-host`.
//! - [`reconnect`]: `reconnect`; [`refused`]: `refused` (real time, faults armed on the
//!   case's broker); `attempts` (the client's connections read off a transcript) and
//!   `backoff` (reconnect intervals classified) serve them and the others below.
//! - [`pong_loss`]: `pong-loss` and `dead-link`; [`kick_war`]: `kick-war`; [`resubscribe`];
//!   [`pub_retry`]: `pub-retry` (real time, faults armed on the case's broker).
//! - [`usage`]: `qos` and `topics`, judged on what the client publishes and subscribes.
//!
//! Interpretations common to all cases:
//! - Each case's broker judges the case's own rules with the platform's defaults and opens up
//!   the limits of other rules where the policy allows (keepalive range, clientId length), so
//!   one broken rule does not mask another. Rules it cannot open (securemode, username,
//!   signature...) still refuse a CONNECT first; a case whose rules the broker never reached
//!   is "not run", the reason naming the rule that refused the CONNECT: the case of that
//!   rule is the one that fails.
//! - Cases other than `sign` choose the sign method they hand the client ([`methods`]):
//!   hmacsha1 first, then the next whenever the client's CONNECT is refused at a sign rule
//!   before the case's own rules, or the client exits before connecting. One broken or
//!   unsupported sign method does not hide the other rules.
//! - A client that sends no CONNECT within the connect timeout, or exits before sending one
//!   with every sign method, fails the case (except the TLS-verify cases, where not
//!   connecting is the point), and the explanation quotes its last output. A client that
//!   exits with code 77 ([`methods::UNSUPPORTED_EXIT`]) before connecting says it does not
//!   support what it was asked: the case is not run, "unsupported", naming what was asked.

mod attempts;
mod backoff;
mod connect;
mod harness;
pub mod kick_war;
pub mod methods;
mod ping;
pub mod pong_loss;
pub mod pub_retry;
pub mod reconnect;
pub mod refused;
pub mod resubscribe;
pub mod sign;
pub mod sign_property;
mod tls_verify;
pub mod usage;
mod websocket;

use crate::catalogue::{CaseInfo, Check};
use crate::child::ClientCommand;
use crate::outcome::CaseResult;
use mock_broker::Transport;
use mock_broker::auth::SignMethod;
use std::time::Duration;

/// Seconds with millisecond precision, as the cases report durations.
pub(crate) fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// The keepalive hint of the cases that do not measure timers: the platform doc's
/// recommended minimum.
pub const KEEPALIVE_HINT: u16 = 300;

/// How long a case waits and how long real-time measurements may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long the client has, from its start, to send its first CONNECT.
    pub connect: Duration,
    /// How long a case keeps watching after its deciding event for what may follow (a text
    /// frame after CONNACK, a retry after a refused certificate, the client's own words
    /// after a refused CONNECT).
    pub settle: Duration,
    /// Between SIGTERM and SIGKILL when the client is stopped.
    pub grace: Duration,
    /// The longest real-time window a timer case may take; a client whose declared
    /// keepalive needs more is not run.
    pub timer_budget: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            connect: Duration::from_secs(10),
            settle: Duration::from_secs(2),
            grace: Duration::from_secs(3),
            timer_budget: Duration::from_secs(120),
        }
    }
}

/// What a case runs with.
#[derive(Clone, Debug)]
pub struct CaseContext {
    pub transport: Transport,
    pub client: ClientCommand,
    /// The sign methods the run uses (the selected ones the client claims), in order. `sign`
    /// runs each; the other cases try them in [`methods::order`] until one gets through. An
    /// empty list means the default, hmacmd5.
    pub sign_methods: Vec<SignMethod>,
    /// The method this run of a case hands its client, once [`methods::with_fallback`] has
    /// chosen it; `None`: the first of [`methods::order`].
    pub chosen_method: Option<SignMethod>,
    pub timing: Timing,
    /// How `sign` explores identities.
    pub sign_property: sign_property::SignProperty,
    /// Whether the case's broker shows signatures in full (`--reveal-signatures`).
    pub reveal_signatures: bool,
}

impl CaseContext {
    /// The sign method of the cases other than `sign`: the chosen one, else the first to try.
    pub fn sign_method(&self) -> SignMethod {
        self.chosen_method.unwrap_or_else(|| methods::order(&self.sign_methods)[0])
    }

    /// This context with `method` chosen.
    pub fn using(&self, method: SignMethod) -> CaseContext {
        CaseContext { chosen_method: Some(method), ..self.clone() }
    }
}

/// Runs one case on the context's transport. `sign` runs every method itself, and the TLS
/// verify cases pass by not connecting; the others choose a sign method the client gets
/// through with ([`methods::with_fallback`]).
pub async fn run(case: &CaseInfo, ctx: &CaseContext) -> CaseResult {
    match case.check {
        Check::Sign | Check::Certificate(_) => run_with(case, ctx).await,
        _ => methods::with_fallback(ctx, |ctx| async move { run_with(case, &ctx).await }).await,
    }
}

/// Runs one case once, with the context's sign method.
async fn run_with(case: &CaseInfo, ctx: &CaseContext) -> CaseResult {
    match case.check {
        Check::ConnectVerdicts => connect::run(ctx, case.platform_rules).await,
        Check::Sign => sign::run(ctx).await,
        Check::Identities => connect::run_identities(ctx, case).await,
        Check::Ping => ping::run(ctx).await,
        Check::WebSocket => websocket::run(ctx).await,
        Check::Certificate(bad) => tls_verify::run(ctx, bad).await,
        Check::Reconnect => reconnect::run(ctx).await,
        Check::Refused => refused::run(ctx).await,
        Check::PongLoss(loss) => pong_loss::run(ctx, loss).await,
        Check::KickWar => kick_war::run(ctx).await,
        Check::Usage(usage) => usage::run(ctx, usage).await,
        Check::Resubscribe => resubscribe::run(ctx).await,
        Check::PubRetry => pub_retry::run(ctx).await,
    }
}
