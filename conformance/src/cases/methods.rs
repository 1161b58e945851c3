//! Which sign method a case that is not about signing hands its client, and what it does when
//! the client will not get past the CONNECT with it. One broken (or unsupported) sign method
//! must not hide every other rule.
//!
//! The design: each case chooses for itself, by retrying. No case waits for another, so the
//! rows stay independent and a client that signs hmacsha1 correctly costs no extra time.
//! - The order ([`order`]): hmacsha1 first — every SDK signs it, and some declare another
//!   method yet compute hmacsha1 — then the run's other methods in the run's order.
//! - A case runs with the first. When that run never reached the case's rule because the
//!   first CONNECT was refused at a sign rule (A-SIGNMETHOD, A-SIGN-HEX, A-SIGN-CONTENT), or
//!   because the client exited before sending a CONNECT (it may not support the method), the
//!   case runs again with the next method ([`passed_over`]). Each method passed over costs
//!   one short run: a refused CONNECT and the settle time, or a client exiting at once.
//! - The first run that reaches decides. `measured.sign_method_asked` names its method; when
//!   it is not the first tried, the explanation says why the ones before were passed over.
//! - When no method gets through, the first method's result stands (a not-run naming the
//!   sign rule, whose case `sign` fails; a fail saying the client never connected), noting
//!   that the others fared no better.
//!
//! A client exiting before it connects is also how a client says "unsupported": with exit
//! code [`UNSUPPORTED_EXIT`] (77, the convention of Automake's test harness) a case is not
//! run, naming what was asked ([`exited`] words it). The `sign` case uses [`reach`] and
//! [`unsupported_hint`] to tell a method the client will not even try (not run, with a hint
//! to say so in the client profile) from one it signs wrongly (a fail).

use super::CaseContext;
use super::harness::text_frame;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::auth::SignMethod;
use mock_broker::{CloseReason, EventKind, Rule};
use std::future::Future;

/// The exit code by which a client says, before connecting, that it does not support what it
/// was asked (a sign method, a transport...): the case is not run.
pub const UNSUPPORTED_EXIT: i32 = 77;

/// The platform rules a CONNECT refused for its signature was refused at.
const SIGN_RULES: [Rule; 3] = [Rule::ASignmethod, Rule::ASignHex, Rule::ASignContent];

/// The order in which cases not about signing try the run's sign methods: hmacsha1 first,
/// then the others in the run's order. No method means the platform's default, hmacmd5.
pub fn order(methods: &[SignMethod]) -> Vec<SignMethod> {
    if methods.is_empty() {
        return vec![SignMethod::DEFAULT];
    }
    let preferred = methods.iter().copied().filter(|m| *m == SignMethod::HmacSha1);
    preferred.chain(methods.iter().copied().filter(|m| *m != SignMethod::HmacSha1)).collect()
}

/// How far one client run got with the broker, read off its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// The first CONNECT was read and not refused.
    Connected,
    /// The first CONNECT was refused at this rule (its ID).
    Refused(String),
    /// The client exited by itself before sending a CONNECT: its exit code (`None`: a signal).
    Exited(Option<i32>),
    /// Anything else: no client ran, it stayed silent until stopped, a text frame was closed.
    Other,
}

/// How far the run of `result` got: its first CONNECT and how the broker answered it, or how
/// the client ended without one. Meant for a result of one client run.
pub fn reach(result: &CaseResult) -> Reach {
    let events = || result.transcript.iter().chain(&result.stopping);
    let first = events().find(|e| matches!(e.kind, EventKind::Connect(_))).map(|e| e.conn);
    if let Some(conn) = first {
        return events()
            .find_map(|e| match &e.kind {
                EventKind::Closed { reason: CloseReason::Refused { rule, .. } } if e.conn == conn => {
                    Some(Reach::Refused(rule.clone()))
                }
                _ => None,
            })
            .unwrap_or(Reach::Connected);
    }
    let text_frames = events().any(|e| matches!(&e.kind, EventKind::Closed { reason } if text_frame(reason).is_some()));
    match &result.client {
        Some(client) if !client.stopped_by_suite && !text_frames => Reach::Exited(client.exit_code),
        _ => Reach::Other,
    }
}

