//! The catalogue: every case the suite can run, with the rules it checks.
//!
//! A case checks one client rule (`C-...`, listed in
//! [`crate::report::coverage::CLIENT_RULES`] and `RULES.md`) through the platform rules it
//! follows from; the broker's verdicts on those platform rules are the case's findings.
//! `--list` prints this table.
//!
//! Besides the platform rules their client rule follows from, three cases cite one more,
//! because the broker gives the decisive verdict under it:
//! - `sign` cites A-SIGNMETHOD: a signmethod the platform does not know is a signing failure.
//! - `username` cites A-DEVICE: a username that names another device (`productKey&deviceName`
//!   swapped) passes A-USERNAME's shape check and fails A-DEVICE.
//! - `websocket` cites T-WS: C-WS asks for binary frames, which T-WS demands.

use crate::model::Severity;
use crate::profile::Capability;
use mock_broker::{Rule, Transport};
use std::time::Duration;

/// A certificate the TLS-verify cases serve, wrong in one way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadCertificate {
    /// Issued by a CA other than the one in `IOT_CA_FILE`.
    UntrustedCa,
    /// Issued by the trusted CA, expired in 2001.
    Expired,
    /// Issued by the trusted CA for `wrong-host.invalid` only.
    WrongHost,
}

/// How a case checks its rule; `cases::run` dispatches on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// The broker's verdicts on the case's platform rules, from the client's first CONNECT.
    ConnectVerdicts,
    /// The signature verdicts, once per sign method the run uses, over generated identities.
    Sign,
    /// The broker's verdicts on the case's platform rules over generated identities (a
    /// property, like `Sign`, with one sign method).
    Identities,
    /// Packet gaps over a real-time window of twice the declared keepalive.
    Ping,
    /// The WebSocket subprotocol offered and the frame type.
    WebSocket,
    /// The client must refuse this certificate.
    Certificate(BadCertificate),
    /// The broker ends the connection several ways; the reconnects are timed.
    Reconnect,
    /// The broker refuses several CONNECTs; the retries are timed.
    Refused,
    /// PINGRESPs go unanswered (or the whole link does); the client must drop the connection.
    PongLoss(crate::cases::pong_loss::Loss),
    /// Two instances of the client share one identity and kick each other.
    KickWar,
    /// What the client publishes and subscribes: QoS or topics.
    Usage(crate::cases::usage::Usage),
    /// After a server-side close, the subscriptions are made again.
    Resubscribe,
    /// A QoS 1 PUBLISH left without PUBACK is resent after the reconnect.
    PubRetry,
}

/// One case.
#[derive(Clone, Debug)]
pub struct CaseInfo {
    /// The case ID `--only` and `--skip` take, e.g. `securemode`.
    pub id: &'static str,
    pub title: &'static str,
    /// The client rule checked, e.g. `C-SECUREMODE`.
    pub client_rule: &'static str,
    /// The platform rules whose verdicts decide the case.
    pub platform_rules: &'static [Rule],
    pub severity: Severity,
    /// How long the case usually takes with a client that starts quickly.
    pub expected: Duration,
    /// The transports the case applies to.
    pub transports: &'static [Transport],
    /// Runs in real time on keepalive timers: left out by `--profile quick`.
    pub timer: bool,
    /// What the client must claim beyond the transport and a sign method.
    pub needs: &'static [Capability],
    pub check: Check,
}

const ALL_TRANSPORTS: &[Transport] = &Transport::ALL;
const WEBSOCKET: &[Transport] = &[Transport::Ws, Transport::Wss];
const TLS: &[Transport] = &[Transport::Wss, Transport::Tls];

