//! The `conformance` binary as a user runs it: the catalogue, exit codes, report files, usage
//! errors, transcript snapshots, and no secret in what it prints. Clients are the scripts of
//! `tests/clients/`. Runs other than the snapshot test pass `--no-snapshots`, so that no test
//! writes snapshots into the source tree.

use std::path::PathBuf;
use std::process::{Command, Output};

fn client(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(name).display().to_string()
}

fn conformance(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_conformance"))
        .arg("--no-snapshots")
        .args(args)
        .output()
        .expect("the conformance binary runs")
}

/// The exit code, with both outputs for a failure message.
fn code(output: &Output) -> (Option<i32>, String) {
    let shown = format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), shown)
}

#[test]
fn list_prints_every_case_and_exits_0() {
    let output = conformance(&["--list"]);
    let (status, shown) = code(&output);
    assert_eq!(status, Some(0), "{shown}");
    for id in [
        "securemode",
        "sign",
        "username",
        "client-id",
        "keepalive",
        "ping",
        "websocket",
        "tls-untrusted-ca",
        "tls-expired",
        "tls-wrong-host",
    ] {
        assert!(shown.contains(id), "{id}: {shown}");
    }
}

#[test]
fn a_passing_run_writes_both_reports_and_exits_0_and_a_failing_one_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let python = client("mqtt_client.py");
    let common = ["--transport", "tcp", "--profile", "quick", "--only", "securemode,keepalive"];
    let mut args = vec![python.as_str()];
    args.extend(common);
    args.extend(["--out", out.to_str().unwrap()]);
    let (status, shown) = code(&conformance(&args));
    assert_eq!(status, Some(0), "{shown}");
    assert!(shown.contains("rule coverage") || shown.contains("Rule coverage"), "{shown}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["client"], "mqtt_client.py");
    let securemode = report["cases"].as_array().unwrap().iter().find(|c| c["case"] == "securemode").unwrap();
    assert_eq!(
        (securemode["verdict"].as_str(), securemode["transport"].as_str()),
        (Some("pass"), Some("tcp")),
        "{securemode}"
    );
    assert_eq!(securemode["platform_rules"], serde_json::json!(["A-SECUREMODE"]));
    assert!(securemode["duration_ms"].is_u64() && securemode["measured"]["keepalive_declared"] == 300, "{securemode}");
    assert!(!report["coverage"].as_array().unwrap().is_empty());
    assert!(std::fs::read_to_string(out.join("junit.xml")).unwrap().contains("securemode[tcp]"));

    let mut args = vec![python.as_str()];
    args.extend(common);
    args.extend(["--", "--securemode", "9"]);
    let (status, shown) = code(&conformance(&args));
    assert_eq!(status, Some(1), "{shown}");
    assert!(shown.contains("A-SECUREMODE (assumed): expected securemode=3 over tcp; received securemode=9"), "{shown}");
}

#[test]
fn a_client_that_gives_up_is_explained_without_its_secret() {
    let script = client("exits_at_once.sh");
    let (status, shown) =
        code(&conformance(&[&script, "--transport", "ws", "--only", "securemode", "--profile", "quick"]));
    assert_eq!(status, Some(1), "{shown}");
    assert!(shown.contains("the client exited (exit code 3) before sending a CONNECT"), "{shown}");
    assert!(shown.contains("starting with secret ***") && shown.contains("(secret ***)"), "{shown}");
    let after_secret = shown.split("secret ").skip(1).all(|rest| rest.starts_with("***"));
    assert!(after_secret, "a secret is shown: {shown}");
}

