//! Project policy as ordinary tests: every Rust module documents itself, the README shows the
//! example clients exactly as they are in `examples/`, and no machine-specific path is
//! committed.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    crate::workspace_root()
}

/// The Rust sources of the workspace's crates.
fn rust_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for krate in ["mock-broker", "conformance", "fixtures", "loadgen", "xtask"] {
        collect(&root().join(krate).join("src"), &mut files);
    }
    files
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn every_module_starts_with_its_docs() {
    let undocumented: Vec<_> = rust_sources()
        .into_iter()
        .filter(|p| !std::fs::read_to_string(p).unwrap().trim_start().starts_with("//!"))
        .collect();
    assert!(undocumented.is_empty(), "modules without //! docs: {undocumented:#?}");
}

#[test]
fn the_readme_shows_the_example_clients_verbatim() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for (file, fence) in [("examples/python-client.py", "```python\n"), ("examples/node-client.js", "```js\n")] {
        let code = std::fs::read_to_string(root().join(file)).unwrap();
        assert!(readme.contains(&format!("{fence}{code}```")), "README.md does not show {file} as it is");
    }
}

#[test]
fn the_readme_shows_the_device_examples_failing_report_as_its_snapshot_pins_it() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let snapshot = "examples/snapshots/device_test__a_device_that_forgets_to_subscribe_fails_with_a_report.snap";
    let pinned = std::fs::read_to_string(root().join(snapshot)).unwrap();
    let report = pinned.splitn(3, "---\n").nth(2).unwrap_or_else(|| panic!("{snapshot} has no insta header"));
    assert!(readme.contains(&format!("```text\n{report}```")), "README.md does not show {snapshot} as it is");
}

#[test]
fn no_machine_specific_paths_are_committed() {
    let mut files = rust_sources();
    files.extend(["README.md", "ARCHITECTURE.md", ".ci/run"].map(|f| root().join(f)));
    // Spelt in pieces so that this file does not match itself.
    let machine_paths = ["work", "root", "home"].map(|dir| format!("/{dir}/"));
    let offending: Vec<_> = files
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            machine_paths.iter().any(|m| text.contains(m))
        })
        .collect();
    assert!(offending.is_empty(), "machine-specific paths in {offending:#?}");
}

/// The files git tracks, relative to the root.
fn tracked_files() -> Vec<PathBuf> {
    let out = std::process::Command::new("git")
        .current_dir(root())
        .args(["ls-files", "-z"])
        .output()
        .expect("git ls-files runs");
    assert!(out.status.success(), "git ls-files: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .collect()
}

/// How many `../` a relative path may climb from `dir` (relative to the root) and stay inside.
fn depth(dir: &Path) -> usize {
    dir.components().filter(|c| matches!(c, std::path::Component::Normal(_))).count()
}

/// The relative paths in `text` that climb out of the workspace when read from `dir`: runs of
/// `../` longer than `dir` is deep.
fn escaping_paths(text: &str, dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("../") {
        let run = &rest[at..];
        let climbs = run.as_bytes().chunks(3).take_while(|c| *c == b"../").count();
        let end = run.find(|c: char| c.is_whitespace() || "\"'`)]>,;".contains(c)).unwrap_or(run.len());
        if climbs > depth(dir) {
            found.push(run[..end].to_string());
        }
        rest = &run[3 * climbs.max(1)..];
    }
    found
}

/// The crate directory a file belongs to: the nearest folder above it with a `Cargo.toml`.
fn crate_dir(file: &Path) -> PathBuf {
    let mut dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
    while !dir.as_os_str().is_empty() && !root().join(&dir).join("Cargo.toml").is_file() {
        dir = dir.parent().unwrap_or(Path::new("")).to_path_buf();
    }
    dir
}

#[test]
fn nothing_in_the_repository_reaches_outside_it() {
    // A path is read against the file's own folder and against its crate's (where
    // `env!("CARGO_MANIFEST_DIR")` points); it must stay inside the workspace either way.
    // The team's reference folder beside the clone is named in pieces so that this file does
    // not match itself.
    let outside_folder = format!("{}/{}", "shared", "spec");
    let mut offending = Vec::new();
    for file in tracked_files() {
        if file.extension().is_some_and(|e| e == "lock") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root().join(&file)) else { continue };
        let here = file.parent().unwrap_or(Path::new(""));
        for dir in [here.to_path_buf(), crate_dir(&file)] {
            for path in escaping_paths(&text, &dir) {
                offending.push(format!("{}: {path}", file.display()));
            }
        }
        if text.contains(&outside_folder) {
            offending.push(format!("{}: names {outside_folder}", file.display()));
        }
    }
    offending.dedup();
    assert!(offending.is_empty(), "paths that leave the workspace: {offending:#?}");
}

#[test]
fn escaping_paths_are_told_by_depth() {
    // Built at run time so that this file does not match itself.
    let up = |n: usize| "../".repeat(n);
    let text = format!("see {}x and {}y.", up(1), up(2));
    assert_eq!(escaping_paths(&text, Path::new("a")), [format!("{}y.", up(2))]);
    let manifest_relative = format!(r#"concat!(d, "/{}conformance/snapshots")"#, up(1));
    assert_eq!(escaping_paths(&manifest_relative, Path::new("fixtures")), Vec::<String>::new());
    assert_eq!(escaping_paths(&format!("`{}elsewhere`", up(1)), Path::new("")), [format!("{}elsewhere", up(1))]);
}
