//! A case's broker transcript drawn as a timeline: inline SVG for `report.html`.
//!
//! One lane per connection, in accept order: a bar from accept to close (open-ended when the
//! transcript holds no close), with
//! - CONNECT (a diamond) and CONNACK (a circle: green when accepted, red when refused);
//! - every packet after CONNECT as a tick, inbound above the bar and outbound below,
//!   PINGREQ / PINGRESP in a colour of their own (each tick's `<title>` names the packet and
//!   the time);
//! - every fault applied to the connection as a red triangle with the fault's name;
//! - the keepalive window the CONNECT declared, from CONNACK: a band of K seconds and a
//!   dashed tick at 1.5 K, where the platform cuts a silent client;
//! - the close reason after the bar's end;
//! - the interval from the previous connection's close to this one's accept, in seconds
//!   (the reconnect waits the timed cases judge).
//!
//! Times are broker time (tokio time since the broker started). A transcript that restarts
//! its connection numbers (the `sign` case concatenates runs) gets a new lane per accept.
//! Every text drawn is escaped: fault names and close messages come from the transcript.

use super::escape;
use mock_broker::events::FaultPhase;
use mock_broker::{CloseReason, ConnId, Event, EventKind};
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

/// The drawing's width in SVG units (it scales to the page).
const WIDTH: f64 = 960.0;
/// Room left of the time axis for the lane labels.
const LEFT: f64 = 56.0;
/// Room right of the time axis for the last close reason.
const RIGHT: f64 = 200.0;
/// Height of one lane.
const LANE: f64 = 48.0;
/// Room above the first lane (the legend).
const TOP: f64 = 26.0;
/// Room below the last lane (the time axis).
const BOTTOM: f64 = 30.0;
/// The most lanes drawn: a reconnect storm is told by its first connections.
const MAX_LANES: usize = 40;
/// Bar offset and height within a lane.
const BAR_Y: f64 = 20.0;
const BAR_H: f64 = 10.0;

/// What a marker on a lane stands for.
#[derive(Clone, Debug, PartialEq)]
enum Mark {
    Connect,
    Connack { code: String },
    In(String),
    Out(String),
    Fault(String),
}

/// One connection of the transcript.
#[derive(Clone, Debug)]
struct Lane {
    conn: ConnId,
    accepted: Duration,
    online: Option<Duration>,
    keep_alive: Option<u16>,
    closed: Option<(Duration, CloseReason)>,
    marks: Vec<(Duration, Mark)>,
}

/// The connections of `events`, in accept order, each with its markers.
fn lanes(events: &[&Event]) -> Vec<Lane> {
    let mut lanes: Vec<Lane> = Vec::new();
    for event in events {
        if let EventKind::Accepted { .. } = event.kind {
            lanes.push(Lane {
                conn: event.conn,
                accepted: event.at,
                online: None,
                keep_alive: None,
                closed: None,
                marks: Vec::new(),
            });
            continue;
        }
        let Some(lane) = lanes.iter_mut().rev().find(|l| l.conn == event.conn) else { continue };
        let mark = match &event.kind {
            EventKind::Connect(connect) => {
                lane.keep_alive = Some(connect.keep_alive);
                Some(Mark::Connect)
            }
            EventKind::PacketOut(p) if p.packet == "CONNACK" => {
                Some(Mark::Connack { code: p.items.first().cloned().unwrap_or_default() })
            }
            EventKind::PacketIn(p) => Some(Mark::In(p.packet.to_string())),
            EventKind::PacketOut(p) => Some(Mark::Out(p.packet.to_string())),
            EventKind::Fault(f) if f.phase == FaultPhase::Applied => Some(Mark::Fault(f.name.clone())),
            EventKind::Online { .. } => {
                lane.online = Some(event.at);
                None
            }
            EventKind::Closed { reason } => {
                lane.closed = Some((event.at, reason.clone()));
                None
            }
            _ => None,
        };
        if let Some(mark) = mark {
            lane.marks.push((event.at, mark));
        }
    }
    lanes
}

/// Seconds as a label: `1.5 s`, `0.25 s`, `12 s`.
fn seconds(d: Duration) -> String {
    let s = (d.as_secs_f64() * 100.0).round() / 100.0;
    format!("{s} s")
}

