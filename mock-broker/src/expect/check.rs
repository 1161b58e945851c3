//! Checking declared expectations against the transcript: for each, whether it is met, what
//! was expected and observed in words, and the events that explain it (failed verdicts,
//! refusals).

use super::{Declared, Expected, Times, device, millis};
use crate::events::{Bus, CloseReason, Entry, EventFilter, EventKind};
use crate::hub::DeviceKey;
use crate::render;
use crate::rules::Rule;
use crate::topics::filter_matches;
use crate::verdict::Outcome;
use std::collections::BTreeMap;

/// The verdicts and refusals a check shows at most.
const INVOLVED: usize = 6;

/// One expectation checked.
#[derive(Clone, Debug)]
pub(crate) struct Check {
    pub met: bool,
    /// False when no later event can change the outcome: met, or broken for good.
    pub settled: bool,
    pub expected: String,
    pub observed: String,
    /// Rendered transcript lines of the failed verdicts and refusals involved.
    pub involved: Vec<String>,
}

impl Check {
    /// Whether waiting could still turn it from unmet to met.
    pub fn can_still_be_met(&self) -> bool {
        !self.met && !self.settled
    }
}

/// Every declared expectation checked against the history as it is now.
pub(crate) fn all(bus: &Bus, declared: &[Declared]) -> Vec<Check> {
    let Some(first) = declared.iter().map(|d| d.after_seq).min() else { return Vec::new() };
    let (entries, missed) = bus.after(first, usize::MAX, |_| true);
    let missed_after = |seq: u64| missed.saturating_sub(seq - first);
    declared
        .iter()
        .map(|d| {
            let window: Vec<&Entry> = entries
                .iter()
                .filter(|e| e.seq > d.after_seq)
                .filter(|e| d.window_end().is_none_or(|end| e.event.at <= end))
                .collect();
            let late: Vec<&Entry> = match d.window_end() {
                Some(end) => entries.iter().filter(|e| e.event.at > end).collect(),
                None => Vec::new(),
            };
            let mut check = one(d, &window, &late);
            let lost = missed_after(d.after_seq);
            if lost > 0 {
                check.met = false;
                check.settled = true;
                check.observed.push_str(&format!(
                    "; {lost} events of its window were let go from the history before the check: raise \
                     Policy::history_events (--history-events) to verify it"
                ));
            }
            check
        })
        .collect()
}

/// The entries of `key`'s connections.
fn of(key: &DeviceKey) -> EventFilter {
    EventFilter::any().device(&key.product_key, &key.device_name)
}

/// `at 1.234 s on #3`.
fn when(entry: &Entry) -> String {
    format!("at {:.3} s on #{}", entry.event.at.as_secs_f64(), entry.event.conn)
}

/// The failed verdicts and refusals among `entries`, rendered, at most [`INVOLVED`] of the
/// newest.
fn involved<'a>(entries: impl Iterator<Item = &'a &'a Entry>) -> Vec<String> {
    let bad: Vec<String> = entries
        .filter(|e| match &e.event.kind {
            EventKind::Verdict(v) => v.outcome == Outcome::Fail,
            EventKind::Closed { reason } => {
                !matches!(reason, CloseReason::ClientClosed | CloseReason::ClientDisconnect | CloseReason::Shutdown)
            }
            _ => false,
        })
        .map(|e| render::line(&e.event))
        .collect();
    let skip = bad.len().saturating_sub(INVOLVED);
    bad.into_iter().skip(skip).collect()
}

/// `the window (5 s from 0.012 s)` or `since its declaration at 0.012 s`.
fn span(d: &Declared) -> String {
    match d.expectation.within {
        Some(w) => format!("within {} of its declaration at {:.3} s", millis(w), d.at.as_secs_f64()),
        None => format!("after its declaration at {:.3} s", d.at.as_secs_f64()),
    }
}

fn one(d: &Declared, window: &[&Entry], late: &[&Entry]) -> Check {
    let open = d.deadline.is_some_and(|end| end > tokio::time::Instant::now());
    match &d.expectation.expected {
        Expected::Online { device: key } => online(d, key, window, late, open),
        Expected::Publishes { device: key, topic, times } => publishes(d, key, topic, *times, window, late, open),
        Expected::Subscribes { device: key, filter } => subscribes(d, key, filter, window, late, open),
        Expected::NeverRefused { device: key } => never_refused(d, key, window),
        Expected::NeverBreaks { rule, device: key } => never_breaks(d, *rule, key.as_ref(), window),
    }
}

fn online(d: &Declared, key: &DeviceKey, window: &[&Entry], late: &[&Entry], open: bool) -> Check {
    let of_device = of(key);
    let is_online = |e: &&&Entry| of_device.accepts(e) && matches!(e.event.kind, EventKind::Online { .. });
    let mine: Vec<&&Entry> = window.iter().filter(|e| of_device.accepts(e)).collect();
    let connects = mine.iter().filter(|e| matches!(e.event.kind, EventKind::Connect(_))).count();
    let observed = match (window.iter().find(is_online), late.iter().find(is_online)) {
        (Some(e), _) => format!("online {}", when(e)),
        (None, Some(e)) => format!("online only {}, after its window", when(e)),
        (None, None) if connects == 0 => "no CONNECT named this device".to_string(),
        (None, None) => format!("never online; {connects} CONNECT(s) named it"),
    };
    let met = window.iter().any(|e| is_online(&e));
    Check {
        met,
        settled: met || !open,
        expected: format!("an accepted CONNECT (an `online` event) {}", span(d)),
        observed,
        involved: involved(mine.into_iter()),
    }
}