/// Whether a run that got `reach` and concluded `verdict` should give way to the next sign
/// method: refused at a sign rule before the case's own rules (not run), or the client
/// exited before connecting.
pub fn passed_over(reach: &Reach, verdict: CaseVerdict) -> bool {
    match reach {
        Reach::Refused(rule) => verdict == CaseVerdict::NotRun && SIGN_RULES.iter().any(|r| r.id() == rule),
        Reach::Exited(_) => matches!(verdict, CaseVerdict::Fail | CaseVerdict::NotRun),
        Reach::Connected | Reach::Other => false,
    }
}

/// A client that exited before connecting when asked for `asked`, in words:
/// "the client exited with code 3 before connecting when asked for hmacmd5"; code 77 says
/// "unsupported: " first.
pub fn exited(code: Option<i32>, asked: &str) -> String {
    match code {
        Some(UNSUPPORTED_EXIT) => format!(
            "unsupported: the client exited with code {UNSUPPORTED_EXIT} before connecting when asked for {asked}"
        ),
        Some(code) => format!("the client exited with code {code} before connecting when asked for {asked}"),
        None => format!("the client was ended by a signal before connecting when asked for {asked}"),
    }
}

/// What to say of `method`, which the client would not connect with (it exited with `code`),
/// when it did connect with `connected`: how to tell the suite it supports only those.
pub fn unsupported_hint(code: Option<i32>, method: SignMethod, connected: &[SignMethod]) -> String {
    let names: Vec<&str> = connected.iter().map(|m| m.name()).collect();
    let flags: Vec<String> = names.iter().map(|n| format!("--sign-method {n}")).collect();
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let only = if names.len() == 1 { names[0].to_owned() } else { "those".to_owned() };
    format!(
        "{}; connected with {}: if it supports only {only}, say so with `{}` or `sign_methods = [{}]` in \
         --client-profile",
        exited(code, method.name()),
        names.join(", "),
        flags.join(" "),
        quoted.join(", ")
    )
}

/// Why a method was passed over, in words.
fn why_passed_over(method: SignMethod, reach: &Reach) -> String {
    match reach {
        Reach::Refused(rule) => format!("{} was refused at {rule} (the case sign says why)", method.name()),
        Reach::Exited(code) => exited(*code, method.name()),
        Reach::Connected | Reach::Other => format!("{} did not get through", method.name()),
    }
}

/// Runs a case not about signing with the methods of [`order`] until one gets through; see
/// the module docs. `run` runs the case once with the context it is given.
pub async fn with_fallback<F, Fut>(ctx: &CaseContext, run: F) -> CaseResult
where
    F: Fn(CaseContext) -> Fut,
    Fut: Future<Output = CaseResult>,
{
    let mut passed: Vec<(SignMethod, Reach, CaseResult)> = Vec::new();
    for method in order(&ctx.sign_methods) {
        let result = run(ctx.using(method)).await;
        let reach = reach(&result);
        if !passed_over(&reach, result.verdict) {
            return noted(result, method, &passed);
        }
        passed.push((method, reach, result));
    }
    let mut attempts = passed.into_iter();
    let Some((_, _, mut first)) = attempts.next() else {
        return CaseResult::error("no sign method to run");
    };
    let others: Vec<String> = attempts.map(|(method, reach, _)| why_passed_over(method, &reach)).collect();
    if !others.is_empty() {
        first.explanation = format!("{} (no other sign method got through: {})", first.explanation, others.join("; "));
    }
    first
}

