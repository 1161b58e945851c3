//! `sign` (C-SIGN): the password is signed correctly for the signmethod the client declares
//! (A-SIGNMETHOD, A-SIGN-HEX, A-SIGN-CONTENT).
//!
//! For each sign method the run uses, the case checks a property (see
//! [`super::sign_property`]): over generated identities, each a client run with
//! `IOT_SIGN_METHOD` set to that method on a broker of its own, the signature is right. The
//! broker checks the signature with the method the client *declares*: a client that ignores
//! `IOT_SIGN_METHOD` but signs correctly for what it declares passes, and
//! `sign_method_declared` shows it.
//!
//! [`run_once`] is one such run with an identity of the caller's choosing.
//!
//! The merged result: the worst method decides (error, then fail, warn, pass, not run);
//! findings are every method's verdicts; the transcript is each method's deciding run (its
//! smallest failing identity, or its last identity), one after the other (each run's broker
//! numbers its connections from 1 and its time from 0); the client output is the deciding
//! method's.

use super::CaseContext;
use super::connect::judge;
use super::harness::{Harness, Setup};
use crate::contract::Identity;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::Rule;
use mock_broker::auth::{MqttClientId, SignMethod};
use serde_json::json;

/// The platform rules `sign` judges.
pub const RULES: &[Rule] = &[Rule::ASignmethod, Rule::ASignHex, Rule::ASignContent];

/// Runs the client once as `identity`, with `IOT_SIGN_METHOD=method`, and judges C-SIGN on
/// the broker's verdicts about its first CONNECT. The result's findings are those verdicts;
/// `measured` holds `sign_method_asked`, `sign_method_declared` and the identity (secret left
/// out).
pub async fn run_once(ctx: &CaseContext, identity: Identity, method: SignMethod) -> CaseResult {
    let setup = Setup { identity, sign_method: method, ..Setup::judging(ctx, RULES) };
    let mut harness = match Harness::start(ctx, setup).await {
        Ok(harness) => harness,
        Err(message) => return CaseResult::error(message),
    };
    let first = harness.first_connect().await;
    let finished = harness.finish().await;
    let mut conclusion = judge(&finished, first.as_ref(), RULES);
    if let Some(first) = &first {
        let declared = match MqttClientId::parse(&first.connect.client_id) {
            Ok(id) => id.param("signmethod").map_or_else(|| "absent (hmacmd5)".to_owned(), str::to_owned),
            Err(_) => "unreadable: the mqttClientId is malformed".to_owned(),
        };
        conclusion = conclusion.measure("sign_method_declared", json!(declared));
    }
    finished.into_result(conclusion)
}

/// Runs `sign` as a property (see [`super::sign_property`]) once per sign method of the
/// context.
pub async fn run(ctx: &CaseContext) -> CaseResult {
    let methods = if ctx.sign_methods.is_empty() { vec![ctx.sign_method()] } else { ctx.sign_methods.clone() };
    let mut runs = Vec::new();
    for method in methods {
        runs.push((method, super::sign_property::explore(ctx, method).await));
    }
    merge(runs)
}

/// How much a verdict weighs when runs are merged: the heaviest decides.
fn weight(verdict: CaseVerdict) -> u8 {
    match verdict {
        CaseVerdict::NotRun => 0,
        CaseVerdict::Pass => 1,
        CaseVerdict::Warn => 2,
        CaseVerdict::Fail => 3,
        CaseVerdict::Error => 4,
    }
}

/// Merges the runs of several sign methods into one case result.
fn merge(runs: Vec<(SignMethod, CaseResult)>) -> CaseResult {
    let decisive = runs.iter().enumerate().max_by_key(|(i, (_, r))| (weight(r.verdict), std::cmp::Reverse(*i)));
    let Some((decisive, _)) = decisive else {
        return CaseResult::error("no sign method to run");
    };
    // Runs that ended alike are told once: `hmacmd5, hmacsha1: <why>`, the deciding one first.
    let mut groups: Vec<(CaseVerdict, &str, Vec<&str>)> = Vec::new();
    let order = std::iter::once(decisive).chain((0..runs.len()).filter(|i| *i != decisive));
    for (method, result) in order.map(|i| &runs[i]) {
        let why = if result.verdict == CaseVerdict::Pass { "pass" } else { result.explanation.as_str() };
        match groups.iter_mut().find(|(v, w, _)| *v == result.verdict && *w == why) {
            Some((_, _, methods)) => methods.push(method.name()),
            None => groups.push((result.verdict, why, vec![method.name()])),
        }
    }
    let explanation: Vec<String> =
        groups.iter().map(|(_, why, methods)| format!("{}: {why}", methods.join(", "))).collect();
    let summary: Vec<_> = runs
        .iter()
        .map(|(method, r)| {
            json!({
                "sign_method_asked": method.name(),
                "sign_method_declared": r.measured.get("sign_method_declared"),
                "verdict": r.verdict.name(),
                "identity": r.measured.get("identity"),
            })
        })
        .collect();
    let mut merged = runs[decisive].1.clone();
    merged.explanation = explanation.join("; ");
    merged.findings = runs.iter().flat_map(|(_, r)| r.findings.iter().cloned()).collect();
    merged.transcript = runs.iter().flat_map(|(_, r)| r.transcript.iter().cloned()).collect();
    merged.stopping = runs.iter().flat_map(|(_, r)| r.stopping.iter().cloned()).collect();
    merged.identities = runs.iter().flat_map(|(_, r)| r.identities.iter().cloned()).collect();
    merged.measured.insert("sign_runs".to_owned(), json!(summary));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(verdict: CaseVerdict, explanation: &str) -> CaseResult {
        let mut r = CaseResult::not_run(explanation);
        r.verdict = verdict;
        r
    }

    #[test]
    fn the_worst_run_decides_and_every_run_is_summarised() {
        let merged = merge(vec![
            (SignMethod::HmacMd5, result(CaseVerdict::Pass, "ok")),
            (SignMethod::HmacSha1, result(CaseVerdict::Fail, "A-SIGN-CONTENT: wrong")),
            (SignMethod::HmacSha256, result(CaseVerdict::Pass, "ok")),
        ]);
        assert_eq!(merged.verdict, CaseVerdict::Fail);
        assert_eq!(merged.explanation, "hmacsha1: A-SIGN-CONTENT: wrong; hmacmd5, hmacsha256: pass");
        assert_eq!(merged.measured["sign_runs"].as_array().unwrap().len(), 3);
        assert_eq!(merged.measured["sign_runs"][1]["verdict"], "fail");
    }

    #[test]
    fn a_run_not_reached_does_not_hide_a_pass_and_no_run_is_an_error() {
        let merged = merge(vec![
            (SignMethod::HmacMd5, result(CaseVerdict::NotRun, "not reached")),
            (SignMethod::HmacSha1, result(CaseVerdict::Pass, "ok")),
        ]);
        assert_eq!(merged.verdict, CaseVerdict::Pass);
        assert_eq!(merged.explanation, "hmacsha1: pass; hmacmd5: not reached");
        let merged = merge(vec![
            (SignMethod::HmacMd5, result(CaseVerdict::NotRun, "not reached")),
            (SignMethod::HmacSha256, result(CaseVerdict::NotRun, "not reached")),
        ]);
        assert_eq!(
            (merged.verdict, merged.explanation.as_str()),
            (CaseVerdict::NotRun, "hmacmd5, hmacsha256: not reached")
        );
        assert_eq!(merge(vec![]).verdict, CaseVerdict::Error);
    }
}
