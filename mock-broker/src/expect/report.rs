//! The verification report: each expectation, met or not, expected against observed, the
//! verdicts involved, and the tail of the transcript since the first declaration.

use super::Declared;
use super::check::Check;
use crate::events::{Bus, EventKind};
use crate::render;
use serde::Serialize;
use std::fmt;

/// How many events the transcript tail shows.
const TAIL: usize = 20;

/// One expectation as verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Verified {
    /// Its number in its scope, from 1.
    pub id: u64,
    /// It, in words: `a1B2c3D4e5F/sensor-01 comes online within 5 s`.
    pub description: String,
    pub met: bool,
    pub expected: String,
    pub observed: String,
    /// Transcript lines of the failed verdicts and refusals involved.
    pub verdicts: Vec<String>,
}

/// A verification with at least one expectation not met: the report, which its `Display`
/// prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Unmet {
    /// Every expectation verified, in the order declared.
    pub outcomes: Vec<Verified>,
    /// The last events since the first declaration, rendered, passed verdicts left out.
    pub tail: Vec<String>,
    /// How many events came since the first declaration, and how many of those were not
    /// passed verdicts.
    pub events: u64,
    pub eventful: u64,
}

impl std::error::Error for Unmet {}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unmet = self.outcomes.iter().filter(|o| !o.met).count();
        writeln!(f, "mock broker: {unmet} of {} expectations not met", self.outcomes.len())?;
        for o in &self.outcomes {
            let mark = if o.met { "met" } else { "NOT MET" };
            writeln!(f, "\n#{} {mark}: {}", o.id, o.description)?;
            writeln!(f, "   expected: {}", o.expected)?;
            writeln!(f, "   observed: {}", o.observed)?;
            if !o.verdicts.is_empty() {
                writeln!(f, "   verdicts involved:")?;
                for line in &o.verdicts {
                    writeln!(f, "     {}", line.replace('\n', "\n     "))?;
                }
            }
        }
        let shown = self.tail.len();
        writeln!(
            f,
            "\ntranscript tail (the last {shown} of {} events since the first declaration, {} passed verdicts left out):",
            self.eventful,
            self.events - self.eventful
        )?;
        for line in &self.tail {
            writeln!(f, "  {}", line.replace('\n', "\n  "))?;
        }
        Ok(())
    }
}

impl Unmet {
    /// How many were met if all were, or the report.
    pub(crate) fn into_result(self) -> Result<usize, Unmet> {
        match self.outcomes.iter().all(|o| o.met) {
            true => Ok(self.outcomes.len()),
            false => Err(self),
        }
    }
}

/// Whether an event is a passed verdict, which the tail leaves out.
fn passed(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Verdict(v) if v.outcome == crate::verdict::Outcome::Pass)
}

/// The report of a verification (of one where all were met, too).
pub(crate) fn conclude(bus: &Bus, declared: &[Declared], checks: Vec<Check>) -> Unmet {
    let outcomes: Vec<Verified> = declared
        .iter()
        .zip(checks)
        .map(|(d, c)| Verified {
            id: d.id,
            description: d.expectation.to_string(),
            met: c.met,
            expected: c.expected,
            observed: c.observed,
            verdicts: c.involved,
        })
        .collect();
    let first = declared.iter().map(|d| d.after_seq).min().unwrap_or(0);
    let events = bus.head() - first;
    let (kept, _) = bus.after(first, usize::MAX, |e| !passed(&e.event.kind));
    let skip = kept.len().saturating_sub(TAIL);
    let tail = kept[skip..].iter().map(|e| render::line(&e.event)).collect();
    Unmet { outcomes, tail, events, eventful: kept.len() as u64 }
}
