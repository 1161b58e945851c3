//! The `suite` scenario: the wall time of the release `conformance` binary against the
//! reference fixture client, for `--profile quick` and `--profile full`.

use super::report::{Figure, Target};
use super::scenarios::Outcome;
use anyhow::Context;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The `ping` case's window, the longest timer case: the full profile's floor.
const LONGEST_TIMER_CASE_S: f64 = 65.0;

pub fn run(bin: &Path, runs: usize, dir: &Path) -> anyhow::Result<Outcome> {
    let mut outcome = Outcome::default();
    let mut quick = Figure::new("suite", "--profile quick wall time", "s").target(Target::Below(10.0));
    let mut full =
        Figure::new("suite", "--profile full wall time", "s").target(Target::AtMost(2.0 * LONGEST_TIMER_CASE_S));
    for _ in 0..runs {
        for (profile, figure) in [("quick", &mut quick), ("full", &mut full)] {
            let (seconds, ok) = time_suite(bin, profile, dir)?;
            figure.kit.push(seconds);
            if !ok {
                outcome.notes.push(format!("suite: --profile {profile} did not pass against the reference client"));
                outcome.failed.get_or_insert_with(|| format!("the suite's {profile} profile failed"));
            }
        }
    }
    outcome.figures.extend([quick, full]);
    outcome.notes.push(format!(
        "suite: release conformance against `reference` (fixture-client), no snapshots; full target: 2 x the \
         `ping` case's {LONGEST_TIMER_CASE_S} s"
    ));
    Ok(outcome)
}

/// Runs the suite once from `dir` (its regressions land there, not in the repository).
fn time_suite(bin: &Path, profile: &str, dir: &Path) -> anyhow::Result<(f64, bool)> {
    let mut suite = Command::new(bin.join("conformance"));
    suite.arg("reference").arg("--fixture-bin").arg(bin.join("fixture-client"));
    suite.args(["--profile", profile, "--no-snapshots", "--regressions"]).arg(dir.join("regressions"));
    suite.current_dir(dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let status = suite.status().with_context(|| format!("starting {suite:?}"))?;
    Ok((start.elapsed().as_secs_f64(), status.success()))
}