fn publishes(
    d: &Declared,
    key: &DeviceKey,
    topic: &str,
    times: Times,
    window: &[&Entry],
    late: &[&Entry],
    open: bool,
) -> Check {
    let of_device = of(key);
    let published = |e: &&&Entry| match &e.event.kind {
        EventKind::PacketIn(p) if p.packet == "PUBLISH" && of_device.accepts(e) => p.topic.clone(),
        _ => None,
    };
    let topics: Vec<String> = window.iter().filter_map(|e| published(&e)).collect();
    let count = topics.iter().filter(|t| filter_matches(topic, t)).count() as u64;
    let (met, settled, wanted) = match times {
        Times::Exactly(n) => (count == n, count > n || !open, format!("exactly {n}")),
        Times::AtLeast(n) => (count >= n, count >= n || !open, format!("at least {n}")),
    };
    let mut observed = format!("{count} PUBLISH to topics matching {topic}");
    let mut others: BTreeMap<&str, usize> = BTreeMap::new();
    for t in topics.iter().filter(|t| !filter_matches(topic, t)) {
        *others.entry(t).or_default() += 1;
    }
    if !others.is_empty() {
        let list: Vec<String> = others.iter().map(|(t, n)| format!("{t} ({n})")).collect();
        observed.push_str(&format!("; other topics: {}", list.join(", ")));
    }
    let late_count = late.iter().filter_map(|e| published(&e)).filter(|t| filter_matches(topic, t)).count();
    if late_count > 0 {
        observed.push_str(&format!("; {late_count} more after its window"));
    }
    let mine = window.iter().filter(|e| of_device.accepts(e));
    Check {
        met,
        settled,
        expected: format!("{wanted} PUBLISH to {topic} {}", span(d)),
        observed,
        involved: involved(mine),
    }
}

/// The filters of a SUBSCRIBE's transcript items (`filter (QoS n)`).
fn subscribed_filters(entry: &Entry) -> Vec<&str> {
    match &entry.event.kind {
        EventKind::PacketIn(p) if p.packet == "SUBSCRIBE" => {
            p.items.iter().map(|i| i.rsplit_once(" (QoS ").map_or(i.as_str(), |(f, _)| f)).collect()
        }
        _ => Vec::new(),
    }
}

fn subscribes(d: &Declared, key: &DeviceKey, filter: &str, window: &[&Entry], late: &[&Entry], open: bool) -> Check {
    let of_device = of(key);
    let mine: Vec<&&Entry> = window.iter().filter(|e| of_device.accepts(e)).collect();
    let asked = mine.iter().find(|e| subscribed_filters(e).contains(&filter));
    // S-SUB-DENY's verdict receives the filter refused (a topic's rights, or the limit).
    let denied = mine.iter().find(|e| match &e.event.kind {
        EventKind::Verdict(v) => v.rule == Rule::SSubDeny && v.outcome == Outcome::Fail && v.received == filter,
        _ => false,
    });
    let met = asked.is_some() && denied.is_none();
    let observed = match (asked, denied) {
        (Some(e), None) => format!("subscribed {}", when(e)),
        (Some(e), Some(v)) => format!("subscribed {}, refused: {}", when(e), render::line(&v.event).trim()),
        (None, _) => {
            let mut seen: Vec<&str> = mine.iter().flat_map(|e| subscribed_filters(e)).collect();
            seen.dedup();
            let later = late.iter().any(|e| of_device.accepts(e) && subscribed_filters(e).contains(&filter));
            match (seen.is_empty(), later) {
                (_, true) => "subscribed only after its window".to_string(),
                (true, false) => "no SUBSCRIBE from this device".to_string(),
                (false, false) => format!("never subscribed to it; subscribed to {}", seen.join(", ")),
            }
        }
    };
    Check {
        met,
        settled: met || denied.is_some() || !open,
        expected: format!("a granted SUBSCRIBE to {filter} {}", span(d)),
        observed,
        involved: involved(mine.into_iter()),
    }
}

fn never_refused(d: &Declared, key: &DeviceKey, window: &[&Entry]) -> Check {
    let of_device = of(key);
    let mine: Vec<&&Entry> = window.iter().filter(|e| of_device.accepts(e)).collect();
    let refusals: Vec<String> = mine
        .iter()
        .filter_map(|e| match &e.event.kind {
            EventKind::Closed { reason: CloseReason::Refused { code, rule } } => {
                Some(format!("CONNACK 0x{:02x} ({rule}) {}", code.as_u8(), when(e)))
            }
            _ => None,
        })
        .collect();
    let observed = match refusals.len() {
        0 => "no refusal".to_string(),
        n => format!("refused {n} time(s): {}", refusals.join("; ")),
    };
    Check {
        met: refusals.is_empty(),
        settled: !refusals.is_empty(),
        expected: format!("no refused CONNECT {}", span(d)),
        observed,
        involved: involved(mine.into_iter()),
    }
}

fn never_breaks(d: &Declared, rule: Rule, key: Option<&DeviceKey>, window: &[&Entry]) -> Check {
    let of_device = key.map(of);
    let broken: Vec<&&Entry> = window
        .iter()
        .filter(|e| of_device.as_ref().is_none_or(|f| f.accepts(e)))
        .filter(|e| matches!(&e.event.kind, EventKind::Verdict(v) if v.rule == rule && v.outcome == Outcome::Fail))
        .collect();
    let observed = match broken.first() {
        None => format!("no failed {rule} verdict"),
        Some(first) => {
            let whose = key.map_or_else(String::new, |k| format!(" by {}", device(k)));
            format!("{} failed {rule} verdict(s){whose}, the first {}", broken.len(), when(first))
        }
    };
    Check {
        met: broken.is_empty(),
        settled: !broken.is_empty(),
        expected: format!("no failed {rule} verdict {}", span(d)),
        observed,
        involved: involved(broken.into_iter()),
    }
}
