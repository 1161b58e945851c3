//! Rule coverage: for every client rule (`C-SECUREMODE` ... `C-RESUB`, the kit's own
//! `C-PUB-RETRY` from MQTT 3.1.1 among them), whether the run exercised it and with what worst
//! verdict, or why not — so a green run never hides what was not checked.
//!
//! [`CLIENT_RULES`] is the one list of those rules in the crate. Coverage does not depend on
//! the catalogue: the runner passes the client rules its catalogue has cases for.

use crate::model::{CaseReport, RuleCoverage, RunReport};
use crate::outcome::CaseVerdict;
use mock_broker::Rule;

/// A client rule: what a conformant device client does, and the platform rules it follows
/// from. This table is the kit's own statement of the client rules; the catalogue's cases
/// cite it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientRule {
    /// `C-...`.
    pub id: &'static str,
    /// The rule in one line, naming the platform rules it follows from.
    pub meaning: &'static str,
    /// The platform rules a breach of this client rule shows up under.
    pub follows_from: &'static [Rule],
}

const fn rule(id: &'static str, meaning: &'static str, follows_from: &'static [Rule]) -> ClientRule {
    ClientRule { id, meaning, follows_from }
}

/// Every client rule, in the order reports and `RULES.md` list them: the fourteen that follow
/// from the platform's rules, with `C-PUB-RETRY` (from MQTT 3.1.1 itself) after `C-QOS`.
pub const CLIENT_RULES: &[ClientRule] = &[
    rule("C-SECUREMODE", "declares securemode 3 over ws/tcp and 2 over wss/tls (A-SECUREMODE)", &[Rule::ASecuremode]),
    rule(
        "C-SIGN",
        "signs correctly for the signmethod it declares, for any valid identity (A-SIGN-*)",
        &[Rule::ASignContent, Rule::ASignHex],
    ),
    rule("C-USERNAME", "sends deviceName&productKey (A-USERNAME)", &[Rule::AUsername]),
    rule(
        "C-CID",
        "keeps the clientId prefix within 64 characters and the params block well-formed (A-CID-*)",
        &[Rule::ACidFormat, Rule::ACidLen],
    ),
    rule("C-KEEPALIVE", "declares a keepalive within 30..=1200 (A-KEEPALIVE)", &[Rule::AKeepalive]),
    rule(
        "C-PING",
        "sends at least one packet within every keepalive interval when otherwise idle (K-*)",
        &[Rule::KTimer, Rule::KTimeout, Rule::KClose, Rule::KPing],
    ),
    rule("C-PONG-LOSS", "notices missing PINGRESPs and reconnects (K-PING)", &[Rule::KPing]),
    rule(
        "C-RECONNECT",
        "reconnects after the server closes, waiting at least 1 s and backing off, with fresh credentials (K-CLOSE, S-KICK)",
        &[Rule::KClose, Rule::SKick],
    ),
    rule("C-REFUSED", "after a refused CONNACK does not retry in a tight loop (A-CONNACK)", &[Rule::AConnack]),
    rule(
        "C-TLS-VERIFY",
        "over wss/tls refuses an untrusted, expired or wrong-host certificate (T-WSS, T-TLS)",
        &[Rule::TWss, Rule::TTls],
    ),
    rule("C-WS", "offers subprotocol mqtt (or mqttv3.1) and sends binary frames (T-WS-SUBPROTO)", &[Rule::TWsSubproto]),
    rule("C-QOS", "never uses QoS 2 (S-QOS)", &[Rule::SQos]),
    rule(
        "C-PUB-RETRY",
        "resends an unacknowledged QoS 1 PUBLISH with the same packet id and DUP=1 after it reconnects (S-PUBACK)",
        &[Rule::SPuback],
    ),
    rule("C-TOPICS", "publishes and subscribes only to its own topics (S-TOPIC-OWN)", &[Rule::STopicOwn]),
    rule("C-RESUB", "after a reconnect with cleanSession=1, subscribes again (S-CLEAN)", &[Rule::SClean]),
];

