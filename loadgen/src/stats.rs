//! Latency percentiles and the accounting of connection attempts by stage: the time of each
//! stage of every successful connection, and failures counted by the stage they failed in.

use crate::dial::{DialError, Stage, StageTimes};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The nearest-rank percentile `p` (0..=100) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// A latency distribution in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// The distribution of `samples` (sorted in place); `None` without samples.
    pub fn of(samples: &mut [Duration]) -> Option<Latency> {
        samples.sort_unstable();
        let ms = |p| percentile(samples, p).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        (!samples.is_empty()).then(|| Latency {
            count: samples.len(),
            p50_ms: ms(50.0),
            p90_ms: ms(90.0),
            p99_ms: ms(99.0),
            max_ms: ms(100.0),
        })
    }
}

/// How many error messages are kept, as examples, per stage.
const EXAMPLES_PER_STAGE: usize = 3;

/// Every attempt of a connect phase, by stage.
#[derive(Debug, Default)]
pub struct StageAccount {
    total: Vec<Duration>,
    stages: [Vec<Duration>; 4],
    errors: BTreeMap<Stage, u64>,
    examples: BTreeMap<Stage, Vec<String>>,
    not_started: u64,
}

/// The JSON of a [`StageAccount`].
#[derive(Debug, Serialize)]
pub struct StageSummary {
    pub connected: usize,
    /// From the start of the TCP connect to the CONNACK.
    pub latency: Option<Latency>,
    /// Each stage's distribution over the successful connections (absent stages left out).
    pub stages: BTreeMap<&'static str, Latency>,
    /// Failures by the stage they failed in.
    pub errors: BTreeMap<&'static str, u64>,
    /// A few messages of each stage's failures.
    pub error_examples: BTreeMap<&'static str, Vec<String>>,
    /// Attempts never started because the phase's deadline came first.
    pub not_started: u64,
}

impl StageAccount {
    pub fn success(&mut self, times: &StageTimes) {
        self.total.push(times.iter().flatten().sum());
        for (samples, time) in self.stages.iter_mut().zip(times) {
            samples.extend(*time);
        }
    }

    pub fn failure(&mut self, error: &DialError) {
        *self.errors.entry(error.stage).or_default() += 1;
        let examples = self.examples.entry(error.stage).or_default();
        if examples.len() < EXAMPLES_PER_STAGE && !examples.contains(&error.message) {
            examples.push(error.message.clone());
        }
    }

    pub fn not_started(&mut self) {
        self.not_started += 1;
    }

    pub fn summary(mut self) -> StageSummary {
        let stages = Stage::ALL
            .into_iter()
            .zip(self.stages.iter_mut())
            .filter_map(|(stage, samples)| Latency::of(samples).map(|l| (stage.name(), l)))
            .collect();
        StageSummary {
            connected: self.total.len(),
            latency: Latency::of(&mut self.total),
            stages,
            errors: self.errors.iter().map(|(s, n)| (s.name(), *n)).collect(),
            error_examples: self.examples.into_iter().map(|(s, e)| (s.name(), e)).collect(),
            not_started: self.not_started,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<_> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&samples, 50.0), Some(ms(50)));
        assert_eq!(percentile(&samples, 99.0), Some(ms(99)));
        assert_eq!(percentile(&samples, 100.0), Some(ms(100)));
        assert_eq!(percentile(&samples, 0.0), Some(ms(1)));
        assert_eq!(percentile(&[ms(7)], 90.0), Some(ms(7)));
        assert_eq!(percentile(&[], 50.0), None);
        let latency = Latency::of(&mut [ms(3), ms(1), ms(2)]).unwrap();
        assert_eq!((latency.count, latency.p50_ms, latency.max_ms), (3, 2.0, 3.0));
    }

    #[test]
    fn stages_are_accounted_separately() {
        let mut account = StageAccount::default();
        account.success(&[Some(ms(1)), None, Some(ms(2)), Some(ms(4))]);
        account.success(&[Some(ms(1)), None, Some(ms(2)), Some(ms(6))]);
        for _ in 0..5 {
            account.failure(&DialError { stage: Stage::Mqtt, message: "CONNACK refused with code 0x04".into() });
        }
        account.failure(&DialError { stage: Stage::Tcp, message: "refused".into() });
        account.not_started();
        let summary = account.summary();
        assert_eq!(summary.connected, 2);
        assert_eq!(summary.latency.unwrap().max_ms, 9.0);
        assert_eq!(summary.stages.keys().copied().collect::<Vec<_>>(), ["mqtt", "tcp", "ws"]);
        assert_eq!(summary.stages["mqtt"].p50_ms, 4.0);
        assert_eq!(summary.errors, BTreeMap::from([("mqtt", 5), ("tcp", 1)]));
        assert_eq!(summary.error_examples["mqtt"].len(), 1);
        assert_eq!(summary.not_started, 1);
    }
}
