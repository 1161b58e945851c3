//! Human-readable transcript lines: the only place events become text for people.
//!
//! One event is one line (a verdict's detail goes on a second, indented line), prefixed by
//! the time since the broker started and the connection number.

use crate::events::{CloseReason, Event, EventKind, FaultPhase, PacketSummary};
use crate::verdict::{Outcome, Verdict};
use std::fmt::Write;

/// Renders one event for a terminal.
pub fn line(event: &Event) -> String {
    let mut out = format!("{:>9.3}s #{:<4} ", event.at.as_secs_f64(), event.conn);
    match &event.kind {
        EventKind::Accepted { listener, peer } => {
            let _ = write!(out, "accepted {listener} from {peer}");
        }
        EventKind::Sniffed { transport } => {
            let _ = write!(out, "sniffed {transport} (T-MUX)");
        }
        EventKind::Handshake(h) => {
            out.push_str("handshake");
            for (name, value) in
                [("sni", &h.server_name), ("path", &h.ws_path), ("host", &h.host), ("subprotocol", &h.subprotocol)]
            {
                if let Some(value) = value {
                    let _ = write!(out, " {name}={value}");
                }
            }
            if !h.subprotocols.is_empty() {
                let _ = write!(out, " offered=[{}]", h.subprotocols.join(", "));
            }
        }
        EventKind::Connect(c) => {
            let _ = write!(
                out,
                "CONNECT {} clientId={:?} username={} password={} keepalive={} s clean={}{}",
                c.protocol.name(),
                c.client_id,
                c.username.as_deref().map_or("(none)".to_string(), |u| format!("{u:?}")),
                c.password_len.map_or("(none)".to_string(), |n| format!("<{n} bytes>")),
                c.keep_alive,
                u8::from(c.clean_session),
                if c.will { " will=yes" } else { "" },
            );
        }
        EventKind::Verdict(v) => verdict(&mut out, v),
        EventKind::PacketIn(p) => packet(&mut out, "<", p),
        EventKind::PacketOut(p) => packet(&mut out, ">", p),
        EventKind::Online { product_key, device_name, session_present } => {
            let _ = write!(out, "online as {product_key}/{device_name}");
            if *session_present {
                out.push_str(" (stored session resumed)");
            }
        }
        EventKind::Undelivered { topic, reason } => {
            let _ = write!(out, "downlink on {topic} not delivered: {reason}");
        }
        EventKind::Fault(f) => {
            let phase = match f.phase {
                FaultPhase::Armed => "armed",
                FaultPhase::Applied => "applied",
                FaultPhase::Disarmed => "used up, disarmed",
                FaultPhase::Cleared => "cleared",
            };
            let _ = write!(out, "fault #{} {phase}: {}", f.id, f.name);
        }
        EventKind::QueueDropped { topic, reason } => {
            let _ = write!(out, "stored message on {topic} dropped (S-CLEAN): {reason}");
        }
        EventKind::Closed { reason } => closed(&mut out, reason),
        EventKind::AcceptFailed { listener, error, count } => {
            let _ = write!(out, "accepting on the {listener} listener failed {count} time(s), still serving: {error}");
        }
        EventKind::Suppressed { verdicts, rules } => {
            let _ = write!(
                out,
                "{verdicts} more verdicts suppressed this second (verdict budget; rules {})",
                rules.join(", ")
            );
        }
    }
    out
}

fn verdict(out: &mut String, v: &Verdict) {
    let outcome = match v.outcome {
        Outcome::Pass => "PASS",
        Outcome::Warn => "WARN",
        Outcome::Fail => "FAIL",
    };
    let assumed = if v.assumed { " (assumed)" } else { "" };
    let _ = write!(out, "{outcome} {}{assumed}: expected {}; received {}", v.rule, v.expected, v.received);
    if !v.detail.is_empty() {
        let _ = write!(out, "\n{:17}{}", "", v.detail.replace('\n', &format!("\n{:17}", "")));
    }
}

fn packet(out: &mut String, arrow: &str, p: &PacketSummary) {
    let _ = write!(out, "{arrow} {}", p.packet);
    if let Some(topic) = &p.topic {
        let _ = write!(out, " {topic}");
    }
    if let Some(qos) = p.qos {
        let _ = write!(out, " qos={}", qos as u8);
    }
    if let Some(id) = p.packet_id {
        let _ = write!(out, " id={id}");
    }
    if let Some(len) = p.payload_len {
        let _ = write!(out, " {len} bytes");
    }
    if p.dup {
        out.push_str(" dup");
    }
    if !p.items.is_empty() {
        let _ = write!(out, " [{}]", p.items.join(", "));
    }
}

fn closed(out: &mut String, reason: &CloseReason) {
    let _ = write!(out, "closed: {}", reason.label());
    match reason {
        CloseReason::KeepaliveTimeout { keep_alive_s, silent_ms } => {
            let _ = write!(out, " (K-TIMEOUT: keepalive {keep_alive_s} s, silent {silent_ms} ms)");
        }
        CloseReason::Kicked { by: 0 } => out.push_str(" (S-KICK: by the cloud side)"),
        CloseReason::Kicked { by } => {
            let _ = write!(out, " (S-KICK: by connection #{by})");
        }
        CloseReason::Refused { code, rule } => {
            let _ = write!(out, " (CONNACK 0x{:02x}, {rule})", code.as_u8());
        }
        CloseReason::Violation { rule, message } => {
            let _ = write!(out, " ([{rule}] {message})");
        }
        CloseReason::ConnectTimeout { timeout_ms } => {
            let _ = write!(out, " (after {timeout_ms} ms)");
        }
        CloseReason::Faulted { fault } => {
            let _ = write!(out, " ({fault})");
        }
        CloseReason::HandshakeFailed { message } | CloseReason::TransportError { message } => {
            let _ = write!(out, " ({message})");
        }
        CloseReason::HandshakeTimeout { stage, timeout_ms } => {
            let _ = write!(out, " ({stage} handshake not done within {timeout_ms} ms)");
        }
        CloseReason::Limit { limit, message } => {
            let _ = write!(out, " ({limit}: {message})");
        }
        CloseReason::ClientClosed
        | CloseReason::ClientDisconnect
        | CloseReason::ClosedByCloud
        | CloseReason::Shutdown => {}
    }
}