/// The keepalive the timer cases ask for (`IOT_KEEPALIVE`): the platform's minimum.
pub const TIMER_KEEPALIVE: u16 = 30;

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Every case, in the order reports list them.
pub static CASES: [CaseInfo; 19] = [
    CaseInfo {
        id: "securemode",
        title: "declares securemode 3 over ws/tcp and 2 over wss/tls",
        client_rule: "C-SECUREMODE",
        platform_rules: &[Rule::ASecuremode],
        severity: Severity::Must,
        expected: secs(2),
        transports: ALL_TRANSPORTS,
        timer: false,
        needs: &[],
        check: Check::ConnectVerdicts,
    },
    CaseInfo {
        id: "sign",
        title: "signs the password correctly for the signmethod it declares",
        client_rule: "C-SIGN",
        platform_rules: crate::cases::sign::RULES,
        severity: Severity::Must,
        expected: secs(6),
        transports: ALL_TRANSPORTS,
        timer: false,
        needs: &[],
        check: Check::Sign,
    },
    CaseInfo {
        id: "username",
        title: "sends the username deviceName&productKey",
        client_rule: "C-USERNAME",
        platform_rules: &[Rule::AUsername, Rule::ADevice],
        severity: Severity::Must,
        expected: secs(6),
        transports: ALL_TRANSPORTS,
        timer: false,
        needs: &[],
        check: Check::Identities,
    },
    CaseInfo {
        id: "client-id",
        title: "keeps the clientId within 64 characters and its params block well-formed",
        client_rule: "C-CID",
        platform_rules: &[Rule::ACidFormat, Rule::ACidLen],
        severity: Severity::Must,
        expected: secs(6),
        transports: ALL_TRANSPORTS,
        timer: false,
        needs: &[],
        check: Check::Identities,
    },
    CaseInfo {
        id: "keepalive",
        title: "declares a keepalive within 30..=1200 s",
        client_rule: "C-KEEPALIVE",
        platform_rules: &[Rule::AKeepalive],
        severity: Severity::Must,
        expected: secs(2),
        transports: ALL_TRANSPORTS,
        timer: false,
        needs: &[],
        check: Check::ConnectVerdicts,
    },
    CaseInfo {
        id: "ping",
        title: "sends a packet within every keepalive interval when idle (real time)",
        client_rule: "C-PING",
        platform_rules: &[Rule::KTimer, Rule::KTimeout],
        severity: Severity::Must,
        expected: secs(2 * TIMER_KEEPALIVE as u64 + 5),
        transports: ALL_TRANSPORTS,
        timer: true,
        needs: &[],
        check: Check::Ping,
    },
    CaseInfo {
        id: "pong-loss",
        title: "drops the connection when PINGRESPs are withheld (real time)",
        client_rule: "C-PONG-LOSS",
        platform_rules: crate::cases::pong_loss::RULES,
        severity: Severity::Must,
        expected: secs(40),
        transports: ALL_TRANSPORTS,
        timer: true,
        needs: &[],
        check: Check::PongLoss(crate::cases::pong_loss::Loss::Pingresp),
    },
    CaseInfo {
        id: "dead-link",
        title: "drops the connection when the link answers nothing at all (real time)",
        client_rule: "C-PONG-LOSS",
        platform_rules: crate::cases::pong_loss::RULES,
        severity: Severity::Must,
        expected: secs(40),
        transports: ALL_TRANSPORTS,
        timer: true,
        needs: &[],
        check: Check::PongLoss(crate::cases::pong_loss::Loss::Link),
    },
    CaseInfo {
        id: "reconnect",
        title: "reconnects after a close, a kick and a reset, at least 1 s later and backing off (real time)",
        client_rule: "C-RECONNECT",
        platform_rules: crate::cases::reconnect::RULES,
        severity: Severity::Must,
        expected: secs(40),
        transports: ALL_TRANSPORTS,
        timer: true,
        needs: &[],
        check: Check::Reconnect,
    },
    CaseInfo {
        id: "kick-war",
        title: "two instances of one device: kicked, it reconnects and backs off (real time)",
        client_rule: "C-RECONNECT",
        platform_rules: crate::cases::kick_war::RULES,
        severity: Severity::Must,
        expected: secs(22),
        transports: ALL_TRANSPORTS,
        timer: true,
        needs: &[],
        check: Check::KickWar,
    },
    CaseInfo {
        id: "refused",
        title: "after CONNACK 0x04, 0x05 and 0x03 does not retry in a tight loop (real time)",
        client_rule: "C-REFUSED",
        platform_rules: crate::cases::refused::RULES,
        severity: Severity::Must,
        expected: secs(20),
        transports: ALL_TRANSPORTS,
        timer: true,
        needs: &[],
        check: Check::Refused,
    },
    CaseInfo {
        id: "websocket",
        title: "offers the subprotocol mqtt and sends MQTT in binary frames",
        client_rule: "C-WS",
        platform_rules: &[Rule::TWsSubproto, Rule::TWs],
        severity: Severity::Must,
        expected: secs(4),
        transports: WEBSOCKET,
        timer: false,
        needs: &[],
        check: Check::WebSocket,
    },
    CaseInfo {
        id: "tls-untrusted-ca",
        title: "refuses a server certificate from a CA it was not given",
        client_rule: "C-TLS-VERIFY",
        platform_rules: &[Rule::TWss, Rule::TTls],
        severity: Severity::Must,
        expected: secs(3),
        transports: TLS,
        timer: false,
        needs: &[],
        check: Check::Certificate(BadCertificate::UntrustedCa),
    },
    CaseInfo {
        id: "tls-expired",
        title: "refuses an expired server certificate",
        client_rule: "C-TLS-VERIFY",
        platform_rules: &[Rule::TWss, Rule::TTls],
        severity: Severity::Must,
        expected: secs(3),
        transports: TLS,
        timer: false,
        needs: &[],
        check: Check::Certificate(BadCertificate::Expired),
    },
    CaseInfo {
        id: "tls-wrong-host",
        title: "refuses a server certificate for another host name",
        client_rule: "C-TLS-VERIFY",
        platform_rules: &[Rule::TWss, Rule::TTls],
        severity: Severity::Must,
        expected: secs(3),
        transports: TLS,
        timer: false,
        needs: &[],
        check: Check::Certificate(BadCertificate::WrongHost),
    },
    CaseInfo {
        id: "qos",
        title: "publishes and subscribes with QoS 0 or 1 only",
        client_rule: "C-QOS",
        platform_rules: crate::cases::usage::QOS_RULES,
        severity: Severity::Must,
        expected: secs(4),
        transports: ALL_TRANSPORTS,
        timer: false,
        needs: &[],
        check: Check::Usage(crate::cases::usage::Usage::Qos),
    },
    CaseInfo {
        id: "topics",
        title: "publishes and subscribes only to its own topics",
        client_rule: "C-TOPICS",
        platform_rules: crate::cases::usage::TOPIC_RULES,
        severity: Severity::Must,
        expected: secs(4),
        transports: ALL_TRANSPORTS,
        timer: false,
        needs: &[],
        check: Check::Usage(crate::cases::usage::Usage::Topics),
    },
    CaseInfo {
        id: "resubscribe",
        title: "subscribes again after a reconnect with session present 0 (real time)",
        client_rule: "C-RESUB",
        platform_rules: crate::cases::resubscribe::RULES,
        severity: Severity::Must,
        expected: secs(6),
        transports: ALL_TRANSPORTS,
        timer: true,
        needs: &[],
        check: Check::Resubscribe,
    },
    CaseInfo {
        id: "pub-retry",
        title: "resends an unacknowledged QoS 1 PUBLISH with its packet id and DUP=1 after reconnecting (real time)",
        client_rule: "C-PUB-RETRY",
        platform_rules: crate::cases::pub_retry::RULES,
        severity: Severity::Should,
        expected: secs(6),
        transports: ALL_TRANSPORTS,
        timer: true,
        needs: &[],
        check: Check::PubRetry,
    },
];

