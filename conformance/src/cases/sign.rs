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
//! Each identity is one [`super::connect::run_once`] judging the sign rules. A method the
//! client will not even try (it exits before connecting on the first identity) while it
//! connects with another is not run for that method, with a hint to say so in the client
//! profile ([`super::methods::unsupported_hint`]); when it connects with none, the first
//! method's fail stands (or its not-run, for exit code 77).
//!
//! The merged result: the worst method decides (error, then fail, warn, pass, not run);
//! findings are every method's verdicts; the transcript is each method's deciding run (its
//! smallest failing identity, or its last identity), one after the other (each run's broker
//! numbers its connections from 1 and its time from 0); the client output is the deciding
//! method's.

use super::CaseContext;
use super::methods::{Reach, unsupported_hint};
use super::sign_property::{Explored, explore};
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::Rule;
use mock_broker::auth::SignMethod;
use serde_json::json;

/// The platform rules `sign` judges.
pub const RULES: &[Rule] = &[Rule::ASignmethod, Rule::ASignHex, Rule::ASignContent];

/// The case's ID in the catalogue.
const CASE: &str = "sign";

/// Runs `sign` as a property (see [`super::sign_property`]) once per sign method of the
/// context.
pub async fn run(ctx: &CaseContext) -> CaseResult {
    let methods = if ctx.sign_methods.is_empty() { vec![SignMethod::DEFAULT] } else { ctx.sign_methods.clone() };
    let mut runs = Vec::new();
    for method in methods {
        runs.push((method, explore(ctx, CASE, RULES, method).await));
    }
    merge(unsupported(runs))
}

/// The runs, a method the client exited on before connecting made not run (with the hint)
/// when it sent a CONNECT with another method.
fn unsupported(runs: Vec<(SignMethod, Explored)>) -> Vec<(SignMethod, CaseResult)> {
    let exited = |e: &Explored| match e.unreached {
        Some(Reach::Exited(code)) => Some(code),
        _ => None,
    };
    let connected: Vec<SignMethod> = runs
        .iter()
        .filter(|(_, e)| !matches!(e.unreached, Some(Reach::Exited(_) | Reach::Other)))
        .map(|(m, _)| *m)
        .collect();
    runs.into_iter()
        .map(|(method, explored)| match exited(&explored) {
            Some(code) if !connected.is_empty() => {
                let mut result = explored.result;
                result.verdict = CaseVerdict::NotRun;
                result.explanation = unsupported_hint(code, method, &connected);
                (method, result)
            }
            _ => (method, explored.result),
        })
        .collect()
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
    fn a_method_the_client_exits_on_is_not_run_when_another_connects() {
        let explored = |verdict, unreached| Explored { result: result(verdict, "why"), unreached };
        let runs = unsupported(vec![
            (SignMethod::HmacMd5, explored(CaseVerdict::Fail, Some(Reach::Exited(Some(3))))),
            (SignMethod::HmacSha1, explored(CaseVerdict::Pass, None)),
            (SignMethod::HmacSha256, explored(CaseVerdict::NotRun, Some(Reach::Exited(Some(77))))),
        ]);
        let verdicts: Vec<CaseVerdict> = runs.iter().map(|(_, r)| r.verdict).collect();
        assert_eq!(verdicts, [CaseVerdict::NotRun, CaseVerdict::Pass, CaseVerdict::NotRun]);
        assert!(runs[0].1.explanation.starts_with("the client exited with code 3 before connecting when asked for hmacmd5; connected with hmacsha1: if it supports only hmacsha1"), "{}", runs[0].1.explanation);
        assert!(
            runs[2].1.explanation.starts_with("unsupported: the client exited with code 77"),
            "{}",
            runs[2].1.explanation
        );
        let merged = merge(runs);
        assert_eq!(merged.verdict, CaseVerdict::Pass);

        let none = unsupported(vec![
            (SignMethod::HmacMd5, explored(CaseVerdict::Fail, Some(Reach::Exited(Some(3))))),
            (SignMethod::HmacSha1, explored(CaseVerdict::Fail, Some(Reach::Exited(Some(3))))),
        ]);
        assert!(
            none.iter().all(|(_, r)| r.verdict == CaseVerdict::Fail && r.explanation == "why"),
            "a client that never connects fails"
        );
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