/// The reason given for a client rule no case of the catalogue targets.
pub const NO_CASE_YET: &str = "no case in this catalogue yet";

/// The one-line meaning of a client rule, `None` for an ID outside [`CLIENT_RULES`].
pub fn meaning(id: &str) -> Option<&'static str> {
    CLIENT_RULES.iter().find(|r| r.id == id).map(|r| r.meaning)
}

/// The coverage of every client rule: [`CLIENT_RULES`] in order, then any other rule a case
/// names. `catalogued` lists the client rules the catalogue has at least one case for.
///
/// - Some case ran (pass / warn / fail): the worst of those verdicts; the reason is empty,
///   or says which runs of the rule did not happen ("partly exercised; not run: ...").
/// - Every case of the rule errored: `Error`, and the kit's explanation.
/// - Its cases are all not-run: `None`, and their reasons ("left out by the quick profile",
///   "not claimed by the client: ...", as the cases word them).
/// - Catalogued but no case of it is in the report: `None`, "left out of this run (profile
///   quick; transports ws, tcp)".
/// - Not catalogued: `None`, [`NO_CASE_YET`].
pub fn compute(report: &RunReport, catalogued: &[&str]) -> Vec<RuleCoverage> {
    super::rule_order(report).into_iter().map(|rule| one(report, catalogued, rule)).collect()
}

fn one(report: &RunReport, catalogued: &[&str], rule: &str) -> RuleCoverage {
    let cases: Vec<&CaseReport> = report.cases.iter().filter(|c| c.client_rule == rule).collect();
    let ran = |c: &&&CaseReport| matches!(c.result.verdict, CaseVerdict::Pass | CaseVerdict::Warn | CaseVerdict::Fail);
    let worst = cases.iter().filter(ran).map(|c| c.result.verdict).max();
    let (verdict, reason) = if let Some(worst) = worst {
        let gaps: Vec<&CaseReport> = cases.iter().copied().filter(|c| !ran(&c)).collect();
        let reason = if gaps.is_empty() {
            String::new()
        } else {
            format!("partly exercised; not run: {}", grouped(&gaps, false))
        };
        (Some(worst), reason)
    } else if cases.iter().any(|c| c.result.verdict == CaseVerdict::Error) {
        (Some(CaseVerdict::Error), format!("the kit failed: {}", grouped(&cases, false)))
    } else if !cases.is_empty() {
        (None, grouped(&cases, true))
    } else if catalogued.contains(&rule) {
        let transports: Vec<&str> = report.transports.iter().map(|t| t.scheme()).collect();
        (None, format!("left out of this run (profile {}; transports {})", report.profile, transports.join(", ")))
    } else {
        (None, NO_CASE_YET.to_string())
    };
    RuleCoverage { rule: rule.to_string(), verdict, reason }
}

