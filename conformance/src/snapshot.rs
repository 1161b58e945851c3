//! Per-client transcript snapshots: each case's broker transcript, redacted so two runs of the
//! same client give identical text, compared with the one stored for that client.
//!
//! Redaction ([`redact`]) renders each event with `mock_broker::render::line` and replaces
//! what changes from run to run: the time prefix (`[time]`), ports of `localhost`, IPv4 and
//! `[IPv6]` hosts and the peer of `accepted` lines (`[port]`, `[peer]`), the run's random
//! identities ([`RunIds`], one per client the case started: `[productKey]`, `[deviceName]`,
//! `[clientId]`, `[deviceSecret]`, the same names for every identity), the
//! timestamp of a clientId or sign content (`timestamp=[ts]`), HMACs in hex (32, 40 or 64
//! digits: `[hmac40]`...; the 8 digits a verdict shows of one it does not reveal, before `…`:
//! `[hex8]…`), the silence of a K-TIMEOUT cut (`silent [ms] ms`), payload sizes
//! (`[len] bytes`), and it renumbers connections (`#1`, `#2`... in order of appearance, also
//! in `connection #N` of S-KICK) and packet identifiers (MQTT.js starts them at random).
//! Redacting redacted text changes nothing.
//!
//! Two rules keep out what depends on timing rather than on the client's behaviour, so a
//! second run of the same client matches:
//! - The transcript is what the case watched ([`CaseResult::transcript`]): what the broker
//!   logged while the suite stopped the client ([`CaseResult::stopping`]: packets in flight,
//!   the DISCONNECT, the closes) races with the stop and is left out.
//! - Retries fold ([`REPEATED`]): a connection whose redacted lines are exactly those of the
//!   connection before it, neither interleaved with another, is left out, and the first of
//!   such a series gets one line saying it repeated. How many retries fit in a case's window
//!   depends on the client's reconnect timer against the case's, not on what it does.
//!
//! Storage ([`check`]) follows insta's file format, so `cargo insta review` reviews them:
//! `DIR/<client>/<case>__<transport>.snap` holds the header `---`, `source: conformance`,
//! `expression: "<case>[<transport>]"`, `---`, then the text. A new or changed transcript is
//! written beside it as `.snap.new` (what cargo-insta looks for, reading the same header keys:
//! `source`, `expression`), and a change comes back as a readable line diff.
//! [`SnapshotOutcome::apply`] turns a change into a warning on the case: never silent.
//!
//! The runner compares every case that ran (pass, warn or fail; not the not-run and error
//! rows) when `--snapshots DIR` is in force, which it is by default: [`DEFAULT_DIR`],
//! relative to the current directory.

use crate::contract::Identity;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::{Event, Transport, render};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where snapshots live by default, relative to the current directory, like `--out`:
/// `conformance/snapshots/<client-name>/`. From the kit's workspace root (where `cargo xtask
/// conformance` runs the suite) that is the kit's own `conformance/snapshots/`; from a
/// user's repository, a folder of that repository.
pub const DEFAULT_DIR: &str = "conformance/snapshots";

/// How [`SnapshotOutcome::apply`]'s note (`measured["snapshot"]`) starts for a new snapshot.
pub const NEW_NOTE: &str = "new: ";
/// How [`SnapshotOutcome::apply`]'s note starts for a changed snapshot.
pub const CHANGED_NOTE: &str = "changed: ";

/// The shortest identity value redaction replaces. A shorter one would also match unrelated
/// text (a productKey `0` in `0x00`), and only fixed identities are that short: those the
/// suite draws at random have 11 characters or more.
pub const MIN_IDENTITY_CHARS: usize = 4;

/// The random identity values of a run, replaced by their names. Values shorter than
/// [`MIN_IDENTITY_CHARS`] (empty ones included) are left alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunIds<'a> {
    pub product_key: &'a str,
    pub device_name: &'a str,
    pub client_id: &'a str,
    pub device_secret: &'a str,
}

impl<'a> From<&'a Identity> for RunIds<'a> {
    fn from(identity: &'a Identity) -> RunIds<'a> {
        RunIds {
            product_key: &identity.product_key,
            device_name: &identity.device_name,
            client_id: &identity.client_id,
            device_secret: identity.secret.expose(),
        }
    }
}

/// The redacted text of a transcript, one rendered event per line (a verdict's detail on an
/// indented second line). `ids` are the identities of every client the case started.
///
/// A fault's broker-wide events (armed, disarmed: connection 0) are left out: the case arms
/// faults as it watches, so where they fall among the client's packets is a race. What a
/// fault did to a connection (applied) stays.
pub fn redact(events: &[Arc<Event>], ids: &[RunIds]) -> String {
    let lines: Vec<String> = events
        .iter()
        .filter(|e| !(e.conn == 0 && matches!(e.kind, mock_broker::EventKind::Fault(_))))
        .map(|e| render::line(e))
        .collect();
    redact_text(&lines.join("\n"), ids)
}

/// The placeholders redaction writes; found again in redacted text, they are left alone.
const PLACEHOLDERS: &[&str] = &[
    "[time]",
    "[port]",
    "[peer]",
    "[ts]",
    "[hmac32]",
    "[hmac40]",
    "[hmac64]",
    "[hex8]",
    "[len]",
    "[ms]",
    "[productKey]",
    "[deviceName]",
    "[clientId]",
    "[deviceSecret]",
];

/// A piece of a line: text still to redact, or a placeholder no later step touches.
#[derive(Debug)]
enum Seg {
    Text(String),
    Held(String),
}

/// Renumbers values by order of first appearance, so two runs give the same numbers and
/// renumbered text renumbers to itself.
#[derive(Default)]
struct Renumber(HashMap<String, usize>);

