//! `report.html`: the run as one self-contained page for a person to read.
//!
//! No network and no external asset: the CSS is inline, the timelines are inline SVG
//! ([`super::timeline`]), a Content-Security-Policy forbids loading anything, and the one
//! inline script only records where the first failure sits on screen (`data-first-problem-*`
//! on `<html>`, read by the browser test). Every text from the run (client output, transcript,
//! explanations) is escaped.
//!
//! In order:
//! 1. the header: client, command, profile, transports, totals;
//! 2. `#problems`: every fail, warn and error in one line each, linked to its details, so a
//!    failing case is visible without scrolling;
//! 3. `#verdicts`: the verdict table grouped by client rule (case, transport, verdict in
//!    colour, explanation);
//! 4. `#details`: a section per fail / warn / error (explanation, findings with expected vs
//!    received, measured values, the sign comparison for A-SIGN-CONTENT, the timeline of a
//!    timed case, the client's output tail), then the timelines of the timed cases that
//!    passed, folded;
//! 5. `#coverage`: the rule coverage table.
//!
//! With several clients, [`render_matrix`] writes `matrix.html`: the rules against the
//! clients, each client's name linking to its own page.

use super::matrix::Matrix;
use super::{Counts, TAIL_LINES, escape, label, measured_lines, ordered, rule_order, tail};
use crate::catalogue;
use crate::model::{CaseReport, RunReport};
use crate::outcome::{CaseVerdict, ClientRun};
use mock_broker::{Rule, Verdict};
use std::fmt::Write;
use std::io;
use std::path::{Path, PathBuf};

/// The file written into `--out DIR`.
pub const FILE_NAME: &str = "report.html";

