//! Several clients in one run: the rules against the clients, one cell per (client rule,
//! client) with the worst verdict of that rule's cases, or why it was not exercised. This is
//! how a team compares vendor firmware builds or SDK versions before it picks one.
//!
//! The matrix reads each client's [`RunReport`] (its rule coverage); the console shows it as a
//! table and `--out DIR` writes it as `matrix.json`, beside one folder of reports per client.

use super::label;
use crate::model::RunReport;
use crate::outcome::CaseVerdict;
use serde::Serialize;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The file `--out DIR` writes the matrix to.
pub const FILE_NAME: &str = "matrix.json";

/// One rule's verdict for one client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// The worst verdict of the rule's cases that ran; `None` when none did.
    pub verdict: Option<CaseVerdict>,
    /// Why the rule was not exercised, or what was left out; empty when it all ran.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// One client rule across the clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    pub rule: String,
    /// One cell per client, in the matrix's client order.
    pub cells: Vec<Cell>,
}

/// The rules against the clients.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Matrix {
    pub clients: Vec<String>,
    pub rows: Vec<Row>,
}

impl Matrix {
    /// The matrix of `reports`, rules in the order the first report's coverage lists them
    /// (then any rule another report adds).
    pub fn of(reports: &[RunReport]) -> Matrix {
        let mut rules: Vec<&str> = Vec::new();
        for report in reports {
            for coverage in &report.coverage {
                if !rules.contains(&coverage.rule.as_str()) {
                    rules.push(&coverage.rule);
                }
            }
        }
        let rows = rules
            .into_iter()
            .map(|rule| Row {
                rule: rule.to_owned(),
                cells: reports
                    .iter()
                    .map(|report| match report.coverage.iter().find(|c| c.rule == rule) {
                        Some(c) => Cell { verdict: c.verdict, reason: c.reason.clone() },
                        None => Cell { verdict: None, reason: "not in this client's report".to_owned() },
                    })
                    .collect(),
            })
            .collect();
        Matrix { clients: reports.iter().map(|r| r.client.clone()).collect(), rows }
    }

    /// The console table: a rule per line, a column per client (`NOT-RUN` where the rule
    /// was not exercised, `PASS*` where it was only partly).
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let rule_width = self.rows.iter().map(|r| r.rule.len()).max().unwrap_or(4).max(4);
        let widths: Vec<usize> = self.clients.iter().map(|c| c.chars().count().max(8)).collect();
        let mut header = format!("{:<rule_width$}", "RULE");
        for (client, width) in self.clients.iter().zip(&widths) {
            header.push_str(&format!("  {client:<width$}"));
        }
        writeln!(out, "{}", header.trim_end())?;
        for row in &self.rows {
            let mut line = format!("{:<rule_width$}", row.rule);
            for (cell, width) in row.cells.iter().zip(&widths) {
                let text = match cell.verdict {
                    Some(verdict) if cell.reason.is_empty() => label(verdict).to_owned(),
                    Some(verdict) => format!("{}*", label(verdict)),
                    None => "NOT-RUN".to_owned(),
                };
                line.push_str(&format!("  {text:<width$}"));
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        writeln!(out, "(* partly exercised; each client's summary above says what was left out and why)")
    }
}

/// Writes `matrix.json` into `dir`.
pub fn write(matrix: &Matrix, dir: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(FILE_NAME);
    std::fs::write(&path, serde_json::to_string_pretty(matrix)?)?;
    Ok(path)
}

/// A folder name for each client, unique among them: its file-safe name, and `-2`, `-3`... for
/// a name already taken (two builds of one firmware are both called `client`).
pub fn folder_names(clients: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for client in clients {
        let base = crate::snapshot::file_safe(client);
        let mut name = base.clone();
        let mut n = 1;
        while names.contains(&name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        names.push(name);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RuleCoverage;

    fn report(client: &str, coverage: &[(&str, Option<CaseVerdict>, &str)]) -> RunReport {
        RunReport {
            client: client.into(),
            command: client.into(),
            profile: "quick".into(),
            transports: vec![mock_broker::Transport::Ws],
            started_unix_ms: 0,
            duration_ms: 0,
            cases: Vec::new(),
            coverage: coverage
                .iter()
                .map(|(rule, verdict, reason)| RuleCoverage {
                    rule: (*rule).into(),
                    verdict: *verdict,
                    reason: (*reason).into(),
                })
                .collect(),
        }
    }

    #[test]
    fn rules_against_clients_with_the_worst_verdict_or_not_run() {
        let reports = [
            report("reference", &[("C-SIGN", Some(CaseVerdict::Pass), ""), ("C-PING", None, "quick")]),
            report(
                "unsorted-sign",
                &[("C-SIGN", Some(CaseVerdict::Fail), ""), ("C-PING", Some(CaseVerdict::Pass), "partly")],
            ),
        ];
        let matrix = Matrix::of(&reports);
        assert_eq!(matrix.clients, ["reference", "unsorted-sign"]);
        let mut out = Vec::new();
        matrix.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "RULE    reference  unsorted-sign");
        assert_eq!(lines[1], "C-SIGN  PASS       FAIL");
        assert_eq!(lines[2], "C-PING  NOT-RUN    PASS*");
        let json = serde_json::to_value(&matrix).unwrap();
        assert_eq!(json["rows"][0]["cells"][1]["verdict"], "fail");
        assert_eq!(json["rows"][1]["cells"][0]["reason"], "quick");
    }

    #[test]
    fn folder_names_are_unique_and_file_safe() {
        let clients = ["client".to_owned(), "client".to_owned(), "../odd name".to_owned()];
        assert_eq!(folder_names(&clients), ["client", "client-2", ".._odd_name"]);
    }
}
