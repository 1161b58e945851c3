//! The console: a progress line per finished case while the run goes, then the summary.
//!
//! The summary is, in order: a header (client, profile, transports, duration); a plain ASCII
//! table grouped by client rule (`C-SECUREMODE` ...), one row per case, one column per
//! transport of the run; a block for every fail, warn and error (explanation, each finding
//! `RULE: expected X; received Y` with its detail, measured values, the client's last lines);
//! the not-run cases with their reasons; the transcript snapshots written as new or changed
//! (a changed one's diff is in its case's block, which it turned into a warning); the rule
//! coverage of the client rules; a one-line total. Everything goes to a `&mut dyn Write`, so tests capture it. Colour (ANSI) only when
//! [`Style::color`] says so; widths are computed on the plain text, so columns stay aligned.

use super::{Counts, case_ids, details, label, ordered, rule_order};
use crate::model::{CaseReport, RunReport};
use crate::outcome::CaseVerdict;
use crate::snapshot;
use mock_broker::Transport;
use std::io::{self, Write};

/// How the console prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours on verdicts (off by default; a `--color` flag turns it on).
    pub color: bool,
}

impl Style {
    fn paint(self, verdict: Option<CaseVerdict>, text: &str) -> String {
        let code = match verdict {
            Some(CaseVerdict::Pass) => "32",
            Some(CaseVerdict::Warn) => "33",
            Some(CaseVerdict::Fail) => "1;31",
            Some(CaseVerdict::NotRun) => "2",
            Some(CaseVerdict::Error) => "1;35",
            None => return text.to_string(),
        };
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }
}

/// The width of the case ID column of progress lines.
const PROGRESS_CASE_WIDTH: usize = 20;
/// How much of a non-pass explanation a progress line shows.
const PROGRESS_WHY: usize = 100;

/// Prints one line per finished case: `[ 3/16] PASS     securemode           ws      0.4 s`,
/// followed, when the case did not pass, by the start of its explanation.
#[derive(Debug)]
pub struct Progress {
    total: usize,
    done: usize,
    style: Style,
}

impl Progress {
    /// A printer for a run of `total` cases (case x transport).
    pub fn new(total: usize, style: Style) -> Progress {
        Progress { total, done: 0, style }
    }

    /// Prints the line of a case that just finished.
    pub fn finished(&mut self, out: &mut dyn Write, case: &CaseReport) -> io::Result<()> {
        self.done += 1;
        let verdict = case.result.verdict;
        let width = self.total.to_string().len();
        let mut line = format!(
            "[{:>width$}/{}] {} {:<PROGRESS_CASE_WIDTH$} {:<4} {:>6.1} s",
            self.done,
            self.total,
            self.style.paint(Some(verdict), &format!("{:<7}", label(verdict))),
            case.case,
            case.transport.scheme(),
            case.duration_ms as f64 / 1000.0,
        );
        let why = case.result.explanation.lines().next().unwrap_or_default();
        if verdict != CaseVerdict::Pass && !why.is_empty() {
            let short: String = why.chars().take(PROGRESS_WHY).collect();
            let ellipsis = if short.len() < why.len() { "..." } else { "" };
            line.push_str(&format!("  {short}{ellipsis}"));
        }
        writeln!(out, "{line}")
    }
}

/// A table cell: its text and the verdict that colours it.
struct Cell {
    text: String,
    verdict: Option<CaseVerdict>,
}

fn cell(text: impl Into<String>) -> Cell {
    Cell { text: text.into(), verdict: None }
}

fn verdict_cell(verdict: CaseVerdict) -> Cell {
    Cell { text: label(verdict).to_string(), verdict: Some(verdict) }
}