/// What ended a connection, in a few words.
fn close_text(reason: &CloseReason) -> String {
    match reason {
        CloseReason::Refused { code, rule } => format!("refused 0x{:02x} ({rule})", code.as_u8()),
        CloseReason::Kicked { by: 0 } => "kicked by the cloud side".to_string(),
        CloseReason::Kicked { by } => format!("kicked by conn {by}"),
        CloseReason::KeepaliveTimeout { silent_ms, .. } => {
            format!("Keepalive timeout after {} silent", seconds(Duration::from_millis(*silent_ms)))
        }
        CloseReason::Faulted { fault } => format!("fault: {fault}"),
        CloseReason::Violation { rule, .. } => format!("violation of {rule}"),
        other => other.label().to_string(),
    }
}

/// A step for the time axis that gives at most ten ticks over `span`.
fn tick_step(span: Duration) -> f64 {
    const STEPS: [f64; 14] = [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0];
    let span = span.as_secs_f64();
    STEPS.into_iter().find(|step| span / step <= 10.0).unwrap_or(1200.0)
}

/// Broker time to x.
#[derive(Clone, Copy)]
struct Scale {
    end: Duration,
}

impl Scale {
    fn x(self, at: Duration) -> f64 {
        LEFT + (WIDTH - LEFT - RIGHT) * at.as_secs_f64() / self.end.as_secs_f64()
    }
}

/// The timeline of a case, `None` when its transcript holds no connection. `transcript` is
/// what the case judged on, `stopping` what the broker logged while the suite stopped the
/// client (closes, last packets).
pub fn svg(transcript: &[Arc<Event>], stopping: &[Arc<Event>]) -> Option<String> {
    let events: Vec<&Event> = transcript.iter().chain(stopping).map(|e| e.as_ref()).collect();
    let mut lanes = lanes(&events);
    if lanes.is_empty() {
        return None;
    }
    let total = lanes.len();
    lanes.truncate(MAX_LANES);
    let last = if total > MAX_LANES {
        let times = |l: &Lane| {
            let closed = l.closed.as_ref().map(|(at, _)| *at);
            l.marks.iter().map(|(at, _)| *at).chain(closed).chain([l.accepted]).collect::<Vec<_>>()
        };
        lanes.iter().flat_map(times).max()
    } else {
        events.iter().map(|e| e.at).max()
    }
    .unwrap_or_default();
    let scale = Scale { end: last.max(Duration::from_millis(100)) };
    let height = TOP + LANE * lanes.len() as f64 + BOTTOM;
    let mut out = format!(
        r#"<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="timeline of {} connections">"#,
        lanes.len()
    );
    out.push_str(&legend());
    for (i, lane) in lanes.iter().enumerate() {
        let top = TOP + LANE * i as f64;
        let previous_close = i.checked_sub(1).and_then(|p| lanes[p].closed.as_ref()).map(|(at, _)| *at);
        out.push_str(&lane_svg(lane, top, scale, previous_close));
    }
    out.push_str(&axis(scale, TOP + LANE * lanes.len() as f64));
    if total > lanes.len() {
        let _ = write!(
            out,
            r#"<text class="more" x="{LEFT}" y="{}" font-size="11">the first {} of {total} connections</text>"#,
            height - 2.0,
            lanes.len()
        );
    }
    out.push_str("</svg>");
    Some(out)
}

