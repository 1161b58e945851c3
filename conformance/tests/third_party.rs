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
    /// The real-time recovery cases on tcp: one line per case, `case verdict backoff`.
    recovery: &'static str,
}

/// What both clients earn: everything the quick profile checks passes (the platform's
/// securemode, signature for every generated identity and sign method, username, clientId
/// and keepalive; the `mqtt` subprotocol in binary frames; every bad certificate refused).
/// `ping`, `reconnect` and `refused` run in real time and are left out by the quick profile;
/// the recovery runs below cover the last two.
const PASSES_ALL_IT_RUNS: &str = "
securemode        pass     pass     pass     pass
sign              pass     pass     pass     pass
username          pass     pass     pass     pass
client-id         pass     pass     pass     pass
keepalive         pass     pass     pass     pass
ping              not-run  not-run  not-run  not-run
reconnect         not-run  not-run  not-run  not-run
refused           not-run  not-run  not-run  not-run
websocket         pass     pass     -        -
tls-untrusted-ca  -        pass     -        pass
tls-expired       -        pass     -        pass
tls-wrong-host    -        pass     -        pass
";

const PAHO: ThirdParty = ThirdParty {
    example: "examples/python-client.py",
    module_path: ("PYTHONPATH", "MOCK_BROKER_INTEROP_PYTHONPATH"),
    verdicts: PASSES_ALL_IT_RUNS,
    // paho backs off on refused logins (1, 2, 4, 8 s) but starts again from 1 s after every
    // connection that succeeded, so connections the server ends after 1 s come back every
    // second: constant, a warning.
    recovery: "
reconnect warn constant
refused pass exponential
",
};

const MQTT_JS: ThirdParty = ThirdParty {
    example: "examples/node-client.js",
    module_path: ("NODE_PATH", "MOCK_BROKER_INTEROP_NODE_PATH"),
    verdicts: PASSES_ALL_IT_RUNS,
    // `reconnectPeriod: 1000` is a constant backoff: a warning. On a refused CONNACK MQTT.js
    // gives up and the example exits, which C-REFUSED accepts.
    recovery: "
reconnect warn constant
refused pass unknown
",
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

/// Runs the `conformance` binary on `client` with `args`, an output folder of its own, and the
/// client's module path; returns its report and the run in words for failure messages.
fn run_suite(client: &ThirdParty, args: &[&str], out: &Path) -> (serde_json::Value, std::process::Output, String) {
    let (variable, from) = client.module_path;
    let module_path = std::env::var_os(from).unwrap_or_else(|| {
        panic!("{from} is not set: run the tests with `cargo xtask test`, which installs paho-mqtt and MQTT.js")
    });
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    let mut command = Command::new(env!("CARGO_BIN_EXE_conformance"));
    command.arg(root.join(client.example)).args(args);
    command.arg("--out").arg(out).env(variable, module_path);
    // Regression seeds (written only if `sign` failed) stay out of the source tree.
    command.arg("--regressions").arg(out.join("regressions"));
    let output = command.output().expect("the conformance binary runs");
    let shown = format!(
        "{command:?}: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = std::fs::read_to_string(out.join("report.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_else(|| panic!("no report.json: {shown}"));
    (report, output, shown)
}

fn check(client: ThirdParty) {
    let out = tempfile::tempdir().expect("a temporary directory");
    let mut args = vec!["--profile", "quick", "--jobs", "4", "--fail-on", "warn"];
    for transport in TRANSPORTS {
        args.extend(["--transport", transport]);
    }
    args.extend(["--snapshots", SNAPSHOTS]);
    let (report, output, shown) = run_suite(&client, &args, out.path());
    assert_eq!(verdict_table(&report), client.verdicts, "the verdicts of {}:\n{shown}", client.example);
    let name = PathBuf::from(client.example).file_name().expect("a file name").to_string_lossy().into_owned();
    for case in report["cases"].as_array().expect("cases") {
        let row = format!("{}[{}]", case["case"], case["transport"]);
        assert!(case["measured"].get("snapshot").is_none(), "{row}: {}\n{shown}", case["measured"]["snapshot"]);
    }
    assert!(Path::new(SNAPSHOTS).join(&name).is_dir(), "{shown}");
    assert_eq!(output.status.code(), Some(0), "{shown}");
}

/// The real-time recovery cases on tcp: the verdict and the backoff each case measured.
fn check_recovery(client: ThirdParty) {
    let out = tempfile::tempdir().expect("a temporary directory");
    let args =
        ["--profile", "full", "--only", "reconnect", "--only", "refused", "--transport", "tcp", "--no-snapshots"];
    let (report, output, shown) = run_suite(&client, &args, out.path());
    let mut table = String::from("\n");
    for case in report["cases"].as_array().expect("cases").iter().filter(|c| c["verdict"] != "not-run") {
        let backoff = case["measured"]["backoff"].as_str().unwrap_or("(none measured)");
        table.push_str(&format!(
            "{} {} {backoff}\n",
            case["case"].as_str().unwrap(),
            case["verdict"].as_str().unwrap()
        ));
    }
    assert_eq!(table, client.recovery, "the recovery verdicts of {}:\n{shown}", client.example);
    assert_eq!(output.status.code(), Some(0), "warnings do not fail the default --fail-on: {shown}");
}

#[test]
fn paho_mqtt_passes_what_it_supports_with_pinned_verdicts_and_transcripts() {
    check(PAHO);
}

#[test]
fn mqtt_js_passes_what_it_supports_with_pinned_verdicts_and_transcripts() {
    check(MQTT_JS);
}

#[test]
fn paho_mqtt_reconnects_at_a_constant_pace_and_backs_off_when_refused() {
    check_recovery(PAHO);
}

#[test]
fn mqtt_js_reconnects_at_a_constant_pace_and_stops_when_refused() {
    check_recovery(MQTT_JS);
}