/// The explanations of `cases`: `case[transports]: explanation` for each, joined by `; `;
/// when `terse` and they all give the same one, just that explanation.
fn grouped(cases: &[&CaseReport], terse: bool) -> String {
    let first = &cases[0].result.explanation;
    if terse && cases.iter().all(|c| &c.result.explanation == first) {
        return first.clone();
    }
    let mut groups: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for case in cases {
        let explanation = case.result.explanation.as_str();
        match groups.iter_mut().find(|(id, why, _)| *id == case.case && *why == explanation) {
            Some((_, _, transports)) => transports.push(case.transport.scheme()),
            None => groups.push((&case.case, explanation, vec![case.transport.scheme()])),
        }
    }
    let parts: Vec<String> =
        groups.iter().map(|(id, why, transports)| format!("{id}[{}]: {why}", transports.join(", "))).collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::outcome::CaseResult;

    fn find<'c>(coverage: &'c [RuleCoverage], rule: &str) -> &'c RuleCoverage {
        coverage.iter().find(|c| c.rule == rule).unwrap_or_else(|| panic!("no coverage for {rule}"))
    }

    #[test]
    fn report_coverage_lists_the_fifteen_client_rules() {
        let ids: Vec<&str> = CLIENT_RULES.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 15, "the platform's fourteen and C-PUB-RETRY");
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 15, "duplicate IDs: {ids:?}");
        assert!(ids.iter().all(|id| id.starts_with("C-")));
        assert!(CLIENT_RULES.iter().all(|r| r.meaning.ends_with(')')), "each meaning cites its platform rules");
        for rule in CLIENT_RULES {
            let cited = &rule.meaning[rule.meaning.rfind('(').expect("a cited rule list")..];
            for platform in rule.follows_from {
                let named = cited.split(|c: char| "(), ".contains(c)).any(|p| match p.strip_suffix('*') {
                    Some(prefix) => platform.id().starts_with(prefix),
                    None => platform.id() == p,
                });
                assert!(named, "{}: {platform} is not named in {cited:?}", rule.id);
            }
        }
        assert_eq!(meaning("C-QOS"), Some("never uses QoS 2 (S-QOS)"));
        assert_eq!(ids[ids.iter().position(|id| *id == "C-QOS").unwrap() + 1], "C-PUB-RETRY");
        assert_eq!(meaning("C-NOPE"), None);
    }

    #[test]
    fn report_coverage_gives_worst_verdict_or_reason() {
        let report = sample_report();
        let coverage = compute(&report, &["C-SECUREMODE", "C-KEEPALIVE", "C-PING", "C-TLS-VERIFY", "C-WS"]);
        let rules: Vec<&str> = coverage.iter().map(|c| c.rule.as_str()).collect();
        assert_eq!(rules.len(), 16, "the client rules plus the rule outside them: {rules:?}");
        assert_eq!(rules.last(), Some(&"C-ODD"));

        let securemode = find(&coverage, "C-SECUREMODE");
        assert_eq!(securemode.verdict, Some(CaseVerdict::Pass));
        assert_eq!(
            securemode.reason,
            "partly exercised; not run: securemode[tls]: not claimed by the client: no TLS support"
        );

        let keepalive = find(&coverage, "C-KEEPALIVE");
        assert_eq!((keepalive.verdict, keepalive.reason.as_str()), (Some(CaseVerdict::Fail), ""));
        assert_eq!(find(&coverage, "C-PING").verdict, Some(CaseVerdict::Warn));

        let tls = find(&coverage, "C-TLS-VERIFY");
        assert_eq!(tls.verdict, Some(CaseVerdict::Error));
        assert!(
            tls.reason.starts_with("the kit failed: tls-verify[wss]: could not spawn the client"),
            "{}",
            tls.reason
        );

        let ws = find(&coverage, "C-WS");
        assert_eq!(ws.verdict, None);
        assert_eq!(ws.reason, "left out of this run (profile quick; transports ws, wss, tcp, tls)");

        let odd = find(&coverage, "C-ODD");
        assert_eq!((odd.verdict, odd.reason.as_str()), (None, "left out by the quick profile"));

        let sign = find(&coverage, "C-SIGN");
        assert_eq!((sign.verdict, sign.reason.as_str()), (None, NO_CASE_YET));
    }

    #[test]
    fn report_coverage_worst_verdict_wins_and_reasons_group_by_case() {
        let mut report = sample_report();
        let mut warn = report.cases[0].clone();
        warn.transport = mock_broker::Transport::Tcp;
        warn.result.verdict = CaseVerdict::Warn;
        report.cases.push(warn);
        let mut other = report.cases[0].clone();
        other.case = "securemode-flip".to_string();
        other.result = CaseResult::not_run("left out by the quick profile");
        report.cases.push(other);
        let coverage = compute(&report, &[]);
        let securemode = find(&coverage, "C-SECUREMODE");
        assert_eq!(securemode.verdict, Some(CaseVerdict::Warn));
        assert_eq!(
            securemode.reason,
            "partly exercised; not run: securemode[tls]: not claimed by the client: no TLS support; \
             securemode-flip[ws]: left out by the quick profile"
        );
        assert_eq!(find(&coverage, "C-WS").reason, NO_CASE_YET, "not catalogued");
    }
}