impl Renumber {
    fn get(&mut self, raw: &str) -> String {
        let next = self.0.len() + 1;
        self.0.entry(raw.to_string()).or_insert(next).to_string()
    }
}

/// The line that stands for the retries folded into the connection before them.
pub const REPEATED: &str = "(then the same connection again, one or more times: retries are not counted)";

/// Redacts rendered transcript lines (or already redacted ones, which come out unchanged),
/// then folds retries, numbering the connections left again.
fn redact_text(text: &str, ids: &[RunIds]) -> String {
    let lines = redact_lines(text, ids);
    match fold_retries(&lines) {
        Some(folded) => redact_lines(&folded.join("\n"), ids).join("\n"),
        None => lines.join("\n"),
    }
}

/// Redacts each line; connections and packet identifiers are numbered in order of appearance.
fn redact_lines(text: &str, ids: &[RunIds]) -> Vec<String> {
    let mut conns = Renumber::default();
    let mut packet_ids = Renumber::default();
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let (prefix, body) = match split_prefix(line) {
            Some((conn, body)) => (format!("{:>10} #{:<4} ", "[time]", conns.get(conn)), body),
            None => (String::new(), line),
        };
        out.push(format!("{prefix}{}", redact_body(body, ids, &mut conns, &mut packet_ids)));
    }
    out
}

/// The lines of one connection in a row: its number and the bodies (a verdict's detail line
/// kept whole).
struct Block<'t> {
    conn: &'t str,
    lines: Vec<&'t str>,
    bodies: Vec<&'t str>,
}

/// Leaves out each connection that repeats the one before it (see the module docs), adding
/// [`REPEATED`] to the first of the series; `None` when nothing folds.
fn fold_retries(lines: &[String]) -> Option<Vec<String>> {
    let mut blocks: Vec<Block> = Vec::new();
    for line in lines {
        match split_prefix(line) {
            Some((conn, body)) if blocks.last().is_none_or(|b| b.conn != conn) => {
                blocks.push(Block { conn, lines: vec![line], bodies: vec![body] });
            }
            Some((_, body)) => {
                let block = blocks.last_mut().expect("matched a last block");
                block.lines.push(line);
                block.bodies.push(body);
            }
            None => match blocks.last_mut() {
                Some(block) => {
                    block.lines.push(line);
                    block.bodies.push(line);
                }
                None => blocks.push(Block { conn: "", lines: vec![line], bodies: vec![line] }),
            },
        }
    }
    let alone = |conn: &str| !conn.is_empty() && blocks.iter().filter(|b| b.conn == conn).count() == 1;
    let mut out = Vec::new();
    let mut folded = false;
    for (i, block) in blocks.iter().enumerate() {
        let repeats = i > 0 && alone(block.conn) && alone(blocks[i - 1].conn) && block.bodies == blocks[i - 1].bodies;
        if !repeats {
            out.extend(block.lines.iter().map(|l| l.to_string()));
            continue;
        }
        let first_repeat = !(i > 1 && alone(blocks[i - 2].conn) && blocks[i - 2].bodies == blocks[i - 1].bodies);
        if first_repeat {
            out.push(format!("{:>10} #{:<4} {REPEATED}", "[time]", blocks[i - 1].conn));
        }
        folded = true;
    }
    folded.then_some(out)
}

/// Splits `  0.013s #12   body` (or its redacted form `[time] #1    body`) into the
/// connection number and the body.
fn split_prefix(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start();
    let rest = match rest.strip_prefix("[time]") {
        Some(rest) => rest,
        None => {
            let time_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
            let time = &rest[..time_len];
            if time.is_empty() || !time.contains('.') {
                return None;
            }
            rest[time_len..].strip_prefix('s')?
        }
    };
    let rest = rest.strip_prefix(" #")?;
    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    if digits == 0 || !rest[digits..].starts_with(' ') {
        return None;
    }
    Some((&rest[..digits], rest[digits..].trim_start_matches(' ')))
}

/// Redacts the part of a line after its time and connection number.
fn redact_body(body: &str, ids: &[RunIds], conns: &mut Renumber, packet_ids: &mut Renumber) -> String {
    let mut segs = held_placeholders(body);
    if body.starts_with("accepted ") {
        segs = each_text(segs, |t| match t.find(" from ") {
            Some(at) if at + 6 < t.len() => vec![Seg::Text(t[..at + 6].to_string()), Seg::Held("[peer]".to_string())],
            _ => vec![Seg::Text(t.to_string())],
        });
    }
    // Renumbering first: its output is digits that the later steps may still see whole.
    segs = each_text(segs, |t| digits_after(t, "connection #", |n| conns.get(n), false));
    let is_packet = body.starts_with("< ") || body.starts_with("> ");
    if is_packet {
        segs = each_text(segs, |t| digits_after(t, " id=", |n| packet_ids.get(n), false));
        segs = each_text(segs, payload_sizes);
    }
    segs = each_text(segs, |t| digits_after(t, "timestamp=", |_| "[ts]".to_string(), true));
    segs = each_text(segs, |t| digits_after(t, "timestamp", |_| "[ts]".to_string(), true));
    segs = each_text(segs, hex_digests);
    // Longest first, across identities: a value containing another (the clientId
    // `productKey.deviceName`) is replaced whole.
    let mut identities: Vec<(&str, &str)> = ids
        .iter()
        .flat_map(|ids| {
            [
                (ids.device_secret, "[deviceSecret]"),
                (ids.client_id, "[clientId]"),
                (ids.device_name, "[deviceName]"),
                (ids.product_key, "[productKey]"),
            ]
        })
        .collect();
    identities.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
    for (value, name) in identities.into_iter().filter(|(value, _)| value.chars().count() >= MIN_IDENTITY_CHARS) {
        segs = each_text(segs, |t| literal(t, value, name));
    }
    segs = each_text(segs, ports);
    segs = each_text(segs, |t| digits_after(t, "silent ", |_| "[ms]".to_string(), true));
    segs.into_iter()
        .map(|s| match s {
            Seg::Text(t) | Seg::Held(t) => t,
        })
        .collect()
}

