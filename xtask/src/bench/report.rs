//! The bench's figures and how they are judged: each figure measured on every run, for the
//! kit and (when there is one) mosquitto; the ratio per run and its median; the target and
//! whether the median meets it; the generator's CPU share, so that a figure the generator
//! limited is marked a lower bound. Printed as a console table and written as JSON.

use serde::Serialize;
use std::fmt::Write as _;

/// What a figure must reach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Target {
    /// kit / mosquitto, as the median of the runs, at least this.
    RatioAtLeast(f64),
    /// kit / mosquitto, as the median of the runs, at most this.
    RatioAtMost(f64),
    /// The kit's median below this value.
    Below(f64),
    /// The kit's median at most this value.
    AtMost(f64),
    /// The kit's median at least this value (a count, a check passed: 1).
    AtLeast(f64),
}

impl Target {
    fn label(self) -> String {
        match self {
            Target::RatioAtLeast(x) => format!(">= {}x", trim(x)),
            Target::RatioAtMost(x) => format!("<= {}x", trim(x)),
            Target::Below(x) => format!("< {}", trim(x)),
            Target::AtMost(x) => format!("<= {}", trim(x)),
            Target::AtLeast(x) => format!(">= {}", trim(x)),
        }
    }

    /// Whether the figure meets it; `None` when it cannot be judged (no mosquitto figure).
    fn met(self, kit: Option<f64>, ratio: Option<f64>) -> Option<bool> {
        match self {
            Target::RatioAtLeast(x) => ratio.map(|r| r >= x),
            Target::RatioAtMost(x) => ratio.map(|r| r <= x),
            Target::Below(x) => kit.map(|k| k < x),
            Target::AtMost(x) => kit.map(|k| k <= x),
            Target::AtLeast(x) => kit.map(|k| k >= x),
        }
    }
}

/// The generator at or above this share of its core limited the figure.
pub const GENERATOR_LIMIT: f64 = 0.9;

/// One figure over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub scenario: String,
    pub name: String,
    pub unit: String,
    pub kit: Vec<f64>,
    /// Empty when mosquitto was not measured.
    pub mosquitto: Vec<f64>,
    pub ratios: Vec<f64>,
    pub median_ratio: Option<f64>,
    pub kit_median: Option<f64>,
    pub target: Option<Target>,
    pub met: Option<bool>,
    /// The generator's CPU share (of its core) in each kit run, when it matters.
    pub generator_cpu: Vec<f64>,
    /// The generator was near 100 % of its core: the kit's figure is a lower bound.
    pub lower_bound: bool,
}

impl Figure {
    pub fn new(scenario: &str, name: &str, unit: &str) -> Figure {
        Figure {
            scenario: scenario.into(),
            name: name.into(),
            unit: unit.into(),
            kit: Vec::new(),
            mosquitto: Vec::new(),
            ratios: Vec::new(),
            median_ratio: None,
            kit_median: None,
            target: None,
            met: None,
            generator_cpu: Vec::new(),
            lower_bound: false,
        }
    }

    pub fn target(mut self, target: Target) -> Figure {
        self.target = Some(target);
        self
    }

    /// Computes the ratios, medians and verdict from the runs.
    pub fn judge(&mut self) {
        self.ratios = self.kit.iter().zip(&self.mosquitto).filter(|(_, m)| **m != 0.0).map(|(k, m)| k / m).collect();
        self.median_ratio = median(&self.ratios);
        self.kit_median = median(&self.kit);
        self.met = self.target.and_then(|t| t.met(self.kit_median, self.median_ratio));
        self.lower_bound = self.generator_cpu.iter().any(|c| *c >= GENERATOR_LIMIT);
    }
}

/// The median (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// A number in a few significant digits.
pub fn trim(x: f64) -> String {
    let text = if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else if x.abs() >= 0.1 || x == 0.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    };
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

fn list(values: &[f64]) -> String {
    if values.is_empty() { "-".into() } else { values.iter().map(|v| trim(*v)).collect::<Vec<_>>().join(" / ") }
}

/// The console table, one row a figure.
pub fn table(figures: &[Figure]) -> String {
    let header =
        ["figure", "kit (each run)", "mosquitto", "ratio (each run)", "median ratio", "target", "met", "gen CPU"];
    let rows: Vec<[String; 8]> = figures
        .iter()
        .map(|f| {
            let met = match f.met {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            };
            let gen_cpu = if f.generator_cpu.is_empty() {
                "-".to_string()
            } else {
                let shares = f.generator_cpu.iter().map(|c| format!("{:.0}%", c * 100.0)).collect::<Vec<_>>().join(" ");
                if f.lower_bound { format!("{shares} (lower bound)") } else { shares }
            };
            [
                format!("{} {} ({})", f.scenario, f.name, f.unit),
                list(&f.kit),
                list(&f.mosquitto),
                list(&f.ratios),
                f.median_ratio.map_or("-".into(), |r| format!("{}x", trim(r))),
                f.target.map_or("-".into(), Target::label),
                met.into(),
                gen_cpu,
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", padded.join(" | ").trim_end());
    };
    line(&mut out, &header.map(String::from));
    line(&mut out, &widths.map(|w| "-".repeat(w)));
    for row in &rows {
        line(&mut out, row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
    }

    #[test]
    fn the_median_ratio_is_judged_against_the_target() {
        let mut rate = Figure::new("connect-ws", "rate", "conn/s").target(Target::RatioAtLeast(3.0));
        rate.kit = vec![3000.0, 2000.0, 4000.0];
        rate.mosquitto = vec![1000.0, 1000.0, 500.0];
        rate.generator_cpu = vec![0.5, 0.95, 0.4];
        rate.judge();
        assert_eq!(rate.ratios, [3.0, 2.0, 8.0]);
        assert_eq!((rate.median_ratio, rate.met, rate.lower_bound), (Some(3.0), Some(true), true));

        let mut p99 = Figure::new("connect-ws", "p99", "ms").target(Target::RatioAtMost(0.125));
        p99.kit = vec![20.0];
        p99.mosquitto = vec![100.0];
        p99.judge();
        assert_eq!((p99.met, p99.lower_bound), (Some(false), false));

        let mut alone = Figure::new("idle-19k", "broker CPU", "%").target(Target::Below(5.0));
        alone.kit = vec![1.0, 7.0, 2.0];
        alone.judge();
        assert_eq!((alone.median_ratio, alone.met), (None, Some(true)));
        let mut unjudged = Figure::new("connect-ws", "rate", "conn/s").target(Target::RatioAtLeast(3.0));
        unjudged.kit = vec![1.0];
        unjudged.judge();
        assert_eq!(unjudged.met, None);
    }

    #[test]
    fn the_table_shows_every_run_and_marks_lower_bounds() {
        let mut f = Figure::new("ingest-qos1", "rate", "msg/s").target(Target::RatioAtLeast(1.5));
        f.kit = vec![30000.0, 31000.0];
        f.mosquitto = vec![10000.0, 20000.0];
        f.generator_cpu = vec![0.97, 0.5];
        f.judge();
        let table = table(&[f]);
        assert!(table.contains("30000 / 31000"), "{table}");
        assert!(table.contains("3 / 1.55"), "{table}");
        assert!(table.contains("2.27x"), "{table}");
        assert!(table.contains("97% 50% (lower bound)"), "{table}");
        assert!(table.contains("| yes"), "{table}");
    }
}
