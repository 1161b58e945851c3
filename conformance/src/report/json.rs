//! `report.json`: the serde form of [`RunReport`], pretty-printed, for scripts and dashboards.
//!
//! Per case: its ID, the client rule (`C-...`) and platform rules (`A-...`, `K-...`), the
//! transport, the verdict, the explanation, the duration, the broker's findings, the measured
//! values (keepalive declared, ping intervals seen...) and how the client process ended.
//! Transcripts are left out (they go to snapshots); the coverage of every client rule ends it.
//!
//! The layout is versioned: `schema_version` ([`SCHEMA_VERSION`]) comes first, and
//! `conformance/report.schema.json` ([`SCHEMA`], JSON Schema draft 2020-12) describes every
//! field; the README's "report.json" section documents them. Tests validate written reports
//! against that schema.

use crate::model::RunReport;
use serde::Serialize;
use std::io;
use std::path::{Path, PathBuf};

/// The file written into `--out DIR`.
pub const FILE_NAME: &str = "report.json";

/// The version of the layout, `schema_version` in the file. It changes only when a field is
/// removed, renamed or changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of `report.json` (`conformance/report.schema.json`).
pub const SCHEMA: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/report.schema.json"));

/// `report.json`'s top level: the version, then the report's fields.
#[derive(Serialize)]
struct Versioned<'r> {
    schema_version: u32,
    #[serde(flatten)]
    report: &'r RunReport,
}

/// The report as `report.json` holds it.
pub fn to_value(report: &RunReport) -> serde_json::Value {
    serde_json::to_value(Versioned { schema_version: SCHEMA_VERSION, report })
        .expect("a report always serializes: string keys, no failing Serialize impl")
}

/// Writes `report.json` into `dir` (created if missing) and returns its path.
pub fn write(report: &RunReport, dir: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let versioned = Versioned { schema_version: SCHEMA_VERSION, report };
    let mut text = serde_json::to_string_pretty(&versioned).map_err(io::Error::other)?;
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
    fn report_json_starts_with_its_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(write(&sample_with_coverage(), dir.path()).unwrap()).unwrap();
        assert!(text.starts_with("{\n  \"schema_version\": 1,\n"), "{text}");
        assert_eq!(written()["schema_version"], SCHEMA_VERSION);
        assert_eq!(to_value(&sample_with_coverage()), written());
    }

    /// The schema, compiled by a draft 2020-12 validator.
    fn validator() -> jsonschema::Validator {
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("the schema does not compile: {e}"))
    }

    fn errors(validator: &jsonschema::Validator, json: &Value) -> Vec<String> {
        validator.iter_errors(json).map(|e| format!("{}: {e}", e.instance_path())).collect()
    }

    #[test]
    fn report_json_validates_against_its_schema() {
        let validator = validator();
        let json = written();
        assert_eq!(errors(&validator, &json), Vec::<String>::new());
        let mut unversioned = json.clone();
        unversioned.as_object_mut().unwrap().remove("schema_version");
        assert!(!errors(&validator, &unversioned).is_empty(), "schema_version is required");
        let mut odd = json.clone();
        odd["cases"][0]["verdict"] = "maybe".into();
        odd["cases"][0]["surprise"] = 1.into();
        assert_eq!(errors(&validator, &odd).len(), 2, "a wrong verdict and an undocumented field: {odd}");
    }

    #[test]
    fn report_json_schema_names_every_field_written() {
        // additionalProperties is false on every object but `measured`, so a field added to the
        // model without the schema fails the validation above; this checks the reverse: each
        // property the schema lists is written by the fixture report.
        let schema: Value = serde_json::from_str(SCHEMA).unwrap();
        let json = written();
        let case = json["cases"].as_array().unwrap().iter().find(|c| c["verdict"] == "fail").unwrap();
        let objects = [
            (&schema, &json),
            (&schema["$defs"]["case"], case),
            (&schema["$defs"]["finding"], &case["findings"][0]),
            (&schema["$defs"]["client_run"], &case["client"]),
            (&schema["$defs"]["coverage"], &json["coverage"][0]),
        ];
        for (def, value) in objects {
            for name in def["properties"].as_object().unwrap().keys() {
                assert!(value.get(name).is_some(), "{name} is in the schema but not in {value}");
            }
        }
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