/// Applies `f` to every text segment, keeping placeholders as they are.
fn each_text(segs: Vec<Seg>, mut f: impl FnMut(&str) -> Vec<Seg>) -> Vec<Seg> {
    let mut out = Vec::with_capacity(segs.len());
    for seg in segs {
        match seg {
            Seg::Text(t) => out.extend(f(&t).into_iter().filter(|s| !matches!(s, Seg::Text(t) if t.is_empty()))),
            held => out.push(held),
        }
    }
    out
}

/// The body with the placeholders it already holds marked as such.
fn held_placeholders(body: &str) -> Vec<Seg> {
    let mut segs = vec![Seg::Text(body.to_string())];
    for placeholder in PLACEHOLDERS {
        segs = each_text(segs, |t| literal(t, placeholder, placeholder));
    }
    segs
}

/// Replaces every occurrence of `needle`.
fn literal(text: &str, needle: &str, name: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(needle) {
        out.push(Seg::Text(rest[..at].to_string()));
        out.push(Seg::Held(name.to_string()));
        rest = &rest[at + needle.len()..];
    }
    out.push(Seg::Text(rest.to_string()));
    out
}

/// Replaces the digits right after each `marker` with `f(digits)`; the result is held when
/// `hold`, else left as text (renumbered digits, which renumber to themselves).
fn digits_after(text: &str, marker: &str, mut f: impl FnMut(&str) -> String, hold: bool) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut pending = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let after = &rest[at + marker.len()..];
        let digits = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
        pending.push_str(&rest[..at + marker.len()]);
        if digits > 0 {
            let replaced = f(&after[..digits]);
            if hold {
                out.push(Seg::Text(std::mem::take(&mut pending)));
                out.push(Seg::Held(replaced));
            } else {
                pending.push_str(&replaced);
            }
        }
        rest = &after[digits..];
    }
    pending.push_str(rest);
    out.push(Seg::Text(pending));
    out
}

/// Replaces runs of exactly 32, 40 or 64 hex digits (MD5, SHA-1, SHA-256 HMACs) that stand
/// alone, not inside a longer word, and the 8 hex digits before `…` that a verdict shows of
/// an HMAC it does not reveal.
fn hex_digests(text: &str) -> Vec<Seg> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let word_end = bytes[i..].iter().position(|b| !b.is_ascii_alphanumeric()).map_or(bytes.len(), |n| i + n);
        let word = &text[i..word_end];
        let cut = word.len() == 8 && text[word_end..].starts_with('…');
        if (cut || matches!(word.len(), 32 | 40 | 64)) && word.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push(Seg::Text(text[start..i].to_string()));
            out.push(Seg::Held(if cut { "[hex8]".to_string() } else { format!("[hmac{}]", word.len()) }));
            start = word_end;
        }
        i = word_end;
    }
    out.push(Seg::Text(text[start..].to_string()));
    out
}

/// Replaces the port of `localhost:PORT`, `a.b.c.d:PORT`, `[v6]:PORT` and `some.domain:PORT`.
fn ports(text: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut start = 0;
    for (colon, _) in text.match_indices(':') {
        let after = &text[colon + 1..];
        let digits = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
        if digits == 0 || digits > 5 || colon < start || !is_host(&text[start..colon]) {
            continue;
        }
        out.push(Seg::Text(text[start..colon + 1].to_string()));
        out.push(Seg::Held("[port]".to_string()));
        start = colon + 1 + digits;
    }
    out.push(Seg::Text(text[start..].to_string()));
    out
}

/// True when `before` ends with a host name a port may follow.
fn is_host(before: &str) -> bool {
    if before.ends_with(']') {
        return true;
    }
    let is_host_byte = |b: &u8| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-';
    let len = before.bytes().rev().take_while(is_host_byte).count();
    let host = &before[before.len() - len..];
    let ipv4 =
        host.split('.').count() == 4 && host.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let domain = host.contains('.') && host.ends_with(|c: char| c.is_ascii_alphabetic());
    host == "localhost" || ipv4 || domain
}

/// Replaces `N bytes` (a packet's payload size) by `[len] bytes`.
fn payload_sizes(text: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    let mut start = 0;
    for (at, _) in text.match_indices(" bytes") {
        let digits = text[..at].bytes().rev().take_while(u8::is_ascii_digit).count();
        let digits_start = at - digits;
        if digits == 0 || digits_start <= start || text.as_bytes()[digits_start - 1] != b' ' {
            continue;
        }
        out.push(Seg::Text(text[start..digits_start].to_string()));
        out.push(Seg::Held("[len]".to_string()));
        start = at;
    }
    out.push(Seg::Text(text[start..].to_string()));
    out
}

/// How a transcript compares with the stored snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// Same text as stored.
    Matched,
    /// No snapshot was stored: the transcript is written as `.snap.new` at this path for
    /// `cargo insta review` to accept.
    New(PathBuf),
    /// The text differs from the stored snapshot `path`: the new one is written beside it as
    /// `.snap.new`, and `diff` shows how (`-` stored, `+` new).
    Changed { path: PathBuf, diff: String },
}