/// The key to the markers, above the lanes.
fn legend() -> String {
    let mut out = String::from(r#"<g class="legend" font-size="10">"#);
    let items = [
        (r##"<path d="M4 -4 L8 0 L4 4 L0 0 Z" fill="#333"/>"##, "CONNECT"),
        (r##"<circle cx="4" cy="0" r="4" fill="#2e7d32"/>"##, "CONNACK 0x00"),
        (r##"<circle cx="4" cy="0" r="4" fill="#c62828"/>"##, "refused"),
        (r##"<line x1="4" y1="-5" x2="4" y2="5" stroke="#6a1b9a" stroke-width="2"/>"##, "PINGREQ, PINGRESP"),
        (r##"<line x1="4" y1="-5" x2="4" y2="5" stroke="#1565c0" stroke-width="2"/>"##, "packet (in above, out below)"),
        (r##"<path d="M0 -4 L8 -4 L4 4 Z" fill="#c62828"/>"##, "fault"),
        (
            r##"<rect x="0" y="-4" width="8" height="8" fill="#fff3c4" stroke="#e0b000"/>"##,
            "keepalive K from CONNACK, ¦ 1.5 K cut",
        ),
    ];
    let mut x = LEFT;
    for (shape, text) in items {
        let _ = write!(out, r#"<g transform="translate({x} 10)">{shape}<text x="12" y="4">{text}</text></g>"#);
        x += 24.0 + 5.6 * text.len() as f64;
    }
    out.push_str("</g>");
    out
}

/// One connection's lane.
fn lane_svg(lane: &Lane, top: f64, scale: Scale, previous_close: Option<Duration>) -> String {
    let bar_top = top + BAR_Y;
    let mid = bar_top + BAR_H / 2.0;
    let start = scale.x(lane.accepted);
    let end = lane.closed.as_ref().map_or(scale.end, |(at, _)| *at);
    let stop = scale.x(end).max(start + 2.0);
    let mut out = format!(r#"<g class="lane" data-conn="{}">"#, lane.conn);
    let _ = write!(
        out,
        r#"<text class="conn" x="{}" y="{}" text-anchor="end" font-size="11">conn {}</text>"#,
        LEFT - 6.0,
        mid + 4.0,
        lane.conn
    );
    out.push_str(&keepalive_window(lane, bar_top, scale));
    let open = if lane.closed.is_none() { r##" stroke-dasharray="4 3" stroke="#555""## } else { "" };
    let _ = write!(
        out,
        r##"<rect class="bar" x="{start:.1}" y="{bar_top}" width="{:.1}" height="{BAR_H}" fill="#90a4ae"{open}><title>conn {}: accepted at {}, {}</title></rect>"##,
        stop - start,
        lane.conn,
        seconds(lane.accepted),
        lane.closed.as_ref().map_or("still open when the transcript ends".to_string(), |(at, r)| format!(
            "closed at {}: {}",
            seconds(*at),
            escape(&close_text(r))
        ))
    );
    for (at, mark) in &lane.marks {
        out.push_str(&mark_svg(scale.x(*at), bar_top, *at, mark));
    }
    let close = match &lane.closed {
        Some((_, reason)) => escape(&close_text(reason)),
        None => "open".to_string(),
    };
    let _ = write!(out, r#"<text class="close" x="{:.1}" y="{}" font-size="11">{close}</text>"#, stop + 6.0, mid + 4.0);
    if let Some(closed) = previous_close.filter(|at| *at <= lane.accepted) {
        out.push_str(&interval(scale.x(closed), start, mid, lane.accepted - closed));
    }
    out.push_str("</g>");
    out
}

/// The wait from the previous connection's close to this accept: a dashed line, labelled
/// just left of the accept (the lane holds nothing else there).
fn interval(from: f64, to: f64, y: f64, wait: Duration) -> String {
    format!(
        r##"<g class="interval"><line x1="{from:.1}" y1="{y}" x2="{to:.1}" y2="{y}" stroke="#555" stroke-dasharray="3 2"/><text x="{:.1}" y="{}" text-anchor="end" font-size="10">{}</text></g>"##,
        to - 6.0,
        y - 5.0,
        seconds(wait)
    )
}

/// The keepalive the CONNECT declared, from CONNACK: a band of K and a tick at 1.5 K.
fn keepalive_window(lane: &Lane, bar_top: f64, scale: Scale) -> String {
    let (Some(online), Some(k)) = (lane.online, lane.keep_alive.filter(|k| *k > 0)) else {
        return String::new();
    };
    let k = Duration::from_secs(u64::from(k));
    let (x0, x1) = (scale.x(online), scale.x((online + k).min(scale.end)));
    let cut = online + k * 3 / 2;
    let cut = if cut <= scale.end {
        let x = scale.x(cut);
        format!(
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#e0b000" stroke-dasharray="2 2"/>"##,
            bar_top - 6.0,
            bar_top + BAR_H + 6.0
        )
    } else {
        String::new()
    };
    format!(
        r##"<g class="keepalive"><rect x="{x0:.1}" y="{}" width="{:.1}" height="{}" fill="#fff3c4" stroke="#e0b000"/>{cut}<text x="{:.1}" y="{}" font-size="9" fill="#8a6d00">K = {}</text></g>"##,
        bar_top - 4.0,
        x1 - x0,
        BAR_H + 8.0,
        x0 + 2.0,
        bar_top + BAR_H + 14.0,
        seconds(k)
    )
}

/// One marker on a lane.
fn mark_svg(x: f64, bar_top: f64, at: Duration, mark: &Mark) -> String {
    let mid = bar_top + BAR_H / 2.0;
    let when = seconds(at);
    match mark {
        Mark::Connect => format!(
            r##"<path class="connect" d="M{x:.1} {} l5 5 l-5 5 l-5 -5 Z" fill="#333"><title>{when}: CONNECT</title></path>"##,
            mid - 5.0
        ),
        Mark::Connack { code } => {
            let fill = if code == "0x00" { "#2e7d32" } else { "#c62828" };
            format!(
                r#"<circle class="connack" cx="{x:.1}" cy="{mid}" r="4" fill="{fill}"><title>{when}: CONNACK {}</title></circle>"#,
                escape(code)
            )
        }
        Mark::In(packet) | Mark::Out(packet) => {
            let inbound = matches!(mark, Mark::In(_));
            let (y1, y2, arrow) = if inbound {
                (bar_top - 8.0, bar_top, "client to broker")
            } else {
                (bar_top + BAR_H, bar_top + BAR_H + 8.0, "broker to client")
            };
            let colour = if packet.starts_with("PING") { "#6a1b9a" } else { "#1565c0" };
            format!(
                r#"<line class="packet" x1="{x:.1}" y1="{y1}" x2="{x:.1}" y2="{y2}" stroke="{colour}" stroke-width="2"><title>{when}: {} ({arrow})</title></line>"#,
                escape(packet)
            )
        }
        Mark::Fault(name) => format!(
            r##"<g class="fault"><path d="M{:.1} {} l8 0 l-4 8 Z" fill="#c62828"><title>{when}: fault {name} applied</title></path><text x="{:.1}" y="{}" font-size="9" fill="#c62828">{name}</text></g>"##,
            x - 4.0,
            bar_top - 12.0,
            x + 5.0,
            bar_top - 6.0,
            name = escape(name)
        ),
    }
}

/// The time axis under the lanes.
fn axis(scale: Scale, y: f64) -> String {
    let step = tick_step(scale.end);
    let mut out = format!(
        r##"<g class="axis" font-size="10"><line x1="{LEFT}" y1="{y}" x2="{:.1}" y2="{y}" stroke="#777"/>"##,
        scale.x(scale.end)
    );
    let mut t = 0.0;
    while t <= scale.end.as_secs_f64() + 1e-9 {
        let x = scale.x(Duration::from_secs_f64(t));
        let label = (t * 100.0).round() / 100.0;
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{y}" x2="{x:.1}" y2="{}" stroke="#777"/><text x="{x:.1}" y="{}" text-anchor="middle">{label} s</text>"##,
            y + 4.0,
            y + 15.0
        );
        t += step;
    }
    out.push_str("</g>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mock_broker::Transport;
    use mock_broker::events::{ConnectSummary, FaultEvent, PacketSummary};
    use mock_broker::mqtt::{ConnackCode, Packet, Protocol};

    fn event(conn: ConnId, ms: u64, kind: EventKind) -> Arc<Event> {
        Arc::new(Event { conn, at: Duration::from_millis(ms), kind })
    }

    fn accepted(conn: ConnId, ms: u64) -> Arc<Event> {
        event(conn, ms, EventKind::Accepted { listener: Transport::Tcp.into(), peer: "127.0.0.1:1".parse().unwrap() })
    }

    fn connect(conn: ConnId, ms: u64) -> Arc<Event> {
        let summary = ConnectSummary {
            protocol: Protocol::V311,
            client_id: "c|securemode=3|".into(),
            username: None,
            password_len: Some(40),
            keep_alive: 2,
            clean_session: true,
            will: false,
        };
        event(conn, ms, EventKind::Connect(summary))
    }

    fn packet_in(conn: ConnId, ms: u64, packet: &Packet) -> Arc<Event> {
        event(conn, ms, EventKind::PacketIn(PacketSummary::of(packet)))
    }

    fn closed(conn: ConnId, ms: u64, reason: CloseReason) -> Arc<Event> {
        event(conn, ms, EventKind::Closed { reason })
    }

    /// Three connections: one online that pings and is cut by a fault, one refused 1.5 s
    /// later, one accepted 2.5 s after that and still open.
    fn transcript() -> Vec<Arc<Event>> {
        let connack =
            |code| PacketSummary::of(&Packet::Connack(mock_broker::mqtt::Connack { session_present: false, code }));
        let online = EventKind::Online { product_key: "pk".into(), device_name: "dn".into(), session_present: false };
        let fault = FaultEvent { id: 1, name: "<cut & run>".into(), fault: "close", phase: FaultPhase::Applied };
        vec![
            accepted(1, 0),
            connect(1, 10),
            event(1, 11, EventKind::PacketOut(connack(ConnackCode::Accepted))),
            event(1, 11, online),
            packet_in(1, 2000, &Packet::Pingreq),
            event(1, 2001, EventKind::PacketOut(PacketSummary::of(&Packet::Pingresp))),
            event(1, 3000, EventKind::Fault(fault)),
            closed(1, 3000, CloseReason::Faulted { fault: "<cut & run>".into() }),
            accepted(2, 4500),
            connect(2, 4510),
            event(2, 4511, EventKind::PacketOut(connack(ConnackCode::ServerUnavailable))),
            closed(2, 4512, CloseReason::Refused { code: ConnackCode::ServerUnavailable, rule: "A-CONNACK".into() }),
            accepted(3, 7012),
        ]
    }

    #[test]
    fn timeline_has_one_bar_per_connection_and_labels_the_waits() {
        let svg = svg(&transcript(), &[]).unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        assert_eq!(svg.matches(r#"class="bar""#).count(), 3, "{svg}");
        for conn in ["conn 1", "conn 2", "conn 3"] {
            assert!(svg.contains(&format!(">{conn}</text>")), "{conn}: {svg}");
        }
        let intervals: Vec<&str> = svg.split(r#"<g class="interval">"#).skip(1).collect();
        assert_eq!(intervals.len(), 2, "{svg}");
        assert!(intervals[0].contains(">1.5 s</text>"), "{}", intervals[0]);
        assert!(intervals[1].contains(">2.5 s</text>"), "{}", intervals[1]);
        assert!(svg.contains("refused 0x03 (A-CONNACK)"), "{svg}");
        assert!(svg.contains(">open</text>"), "the last connection is still open: {svg}");
    }

    #[test]
    fn timeline_marks_connect_connack_packets_faults_and_the_keepalive() {
        let svg = svg(&transcript(), &[]).unwrap();
        assert_eq!(svg.matches(r#"class="connect""#).count(), 2);
        assert_eq!(svg.matches(r#"class="connack""#).count(), 2);
        assert!(svg.contains(r##"fill="#c62828"><title>4.51 s: CONNACK 0x03</title>"##), "{svg}");
        assert!(svg.contains("<title>2 s: PINGREQ (client to broker)</title>"), "{svg}");
        assert!(svg.contains("<title>2 s: PINGRESP (broker to client)</title>"), "{svg}");
        assert_eq!(svg.matches(r#"<g class="keepalive">"#).count(), 1, "only the connection that went online");
        assert!(svg.contains(">K = 2 s</text>"), "{svg}");
        assert_eq!(svg.matches(r#"<g class="fault">"#).count(), 1);
    }

    #[test]
    fn timeline_escapes_transcript_text() {
        let svg = svg(&transcript(), &[]).unwrap();
        assert!(svg.contains("fault: &lt;cut &amp; run&gt;"), "{svg}");
        assert!(!svg.contains("<cut"), "{svg}");
    }

    #[test]
    fn timeline_takes_the_stopping_events_and_restarted_numbers() {
        let stopping = [closed(3, 8000, CloseReason::Shutdown)];
        let svg = svg(&transcript(), &stopping).unwrap();
        assert!(svg.contains(">broker shut down</text>"), "{svg}");
        assert!(!svg.contains(">open</text>"), "{svg}");
        let rerun = [accepted(1, 0), closed(1, 5, CloseReason::ClientClosed), accepted(1, 10)];
        assert_eq!(super::svg(&rerun, &[]).unwrap().matches(r#"class="bar""#).count(), 2);
        assert!(super::svg(&[], &[]).is_none());
    }

    #[test]
    fn timeline_draws_the_first_connections_of_a_storm() {
        let storm: Vec<Arc<Event>> = (1..=100)
            .flat_map(|conn| [accepted(conn, conn * 50), closed(conn, conn * 50 + 10, CloseReason::ClientClosed)])
            .collect();
        let svg = svg(&storm, &[]).unwrap();
        assert_eq!(svg.matches(r#"class="bar""#).count(), MAX_LANES);
        assert!(svg.contains(">the first 40 of 100 connections</text>"), "{svg}");
        assert!(svg.contains(">2 s</text>"), "the axis ends with the last lane drawn: {svg}");
        assert!(!svg.contains(">3 s</text>"), "{svg}");
    }

    #[test]
    fn timeline_ticks_stay_few() {
        assert_eq!(tick_step(Duration::from_millis(400)), 0.05);
        assert_eq!(tick_step(Duration::from_secs(8)), 1.0);
        assert_eq!(tick_step(Duration::from_secs(65)), 10.0);
    }
}
