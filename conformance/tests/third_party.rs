//! Third-party clients as fixtures: the README's example clients, `examples/python-client.py`
//! (paho-mqtt) and `examples/node-client.js` (MQTT.js), run through the `conformance` binary
//! as a user runs it, with the quick profile over ws, wss, tcp and tls.
//!
//! Their verdicts are pinned, case by transport, in a table per client; their transcripts are
//! pinned by the suite's own snapshots in `conformance/snapshots/<client>/` (a changed one is
//! a warning, which `--fail-on warn` turns into exit code 1, and is written beside the stored
//! one as `.snap.new` for review).
//!
//! paho-mqtt and MQTT.js are installed by `cargo xtask test`, which says where through
//! `MOCK_BROKER_INTEROP_PYTHONPATH` and `MOCK_BROKER_INTEROP_NODE_PATH`; the suite's child
//! inherits the environment, so the test hands them on as `PYTHONPATH` and `NODE_PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The kit's snapshots folder.
const SNAPSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots");

/// A third-party client and what the suite must say about it.
struct ThirdParty {
    /// The example, relative to the workspace root; its file name names it in reports.
    example: &'static str,
    /// The interpreter's module path variable, and the variable of `cargo xtask test` to
    /// set it from.
    module_path: (&'static str, &'static str),
    /// Verdicts: one line per case, one column per transport (ws, wss, tcp, tls); `-` where
    /// the case has no row on that transport.
    verdicts: &'static str,
}

/// What both clients earn: everything the quick profile checks passes (the platform's
/// securemode, signature for every generated identity and sign method, username, clientId
/// and keepalive; the `mqtt` subprotocol in binary frames; every bad certificate refused).
/// `ping` runs in real time and is left out by the quick profile.
const PASSES_ALL_IT_RUNS: &str = "
securemode        pass     pass     pass     pass
sign              pass     pass     pass     pass
username          pass     pass     pass     pass
client-id         pass     pass     pass     pass
keepalive         pass     pass     pass     pass
ping              not-run  not-run  not-run  not-run
websocket         pass     pass     -        -
tls-untrusted-ca  -        pass     -        pass
tls-expired       -        pass     -        pass
tls-wrong-host    -        pass     -        pass
";

const PAHO: ThirdParty = ThirdParty {
    example: "examples/python-client.py",
    module_path: ("PYTHONPATH", "MOCK_BROKER_INTEROP_PYTHONPATH"),
    verdicts: PASSES_ALL_IT_RUNS,
};

const MQTT_JS: ThirdParty = ThirdParty {
    example: "examples/node-client.js",
    module_path: ("NODE_PATH", "MOCK_BROKER_INTEROP_NODE_PATH"),
    verdicts: PASSES_ALL_IT_RUNS,
};

const TRANSPORTS: [&str; 4] = ["ws", "wss", "tcp", "tls"];

/// The verdict table of a `report.json`, laid out as [`ThirdParty::verdicts`].
fn verdict_table(report: &serde_json::Value) -> String {
    let cases = report["cases"].as_array().expect("report.json lists cases");
    let mut ids: Vec<&str> = Vec::new();
    for case in cases {
        let id = case["case"].as_str().expect("a case ID");
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let mut table = String::from("\n");
    for id in ids {
        let cells: Vec<String> = TRANSPORTS
            .iter()
            .map(|t| {
                let row = cases.iter().find(|c| c["case"] == id && c["transport"] == *t);
                let verdict = row.map_or("-", |c| c["verdict"].as_str().expect("a verdict"));
                format!("{verdict:<8}")
            })
            .collect();
        table.push_str(format!("{id:<17} {}", cells.join(" ")).trim_end());
        table.push('\n');
    }
    table
}

fn check(client: ThirdParty) {
    let (variable, from) = client.module_path;
    let module_path = std::env::var_os(from).unwrap_or_else(|| {
        panic!("{from} is not set: run the tests with `cargo xtask test`, which installs paho-mqtt and MQTT.js")
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    let out = tempfile::tempdir().expect("a temporary directory");
    let mut command = Command::new(env!("CARGO_BIN_EXE_conformance"));
    command.arg(root.join(client.example)).args(["--profile", "quick", "--jobs", "4", "--fail-on", "warn"]);
    for transport in TRANSPORTS {
        command.args(["--transport", transport]);
    }
    command.arg("--snapshots").arg(SNAPSHOTS).arg("--out").arg(out.path()).env(variable, module_path);
    // Regression seeds (written only if `sign` failed) stay out of the source tree.
    command.arg("--regressions").arg(out.path().join("regressions"));
    let output = command.output().expect("the conformance binary runs");
    let shown = format!(
        "{command:?}: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = std::fs::read_to_string(out.path().join("report.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| panic!("no report.json: {shown}"));
    assert_eq!(verdict_table(&report), client.verdicts, "the verdicts of {}:\n{shown}", client.example);
    let name = PathBuf::from(client.example).file_name().expect("a file name").to_string_lossy().into_owned();
    for case in report["cases"].as_array().expect("cases") {
        let row = format!("{}[{}]", case["case"], case["transport"]);
        assert!(case["measured"].get("snapshot").is_none(), "{row}: {}\n{shown}", case["measured"]["snapshot"]);
    }
    assert!(Path::new(SNAPSHOTS).join(&name).is_dir(), "{shown}");
    assert_eq!(output.status.code(), Some(0), "{shown}");
}

#[test]
fn paho_mqtt_passes_what_it_supports_with_pinned_verdicts_and_transcripts() {
    check(PAHO);
}

#[test]
fn mqtt_js_passes_what_it_supports_with_pinned_verdicts_and_transcripts() {
    check(MQTT_JS);
}