/// Lays rows out in aligned columns separated by two spaces, no trailing blanks. A row whose
/// first cell is `---` becomes a rule of dashes.
fn table(out: &mut dyn Write, rows: &[Vec<Cell>], indent: &str, style: Style) -> io::Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.text.chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = indent.to_string();
        if row.first().is_some_and(|c| c.text == "---") {
            let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            line.push_str(&dashes.join("  "));
        } else {
            for (i, c) in row.iter().enumerate() {
                let last = i + 1 == row.len();
                let pad = if last { 0 } else { widths[i] - c.text.chars().count() + 2 };
                line.push_str(&style.paint(c.verdict, &c.text));
                line.push_str(&" ".repeat(pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The transports shown as columns: the run's, plus any a case ran on outside them.
fn columns(report: &RunReport) -> Vec<Transport> {
    let mut transports = report.transports.clone();
    for case in &report.cases {
        if !transports.contains(&case.transport) {
            transports.push(case.transport);
        }
    }
    transports
}

/// Writes the summary of a finished run.
pub fn summary(out: &mut dyn Write, report: &RunReport, style: Style) -> io::Result<()> {
    let transports = columns(report);
    let names: Vec<&str> = transports.iter().map(|t| t.scheme()).collect();
    writeln!(
        out,
        "Conformance of {} (profile {}; transports {}) in {:.1} s",
        report.client,
        report.profile,
        names.join(", "),
        report.duration_ms as f64 / 1000.0
    )?;
    writeln!(out, "command: {}", report.command)?;
    writeln!(out)?;
    results_table(out, report, &transports, style)?;
    problems(out, report, style)?;
    not_run(out, report)?;
    snapshots(out, report)?;
    coverage(out, report, style)?;
    writeln!(out)?;
    writeln!(out, "{}", Counts::of(report).line())
}

fn results_table(out: &mut dyn Write, report: &RunReport, transports: &[Transport], style: Style) -> io::Result<()> {
    let mut header = vec![cell("rule"), cell("case")];
    header.extend(transports.iter().map(|t| cell(t.scheme())));
    let mut rows = vec![header, vec![cell("---")]];
    for rule in rule_order(report) {
        for (i, id) in case_ids(report, rule).into_iter().enumerate() {
            let mut row = vec![cell(if i == 0 { rule } else { "" }), cell(id)];
            for transport in transports {
                let run =
                    report.cases.iter().find(|c| c.case == id && c.client_rule == rule && c.transport == *transport);
                row.push(run.map_or_else(|| cell("-"), |c| verdict_cell(c.result.verdict)));
            }
            rows.push(row);
        }
    }
    if rows.len() == 2 {
        return writeln!(out, "No case ran.");
    }
    table(out, &rows, "", style)?;
    writeln!(out, "(- : the case has no run on that transport)")
}

/// A block for every fail, warn and error.
fn problems(out: &mut dyn Write, report: &RunReport, style: Style) -> io::Result<()> {
    let worth =
        |c: &&CaseReport| matches!(c.result.verdict, CaseVerdict::Fail | CaseVerdict::Warn | CaseVerdict::Error);
    for case in ordered(report).into_iter().filter(worth) {
        writeln!(out)?;
        let verdict = case.result.verdict;
        let platform = if case.platform_rules.is_empty() {
            String::new()
        } else {
            format!("; {}", case.platform_rules.join(", "))
        };
        writeln!(
            out,
            "{} {} [{}]  {} ({}{platform})  {:.1} s",
            style.paint(Some(verdict), label(verdict)),
            case.case,
            case.transport,
            case.client_rule,
            super::severity(case.severity),
            case.duration_ms as f64 / 1000.0
        )?;
        for line in details(case) {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}

/// The cases that did not run, with their reasons, transports of one case and reason merged.
fn not_run(out: &mut dyn Write, report: &RunReport) -> io::Result<()> {
    let mut groups: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for case in ordered(report).into_iter().filter(|c| c.result.verdict == CaseVerdict::NotRun) {
        let why = case.result.explanation.as_str();
        match groups.iter_mut().find(|(id, reason, _)| *id == case.case && *reason == why) {
            Some((_, _, transports)) => transports.push(case.transport.scheme()),
            None => groups.push((&case.case, why, vec![case.transport.scheme()])),
        }
    }
    if groups.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "Not run:")?;
    for (id, why, transports) in groups {
        writeln!(out, "  {id} [{}]: {why}", transports.join(", "))?;
    }
    Ok(())
}

/// The cases whose transcript snapshot is new or changed, with the `.snap.new` written.
fn snapshots(out: &mut dyn Write, report: &RunReport) -> io::Result<()> {
    let note = |c: &CaseReport| c.result.measured.get("snapshot").and_then(|v| v.as_str().map(str::to_owned));
    let notes: Vec<(&CaseReport, String)> =
        ordered(report).into_iter().filter_map(|c| note(c).map(|n| (c, n))).collect();
    if notes.is_empty() {
        return Ok(());
    }
    let count = |prefix: &str| notes.iter().filter(|(_, n)| n.starts_with(prefix)).count();
    writeln!(out)?;
    writeln!(
        out,
        "Transcript snapshots: {} new, {} changed; review them with `cargo insta review` (or rename .snap.new to .snap \
         to accept):",
        count(snapshot::NEW_NOTE),
        count(snapshot::CHANGED_NOTE)
    )?;
    for (case, note) in notes {
        writeln!(out, "  {} [{}]: {note}", case.case, case.transport)?;
    }
    Ok(())
}

fn coverage(out: &mut dyn Write, report: &RunReport, style: Style) -> io::Result<()> {
    writeln!(out)?;
    let exercised = report.coverage.iter().filter(|c| matches!(c.verdict, Some(v) if v != CaseVerdict::Error)).count();
    writeln!(out, "Rule coverage: {exercised} of {} client rules exercised", report.coverage.len())?;
    let mut rows = vec![vec![cell("rule"), cell("result"), cell("meaning / why not exercised")], vec![cell("---")]];
    for rule in &report.coverage {
        let result = match rule.verdict {
            Some(verdict) => verdict_cell(verdict),
            None => Cell { text: "NOT-RUN".to_string(), verdict: Some(CaseVerdict::NotRun) },
        };
        let text = match (rule.verdict, rule.reason.is_empty()) {
            (Some(_), true) => {
                super::coverage::meaning(&rule.rule).unwrap_or("(a rule outside the client rules)").to_string()
            }
            _ => rule.reason.clone(),
        };
        rows.push(vec![cell(&rule.rule), result, cell(text)]);
    }
    table(out, &rows, "  ", style)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn summary_text(report: &RunReport, style: Style) -> String {
        let mut out = Vec::new();
        summary(&mut out, report, style).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn report_progress_lines() {
        let report = sample_report();
        let mut progress = Progress::new(report.cases.len(), Style::default());
        let mut out = Vec::new();
        for case in &report.cases[..4] {
            progress.finished(&mut out, case).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "[1/8] PASS    securemode           ws      0.4 s");
        assert_eq!(
            lines[1],
            "[2/8] WARN    ping-idle            ws     61.2 s  pinged at 0.99 x keepalive: tolerated, but the cut is close"
        );
        assert!(
            lines[3].starts_with("[4/8] FAIL    keepalive-range      tcp     1.5 s  keepalive 0 is outside"),
            "{}",
            lines[3]
        );
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn report_progress_pads_the_counter_and_truncates_long_reasons() {
        let mut case = sample_report().cases.remove(3);
        case.result.explanation = format!("{}\nsecond line", "x".repeat(150));
        let mut progress = Progress::new(16, Style::default());
        let mut out = Vec::new();
        progress.finished(&mut out, &case).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("[ 1/16] FAIL "), "{text}");
        assert!(text.ends_with(&format!("  {}...\n", "x".repeat(PROGRESS_WHY))), "{text}");
        assert!(!text.contains("second line"));
    }

    #[test]
    fn report_console_summary_snapshot() {
        insta::assert_snapshot!(summary_text(&sample_with_coverage(), Style::default()));
    }

    #[test]
    fn report_console_summary_is_plain_ascii_unless_colour_is_asked() {
        let report = sample_with_coverage();
        let plain = summary_text(&report, Style::default());
        assert!(plain.is_ascii() && !plain.contains('\x1b'));
        assert!(plain.lines().all(|l| l == l.trim_end()), "no trailing blanks");
        let colour = summary_text(&report, Style { color: true });
        assert!(colour.contains("\x1b[1;31mFAIL\x1b[0m"), "{colour}");
        let stripped = colour.replace("\x1b[0m", "").replace("\x1b[32m", "").replace("\x1b[33m", "");
        let stripped = stripped.replace("\x1b[1;31m", "").replace("\x1b[2m", "").replace("\x1b[1;35m", "");
        assert_eq!(stripped, plain, "colour changes nothing but the escapes");
        let mut progress = Progress::new(1, Style { color: true });
        let mut out = Vec::new();
        progress.finished(&mut out, &report.cases[0]).unwrap();
        assert!(String::from_utf8(out).unwrap().starts_with("[1/1] \x1b[32mPASS   \x1b[0m securemode"));
    }

    #[test]
    fn report_console_table_columns_are_aligned() {
        let text = summary_text(&sample_with_coverage(), Style::default());
        let header = text.lines().find(|l| l.starts_with("rule ")).unwrap();
        let ws = header.find(" ws ").unwrap() + 1;
        let tls = header.find(" tls").unwrap() + 1;
        let row = text.lines().find(|l| l.starts_with("C-KEEPALIVE ")).unwrap();
        assert_eq!(&row[ws..ws + 1], "-", "{row}");
        assert_eq!(&row[tls..], "-", "{row}");
        let row = text.lines().find(|l| l.starts_with("C-SECUREMODE ")).unwrap();
        assert_eq!(&row[tls..], "NOT-RUN");
        assert!(text.ends_with("\n3 passed, 1 warned, 1 failed, 2 not run, 1 error\n"), "{text}");
    }

    #[test]
    fn report_console_lists_new_and_changed_snapshots_and_shows_the_diff() {
        use crate::snapshot::SnapshotOutcome;
        use std::path::PathBuf;
        let mut report = sample_with_coverage();
        SnapshotOutcome::New(PathBuf::from("snaps/demo-client/securemode__ws.snap.new"))
            .apply(&mut report.cases[0].result);
        SnapshotOutcome::Changed {
            path: PathBuf::from("snaps/demo-client/securemode__wss.snap"),
            diff: "--- old\n+++ new\n@@ -1,1 +1,1 @@\n-    [time] #1    > CONNACK [0x00]\n+    [time] #1    > CONNACK [0x05]\n"
                .to_string(),
        }
        .apply(&mut report.cases[2].result);
        let text = summary_text(&report, Style::default());
        assert!(text.contains("\nWARN securemode [wss]  C-SECUREMODE (MUST; A-SECUREMODE)"), "{text}");
        assert!(
            text.contains(
                "\n  why: declared securemode=2 over wss; but the transcript differs from the stored snapshot\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "  measured: snapshot_diff:\n        | --- old\n        | +++ new\n        | @@ -1,1 +1,1 @@\n        | -    \
                 [time] #1    > CONNACK [0x00]\n        | +    [time] #1    > CONNACK [0x05]\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "\nTranscript snapshots: 1 new, 1 changed; review them with `cargo insta review` (or rename .snap.new to \
                 .snap to accept):\n  securemode [ws]: new: snaps/demo-client/securemode__ws.snap.new (accept it with \
                 `cargo insta review`)\n  securemode [wss]: changed: snaps/demo-client/securemode__wss.snap differs \
                 (review with `cargo insta review`)\n"
            ),
            "{text}"
        );
        assert!(!summary_text(&sample_with_coverage(), Style::default()).contains("Transcript snapshots"));
    }

    #[test]
    fn report_console_summary_of_an_empty_run_still_shows_coverage() {
        let mut report = sample_report();
        report.cases.clear();
        report.coverage = super::super::coverage::compute(&report, &[]);
        let text = summary_text(&report, Style::default());
        assert!(text.contains("No case ran."), "{text}");
        assert!(text.contains("Rule coverage: 0 of 15 client rules exercised"), "{text}");
        assert!(text.contains(&format!("  {:<12}  NOT-RUN  no case in this catalogue yet\n", "C-RESUB")), "{text}");
        assert!(text.ends_with("0 passed, 0 warned, 0 failed, 0 not run, 0 errors\n"), "{text}");
    }
}
