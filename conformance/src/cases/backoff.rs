//! How a client spaces its reconnects: the intervals classified as exponential (with or
//! without jitter), linear, constant or none, for C-RECONNECT and C-REFUSED.
//!
//! Interpretations (the platform names no schedule; these are the kit's):
//! - Growth is judged from interval to interval: a mean ratio of at least 1.5 is exponential;
//!   increases of nearly equal size (spread under a quarter of their mean) are linear; a
//!   last interval within 25 % of the first is constant.
//! - Jitter: ratios (exponential) or intervals (constant) that differ by more than 5 %.

use serde::Serialize;
use std::time::Duration;

/// The shortest wait the platform rules accept before a reconnect (C-RECONNECT, C-REFUSED).
pub const MIN_WAIT: Duration = Duration::from_secs(1);
/// How much shorter than the client's wait a measured interval may read: it runs from the
/// broker's `closed` event, recorded just after the client could already see the close, to
/// its next `accepted`. A client that waits exactly [`MIN_WAIT`] must not read as too soon.
pub const MEASURE_TOLERANCE: Duration = Duration::from_millis(50);

/// Whether a measured interval shows a wait shorter than [`MIN_WAIT`].
pub fn too_soon(interval: Duration) -> bool {
    interval + MEASURE_TOLERANCE < MIN_WAIT
}

/// The shape of a reconnect schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    Exponential,
    ExponentialWithJitter,
    Linear,
    Constant,
    ConstantWithJitter,
    /// Too few intervals to tell (fewer than two).
    Unknown,
}

impl Schedule {
    /// Words for a report.
    pub fn describe(self) -> &'static str {
        match self {
            Schedule::Exponential => "exponential backoff",
            Schedule::ExponentialWithJitter => "exponential backoff with jitter",
            Schedule::Linear => "linear backoff",
            Schedule::Constant => "constant backoff (no growth)",
            Schedule::ConstantWithJitter => "constant backoff with jitter (no growth)",
            Schedule::Unknown => "too few reconnects to tell",
        }
    }

    /// True when the waits grow on repeated failures.
    pub fn backs_off(self) -> bool {
        matches!(self, Schedule::Exponential | Schedule::ExponentialWithJitter | Schedule::Linear)
    }
}

/// Classifies intervals, in order: constant first, then linear (steps of nearly equal
/// size), then exponential (a mean ratio of at least 1.5), then slow growth as linear.
pub fn classify(intervals: &[Duration]) -> Schedule {
    if intervals.len() < 2 {
        return Schedule::Unknown;
    }
    let secs: Vec<f64> = intervals.iter().map(|d| d.as_secs_f64().max(1e-3)).collect();
    let ratios: Vec<f64> = secs.windows(2).map(|w| w[1] / w[0]).collect();
    let steps: Vec<f64> = secs.windows(2).map(|w| w[1] - w[0]).collect();
    let (first, last) = (secs[0], secs[secs.len() - 1]);
    if (last / first - 1.0).abs() <= 0.25 && ratios.iter().all(|r| (0.75..=1.25).contains(r)) {
        return if spread(&secs) > 0.05 { Schedule::ConstantWithJitter } else { Schedule::Constant };
    }
    let mean_step = steps.iter().sum::<f64>() / steps.len() as f64;
    if mean_step > 0.0 && steps.iter().all(|s| *s > 0.0) && spread(&steps) < 0.25 {
        return Schedule::Linear;
    }
    let mean_log_ratio = ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64;
    if mean_log_ratio >= 1.5f64.ln() {
        return if spread(&ratios) > 0.05 { Schedule::ExponentialWithJitter } else { Schedule::Exponential };
    }
    if last > first * 1.25 { Schedule::Linear } else { Schedule::ConstantWithJitter }
}

/// The largest deviation from the mean, relative to the mean.
fn spread(values: &[f64]) -> f64 {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let deviation = values.iter().map(|v| (v - mean).abs()).fold(0.0, f64::max);
    deviation / mean.abs().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn a_wait_of_exactly_one_second_is_not_too_soon() {
        assert!(!too_soon(Duration::from_millis(999)) && !too_soon(Duration::from_millis(951)));
        assert!(too_soon(Duration::from_millis(900)) && too_soon(Duration::from_millis(50)));
    }

    #[test]
    fn the_named_schedules_are_told_apart() {
        assert_eq!(classify(&ms(&[1000, 2000, 4000, 8000])), Schedule::Exponential);
        assert_eq!(classify(&ms(&[1000, 1700, 4500])), Schedule::ExponentialWithJitter);
        assert_eq!(classify(&ms(&[1000, 2000, 3000, 4000])), Schedule::Linear);
        assert_eq!(classify(&ms(&[1000, 1000, 1000])), Schedule::Constant);
        assert_eq!(classify(&ms(&[1000, 1100, 950])), Schedule::ConstantWithJitter);
        assert_eq!(classify(&ms(&[50, 50, 50])), Schedule::Constant);
        assert_eq!(classify(&ms(&[1000])), Schedule::Unknown);
        assert!(Schedule::Linear.backs_off() && !Schedule::Constant.backs_off());
    }

    proptest! {
        /// The reference client's schedule: 1 s doubling, each wait times [0.8, 1.2], at
        /// least 1 s. Whatever the jitter draws, it backs off.
        #[test]
        fn jittered_doubling_always_backs_off(factors in proptest::collection::vec(0.8f64..1.2, 3..6)) {
            let intervals: Vec<Duration> = factors
                .iter()
                .enumerate()
                .map(|(i, f)| Duration::from_secs_f64((f * f64::from(1u32 << i)).max(1.0)))
                .collect();
            let schedule = classify(&intervals);
            prop_assert!(schedule.backs_off(), "{intervals:?}: {schedule:?}");
        }

        /// A fixed period with up to 4 % jitter never counts as backing off.
        #[test]
        fn a_fixed_period_never_backs_off(period in 100u64..5000, jitter in proptest::collection::vec(0.96f64..1.04, 3..6)) {
            let intervals: Vec<Duration> = jitter.iter().map(|j| Duration::from_millis(period).mul_f64(*j)).collect();
            prop_assert!(!classify(&intervals).backs_off(), "{intervals:?}");
        }
    }
}