impl SnapshotOutcome {
    /// Records the outcome on the case it belongs to: a new snapshot as a measured note; a
    /// changed one as a note and its diff, and a passing case becomes a warning (a changed
    /// behaviour is never silent; a warning or a failure stays as it is).
    pub fn apply(&self, result: &mut CaseResult) {
        match self {
            SnapshotOutcome::Matched => {}
            SnapshotOutcome::New(path) => {
                let note = format!("{NEW_NOTE}{} (accept it with `cargo insta review`)", path.display());
                result.measured.insert("snapshot".to_string(), note.into());
            }
            SnapshotOutcome::Changed { path, diff } => {
                let note = format!("{CHANGED_NOTE}{} differs (review with `cargo insta review`)", path.display());
                result.measured.insert("snapshot".to_string(), note.into());
                result.measured.insert("snapshot_diff".to_string(), diff.clone().into());
                if result.verdict == CaseVerdict::Pass {
                    result.verdict = CaseVerdict::Warn;
                    result.explanation.push_str("; but the transcript differs from the stored snapshot");
                }
            }
        }
    }
}

/// Compares `text` (a [`redact`]ed transcript) with the snapshot stored for `client`, case
/// `case_id` on `transport` under `dir`, writing a `.snap.new` when it is new or changed and
/// removing a stale one when it matches.
pub fn check(dir: &Path, client: &str, case_id: &str, transport: Transport, text: &str) -> io::Result<SnapshotOutcome> {
    let folder = dir.join(file_safe(client));
    let path = folder.join(format!("{}__{}.snap", file_safe(case_id), transport.scheme()));
    let pending = folder.join(format!("{}__{}.snap.new", file_safe(case_id), transport.scheme()));
    let text = normalize(text);
    let stored = match std::fs::read_to_string(&path) {
        Ok(stored) => Some(stored),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if let Some(stored) = &stored {
        let old = normalize(body(stored));
        if old == text {
            match std::fs::remove_file(&pending) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => return Ok(SnapshotOutcome::Matched),
            }
        }
    }
    std::fs::create_dir_all(&folder)?;
    let expression = format!("{case_id}[{}]", transport.scheme()).replace('\\', "\\\\").replace('"', "\\\"");
    std::fs::write(&pending, format!("---\nsource: conformance\nexpression: \"{expression}\"\n---\n{text}\n"))?;
    Ok(match stored {
        None => SnapshotOutcome::New(pending),
        Some(stored) => {
            let diff = format!(
                "--- {}\n+++ {}\n{}",
                path.display(),
                pending.display(),
                line_diff(&normalize(body(&stored)), &text)
            );
            SnapshotOutcome::Changed { path, diff }
        }
    })
}

/// A name usable as one path component: anything but letters, digits, `-`, `_` and `.`
/// becomes `_`, and a name of dots only is prefixed.
pub fn file_safe(name: &str) -> String {
    let safe: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    if safe.chars().all(|c| c == '.') { format!("_{safe}") } else { safe }
}

/// What insta compares: trailing blanks trimmed, CRLF as LF.
fn normalize(text: &str) -> String {
    text.trim_end().replace("\r\n", "\n")
}

/// The text of a `.snap` file after its metadata header (the whole file when it has none).
fn body(file: &str) -> &str {
    let mut lines = file.split_inclusive('\n');
    if lines.next().map(str::trim_end) != Some("---") {
        return file;
    }
    let mut offset = file.find('\n').map_or(file.len(), |i| i + 1);
    for line in lines {
        offset += line.len();
        if line.trim_end() == "---" {
            return &file[offset..];
        }
    }
    file
}

/// Lines of context around each change in a diff.
const CONTEXT: usize = 2;
/// Above this many cells the diff gives up on alignment and shows all old, then all new.
const MAX_DIFF_CELLS: usize = 4_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Same,
    Removed,
    Added,
}

/// A unified line diff (`@@ -a,b +c,d @@` hunks, `-` old, `+` new, two lines of context),
/// aligned on a longest common subsequence of lines.
fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = align(&a, &b);
    let changed: Vec<usize> = ops.iter().enumerate().filter(|(_, (op, _))| *op != Op::Same).map(|(i, _)| i).collect();
    let mut out = String::new();
    let mut i = 0;
    while i < changed.len() {
        let first = changed[i];
        let mut last = first;
        while i + 1 < changed.len() && changed[i + 1] <= last + 2 * CONTEXT + 1 {
            i += 1;
            last = changed[i];
        }
        i += 1;
        let (from, to) = (first.saturating_sub(CONTEXT), (last + CONTEXT + 1).min(ops.len()));
        let old_start = ops[..from].iter().filter(|(op, _)| *op != Op::Added).count();
        let new_start = ops[..from].iter().filter(|(op, _)| *op != Op::Removed).count();
        let old_len = ops[from..to].iter().filter(|(op, _)| *op != Op::Added).count();
        let new_len = ops[from..to].iter().filter(|(op, _)| *op != Op::Removed).count();
        out.push_str(&format!("@@ -{},{old_len} +{},{new_len} @@\n", old_start + 1, new_start + 1));
        for (op, line) in &ops[from..to] {
            let mark = match op {
                Op::Same => ' ',
                Op::Removed => '-',
                Op::Added => '+',
            };
            out.push_str(&format!("{mark}{line}\n"));
        }
    }
    out
}

