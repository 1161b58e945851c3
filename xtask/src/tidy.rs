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
    for krate in ["mock-broker", "conformance", "fixtures", "xtask"] {
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
