//! `tls-untrusted-ca`, `tls-expired`, `tls-wrong-host` (C-TLS-VERIFY): over wss and tls the
//! client refuses a server certificate that is untrusted, expired, or for another host
//! (T-WSS, T-TLS).
//!
//! Certificates are minted per case run with rcgen. `IOT_CA_FILE` always holds the trusted
//! CA; the broker serves a leaf that is wrong in the case's way:
//! - untrusted CA: a leaf for localhost from a second CA the client was never given;
//! - expired: a leaf for localhost from the trusted CA, valid 2000-2001;
//! - wrong host: a leaf from the trusted CA for `wrong-host.invalid` only.
//!
//! Verdicts:
//! - A CONNECT over the bad certificate fails: the client accepted it.
//! - The client dialed (the broker accepted a TCP connection) and sent no CONNECT: pass. The
//!   case watches until the connect timeout, or the settle time after a failed handshake
//!   (a retry that goes through would still fail it), or the client's exit.
//! - The client never dialed: fail, as nothing shows it would refuse the certificate.
//!
//! The other cases over the same transport show that the client does connect when the
//! certificate is right; a client that cannot do TLS at all passes these and fails those.

use super::CaseContext;
use super::harness::{Conclusion, Finished, Harness, Setup, Step};
use crate::catalogue::BadCertificate;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::tls::{Authority, ServerCert, TlsError, Validity, leaf_names};
use mock_broker::{CloseReason, EventKind, Rule, Transport, Verdict};
use serde_json::json;
use tokio::time::Instant;

/// The only name the wrong-host leaf carries.
pub const WRONG_HOST: &str = "wrong-host.invalid";

/// The bad certificate and the trusted CA PEM to give the client.
fn mint(bad: BadCertificate) -> Result<(ServerCert, String), TlsError> {
    let trusted = Authority::generate("conformance suite trusted CA")?;
    let localhost = leaf_names(&[]);
    let cert = match bad {
        BadCertificate::UntrustedCa => {
            Authority::generate("conformance suite untrusted CA")?.issue(&localhost, Validity::Current)?
        }
        BadCertificate::Expired => trusted.issue(&localhost, Validity::Expired)?,
        BadCertificate::WrongHost => trusted.issue(&[WRONG_HOST.to_owned()], Validity::Current)?,
    };
    Ok((cert, trusted.pem().to_owned()))
}

/// The certificate in words.
fn describe(bad: BadCertificate) -> String {
    match bad {
        BadCertificate::UntrustedCa => "a certificate issued by a CA not in IOT_CA_FILE".to_owned(),
        BadCertificate::Expired => "a certificate that expired in 2001".to_owned(),
        BadCertificate::WrongHost => format!("a certificate for {WRONG_HOST} only"),
    }
}

/// Runs a TLS-verify case.
pub async fn run(ctx: &CaseContext, bad: BadCertificate) -> CaseResult {
    let mut setup = Setup::judging(ctx, &[]);
    match mint(bad) {
        Ok(certificate) => setup.certificate = Some(certificate),
        Err(e) => return CaseResult::error(format!("minting the certificates: {e}")),
    }
    let mut harness = match Harness::start(ctx, setup).await {
        Ok(harness) => harness,
        Err(message) => return CaseResult::error(message),
    };
    let mut deadline = harness.spawned() + ctx.timing.connect;
    loop {
        match harness.step(deadline).await {
            Step::Event(event) => match &event.kind {
                EventKind::Connect(_) => break,
                EventKind::Closed { reason: CloseReason::HandshakeFailed { .. } } => {
                    deadline = deadline.min(Instant::now() + ctx.timing.settle);
                }
                _ => {}
            },
            Step::Exited => {}
            Step::Deadline => break,
        }
    }
    let finished = harness.finish().await;
    let conclusion = judge(&finished, ctx.transport, bad);
    finished.into_result(conclusion)
}

fn judge(finished: &Finished, transport: Transport, bad: BadCertificate) -> Conclusion {
    let rule = if transport == Transport::Tls { Rule::TTls } else { Rule::TWss };
    let expected = format!("the TLS handshake refused over {}", describe(bad));
    let accepted = finished.transcript.iter().filter(|e| matches!(e.kind, EventKind::Accepted { .. })).count();
    let failures: Vec<String> = finished
        .closes()
        .filter_map(|(_, reason)| match reason {
            CloseReason::HandshakeFailed { message } => Some(message.clone()),
            _ => None,
        })
        .collect();
    let connect = finished.transcript.iter().find(|e| matches!(e.kind, EventKind::Connect(_)));
    let conclusion = if let Some(connect) = connect {
        let finding = Verdict::fail(rule, expected, format!("a CONNECT over it on connection #{}", connect.conn))
            .with_detail(
                "the client does not verify the server certificate, so anyone on the path can impersonate the platform",
            );
        Conclusion::new(CaseVerdict::Fail, format!("the client accepted {} and sent its CONNECT", describe(bad)))
            .with_findings(vec![finding])
    } else if accepted == 0 {
        let text = format!("cannot tell whether the client verifies certificates: {}", finished.no_connect());
        Conclusion::new(CaseVerdict::Fail, text)
    } else {
        let how = match failures.first() {
            Some(message) => format!("the handshake failed ({message})"),
            None => "it closed the connection before sending a CONNECT".to_owned(),
        };
        let finding = Verdict::pass(rule, expected, how.clone());
        Conclusion::new(CaseVerdict::Pass, format!("the client refused {}: {how}", describe(bad)))
            .with_findings(vec![finding])
    };
    conclusion.measure("connections", json!(accepted)).measure("handshake_failures", json!(failures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_certificate_can_be_minted_and_served() {
        for bad in [BadCertificate::UntrustedCa, BadCertificate::Expired, BadCertificate::WrongHost] {
            let (cert, ca) = mint(bad).unwrap();
            assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
            cert.server_config().unwrap();
        }
    }
}