/// The edit script from `a` to `b`: common prefix and suffix, and a longest common
/// subsequence of what lies between.
fn align<'t>(a: &[&'t str], b: &[&'t str]) -> Vec<(Op, &'t str)> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..].iter().rev().zip(b[prefix..].iter().rev()).take_while(|(x, y)| x == y).count();
    let (mid_a, mid_b) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops: Vec<(Op, &str)> = a[..prefix].iter().map(|l| (Op::Same, *l)).collect();
    let (n, m) = (mid_a.len(), mid_b.len());
    if n * m > MAX_DIFF_CELLS {
        ops.extend(mid_a.iter().map(|l| (Op::Removed, *l)));
        ops.extend(mid_b.iter().map(|l| (Op::Added, *l)));
    } else {
        // lcs[i][j]: length of the LCS of mid_a[i..] and mid_b[j..].
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        let at = |i: usize, j: usize| i * (m + 1) + j;
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[at(i, j)] = if mid_a[i] == mid_b[j] {
                    lcs[at(i + 1, j + 1)] + 1
                } else {
                    lcs[at(i + 1, j)].max(lcs[at(i, j + 1)])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && mid_a[i] == mid_b[j] {
                ops.push((Op::Same, mid_a[i]));
                (i, j) = (i + 1, j + 1);
            } else if j == m || (i < n && lcs[at(i + 1, j)] >= lcs[at(i, j + 1)]) {
                ops.push((Op::Removed, mid_a[i]));
                i += 1;
            } else {
                ops.push((Op::Added, mid_b[j]));
                j += 1;
            }
        }
    }
    ops.extend(a[a.len() - suffix..].iter().map(|l| (Op::Same, *l)));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use mock_broker::events::{CloseReason, ConnectSummary, EventKind, Handshake, PacketSummary};
    use mock_broker::mqtt::{Protocol, QoS};
    use mock_broker::{Rule, Verdict};
    use proptest::prelude::*;
    use std::time::Duration;

    /// What differs between two runs of the same client.
    #[derive(Clone, Debug)]
    struct Run {
        conn: u64,
        at_ms: u64,
        ports: (u16, u16, u16),
        product_key: String,
        device_name: String,
        client_id: String,
        secret: String,
        timestamp: u64,
        hmacs: (String, String),
        packet_id: u16,
        payload_len: usize,
        silent_ms: u64,
    }

    impl Run {
        fn ids(&self) -> RunIds<'_> {
            RunIds {
                product_key: &self.product_key,
                device_name: &self.device_name,
                client_id: &self.client_id,
                device_secret: &self.secret,
            }
        }
    }

    fn packet(
        name: &'static str,
        id: Option<u16>,
        topic: Option<String>,
        len: Option<usize>,
        items: Vec<String>,
    ) -> PacketSummary {
        PacketSummary { packet: name, packet_id: id, topic, qos: topic_qos(name), payload_len: len, dup: false, items }
    }

    fn topic_qos(name: &str) -> Option<QoS> {
        (name == "PUBLISH").then_some(QoS::AtLeastOnce)
    }

    /// A transcript with two connections: a login, a subscription, a publish, a kick and a
    /// keepalive cut, carrying every value that changes from run to run.
    fn transcript(r: &Run) -> Vec<Arc<Event>> {
        let (pk, dn, cid, ts) = (&r.product_key, &r.device_name, &r.client_id, r.timestamp);
        let content = format!("clientId{cid}deviceName{dn}productKey{pk}timestamp{ts}");
        let kinds = vec![
            (
                0,
                EventKind::Accepted {
                    listener: Transport::Ws.into(),
                    peer: format!("127.0.0.1:{}", r.ports.1).parse().unwrap(),
                },
            ),
            (
                0,
                EventKind::Handshake(Box::new(Handshake {
                    ws_path: Some("/mqtt".to_string()),
                    host: Some(format!("localhost:{}", r.ports.0)),
                    subprotocols: vec!["mqtt".to_string()],
                    subprotocol: Some("mqtt".to_string()),
                    ..Handshake::default()
                })),
            ),
            (
                0,
                EventKind::Connect(ConnectSummary {
                    protocol: Protocol::V311,
                    client_id: format!("{cid}|securemode=3,signmethod=hmacsha1,timestamp={ts}|"),
                    username: Some(format!("{dn}&{pk}")),
                    password_len: Some(40),
                    keep_alive: 60,
                    clean_session: true,
                    will: false,
                }),
            ),
            (
                0,
                EventKind::Verdict(Verdict::pass(
                    Rule::ASignContent,
                    format!("hmacsha1 of {content:?}"),
                    "the signature matches",
                )),
            ),
            (
                0,
                EventKind::Verdict(
                    Verdict::fail(Rule::ASignContent, r.hmacs.0.clone(), format!("{:?}", r.hmacs.1)).with_detail(
                        format!("sign content {content:?}; expected {}; received {:?}", r.hmacs.0, r.hmacs.1),
                    ),
                ),
            ),
            (0, EventKind::PacketOut(packet("CONNACK", None, None, None, vec!["0x00".to_string()]))),
            (0, EventKind::Online { product_key: pk.clone(), device_name: dn.clone(), session_present: false }),
            (
                0,
                EventKind::PacketIn(packet(
                    "SUBSCRIBE",
                    Some(r.packet_id),
                    None,
                    None,
                    vec![format!("/{pk}/{dn}/user/get (QoS 1)")],
                )),
            ),
            (0, EventKind::PacketOut(packet("SUBACK", Some(r.packet_id), None, None, vec!["0x01".to_string()]))),
            (
                0,
                EventKind::PacketIn(packet(
                    "PUBLISH",
                    Some(r.packet_id + 1),
                    Some(format!("/sys/{pk}/{dn}/thing/event/property/post")),
                    Some(r.payload_len),
                    vec![],
                )),
            ),
            (0, EventKind::PacketOut(packet("PUBACK", Some(r.packet_id + 1), None, None, vec![]))),
            (
                1,
                EventKind::Accepted {
                    listener: Transport::Ws.into(),
                    peer: format!("[::1]:{}", r.ports.2).parse().unwrap(),
                },
            ),
            (
                1,
                EventKind::Verdict(
                    Verdict::warn(
                        Rule::SKick,
                        "one connection per device",
                        format!("a second login while connection #{} is online", r.conn),
                    )
                    .with_detail(format!("connection #{} is kicked", r.conn)),
                ),
            ),
            (0, EventKind::Closed { reason: CloseReason::Kicked { by: r.conn + 1 } }),
            (
                1,
                EventKind::Closed {
                    reason: CloseReason::KeepaliveTimeout { keep_alive_s: 60, silent_ms: r.silent_ms },
                },
            ),
        ];
        kinds
            .into_iter()
            .enumerate()
            .map(|(i, (offset, kind))| {
                Arc::new(Event { conn: r.conn + offset, at: Duration::from_millis(r.at_ms + 7 * i as u64), kind })
            })
            .collect()
    }

    fn fixed_run() -> Run {
        Run {
            conn: 41,
            at_ms: 12,
            ports: (50000, 50001, 50002),
            product_key: "a1B2c3D4e5F".to_string(),
            device_name: "dev-sensor01".to_string(),
            client_id: "cid-7Hk2Lp9Q".to_string(),
            secret: "hunter2-not-hex".to_string(),
            timestamp: 1_700_000_000_123,
            hmacs: (
                "0123456789abcdef0123456789abcdef01234567".to_string(),
                "fedcba9876543210fedcba9876543210fedcba98".to_string(),
            ),
            packet_id: 31_337,
            payload_len: 87,
            silent_ms: 90_012,
        }
    }

    fn run_strategy() -> impl Strategy<Value = Run> {
        (
            (1u64..100_000, 0u64..10_000_000, any::<(u16, u16, u16)>()),
            ("[a-zA-Z0-9]{11}", "dev-[a-z0-9]{8}", "cid-[a-zA-Z0-9]{8}", "sec-[a-zA-Z0-9]{28}"),
            (any::<u64>(), "[0-9a-f]{40}", "[0-9A-F]{40}"),
            (1u16..60_000, 0usize..300_000, any::<u64>()),
        )
            .prop_map(
                |(
                    (conn, at_ms, ports),
                    (pk, dn, cid, secret),
                    (timestamp, h0, h1),
                    (packet_id, payload_len, silent_ms),
                )| Run {
                    conn,
                    at_ms,
                    ports,
                    product_key: pk,
                    device_name: dn,
                    client_id: cid,
                    secret,
                    timestamp,
                    hmacs: (h0, h1),
                    packet_id,
                    payload_len,
                    silent_ms,
                },
            )
    }

    #[test]
    fn snapshot_redacts_every_run_specific_value() {
        let run = fixed_run();
        let text = redact(&transcript(&run), &[run.ids()]);
        insta::assert_snapshot!(text);
        for value in [
            "a1B2c3D4e5F",
            "dev-sensor01",
            "cid-7Hk2Lp9Q",
            "1700000000123",
            "0123456789abcdef",
            "50001",
            "31337",
            "#41",
        ] {
            assert!(!text.contains(value), "{value} left in:\n{text}");
        }
        assert!(text.contains("connection #1 is kicked"), "{text}");
        assert!(text.contains("(S-KICK: by connection #2)"), "{text}");
    }

    #[test]
    fn snapshot_redacts_secrets_ports_and_sizes_in_plain_text() {
        let ids = RunIds { product_key: "pk01", device_name: "dn01", client_id: "", device_secret: "s3cr3t-value" };
        let text = "   12.500s #7    FAIL A-SIGN-HEX: expected hex; received \"s3cr3t-value\"\n\
                    \x20                password of dn01&pk01 sent in clear\n\
                    \x20   0.001s #9    < PUBLISH /sys/pk01/dn01/x qos=1 id=77 1024 bytes\n\
                    \x20   0.002s #7    > PUBACK id=77\n\
                    \x20   0.003s #9    handshake sni=a1.iot-as-mqtt.cn-shanghai.aliyuncs.com host=10.0.0.2:8883";
        let redacted = redact_text(text, &[ids]);
        assert_eq!(
            redacted,
            "    [time] #1    FAIL A-SIGN-HEX: expected hex; received \"[deviceSecret]\"\n\
             \x20                password of [deviceName]&[productKey] sent in clear\n\
             \x20   [time] #2    < PUBLISH /sys/[productKey]/[deviceName]/x qos=1 id=1 [len] bytes\n\
             \x20   [time] #1    > PUBACK id=1\n\
             \x20   [time] #2    handshake sni=a1.iot-as-mqtt.cn-shanghai.aliyuncs.com host=10.0.0.2:[port]"
        );
        assert_eq!(redact_text(&redacted, &[ids]), redacted);
    }

    #[test]
    fn snapshot_redacts_cut_and_whole_hmacs() {
        let ids = RunIds { product_key: "pk01", device_name: "dn01", client_id: "", device_secret: "s3cr3t-value" };
        let text = "   0.1s #1    FAIL A-SIGN-CONTENT: expected fafd82a3… (40 hex digits); received \"c202dea8…\" \
                    (40 characters)\n   0.2s #2    FAIL A-SIGN-CONTENT: expected fafd82a3d602b37fb0fa8b7892f24a477f851a14; \
                    received deadbeef, cafebabe1…";
        let redacted = redact_text(text, &[ids]);
        assert_eq!(
            redacted,
            "    [time] #1    FAIL A-SIGN-CONTENT: expected [hex8]… (40 hex digits); received \"[hex8]…\" \
             (40 characters)\n    [time] #2    FAIL A-SIGN-CONTENT: expected [hmac40]; received deadbeef, cafebabe1…"
        );
        assert_eq!(redact_text(&redacted, &[ids]), redacted);
    }

    #[test]
    fn snapshot_redacts_every_identity_a_case_handed_out_but_not_short_values() {
        let first = Identity::generate(1);
        let second = Identity::generate(2);
        let short = Identity {
            product_key: "a1".into(),
            device_name: "dev0".into(),
            secret: "s3".into(),
            client_id: "c".into(),
        };
        let line = |id: &Identity| {
            format!(
                "    0.001s #1    CONNECT MQTT clientId=\"{}|securemode=3|\" username=\"{}&{}\" > CONNACK [0x00]",
                id.client_id, id.device_name, id.product_key
            )
        };
        let text = [line(&first), line(&second), line(&short)].join("\n");
        let ids: Vec<RunIds> = [&first, &second, &short].into_iter().map(RunIds::from).collect();
        let redacted = redact_text(&text, &ids);
        let expected = "    [time] #1    CONNECT MQTT clientId=\"[clientId]|securemode=3|\" \
                        username=\"[deviceName]&[productKey]\" > CONNACK [0x00]";
        let lines: Vec<&str> = redacted.lines().collect();
        assert_eq!(lines[..2], [expected, expected], "{redacted}");
        assert_eq!(
            lines[2],
            "    [time] #1    CONNECT MQTT clientId=\"c|securemode=3|\" username=\"[deviceName]&a1\" > CONNACK [0x00]",
            "values under {MIN_IDENTITY_CHARS} characters stay"
        );
        assert_eq!(redact_text(&redacted, &ids), redacted);
    }

    #[test]
    fn snapshot_folds_retries_whatever_their_number() {
        let attempt = |conn: u32| {
            format!(
                "    0.{conn:03}s #{conn:<4} accepted tls from 127.0.0.1:5{conn:04}\n    0.{conn:03}s #{conn:<4} closed: \
                 handshake failed (TLS handshake: received fatal alert: UnknownCA)"
            )
        };
        let last = |conn: u32| format!("    0.{conn:03}s #{conn:<4} accepted tls from 127.0.0.1:6{conn:04}");
        let three: Vec<String> = (7..10).map(attempt).chain([last(10)]).collect();
        let two: Vec<String> = (3..5).map(attempt).chain([last(5)]).collect();
        let folded = redact_text(&three.join("\n"), &[]);
        assert_eq!(
            folded,
            format!(
                "    [time] #1    accepted tls from [peer]\n    [time] #1    closed: handshake failed (TLS handshake: \
                 received fatal alert: UnknownCA)\n    [time] #1    {REPEATED}\n    [time] #2    accepted tls from [peer]"
            )
        );
        assert_eq!(redact_text(&two.join("\n"), &[]), folded, "two attempts or three: the same snapshot");
        assert_eq!(redact_text(&folded, &[]), folded);
        let once: Vec<String> = [attempt(1), last(2)].into();
        assert!(!redact_text(&once.join("\n"), &[]).contains(REPEATED), "a single attempt is not a retry");

        // Interleaved connections, or different ones, stay as they are.
        let interleaved = "    0.001s #1    accepted ws from 127.0.0.1:1\n    0.002s #2    accepted ws from 127.0.0.1:2\n\
                           \x20   0.003s #1    accepted ws from 127.0.0.1:1\n    0.004s #2    accepted ws from 127.0.0.1:2";
        assert!(!redact_text(interleaved, &[]).contains(REPEATED));
        let different = format!("{}\n{}", attempt(1), attempt(2).replace("UnknownCA", "CertificateExpired"));
        assert!(!redact_text(&different, &[]).contains(REPEATED));
    }

    #[test]
    fn snapshot_leaves_lookalikes_alone() {
        let ids = RunIds::default();
        let line = "    0.000s #1    PASS A-CID-LEN: expected at most 64 characters; received 5 characters: \"12345\" \
                    word0123456789abcdef0123456789abcdef and 0123456789abcdef0123456789abcdef0 and id=5 sensor.v2:77";
        let redacted = redact_text(line, &[ids]);
        assert_eq!(redacted, line.replacen("    0.000s #1    ", "    [time] #1    ", 1));
    }

    proptest! {
        #[test]
        fn snapshot_two_runs_redact_equal(a in run_strategy(), b in run_strategy()) {
            let (ta, tb) = (redact(&transcript(&a), &[a.ids()]), redact(&transcript(&b), &[b.ids()]));
            prop_assert_eq!(&ta, &tb);
            prop_assert_eq!(redact_text(&ta, &[a.ids()]), ta.clone(), "redaction is idempotent");
            prop_assert!(!ta.contains(&a.product_key) && !ta.contains(&a.client_id) && !ta.contains(&a.hmacs.1));
        }

        #[test]
        fn snapshot_redaction_is_idempotent_on_any_text(
            lines in prop::collection::vec(
                prop_oneof![
                    "[ -~]{0,60}",
                    (0u32..100_000, 1u64..10_000, "[ -~]{0,60}").prop_map(|(ms, conn, body)| format!("{:>9.3}s #{conn:<4} {body}", f64::from(ms) / 1000.0)),
                    Just("    1.000s #3    < PUBLISH /a/b qos=1 id=9 12 bytes host=localhost:1883 timestamp=99".to_string()),
                ],
                0..8,
            )
        ) {
            let ids = RunIds { product_key: "a1B2c3D4e5F", device_name: "dev-sensor01", client_id: "cid-7Hk2", device_secret: "" };
            let once = redact_text(&lines.join("\n"), &[ids]);
            prop_assert_eq!(redact_text(&once, &[ids]), once.clone());
        }
    }

    #[test]
    fn snapshot_line_diff_shows_hunks_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj";
        let new = "a\nb\nC\nd\ne\nf\ng\nh\ni\nj\nk";
        assert_eq!(line_diff(old, new), "@@ -1,5 +1,5 @@\n a\n b\n-c\n+C\n d\n e\n@@ -9,2 +9,3 @@\n i\n j\n+k\n");
        assert_eq!(line_diff(old, old), "");
        assert_eq!(line_diff("", "x"), "@@ -1,0 +1,1 @@\n+x\n");
        assert_eq!(line_diff("x\ny\nz", "y"), "@@ -1,3 +1,1 @@\n-x\n y\n-z\n");
    }

    #[test]
    fn snapshot_check_new_then_matched_then_changed() {
        let dir = tempfile::tempdir().unwrap();
        let run = fixed_run();
        let text = redact(&transcript(&run), &[run.ids()]);
        let folder = dir.path().join("my_client");
        let snap = folder.join("kick-resub__ws.snap");
        let pending = folder.join("kick-resub__ws.snap.new");

        let outcome = check(dir.path(), "my client", "kick-resub", Transport::Ws, &text).unwrap();
        assert_eq!(outcome, SnapshotOutcome::New(pending.clone()));
        assert!(!snap.exists());
        let written = std::fs::read_to_string(&pending).unwrap();
        assert!(
            written.starts_with(
                "---\nsource: conformance\nexpression: \"kick-resub[ws]\"\n---\n    [time] #1    accepted ws"
            ),
            "{written}"
        );

        // What `cargo insta review` does on accept: read the .snap.new with insta, save the .snap.
        let new = insta::Snapshot::from_file(&pending).unwrap();
        assert_eq!(new.metadata().source(), Some("conformance"));
        assert_eq!(new.metadata().expression(), Some("kick-resub[ws]"));
        new.save(&snap).unwrap();
        std::fs::remove_file(&pending).unwrap();

        let again = redact(&transcript(&Run { conn: 7, ports: (1, 2, 3), ..fixed_run() }), &[run.ids()]);
        assert_eq!(
            check(dir.path(), "my client", "kick-resub", Transport::Ws, &again).unwrap(),
            SnapshotOutcome::Matched
        );

        let changed = again.replace("< SUBSCRIBE", "< UNSUBSCRIBE");
        let SnapshotOutcome::Changed { path, diff } =
            check(dir.path(), "my client", "kick-resub", Transport::Ws, &changed).unwrap()
        else {
            panic!("expected a change");
        };
        assert_eq!(path, snap);
        assert!(diff.starts_with(&format!("--- {}\n+++ {}\n@@ ", snap.display(), pending.display())), "{diff}");
        assert!(
            diff.contains("\n-    [time] #1    < SUBSCRIBE id=1 [/[productKey]/[deviceName]/user/get (QoS 1)]\n"),
            "{diff}"
        );
        assert!(
            diff.contains("\n+    [time] #1    < UNSUBSCRIBE id=1 [/[productKey]/[deviceName]/user/get (QoS 1)]\n"),
            "{diff}"
        );
        assert_eq!(diff.lines().filter(|l| l.starts_with('-') || l.starts_with('+')).count(), 4, "{diff}");
        assert!(std::fs::read_to_string(&pending).unwrap().contains("UNSUBSCRIBE"));
        assert!(
            !std::fs::read_to_string(&snap).unwrap().contains("UNSUBSCRIBE"),
            "the stored snapshot is never overwritten"
        );
        assert!(insta::Snapshot::from_file(&pending).is_ok());

        assert_eq!(
            check(dir.path(), "my client", "kick-resub", Transport::Ws, &again).unwrap(),
            SnapshotOutcome::Matched
        );
        assert!(!pending.exists(), "a match removes the stale .snap.new");
    }

    #[test]
    fn snapshot_outcome_applies_to_the_case() {
        let mut result = CaseResult::not_run("x");
        result.verdict = CaseVerdict::Pass;
        result.explanation = "declared securemode=3 over ws".to_string();
        SnapshotOutcome::Matched.apply(&mut result);
        assert!(result.measured.is_empty());
        SnapshotOutcome::New(PathBuf::from("s/c/a__ws.snap.new")).apply(&mut result);
        assert_eq!(result.verdict, CaseVerdict::Pass);
        assert_eq!(result.measured["snapshot"], "new: s/c/a__ws.snap.new (accept it with `cargo insta review`)");
        let changed = SnapshotOutcome::Changed {
            path: PathBuf::from("s/c/a__ws.snap"),
            diff: "@@ -1,1 +1,1 @@\n-a\n+b\n".to_string(),
        };
        changed.apply(&mut result);
        assert_eq!(result.verdict, CaseVerdict::Warn);
        assert_eq!(
            result.explanation,
            "declared securemode=3 over ws; but the transcript differs from the stored snapshot"
        );
        assert_eq!(result.measured["snapshot_diff"], "@@ -1,1 +1,1 @@\n-a\n+b\n");
        result.verdict = CaseVerdict::Fail;
        changed.apply(&mut result);
        assert_eq!(result.verdict, CaseVerdict::Fail, "a failure stays a failure");
    }

    #[test]
    fn snapshot_file_names_are_safe() {
        assert_eq!(file_safe("../evil/client name"), ".._evil_client_name");
        assert_eq!(file_safe(".."), "_..");
        assert_eq!(file_safe("paho-mqtt_1.2"), "paho-mqtt_1.2");
        assert_eq!(body("---\nsource: x\n---\nline\n"), "line\n");
        assert_eq!(body("no header\n"), "no header\n");
        assert!(DEFAULT_DIR.ends_with("conformance/snapshots"));
    }
}
