//! Finding events in the transcript: a filter by kind, connection, device and rule, and the
//! error of a wait that found nothing, which says what it waited for and shows the events
//! that came closest.

use super::bus::Entry;
use super::{ConnId, Event, EventKind};
use crate::render;
use crate::rules::Rule;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Which events a reader wants. Every criterion set must hold; none set accepts every event.
///
/// ```
/// use mock_broker::{EventFilter, Rule};
/// let refusals = EventFilter::kind("closed").unwrap().device("a1B2c3D4e5F", "sensor-01");
/// let sign_failures = EventFilter::any().rule(Rule::ASignContent);
/// assert_eq!(refusals.to_string(), "event=closed device=a1B2c3D4e5F/sensor-01");
/// assert!(EventFilter::kind("onlin").is_err());
/// # let _ = sign_failures;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    kind: Option<&'static str>,
    conn: Option<ConnId>,
    device: Option<String>,
    rule: Option<Rule>,
}

/// A kind name that is not one of [`EventKind::NAMES`].
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("event {0:?} is not an event kind; kinds: {kinds}", kinds = EventKind::NAMES.join(", "))]
pub struct UnknownKind(pub String);

impl EventFilter {
    /// Every event.
    pub fn any() -> EventFilter {
        EventFilter::default()
    }

    /// Events of one kind, by its JSON name (`online`, `verdict`, `closed`...).
    pub fn kind(name: &str) -> Result<EventFilter, UnknownKind> {
        EventFilter::any().and_kind(name)
    }

    /// This filter, also requiring the kind `name`.
    pub fn and_kind(mut self, name: &str) -> Result<EventFilter, UnknownKind> {
        let known = EventKind::NAMES.iter().find(|k| **k == name).ok_or_else(|| UnknownKind(name.into()))?;
        self.kind = Some(known);
        Ok(self)
    }

    /// Only events of connection `conn`.
    pub fn conn(mut self, conn: ConnId) -> EventFilter {
        self.conn = Some(conn);
        self
    }

    /// Only events of the device's connections (known from its CONNECT's username on).
    pub fn device(mut self, product_key: &str, device_name: &str) -> EventFilter {
        self.device = Some(format!("{product_key}/{device_name}"));
        self
    }

    /// Only verdicts on `rule`, and refusals and violation closes naming it.
    pub fn rule(mut self, rule: Rule) -> EventFilter {
        self.rule = Some(rule);
        self
    }

    /// The criteria `entry` meets, and how many the filter has.
    fn score(&self, entry: &Entry) -> (usize, usize) {
        let event = &entry.event;
        let checks = [
            self.kind.map(|k| k == event.kind.name()),
            self.conn.map(|c| c == event.conn),
            self.device.as_deref().map(|d| entry.device.as_deref() == Some(d)),
            self.rule.map(|r| rule_of(&event.kind) == Some(r.id())),
        ];
        let set = checks.iter().flatten().count();
        (checks.iter().flatten().filter(|met| **met).count(), set)
    }

    /// Whether `entry` meets every criterion.
    pub(crate) fn accepts(&self, entry: &Entry) -> bool {
        let (met, set) = self.score(entry);
        met == set
    }
}

/// The rule an event names: a verdict's, or a refusal's or violation's.
fn rule_of(kind: &EventKind) -> Option<&str> {
    use super::CloseReason::{Refused, Violation};
    match kind {
        EventKind::Verdict(v) => Some(v.rule.id()),
        EventKind::Closed { reason: Refused { rule, .. } | Violation { rule, .. } } => Some(rule),
        _ => None,
    }
}

impl fmt::Display for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        parts.extend(self.kind.map(|k| format!("event={k}")));
        parts.extend(self.conn.map(|c| format!("conn={c}")));
        parts.extend(self.device.as_ref().map(|d| format!("device={d}")));
        parts.extend(self.rule.map(|r| format!("rule={}", r.id())));
        if parts.is_empty() {
            return f.write_str("any event");
        }
        f.write_str(&parts.join(" "))
    }
}

/// How many of the closest events a [`NoMatch`] shows.
const CLOSEST: usize = 5;

/// Why a wait for an event ended without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The time given passed.
    Timeout,
    /// The broker shut down.
    Closed,
}

/// A wait for an event that found none: what it waited for, how long, what it saw, and the
/// events that met the most of the filter's criteria (the newest first among equals).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NoMatch {
    /// What the wait wanted: `event=online device=pk/dn`, `pk/dn subscribed to F`...
    pub wanted: String,
    pub waited: Duration,
    pub ended: Ended,
    /// Events read while waiting, none of which matched.
    pub seen: u64,
    /// Events let go from the history before the wait could read them.
    pub missed: u64,
    /// Up to five events that came closest, oldest first.
    pub closest: Vec<Arc<Event>>,
}

impl std::error::Error for NoMatch {}

impl fmt::Display for NoMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.ended {
            Ended::Timeout => format!("within {} ms", self.waited.as_millis()),
            Ended::Closed => format!("before the broker shut down ({} ms)", self.waited.as_millis()),
        };
        write!(f, "no {} {how}; {} other events seen", self.wanted, self.seen)?;
        if self.missed > 0 {
            write!(f, ", {} more let go from the history unread", self.missed)?;
        }
        if self.closest.is_empty() {
            return f.write_str(".");
        }
        f.write_str(". The closest:")?;
        for event in &self.closest {
            write!(f, "\n  {}", render::line(event).replace('\n', "\n  "))?;
        }
        Ok(())
    }
}

/// Keeps the events that came closest to a filter while a wait reads past them.
pub(crate) struct Closest<'a> {
    filter: &'a EventFilter,
    /// (criteria met, seq, event).
    best: Vec<(usize, u64, Arc<Event>)>,
    pub seen: u64,
    pub missed: u64,
}

impl<'a> Closest<'a> {
    pub(crate) fn new(filter: &'a EventFilter) -> Closest<'a> {
        Closest { filter, best: Vec::with_capacity(CLOSEST + 1), seen: 0, missed: 0 }
    }

    /// Notes an entry that did not match.
    pub(crate) fn note(&mut self, entry: &Entry) {
        self.seen += 1;
        let (met, set) = self.filter.score(entry);
        if met == 0 && set > 0 {
            return;
        }
        self.best.push((met, entry.seq, entry.event.clone()));
        // Most criteria met first, then the newest.
        self.best.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        self.best.truncate(CLOSEST);
    }

    /// The error of the wait for `self.filter` that read these.
    pub(crate) fn into_error(self, waited: Duration, ended: Ended) -> NoMatch {
        let wanted = format!("event with {}", self.filter);
        self.into_error_wanting(wanted, waited, ended)
    }

    /// The error of a wait for `wanted` that read these.
    pub(crate) fn into_error_wanting(self, wanted: String, waited: Duration, ended: Ended) -> NoMatch {
        let mut best = self.best;
        best.sort_by_key(|(_, seq, _)| *seq);
        NoMatch {
            wanted,
            waited,
            ended,
            seen: self.seen,
            missed: self.missed,
            closest: best.into_iter().map(|(_, _, e)| e).collect(),
        }
    }
}
