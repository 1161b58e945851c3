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
//!
//! Compiled with the `interop` feature only, which `cargo xtask test` turns on after installing
//! the clients, so that `cargo test --workspace` passes offline without them.
#![cfg(feature = "interop")]

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
    /// The fault cases on tcp: one line per case, `case verdict`, and the backoff where the
    /// case measures one.
    recovery: &'static str,
}

/// What both clients earn: everything the quick profile checks passes (the platform's
/// securemode, signature for every generated identity and sign method, username, clientId
/// and keepalive; the `mqtt` subprotocol in binary frames; every bad certificate refused).
/// The timer cases run in real time and are left out by the quick profile; the fault-case
/// runs below cover them on tcp, `ping` excepted.
const PASSES_ALL_IT_RUNS: &str = "
securemode        pass     pass     pass     pass
sign              pass     pass     pass     pass
username          pass     pass     pass     pass
client-id         pass     pass     pass     pass
keepalive         pass     pass     pass     pass
ping              not-run  not-run  not-run  not-run
pong-loss         not-run  not-run  not-run  not-run
dead-link         not-run  not-run  not-run  not-run
reconnect         not-run  not-run  not-run  not-run
kick-war          not-run  not-run  not-run  not-run
refused           not-run  not-run  not-run  not-run
websocket         pass     pass     -        -
tls-untrusted-ca  -        pass     -        pass
tls-expired       -        pass     -        pass
tls-wrong-host    -        pass     -        pass
qos               pass     pass     pass     pass
topics            pass     pass     pass     pass
resubscribe       not-run  not-run  not-run  not-run
pub-retry         not-run  not-run  not-run  not-run
";

const PAHO: ThirdParty = ThirdParty {
    example: "examples/python-client.py",
    module_path: ("PYTHONPATH", "MOCK_BROKER_INTEROP_PYTHONPATH"),
    verdicts: PASSES_ALL_IT_RUNS,
    // paho backs off on refused logins (1, 2, 4, 8 s) but starts again from 1 s after every
    // connection that succeeded, so connections the server ends after 1 s come back every
    // second, and so does a twin's kick loop: constant, a warning. It drops a dead link at
    // 2 x keepalive.
    recovery: "
pong-loss pass
dead-link pass
reconnect warn constant
kick-war warn
refused pass exponential
qos pass
topics pass
resubscribe pass
pub-retry pass
",
};

const MQTT_JS: ThirdParty = ThirdParty {
    example: "examples/node-client.js",
    module_path: ("NODE_PATH", "MOCK_BROKER_INTEROP_NODE_PATH"),
    verdicts: PASSES_ALL_IT_RUNS,
    // `reconnectPeriod: 1000` is a constant backoff: a warning, and so is the steady kick loop
    // of two instances. On a refused CONNACK MQTT.js gives up and the example exits, which
    // C-REFUSED accepts. It resends an unacknowledged QoS 1 PUBLISH under its packet id but
    // with DUP=0 ([MQTT-3.3.1-1]): a warning.
    recovery: "
pong-loss pass
dead-link pass
reconnect warn constant
kick-war warn
refused pass unknown
qos pass
topics pass
resubscribe pass
pub-retry warn
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
        panic!(
            "{from} is not set: run the tests with `cargo xtask test`, which installs paho-mqtt and MQTT.js; \
             or run `cargo xtask interop-deps`, export the variables it prints, and add \
             `--features mock-broker/interop,conformance/interop` to cargo test"
        )
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

/// The fault cases (selected by their client rules) on tcp: each verdict, and the backoff
/// where a case measures one. The rows come in catalogue order; not-run rows are left out.
fn check_recovery(client: ThirdParty) {
    let out = tempfile::tempdir().expect("a temporary directory");
    let rules = "C-PONG-LOSS,C-RECONNECT,C-REFUSED,C-QOS,C-TOPICS,C-RESUB,C-PUB-RETRY";
    let args = ["--profile", "full", "--only", rules, "--transport", "tcp", "--no-snapshots"];
    let (report, output, shown) = run_suite(&client, &args, out.path());
    let mut table = String::from("\n");
    for case in report["cases"].as_array().expect("cases").iter().filter(|c| c["verdict"] != "not-run") {
        let backoff = case["measured"]["backoff"].as_str().map_or(String::new(), |b| format!(" {b}"));
        let (id, verdict) = (case["case"].as_str().unwrap(), case["verdict"].as_str().unwrap());
        table.push_str(&format!("{id} {verdict}{backoff}\n"));
    }
    assert_eq!(table, client.recovery, "the fault-case verdicts of {}:\n{shown}", client.example);
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
fn paho_mqtt_under_faults_reconnects_at_a_constant_pace_and_backs_off_when_refused() {
    check_recovery(PAHO);
}

#[test]
fn mqtt_js_under_faults_reconnects_at_a_constant_pace_stops_when_refused_and_resends_without_dup() {
    check_recovery(MQTT_JS);
}