/// The result of the run with `method`, saying why the methods before it were passed over.
fn noted(mut result: CaseResult, method: SignMethod, passed: &[(SignMethod, Reach, CaseResult)]) -> CaseResult {
    if !passed.is_empty() {
        let why: Vec<String> = passed.iter().map(|(m, reach, _)| why_passed_over(*m, reach)).collect();
        result.explanation = format!("{} (asked for {}: {})", result.explanation, method.name(), why.join("; "));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::ClientRun;
    use mock_broker::auth::SignMethod::{HmacMd5, HmacSha1, HmacSha256};
    use mock_broker::events::{ConnectSummary, Event};
    use mock_broker::mqtt::ConnackCode;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn hmacsha1_comes_first_then_the_run_order() {
        assert_eq!(order(&SignMethod::ALL), [HmacSha1, HmacMd5, HmacSha256]);
        assert_eq!(order(&[HmacSha256, HmacMd5]), [HmacSha256, HmacMd5]);
        assert_eq!(order(&[HmacSha256, HmacSha1]), [HmacSha1, HmacSha256]);
        assert_eq!(order(&[]), [SignMethod::DEFAULT]);
    }

    fn event(conn: u64, kind: EventKind) -> Arc<Event> {
        Arc::new(Event { conn, at: Duration::ZERO, kind })
    }

    fn connect() -> EventKind {
        EventKind::Connect(ConnectSummary {
            protocol: mock_broker::mqtt::Protocol::V311,
            client_id: "c|securemode=3|".into(),
            username: None,
            password_len: None,
            keep_alive: 300,
            clean_session: true,
            will: false,
        })
    }

    fn ran(verdict: CaseVerdict, client: Option<ClientRun>, transcript: Vec<Arc<Event>>) -> CaseResult {
        let mut result = CaseResult::not_run("x");
        result.verdict = verdict;
        result.client = client;
        result.transcript = transcript;
        result
    }

    fn exited_with(code: i32) -> Option<ClientRun> {
        Some(ClientRun { exit_code: Some(code), ..ClientRun::default() })
    }

    #[test]
    fn reach_reads_the_first_connect_and_how_the_client_ended() {
        let refused = |rule: Rule| EventKind::Closed {
            reason: CloseReason::Refused { code: ConnackCode::BadCredentials, rule: rule.id().to_owned() },
        };
        let sign =
            ran(CaseVerdict::NotRun, exited_with(2), vec![event(1, connect()), event(1, refused(Rule::ASignContent))]);
        assert_eq!(reach(&sign), Reach::Refused("A-SIGN-CONTENT".into()));
        let later = ran(CaseVerdict::Pass, None, vec![event(1, connect()), event(2, refused(Rule::AUsername))]);
        assert_eq!(reach(&later), Reach::Connected, "only the first CONNECT counts");
        assert_eq!(reach(&ran(CaseVerdict::Fail, exited_with(3), vec![])), Reach::Exited(Some(3)));
        let silent = Some(ClientRun { stopped_by_suite: true, ..ClientRun::default() });
        assert_eq!(reach(&ran(CaseVerdict::Fail, silent, vec![])), Reach::Other);
        let text = EventKind::Closed { reason: CloseReason::Violation { rule: "T-WS".into(), message: "text".into() } };
        assert_eq!(reach(&ran(CaseVerdict::Fail, exited_with(1), vec![event(1, text)])), Reach::Other);
        assert_eq!(reach(&CaseResult::error("kit")), Reach::Other);
    }

    #[test]
    fn only_a_sign_refusal_before_the_rule_or_an_exit_before_connecting_passes_a_method_over() {
        let sign = Reach::Refused("A-SIGN-CONTENT".into());
        assert!(passed_over(&sign, CaseVerdict::NotRun));
        assert!(!passed_over(&sign, CaseVerdict::Pass), "the case reached its rule before the signature");
        assert!(!passed_over(&Reach::Refused("A-SECUREMODE".into()), CaseVerdict::NotRun));
        assert!(passed_over(&Reach::Exited(Some(3)), CaseVerdict::Fail));
        assert!(passed_over(&Reach::Exited(Some(77)), CaseVerdict::NotRun));
        assert!(!passed_over(&Reach::Exited(Some(0)), CaseVerdict::Pass), "a TLS case passes by exiting");
        assert!(!passed_over(&Reach::Connected, CaseVerdict::NotRun));
        assert!(!passed_over(&Reach::Other, CaseVerdict::Fail));
    }

    #[test]
    fn an_exit_is_worded_with_what_was_asked_and_a_hint() {
        assert_eq!(
            exited(Some(77), "hmacmd5"),
            "unsupported: the client exited with code 77 before connecting when asked for hmacmd5"
        );
        assert_eq!(
            unsupported_hint(Some(3), HmacMd5, &[HmacSha1]),
            "the client exited with code 3 before connecting when asked for hmacmd5; connected with hmacsha1: if it \
             supports only hmacsha1, say so with `--sign-method hmacsha1` or `sign_methods = [\"hmacsha1\"]` in \
             --client-profile"
        );
        assert!(unsupported_hint(None, HmacMd5, &[HmacSha1, HmacSha256]).contains(
            "supports only those, say so with `--sign-method hmacsha1 --sign-method hmacsha256` or \
                 `sign_methods = [\"hmacsha1\", \"hmacsha256\"]`"
        ));
    }

    fn ctx() -> CaseContext {
        CaseContext {
            transport: mock_broker::Transport::Tcp,
            client: crate::child::ClientCommand { program: "true".into(), args: vec![] },
            sign_methods: SignMethod::ALL.to_vec(),
            chosen_method: None,
            timing: super::super::Timing::default(),
            sign_property: Default::default(),
            reveal_signatures: false,
        }
    }

    /// Runs the fallback over a client that fares as `fate` says for each method.
    fn fallback(fate: impl Fn(SignMethod) -> CaseResult) -> (CaseResult, Vec<SignMethod>) {
        let asked = std::sync::Mutex::new(Vec::new());
        let run = |ctx: CaseContext| {
            let method = ctx.sign_method();
            asked.lock().unwrap().push(method);
            let result = fate(method);
            async move { result }
        };
        let result = block_on(with_fallback(&ctx(), run));
        (result, asked.into_inner().unwrap())
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(future)
    }

    #[test]
    fn the_first_method_that_gets_through_decides_and_says_why_the_others_were_passed_over() {
        let (result, asked) = fallback(|method| match method {
            HmacSha1 => ran(CaseVerdict::Fail, exited_with(3), vec![]),
            HmacMd5 => {
                let refused = EventKind::Closed {
                    reason: CloseReason::Refused { code: ConnackCode::BadCredentials, rule: "A-SIGN-CONTENT".into() },
                };
                ran(CaseVerdict::NotRun, exited_with(2), vec![event(1, connect()), event(1, refused)])
            }
            HmacSha256 => {
                let mut r = ran(CaseVerdict::Pass, None, vec![event(1, connect())]);
                r.explanation = "A-KEEPALIVE: 300 s".into();
                r
            }
        });
        assert_eq!(asked, [HmacSha1, HmacMd5, HmacSha256]);
        assert_eq!(result.verdict, CaseVerdict::Pass);
        assert_eq!(
            result.explanation,
            "A-KEEPALIVE: 300 s (asked for hmacsha256: the client exited with code 3 before connecting when asked for \
             hmacsha1; hmacmd5 was refused at A-SIGN-CONTENT (the case sign says why))"
        );

        let (result, asked) = fallback(|_| {
            let mut r = ran(CaseVerdict::Pass, None, vec![event(1, connect())]);
            r.explanation = "ok".into();
            r
        });
        assert_eq!((asked, result.explanation.as_str()), (vec![HmacSha1], "ok"), "no retry when it gets through");
    }

    #[test]
    fn when_no_method_gets_through_the_first_result_stands() {
        let (result, asked) = fallback(|method| {
            let mut r = ran(CaseVerdict::Fail, exited_with(3), vec![]);
            r.explanation = format!("exited when asked for {}", method.name());
            r
        });
        assert_eq!(asked.len(), 3);
        assert_eq!(result.verdict, CaseVerdict::Fail);
        assert_eq!(
            result.explanation,
            "exited when asked for hmacsha1 (no other sign method got through: the client exited with code 3 before \
             connecting when asked for hmacmd5; the client exited with code 3 before connecting when asked for \
             hmacsha256)"
        );
    }
}