/// The case with ID `id`.
pub fn find(id: &str) -> Option<&'static CaseInfo> {
    CASES.iter().find(|c| c.id == id)
}

impl CaseInfo {
    /// Whether `selector` (as `--only` and `--skip` take it) names this case: its ID
    /// (`sign`), its client rule (`C-RECONNECT`) or one of its platform rules
    /// (`A-SIGN-CONTENT`), rule IDs in any case.
    pub fn selected_by(&self, selector: &str) -> bool {
        selector == self.id
            || selector.eq_ignore_ascii_case(self.client_rule)
            || self.platform_rules.iter().any(|r| selector.eq_ignore_ascii_case(r.id()))
    }
}

/// The client rules the catalogue has cases for, each once, in catalogue order.
pub fn client_rules() -> Vec<&'static str> {
    let mut rules: Vec<&'static str> = Vec::new();
    for case in &CASES {
        if !rules.contains(&case.client_rule) {
            rules.push(case.client_rule);
        }
    }
    rules
}

/// The case IDs, comma-separated, for error messages.
pub fn ids() -> String {
    CASES.iter().map(|c| c.id).collect::<Vec<_>>().join(", ")
}

/// The `--list` table: one line per case.
pub fn listing() -> String {
    let mut text = format!(
        "{:<17} {:<13} {:<6} {:>6} {:<15} {}\n",
        "CASE", "CLIENT RULE", "LEVEL", "TIME", "TRANSPORTS", "PLATFORM RULES / TITLE"
    );
    for case in &CASES {
        let level = match case.severity {
            Severity::Must => "MUST",
            Severity::Should => "SHOULD",
        };
        let transports: Vec<&str> = case.transports.iter().map(|t| t.scheme()).collect();
        let rules: Vec<&str> = case.platform_rules.iter().map(|r| r.id()).collect();
        let timer = if case.timer { " [timer: full profile only]" } else { "" };
        text.push_str(&format!(
            "{:<17} {:<13} {:<6} {:>5}s {:<15} {}\n{:>62}{}{timer}\n",
            case.id,
            case.client_rule,
            level,
            case.expected.as_secs(),
            transports.join(","),
            rules.join(", "),
            "",
            case.title,
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::report::coverage::CLIENT_RULES;

    #[test]
    fn every_case_cites_a_client_rule_and_platform_rules_it_follows_from() {
        for case in &CASES {
            let rule = CLIENT_RULES
                .iter()
                .find(|r| r.id == case.client_rule)
                .unwrap_or_else(|| panic!("{}: {} is not a client rule", case.id, case.client_rule));
            assert!(!case.platform_rules.is_empty(), "{}", case.id);
            assert!(
                case.platform_rules.iter().any(|r| rule.follows_from.contains(r)),
                "{}: none of {:?} is a rule {} follows from ({:?})",
                case.id,
                case.platform_rules,
                rule.id,
                rule.follows_from
            );
        }
        let mut catalogued = client_rules();
        catalogued.sort_by_key(|id| CLIENT_RULES.iter().position(|r| r.id == *id));
        let all: Vec<&str> = CLIENT_RULES.iter().map(|r| r.id).collect();
        assert_eq!(catalogued, all, "every client rule has at least one case");
    }

    #[test]
    fn ids_are_unique_and_cases_are_well_formed() {
        let mut ids: Vec<&str> = CASES.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CASES.len());
        for case in &CASES {
            assert!(!case.transports.is_empty(), "{}", case.id);
            assert!(case.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{}", case.id);
            assert_eq!(find(case.id).map(|c| c.id), Some(case.id));
        }
        assert!(
            CASES
                .iter()
                .filter(|c| c.timer)
                .all(|c| !matches!(c.check, Check::ConnectVerdicts | Check::Sign | Check::Certificate(_)))
        );
        for case in CASES.iter().filter(|c| matches!(c.check, Check::Certificate(_))) {
            assert!(case.transports.iter().all(|t| t.is_tls()), "{}", case.id);
        }
        assert!(find("websocket").unwrap().transports.iter().all(|t| t.is_websocket()));
        assert!(find("nope").is_none());
    }

    #[test]
    fn selectors_name_a_case_its_client_rule_or_its_platform_rules() {
        let picked =
            |selector: &str| CASES.iter().filter(|c| c.selected_by(selector)).map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(picked("sign"), ["sign"]);
        assert_eq!(picked("C-RECONNECT"), ["reconnect", "kick-war"]);
        assert_eq!(picked("c-pong-loss"), ["pong-loss", "dead-link"]);
        assert_eq!(picked("A-SIGN-CONTENT"), ["sign"]);
        assert_eq!(picked("T-TLS"), ["tls-untrusted-ca", "tls-expired", "tls-wrong-host"]);
        assert!(picked("pong").is_empty());
    }

    #[test]
    fn the_listing_shows_every_case() {
        let listing = listing();
        for case in &CASES {
            assert!(listing.contains(case.id) && listing.contains(case.title), "{}", case.id);
        }
        assert!(listing.contains("[timer: full profile only]"));
    }
}
