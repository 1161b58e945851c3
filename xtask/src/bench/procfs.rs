//! What the bench reads of a process from `/proc`: CPU time (utime + stime of
//! `/proc/PID/stat`, in clock ticks) and resident memory (`VmRSS` of `/proc/PID/status`).

use anyhow::{Context, bail};
use std::time::Instant;

/// utime + stime from the text of `/proc/PID/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub fn cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let after_name = stat.rfind(')').map(|i| &stat[i + 1..]).context("no ')' closing the command name")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let field = |i: usize| -> anyhow::Result<u64> {
        let text = fields.get(i).with_context(|| format!("only {} fields after the command name", fields.len()))?;
        text.parse().with_context(|| format!("field {} is {text:?}", i + 3))
    };
    Ok(field(11)? + field(12)?)
}

/// `VmRSS` in KiB from the text of `/proc/PID/status`.
pub fn rss_kib(status: &str) -> anyhow::Result<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS line")?;
    let mut words = line.split_whitespace().skip(1);
    match (words.next().map(str::parse::<u64>), words.next()) {
        (Some(Ok(kib)), Some("kB")) => Ok(kib),
        _ => bail!("unexpected {line:?}"),
    }
}

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub at: Instant,
    pub ticks: u64,
    /// `None` for a process that is exiting (its memory is gone, its CPU time is not).
    pub rss_kib: Option<u64>,
}

/// Reads process `pid` now.
pub fn read(pid: u32) -> anyhow::Result<Reading> {
    let at = Instant::now();
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("process {pid} is gone"))?;
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("process {pid} is gone"))?;
    Ok(Reading { at, ticks: cpu_ticks(&stat)?, rss_kib: rss_kib(&status).ok() })
}

/// Clock ticks a second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked).
pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// The share of one core used between two readings (1.0 = a full core).
pub fn cpu_share(from: &Reading, to: &Reading, ticks_per_second: f64) -> f64 {
    let wall = to.at.duration_since(from.at).as_secs_f64();
    if wall <= 0.0 { 0.0 } else { to.ticks.saturating_sub(from.ticks) as f64 / ticks_per_second / wall }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_count_after_the_name() {
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 137 42 0 0 20 0 3 0 900 1000 50";
        assert_eq!(cpu_ticks(stat).unwrap(), 179);
        assert!(cpu_ticks("4242 (x) S 1 2").unwrap_err().to_string().contains("only 3 fields"));
        assert!(cpu_ticks("no name").is_err());
    }

    #[test]
    fn rss_is_read_in_kib() {
        let status = "Name:\tmock-broker\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n";
        assert_eq!(rss_kib(status).unwrap(), 5120);
        assert!(rss_kib("Name: x\n").unwrap_err().to_string().contains("no VmRSS"));
        assert!(rss_kib("VmRSS: 12 MB\n").is_err());
    }

    #[test]
    fn cpu_share_is_ticks_over_wall_time() {
        let from = Reading { at: Instant::now(), ticks: 100, rss_kib: None };
        let to = Reading { at: from.at + std::time::Duration::from_secs(2), ticks: 150, rss_kib: None };
        assert_eq!(cpu_share(&from, &to, 100.0), 0.25);
        assert_eq!(cpu_share(&from, &from, 100.0), 0.0);
    }
}