#[test]
fn snapshots_are_written_new_then_matched_then_shown_as_a_diff_when_changed() {
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().join("snaps");
    let python = client("mqtt_client.py");
    let run = |snapshots: &[&str], extra: &[&str]| {
        let mut args = vec![python.as_str(), "--transport", "tcp", "--only", "securemode,keepalive"];
        args.extend(snapshots);
        args.extend(extra);
        let output = Command::new(env!("CARGO_BIN_EXE_conformance")).args(&args).output().unwrap();
        code(&output)
    };
    let into = ["--snapshots", snapshots.to_str().unwrap()];
    let folder = snapshots.join("mqtt_client.py");
    let (snap, pending) = (folder.join("securemode__tcp.snap"), folder.join("securemode__tcp.snap.new"));

    let (status, shown) = run(&into, &[]);
    assert_eq!(status, Some(0), "{shown}");
    assert!(shown.contains("Transcript snapshots: 2 new, 0 changed"), "{shown}");
    let written = std::fs::read_to_string(&pending).unwrap();
    assert!(written.starts_with("---\nsource: conformance\nexpression: \"securemode[tcp]\"\n---\n"), "{written}");
    assert!(written.contains("accepted tcp from [peer]"), "{written}");
    assert!(written.contains("username=\"[deviceName]&[productKey]\""), "{written}");
    assert!(!written.contains("127.0.0.1:") && !written.contains("s #"), "ports and times redacted: {written}");

    // Accepting is renaming (what `cargo insta review` does); then the same run matches.
    std::fs::rename(&pending, &snap).unwrap();
    std::fs::rename(folder.join("keepalive__tcp.snap.new"), folder.join("keepalive__tcp.snap")).unwrap();
    let (status, shown) = run(&into, &["--fail-on", "warn"]);
    assert_eq!(status, Some(0), "{shown}");
    assert!(!shown.contains("Transcript snapshots"), "{shown}");
    assert!(!pending.exists());

    // A changed behaviour: the stored snapshot says keepalive 300, the client declares 60.
    let (status, shown) = run(&into, &["--fail-on", "warn", "--", "--keepalive", "60"]);
    assert_eq!(status, Some(1), "a change is a warning: {shown}");
    assert!(shown.contains("WARN securemode [tcp]"), "{shown}");
    assert!(shown.contains("but the transcript differs from the stored snapshot"), "{shown}");
    assert!(shown.contains("Transcript snapshots: 0 new, 2 changed"), "{shown}");
    let removed = shown.lines().any(|l| l.trim_start().starts_with("| -") && l.contains("keepalive=300 s"));
    let added = shown.lines().any(|l| l.trim_start().starts_with("| +") && l.contains("keepalive=60 s"));
    assert!(removed && added, "the diff shows the change: {shown}");
    assert!(std::fs::read_to_string(&snap).unwrap().contains("keepalive=300 s"), "the stored one stays");
    assert!(std::fs::read_to_string(&pending).unwrap().contains("keepalive=60 s"));

    // --no-snapshots compares and writes nothing.
    std::fs::remove_dir_all(&snapshots).unwrap();
    let (status, shown) = run(&["--no-snapshots"], &[]);
    assert_eq!(status, Some(0), "{shown}");
    assert!(!snapshots.exists(), "{shown}");

    // By default they go under the current directory, like --out.
    let output = Command::new(env!("CARGO_BIN_EXE_conformance"))
        .args([python.as_str(), "--transport", "tcp", "--only", "securemode"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let (status, shown) = code(&output);
    assert_eq!(status, Some(0), "{shown}");
    assert!(dir.path().join("conformance/snapshots/mqtt_client.py/securemode__tcp.snap.new").is_file(), "{shown}");
}

#[test]
fn usage_errors_exit_2_and_say_why() {
    let python = client("mqtt_client.py");
    for (args, says) in [
        (vec![python.as_str(), "--only", "pong"], "\"pong\" in --only names no case"),
        (vec![python.as_str(), "--", "--url", "{URL}"], "unknown placeholder {URL}"),
        (vec!["no-such-fixture"], "not a file"),
        (vec![python.as_str(), "--client-profile", "/nonexistent/profile.toml"], "/nonexistent/profile.toml"),
    ] {
        let (status, shown) = code(&conformance(&args));
        assert_eq!(status, Some(2), "{args:?}: {shown}");
        assert!(shown.contains(says), "{args:?}: {shown}");
    }
}

/// Whether process `pid` still runs (a zombie waiting for its reaper does not).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or_default().trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

#[test]
fn an_interrupted_run_stops_its_clients() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("client.pid");
    let script = format!("echo $$ > {}; exec sleep 30", pid_file.display());
    let mut suite = Command::new(env!("CARGO_BIN_EXE_conformance"))
        .args(["/bin/sh", "--no-snapshots", "--transport", "tcp", "--only", "securemode", "--connect-timeout", "30"])
        .args(["--", "-c", &script])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file).ok().and_then(|p| p.trim().parse::<i32>().ok()) {
            break pid;
        }
        assert!(started.elapsed().as_secs() < 10, "the client never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(running(pid));
    // SAFETY: kill(2) on the suite process this test started.
    unsafe { libc::kill(suite.id() as i32, libc::SIGINT) };
    let status = suite.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let stopped = std::time::Instant::now();
    while running(pid) && stopped.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!running(pid), "client {pid} outlived the interrupted run");
}
