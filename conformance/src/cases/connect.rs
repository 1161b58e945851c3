//! The cases judged on the broker's verdicts about the client's first CONNECT: `securemode`
//! (A-SECUREMODE), `username` (A-USERNAME, A-DEVICE), `client-id` (A-CID-FORMAT, A-CID-LEN),
//! `keepalive` (A-KEEPALIVE).
//!
//! `username` and `client-id` depend on the identity, so they are properties over generated
//! identities like `sign` ([`super::sign_property`], [`run_identities`]); each identity is one
//! [`run_once`].
//!
//! The first CONNECT decides: a client that retries after a refusal is judged on what it sent
//! first. Verdicts: any finding Fail is a fail; a rule the broker did not reach is not run
//! (the CONNECT was refused earlier, by another case's rule); any Warn is a warn; else pass.

use super::CaseContext;
use super::harness::{Conclusion, ConnectEnd, Finished, FirstConnect, Harness, Setup, connect_measures, explain};
use crate::catalogue::CaseInfo;
use crate::contract::Identity;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::auth::{MqttClientId, SignMethod};
use mock_broker::{CloseReason, Outcome, Rule};
use serde_json::json;

/// Runs a CONNECT-verdict case judging `rules`, with a fresh identity.
pub async fn run(ctx: &CaseContext, rules: &[Rule]) -> CaseResult {
    run_once(ctx, Identity::random(), ctx.sign_method(), rules).await
}

/// Runs a CONNECT-verdict case over generated identities (a property, see
/// [`super::sign_property`]) with the context's sign method.
pub async fn run_identities(ctx: &CaseContext, case: &CaseInfo) -> CaseResult {
    super::sign_property::explore(ctx, case.id, case.platform_rules, ctx.sign_method()).await.result
}

/// Runs the client once as `identity`, with `IOT_SIGN_METHOD=method`, and judges `rules` on
/// the broker's verdicts about its first CONNECT. The result's findings are those verdicts;
/// `measured` holds `sign_method_asked`, `sign_method_declared` and the identity (secret left
/// out).
pub async fn run_once(ctx: &CaseContext, identity: Identity, method: SignMethod, rules: &[Rule]) -> CaseResult {
    let setup = Setup { identity, sign_method: method, ..Setup::judging(ctx, rules) };
    let mut harness = match Harness::start(ctx, setup).await {
        Ok(harness) => harness,
        Err(message) => return CaseResult::error(message),
    };
    let first = harness.first_connect().await;
    let finished = harness.finish().await;
    let mut conclusion = judge(&finished, first.as_ref(), rules);
    if let Some(first) = &first {
        let declared = match MqttClientId::parse(&first.connect.client_id) {
            Ok(id) => id.param("signmethod").map_or_else(|| "absent (hmacmd5)".to_owned(), str::to_owned),
            Err(_) => "unreadable: the mqttClientId is malformed".to_owned(),
        };
        conclusion = conclusion.measure("sign_method_declared", json!(declared));
    }
    finished.into_result(conclusion)
}

/// Judges `rules` on the broker's verdicts about the first CONNECT.
pub fn judge(finished: &Finished, first: Option<&FirstConnect>, rules: &[Rule]) -> Conclusion {
    let Some(first) = first else {
        return finished.without_connect();
    };
    let findings = finished.verdicts_on(first.conn, rules);
    let unchecked: Vec<&str> =
        rules.iter().filter(|r| !findings.iter().any(|v| v.rule == **r)).map(|r| r.id()).collect();
    let conclusion = if let Some(failed) = findings.iter().find(|v| v.outcome == Outcome::Fail) {
        Conclusion::new(CaseVerdict::Fail, explain(failed))
    } else if !unchecked.is_empty() {
        not_reached(first, &unchecked.join(", "))
    } else if let Some(warned) = findings.iter().find(|v| v.outcome == Outcome::Warn) {
        Conclusion::new(CaseVerdict::Warn, explain(warned))
    } else {
        let received: Vec<String> = findings.iter().map(|v| format!("{}: {}", v.rule, v.received)).collect();
        Conclusion::new(CaseVerdict::Pass, received.join("; "))
    };
    connect_measures(&first.connect)
        .into_iter()
        .fold(conclusion.with_findings(findings), |c, (key, value)| c.measure(key, value))
}

/// The broker stopped before checking `unchecked`: why, as a not-run (or an error when the
/// broker itself is at fault).
fn not_reached(first: &FirstConnect, unchecked: &str) -> Conclusion {
    let (verdict, explanation) = match &first.end {
        Some(ConnectEnd::Closed(CloseReason::Refused { code, rule })) => (
            CaseVerdict::NotRun,
            format!(
                "not reached: the broker refused the CONNECT at {rule} (CONNACK 0x{:02x}) before checking {unchecked}; \
                 the case checking {rule} says why",
                code.as_u8()
            ),
        ),
        Some(ConnectEnd::Closed(reason)) => (
            CaseVerdict::NotRun,
            format!("not reached: the connection ended ({}) before {unchecked} was checked", reason.label()),
        ),
        Some(ConnectEnd::Online) => {
            (CaseVerdict::Error, format!("the broker accepted the CONNECT without a verdict on {unchecked}"))
        }
        None => (CaseVerdict::Error, "the broker did not answer the CONNECT".to_owned()),
    };
    Conclusion::new(verdict, explanation)
}
