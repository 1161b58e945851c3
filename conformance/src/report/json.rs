//! `report.json`: the serde form of [`RunReport`], pretty-printed, for scripts and dashboards.
//!
//! Per case: its ID, the client rule (`C-...`) and platform rules (`A-...`, `K-...`), the
//! transport, the verdict, the explanation, the duration, the broker's findings, the measured
//! values (keepalive declared, ping intervals seen...) and how the client process ended.
//! Transcripts are left out (they go to snapshots); the coverage of every client rule ends it.

use crate::model::RunReport;
use std::io;
use std::path::{Path, PathBuf};

/// The file written into `--out DIR`.
pub const FILE_NAME: &str = "report.json";

/// Writes `report.json` into `dir` (created if missing) and returns its path.
pub fn write(report: &RunReport, dir: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let mut text = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    text.push('\n');
    let path = dir.join(FILE_NAME);
    std::fs::write(&path, text)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use serde_json::Value;

    fn written() -> Value {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&sample_with_coverage(), &dir.path().join("out")).unwrap();
        assert_eq!(path, dir.path().join("out").join(FILE_NAME));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn report_json_carries_per_case_fields_and_measured_values() {
        let json = written();
        let fail = json["cases"].as_array().unwrap().iter().find(|c| c["verdict"] == "fail").unwrap();
        assert_eq!(fail["case"], "keepalive-range");
        assert_eq!(fail["client_rule"], "C-KEEPALIVE");
        assert_eq!(fail["platform_rules"][0], "A-KEEPALIVE");
        assert_eq!(fail["transport"], "tcp");
        assert_eq!(fail["duration_ms"], 1500);
        assert_eq!(fail["explanation"], FAIL_EXPLANATION);
        assert_eq!(fail["measured"]["keepalive_declared"], 0);
        assert_eq!(fail["findings"][0]["rule"], "A-KEEPALIVE");
        assert!(fail.get("transcript").is_none(), "transcripts stay out of report.json");
        let warn = json["cases"].as_array().unwrap().iter().find(|c| c["verdict"] == "warn").unwrap();
        assert_eq!(warn["measured"]["ping_intervals_s"], serde_json::json!([59.8, 60.2]));
        assert_eq!(json["coverage"].as_array().unwrap().len(), 16);
    }

    #[test]
    fn report_json_snapshot() {
        insta::assert_json_snapshot!(written(), {
            ".started_unix_ms" => "[unix ms]",
            ".duration_ms" => "[ms]",
            ".cases[].duration_ms" => "[ms]",
        });
    }
}