/// The page's style: verdict colours, tables, the sign comparison's columns.
const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:8px 16px;color:#222}
h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin:18px 0 6px}h3{font-size:15px;margin:8px 0}
table{border-collapse:collapse;width:100%;margin:4px 0}th,td{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4;white-space:nowrap}td.n{white-space:nowrap}
.findings td{overflow-wrap:anywhere}.findings td:first-child{white-space:nowrap}
.why{display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:3;line-clamp:3;overflow:hidden}.meta{color:#555;margin:2px 0}.meta code{word-break:break-all}
.v{display:inline-block;white-space:nowrap;min-width:58px;text-align:center;border-radius:3px;font-weight:600;font-size:12px;padding:1px 4px;color:#fff}
.v-pass{background:#2e7d32}.v-warn{background:#e08e00}.v-fail{background:#c62828}.v-not-run{background:#9e9e9e}.v-error{background:#6a1b9a}
#problems{border:2px solid #c62828;border-radius:4px;padding:4px 10px;margin:8px 0}#problems.clean{border-color:#2e7d32}
#problems ul{margin:4px 0;padding-left:18px}#problems li{margin:2px 0}
.case{border:1px solid #ccc;border-radius:4px;padding:4px 10px;margin:10px 0}
pre{background:#f7f7f7;border:1px solid #e4e4e4;padding:4px 6px;margin:2px 0;white-space:pre-wrap;word-break:break-all;font-size:12px}
.sign{display:grid;grid-template-columns:1fr 1fr;gap:8px}.sign td.diff{background:#ffe0e0}
svg.timeline{width:100%;height:auto;border:1px solid #eee;background:#fff}
";

/// The one script: where the first failure sits on screen, for the browser test.
const SCRIPT: &str = "addEventListener('load',function(){var p=document.querySelector('#problems li');\
if(p){var r=p.getBoundingClientRect();document.documentElement.dataset.firstProblemTop=Math.round(r.top);\
document.documentElement.dataset.firstProblemBottom=Math.round(r.bottom);}});";

/// A page: the head (style, script, the policy that forbids loading anything) and `sections`.
fn page(title: &str, sections: &[String]) -> String {
    let mut page = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n");
    let _ = write!(
        page,
        "<head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>{}</title><style>{STYLE}</style><script>{SCRIPT}</script></head>\n<body>\n",
        escape(title)
    );
    for section in sections {
        page.push_str(section);
        page.push('\n');
    }
    page.push_str("</body>\n</html>\n");
    page
}

/// The page of a run.
pub fn render(report: &RunReport) -> String {
    let title = format!("conformance of {}", report.client);
    page(&title, &[header(report), problems(report), verdict_table(report), details(report), coverage(report)])
}

/// Writes `report.html` into `dir` (created if missing) and returns its path.
pub fn write(report: &RunReport, dir: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(FILE_NAME);
    std::fs::write(&path, render(report))?;
    Ok(path)
}

/// The file the matrix of several clients is written to, beside their folders.
pub const MATRIX_FILE_NAME: &str = "matrix.html";

/// The page of several clients: the rules against the clients, each client's name linking to
/// its own `report.html` in `folders` (relative to the matrix page, in the matrix's order).
pub fn render_matrix(matrix: &Matrix, folders: &[String]) -> String {
    let mut table =
        String::from("<section id=\"matrix\"><h1>Rules against clients</h1><table><thead><tr><th>client rule</th>");
    for (client, folder) in matrix.clients.iter().zip(folders) {
        let _ = write!(table, "<th><a href=\"{}/{FILE_NAME}\">{}</a></th>", escape(folder), escape(client));
    }
    table.push_str("</tr></thead><tbody>");
    for row in &matrix.rows {
        let _ = write!(table, "<tr><td>{}</td>", escape(&row.rule));
        for cell in &row.cells {
            let shown = cell.verdict.map_or_else(|| "<i>not exercised</i>".to_string(), badge);
            let _ = write!(
                table,
                "<td title=\"{}\">{shown}{}</td>",
                escape(&cell.reason),
                if cell.verdict.is_some() && !cell.reason.is_empty() { " (partly)" } else { "" }
            );
        }
        table.push_str("</tr>");
    }
    table.push_str("</tbody></table><p class=\"meta\">Hover a cell for what was left out and why; each client's name opens its report.</p></section>");
    page("conformance: rules against clients", &[table])
}

/// Writes `matrix.html` into `dir` and returns its path.
pub fn write_matrix(matrix: &Matrix, folders: &[String], dir: &Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(MATRIX_FILE_NAME);
    std::fs::write(&path, render_matrix(matrix, folders))?;
    Ok(path)
}

/// A verdict as a coloured badge.
fn badge(verdict: CaseVerdict) -> String {
    format!(r#"<span class="v v-{}">{}</span>"#, verdict.name(), label(verdict))
}

/// The id of a case's details section.
fn anchor(case: &CaseReport) -> String {
    escape(&format!("case-{}-{}", case.case, case.transport))
}

/// An explanation in a list or table: at most three lines shown, all of it in the tooltip
/// (and in the case's details).
fn why(explanation: &str) -> String {
    let text = escape(explanation);
    format!("<div class=\"why\" title=\"{text}\">{text}</div>")
}

/// `case[transport]`, escaped.
fn case_name(case: &CaseReport) -> String {
    escape(&format!("{}[{}]", case.case, case.transport))
}

/// True for the verdicts a person has to act on.
fn is_problem(case: &CaseReport) -> bool {
    matches!(case.result.verdict, CaseVerdict::Fail | CaseVerdict::Warn | CaseVerdict::Error)
}

/// True when the case runs on real-time timers and so gets a timeline.
fn is_timed(case: &CaseReport) -> bool {
    catalogue::find(&case.case).is_some_and(|info| info.timer)
}

/// True when the case has a section under `#details`.
fn has_details(case: &CaseReport) -> bool {
    is_problem(case) || (is_timed(case) && !case.result.transcript.is_empty())
}

fn header(report: &RunReport) -> String {
    let transports: Vec<String> = report.transports.iter().map(|t| t.to_string()).collect();
    format!(
        "<header><h1>Conformance of {}</h1><p class=\"meta\">command <code>{}</code></p><p class=\"meta\">profile \
         <b>{}</b> &middot; transports <b>{}</b> &middot; {} s &middot; <b id=\"totals\">{}</b></p></header>",
        escape(&report.client),
        escape(&report.command),
        escape(&report.profile),
        escape(&transports.join(", ")),
        report.duration_ms as f64 / 1000.0,
        Counts::of(report).line()
    )
}

/// Every fail, warn and error, one line each, linked to its details; first on the page.
fn problems(report: &RunReport) -> String {
    let problems: Vec<&CaseReport> = ordered(report).into_iter().filter(|c| is_problem(c)).collect();
    if problems.is_empty() {
        return "<section id=\"problems\" class=\"clean\"><h2>No failures, warnings or errors</h2></section>".into();
    }
    let mut out = format!("<section id=\"problems\"><h2>{} to look at</h2><ul>", problems.len());
    for case in problems {
        let _ = write!(
            out,
            "<li>{} <a href=\"#{}\"><b>{}</b></a> ({}){}</li>",
            badge(case.result.verdict),
            anchor(case),
            case_name(case),
            escape(&case.client_rule),
            why(&case.result.explanation)
        );
    }
    out.push_str("</ul></section>");
    out
}

/// The verdict table, one group of rows per client rule.
fn verdict_table(report: &RunReport) -> String {
    let mut out = String::from(
        "<section id=\"verdicts\"><h2>Verdicts</h2><table><thead><tr><th>client rule</th><th>case</th>\
         <th>transport</th><th>verdict</th><th>explanation</th></tr></thead><tbody>",
    );
    let cases = ordered(report);
    for rule in rule_order(report) {
        let rows: Vec<&&CaseReport> = cases.iter().filter(|c| c.client_rule == rule).collect();
        for (i, case) in rows.iter().enumerate() {
            out.push_str("<tr>");
            if i == 0 {
                let meaning = super::coverage::meaning(rule).unwrap_or_default();
                let _ =
                    write!(out, "<th rowspan=\"{}\" title=\"{}\">{}</th>", rows.len(), escape(meaning), escape(rule));
            }
            let name = if has_details(case) {
                format!("<a href=\"#{}\">{}</a>", anchor(case), escape(&case.case))
            } else {
                escape(&case.case)
            };
            let _ = write!(
                out,
                "<td class=\"n\">{name}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                case.transport,
                badge(case.result.verdict),
                why(&case.result.explanation)
            );
        }
    }
    out.push_str("</tbody></table></section>");
    out
}

/// A section per case to act on, then the timelines of the timed cases that passed.
fn details(report: &RunReport) -> String {
    let cases: Vec<&CaseReport> = ordered(report).into_iter().filter(|c| has_details(c)).collect();
    if cases.is_empty() {
        return String::new();
    }
    let mut out = String::from("<section id=\"details\"><h2>Details</h2>");
    for case in cases.iter().filter(|c| is_problem(c)) {
        out.push_str(&case_section(case, true));
    }
    for case in cases.iter().filter(|c| !is_problem(c)) {
        out.push_str(&case_section(case, false));
    }
    out.push_str("</section>");
    out
}

/// One case's details: open for a problem, folded otherwise.
fn case_section(case: &CaseReport, open: bool) -> String {
    let result = &case.result;
    let mut body = format!("<p>{}</p>", escape(&result.explanation));
    if !result.findings.is_empty() {
        body.push_str(&findings_table(&result.findings));
    }
    if let Some(comparison) = sign_comparison(&result.findings) {
        body.push_str(&comparison);
    }
    if is_timed(case)
        && let Some(svg) = super::timeline::svg(&result.transcript, &result.stopping)
    {
        let _ = write!(body, "<h3>Timeline</h3>{svg}");
    }
    if !result.measured.is_empty() {
        body.push_str(&measured(case));
    }
    if let Some(client) = &result.client {
        body.push_str(&client_output(client));
    }
    let title = format!(
        "{} <b>{}</b> {} &middot; {} &middot; {} ms",
        badge(result.verdict),
        case_name(case),
        escape(&case.title),
        escape(&case.client_rule),
        case.duration_ms
    );
    let (open_tag, close_tag) = if open {
        (format!("<h3>{title}</h3>"), String::new())
    } else {
        (format!("<details><summary>{title}</summary>"), "</details>".to_string())
    };
    format!("<section class=\"case\" id=\"{}\">{open_tag}{body}{close_tag}</section>", anchor(case))
}

/// The broker's findings: rule, outcome, expected against received, detail.
fn findings_table(findings: &[Verdict]) -> String {
    let mut out = String::from(
        "<table class=\"findings\"><thead><tr><th>rule</th><th>verdict</th><th>expected</th><th>received</th>\
         <th>detail</th></tr></thead><tbody>",
    );
    for finding in findings {
        let assumed = if finding.assumed { " <i>(assumed)</i>" } else { "" };
        let _ = write!(
            out,
            "<tr><td>{}{assumed}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            finding.rule.id(),
            badge(CaseVerdict::of(finding.outcome)),
            escape(&finding.expected),
            escape(&finding.received),
            escape(&finding.detail)
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// The measured values, one line each (a multi-line value, like a snapshot diff, in full).
fn measured(case: &CaseReport) -> String {
    let lines: Vec<String> = case.result.measured.iter().flat_map(|(k, v)| measured_lines(k, v)).collect();
    format!("<h3>Measured</h3><pre>{}</pre>", escape(&lines.join("\n")))
}

/// How the client ended, and its last lines of stderr and stdout.
fn client_output(client: &ClientRun) -> String {
    let ended = match client.exit_code {
        Some(code) => format!("exit code {code}"),
        None => "ended by a signal".to_string(),
    };
    let stopped = if client.stopped_by_suite { ", stopped by the suite" } else { "" };
    let mut out =
        format!("<h3>Client</h3><p class=\"meta\">{ended}{stopped}: <code>{}</code></p>", escape(&client.command));
    for (name, text) in [("stderr", &client.stderr_tail), ("stdout", &client.stdout_tail)] {
        let lines = tail(text, TAIL_LINES);
        if lines.is_empty() {
            let _ = write!(out, "<p class=\"meta\">{name}: (empty)</p>");
        } else {
            let _ = write!(
                out,
                "<p class=\"meta\">{name}, last {} lines:</p><pre>{}</pre>",
                lines.len(),
                escape(&lines.join("\n"))
            );
        }
    }
    out
}

/// What the broker's A-SIGN-CONTENT detail says, taken apart: the likely mistake, the sign
/// content the broker rebuilt (quoted) and the algorithm.
#[derive(Debug, PartialEq, Eq)]
struct SignDetail<'a> {
    mistake: &'a str,
    content: &'a str,
    algorithm: &'a str,
}

/// Takes an A-SIGN-CONTENT detail apart: `{mistake}; sign content {quoted}; algorithm
/// {name}; expected {hex}; received {password}`.
fn sign_detail(detail: &str) -> Option<SignDetail<'_>> {
    let (mistake, rest) = detail.split_once("; sign content ")?;
    let (content, rest) = rest.rsplit_once("; algorithm ")?;
    let (algorithm, _) = rest.split_once("; expected ")?;
    Some(SignDetail { mistake, content, algorithm })
}

/// The sign content's fields (`clientId`, `deviceName`, `productKey`, `timestamp`, in that
/// order, each name followed by its value), from the quoted content; `None` when it is
/// truncated or escaped.
fn sign_fields(quoted: &str) -> Option<Vec<(&'static str, &str)>> {
    const NAMES: [&str; 4] = ["clientId", "deviceName", "productKey", "timestamp"];
    let content = quoted.strip_prefix('"')?.strip_suffix('"')?;
    if content.contains('\\') {
        return None;
    }
    let mut starts: Vec<(usize, &'static str)> = Vec::new();
    let mut from = 0;
    for name in NAMES {
        if let Some(at) = content[from..].find(name) {
            starts.push((from + at, name));
            from += at + name.len();
        }
    }
    if starts.first().map(|(at, _)| *at) != Some(0) {
        return None;
    }
    let ends = starts.iter().skip(1).map(|(at, _)| *at).chain([content.len()]);
    Some(starts.iter().zip(ends).map(|((at, name), end)| (*name, &content[at + name.len()..end])).collect())
}

/// The field order a diagnosis names (`the fields signed in the order a, b, c, where ...`).
fn signed_order(mistake: &str) -> Option<Vec<&str>> {
    let order = mistake.split_once("signed in the order ")?.1.split_once(", where")?.0;
    Some(order.split(", ").collect())
}

/// Expected against received for every failing A-SIGN-CONTENT finding: the sign content the
/// broker rebuilt (its fields sorted by name) and its signature, beside the password received
/// and the mistake that explains it (with the fields in the client's order when it is one).
fn sign_comparison(findings: &[Verdict]) -> Option<String> {
    let failing = findings.iter().filter(|f| f.rule == Rule::ASignContent && f.outcome != mock_broker::Outcome::Pass);
    let blocks: Vec<String> = failing.filter_map(|f| Some(sign_block(f, sign_detail(&f.detail)?))).collect();
    (!blocks.is_empty()).then(|| format!("<h3>Sign content: expected against received</h3>{}", blocks.concat()))
}

fn sign_block(finding: &Verdict, detail: SignDetail<'_>) -> String {
    let fields = sign_fields(detail.content);
    let order = signed_order(detail.mistake);
    let expected_rows = fields.as_deref().map(|fields| field_rows(fields, fields)).unwrap_or_default();
    let received_rows = match (&fields, &order) {
        (Some(fields), Some(order)) => {
            let reordered: Vec<(&str, &str)> =
                order.iter().filter_map(|name| fields.iter().find(|(n, _)| n == name).map(|(n, v)| (*n, *v))).collect();
            field_rows(&reordered, fields)
        }
        _ => String::new(),
    };
    let received_content = match (&fields, &order) {
        (Some(fields), Some(order)) => {
            let text: String = order
                .iter()
                .filter_map(|name| fields.iter().find(|(n, _)| n == name).map(|(n, v)| format!("{n}{v}")))
                .collect();
            format!("<p>content the signature matches</p><pre>{}</pre>", escape(&format!("{text:?}")))
        }
        _ => String::new(),
    };
    format!(
        "<div class=\"sign\"><div><h3>expected (rebuilt by the broker)</h3><p>sign content, {}</p><pre>{}</pre>\
         <table>{expected_rows}</table><p>signature</p><pre>{}</pre></div><div><h3>received (from the client)</h3>\
         <p>{}</p>{received_content}<table>{received_rows}</table><p>password</p><pre>{}</pre></div></div>",
        escape(detail.algorithm),
        escape(detail.content),
        escape(&finding.expected),
        escape(detail.mistake),
        escape(&finding.received)
    )
}

/// The fields as table rows, a row whose field sits elsewhere in `reference` marked.
fn field_rows(fields: &[(&str, &str)], reference: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        let class = if reference.get(i).map(|(n, _)| n) == Some(name) { "" } else { " class=\"diff\"" };
        let _ = write!(out, "<tr><td{class}>{}. {}</td><td{class}>{}</td></tr>", i + 1, escape(name), escape(value));
    }
    out
}

/// The rule coverage table.
fn coverage(report: &RunReport) -> String {
    let mut out = String::from(
        "<section id=\"coverage\"><h2>Rule coverage</h2><table><thead><tr><th>client rule</th><th>meaning</th>\
         <th>worst verdict</th><th>not exercised because</th></tr></thead><tbody>",
    );
    for rule in &report.coverage {
        let verdict = rule.verdict.map_or_else(|| "<i>not exercised</i>".to_string(), badge);
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{verdict}</td><td>{}</td></tr>",
            escape(&rule.rule),
            escape(super::coverage::meaning(&rule.rule).unwrap_or_default()),
            escape(&rule.reason)
        );
    }
    out.push_str("</tbody></table></section>");
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    /// The detail the broker writes for the `unsorted-sign` mutant.
    const UNSORTED: &str = "the password matches the fields signed in the order productKey, deviceName, clientId, \
         timestamp, where A-SIGN-CONTENT sorts them by name: clientId, deviceName, productKey, timestamp; sign content \
         \"clientId12345deviceNamedeviceproductKeypktimestamp789\"; algorithm hmacsha1; expected \
         0123abcd; received c202dea8";

    fn page() -> String {
        render(&sample_with_coverage())
    }

    #[test]
    fn html_is_one_self_contained_page() {
        let page = page();
        assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
        assert!(page.contains("default-src 'none'"), "a CSP forbids loading anything");
        for external in ["src=", "href=\"http", "url(", "@import", "<link"] {
            assert!(!page.contains(external), "{external} in the page");
        }
    }

    #[test]
    fn html_puts_the_problems_first_with_links_to_their_details() {
        let page = page();
        let problems = page.find("id=\"problems\"").unwrap();
        assert!(problems < page.find("id=\"verdicts\"").unwrap());
        assert!(page.find("id=\"verdicts\"").unwrap() < page.find("id=\"details\"").unwrap());
        assert!(page.find("id=\"details\"").unwrap() < page.find("id=\"coverage\"").unwrap());
        let list = &page[problems..page.find("</section>").unwrap()];
        assert_eq!(list.matches("<li>").count(), 3, "fail, warn and error: {list}");
        assert!(list.contains("<a href=\"#case-keepalive-range-tcp\"><b>keepalive-range[tcp]</b></a>"), "{list}");
        assert!(page.contains("<section class=\"case\" id=\"case-keepalive-range-tcp\">"));
        assert!(page.contains("3 passed, 1 warned, 1 failed, 2 not run, 1 error"));
    }

    #[test]
    fn html_groups_the_verdict_table_by_rule() {
        let page = page();
        assert!(page.contains("<th rowspan=\"4\" title=\"declares securemode 3"), "{page}");
        assert!(page.contains("<span class=\"v v-fail\">FAIL</span>"));
        assert!(page.contains("<span class=\"v v-not-run\">NOT-RUN</span>"));
        let table = &page[page.find("id=\"verdicts\"").unwrap()..page.find("id=\"details\"").unwrap()];
        assert_eq!(table.matches("<tr>").count(), 1 + 8, "a header and one row per case");
    }

    #[test]
    fn html_details_show_findings_measured_and_the_output_tail() {
        let page = page();
        let section = &page[page.find("id=\"case-keepalive-range-tcp\"").unwrap()..];
        let section = &section[..section.find("</section>").unwrap()];
        assert!(section.contains("<td>A-KEEPALIVE <i>(assumed)</i></td>"), "{section}");
        assert!(section.contains("<td>30..=1200 s</td><td>0 s</td>"), "{section}");
        assert!(section.contains("keepalive_declared = 0"), "{section}");
        assert!(section.contains("exit code 1"), "{section}");
        assert!(section.contains("stderr line 15") && !section.contains("stderr line 05"), "{section}");
    }

    #[test]
    fn html_escapes_everything_from_the_run() {
        let mut report = sample_with_coverage();
        let fail = report.cases.iter_mut().find(|c| c.result.verdict == CaseVerdict::Fail).unwrap();
        fail.result.client.as_mut().unwrap().stderr_tail = "<script>alert(1)</script>\n\"'&".into();
        report.client = "<img src=x>".into();
        let page = render(&report);
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&quot;&#39;&amp;"));
        assert!(page.contains("&lt;CONNACK 0x02&gt;"), "the explanation too");
        assert!(!page.contains("<img") && !page.contains("<script>alert"));
        assert_eq!(page.matches("<script>").count(), 1, "the page's own script only");
    }

    #[test]
    fn html_sign_detail_is_taken_apart() {
        let detail = sign_detail(UNSORTED).unwrap();
        assert_eq!(detail.algorithm, "hmacsha1");
        assert_eq!(detail.content, "\"clientId12345deviceNamedeviceproductKeypktimestamp789\"");
        assert_eq!(
            sign_fields(detail.content).unwrap(),
            [("clientId", "12345"), ("deviceName", "device"), ("productKey", "pk"), ("timestamp", "789")]
        );
        assert_eq!(signed_order(detail.mistake).unwrap(), ["productKey", "deviceName", "clientId", "timestamp"]);
        assert_eq!(sign_fields("\"clientIddeviceNamedproductKeyp\"").unwrap()[0], ("clientId", ""));
        assert!(sign_fields("\"x\"... (250 characters)").is_none());
        assert!(sign_detail("no common mistake").is_none());
    }

    #[test]
    fn html_shows_the_sign_content_side_by_side() {
        let finding = Verdict::fail(Rule::ASignContent, "0123abcd", "c202dea8").with_detail(UNSORTED);
        let html = sign_comparison(&[finding]).unwrap();
        assert!(html.contains("expected (rebuilt by the broker)") && html.contains("received (from the client)"));
        assert!(
            html.contains("<pre>&quot;clientId12345deviceNamedeviceproductKeypktimestamp789&quot;</pre>"),
            "{html}"
        );
        assert!(
            html.contains("<pre>&quot;productKeypkdeviceNamedeviceclientId12345timestamp789&quot;</pre>"),
            "{html}"
        );
        assert!(html.contains("<td class=\"diff\">1. productKey</td>"), "{html}");
        assert!(html.contains("<td>2. deviceName</td>"), "an unmoved field is not marked: {html}");
        assert!(html.contains("<pre>0123abcd</pre>") && html.contains("<pre>c202dea8</pre>"));
        let passing = Verdict::pass(Rule::ASignContent, "hmacsha1 of ...", "the signature matches");
        assert!(sign_comparison(&[passing]).is_none());
    }

    #[test]
    fn html_draws_the_timeline_of_a_timed_case() {
        use mock_broker::{CloseReason, Event, EventKind, Transport};
        use std::sync::Arc;
        use std::time::Duration;
        let mut report = sample_with_coverage();
        let warn = report.cases.iter_mut().find(|c| c.result.verdict == CaseVerdict::Warn).unwrap();
        warn.case = "ping".into();
        let peer = "127.0.0.1:1".parse().unwrap();
        let accepted = EventKind::Accepted { listener: Transport::Ws.into(), peer };
        warn.result.transcript = vec![Arc::new(Event { conn: 1, at: Duration::ZERO, kind: accepted })];
        let closed = EventKind::Closed { reason: CloseReason::ClientDisconnect };
        warn.result.stopping = vec![Arc::new(Event { conn: 1, at: Duration::from_secs(65), kind: closed })];
        let page = render(&report);
        let section = &page[page.find("id=\"case-ping-ws\"").unwrap()..];
        let section = &section[..section.find("</section>").unwrap()];
        assert!(section.contains("<h3>Timeline</h3><svg class=\"timeline\""), "{section}");
        assert!(section.contains(">client sent DISCONNECT</text>"), "{section}");
        assert!(!page.contains("<details>"), "no passing timed case here");
    }

    #[test]
    fn html_coverage_lists_every_rule() {
        let page = page();
        let table = &page[page.find("id=\"coverage\"").unwrap()..];
        assert_eq!(table.matches("<tr>").count(), 1 + 16);
        assert!(table.contains("<td>C-SIGN</td>"));
        assert!(table.contains("no case in this catalogue yet"));
    }

    #[test]
    fn html_is_written_beside_the_other_reports() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&sample_with_coverage(), &dir.path().join("out")).unwrap();
        assert_eq!(path, dir.path().join("out").join(FILE_NAME));
        assert!(std::fs::read_to_string(path).unwrap().contains("id=\"problems\""));
    }
}
