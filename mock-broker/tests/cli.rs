//! The `mock-broker` binary as a user runs it: a child process, its ready file, banner,
//! `--print-env`, events on stdout, errors, and a clean exit on SIGTERM.

use mock_broker::Registry;
use mock_broker::auth::{SignMethod, sign, sign_content};
use mock_broker::connector::{self, DialOptions};
use mock_broker::mqtt::{ConnackCode, Packet};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::wait_ready;

/// Starts `command` with `--ready-file READY` and its output piped, and waits until it is ready:
/// the child and the ready file's content.
fn started(ready: &Path, command: &mut Command) -> (Child, serde_json::Value) {
    let mut child =
        command.arg("--ready-file").arg(ready).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let info = wait_ready(&mut child, ready);
    (child, info)
}

fn mock_broker() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mock-broker"))
}

/// SIGTERM, then the exit status and everything printed.
fn terminate(mut child: Child) -> (std::process::ExitStatus, String, String) {
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let output = child_output(&mut child);
    (child.wait().unwrap(), output.0, output.1)
}

fn child_output(child: &mut Child) -> (String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (out, err)
}

#[tokio::test]
async fn serves_the_demo_device_on_defaults_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let (child, info) = started(&ready, mock_broker().arg("--ca-out").arg(dir.path().join("ca.pem")));
    for (key, prefix) in [
        ("ws", "ws://127.0.0.1:"),
        ("wss", "wss://localhost:"),
        ("tcp", "tcp://127.0.0.1:"),
        ("tls", "tls://localhost:"),
    ] {
        assert!(info[key].as_str().unwrap().starts_with(prefix), "{key}: {info}");
    }
    assert_eq!(info["pid"], child.id());
    assert!(info["control"].is_null(), "no control endpoint without --control: {info}");
    assert!(info["mux"].is_null(), "no mux without --mux: {info}");
    let ca_pem = std::fs::read_to_string(info["ca_file"].as_str().unwrap()).unwrap();

    let demo = Registry::demo();
    let device = demo.devices().find(|d| d.enabled).unwrap().clone();
    for (key, securemode) in [("ws", "3"), ("wss", "2"), ("tcp", "3"), ("tls", "2")] {
        let options = DialOptions { ca_pem: Some(ca_pem.clone()), ..DialOptions::default() };
        let mut io = connector::dial(info[key].as_str().unwrap(), &options).await.unwrap();
        let content = sign_content(Some("cli-test"), &device.device_name, &device.product_key, None);
        let mut connect =
            mqttbytes::v4::Connect::new(format!("cli-test|securemode={securemode},signmethod=hmacsha256|"));
        connect.keep_alive = 60;
        connect.set_login(
            format!("{}&{}", device.device_name, device.product_key),
            sign(SignMethod::HmacSha256, device.secret.expose(), &content),
        );
        let mut buf = bytes::BytesMut::new();
        connect.write(&mut buf).unwrap();
        io.write_bytes(&buf).await.unwrap();
        match io.read().await.unwrap() {
            Some(Packet::Connack(ack)) => assert_eq!(ack.code, ConnackCode::Accepted, "{key}"),
            other => panic!("{key}: expected CONNACK, got {other:?}"),
        }
        io.write(&Packet::Disconnect).await.unwrap();
    }

    let (status, stdout, stderr) = terminate(child);
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains(info["ws"].as_str().unwrap()), "the banner names the ws URL: {stderr}");
    assert!(stderr.contains("paho"), "the banner has a paho example: {stderr}");
    let example = sign_content(Some("example-1"), &device.device_name, &device.product_key, Some("1700000000000"));
    let password = sign(SignMethod::HmacSha1, device.secret.expose(), &example);
    assert!(stderr.contains(&password), "the demo device's example password is printed in full: {stderr}");
    assert!(stdout.contains("PASS A-SIGN-CONTENT"), "events on stdout: {stdout}");
    assert!(stdout.contains("online as a1DemoPrdct/demo-device"), "{stdout}");
    assert!(!stdout.contains(device.secret.expose()), "the secret never appears in events");
}

#[tokio::test]
async fn json_lines_go_to_stdout_and_to_the_events_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ready, events) = (dir.path().join("ready.json"), dir.path().join("events.jsonl"));
    let (child, info) =
        started(&ready, mock_broker().args(["--json", "--transport", "tcp"]).arg("--events").arg(&events));
    assert_eq!(info["ws"], serde_json::Value::Null, "only tcp is served: {info}");
    let mut io = connector::dial(info["tcp"].as_str().unwrap(), &DialOptions::default()).await.unwrap();
    io.write_bytes(&[0x10, 0x02, 0x00, 0x00]).await.unwrap(); // a truncated CONNECT: a violation
    assert_eq!(io.read().await.ok().flatten(), None);
    let (status, stdout, _) = terminate(child);
    assert!(status.success());
    let file = std::fs::read_to_string(&events).unwrap();
    for text in [&stdout, &file] {
        let kinds: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("every line is JSON")["event"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(kinds, ["accepted", "handshake", "closed"], "{text}");
    }
}

#[tokio::test]
async fn a_bare_mux_flag_serves_the_mux_on_a_free_port_named_in_the_ready_file() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let (child, info) = started(
        &ready,
        mock_broker().args(["--transport", "tcp", "--mux"]).arg("--ca-out").arg(dir.path().join("ca.pem")),
    );
    let mux = &info["mux"];
    let addr = mux["addr"].as_str().unwrap_or_else(|| panic!("a mux address: {info}"));
    let port = addr.strip_prefix("127.0.0.1:").unwrap_or_else(|| panic!("{addr}"));
    assert_ne!(port, "0", "the port bound, not the one asked for");
    let urls = [
        ("ws", format!("ws://127.0.0.1:{port}/mqtt")),
        ("wss", format!("wss://localhost:{port}/mqtt")),
        ("tcp", format!("tcp://127.0.0.1:{port}")),
        ("tls", format!("tls://localhost:{port}")),
    ];
    let ca_pem = std::fs::read_to_string(info["ca_file"].as_str().unwrap()).unwrap();
    for (key, url) in &urls {
        assert_eq!(mux[key].as_str(), Some(url.as_str()), "{key}: {info}");
        let options = DialOptions { ca_pem: Some(ca_pem.clone()), ..DialOptions::default() };
        let mut io = connector::dial(url, &options).await.unwrap_or_else(|e| panic!("{url}: {e}"));
        io.write_bytes(&[0x10, 0x02, 0x00, 0x00]).await.unwrap(); // a truncated CONNECT: sniffed, then refused
        assert_eq!(io.read().await.ok().flatten(), None, "{url}");
    }
    let (status, stdout, stderr) = terminate(child);
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains(&format!("mux  {addr}")), "the banner names the mux: {stderr}");
    for (key, _) in urls {
        assert!(stdout.contains(&format!("sniffed {key} (T-MUX)")), "{key}: {stdout}");
    }
}

#[test]
fn print_env_gives_the_client_contract() {
    let mut child = mock_broker()
        .args(["--print-env", "wss", "--transport", "wss"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_lines = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !first_lines.contains("IOT_CA_FILE") && Instant::now() < deadline {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "stdout closed early: {first_lines}");
        first_lines.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    child.stdout = Some(stdout);
    let _ = terminate(child);
    for name in [
        "IOT_URL='wss://localhost:",
        "IOT_PRODUCT_KEY='a1DemoPrdct'",
        "IOT_DEVICE_NAME='demo-device'",
        "IOT_DEVICE_SECRET=",
        "IOT_CLIENT_ID=",
        "IOT_SIGN_METHOD='hmacsha256'",
        "IOT_KEEPALIVE='300'",
        "IOT_PUBLISH_TOPIC='/a1DemoPrdct/demo-device/user/update'",
        "IOT_SUBSCRIBE_TOPIC='/a1DemoPrdct/demo-device/user/get'",
        "IOT_CA_FILE=",
    ] {
        assert!(first_lines.contains(&format!("export {name}")), "{name}: {first_lines}");
    }
}

#[test]
fn an_invalid_device_is_refused_with_the_rule() {
    let output = mock_broker().args(["--device", "pk/ab/secret"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ID-DN"), "{stderr}");
}

#[test]
fn a_refusal_code_that_accepts_is_refused() {
    let output = mock_broker().args(["--securemode-refusal", "0"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--securemode-refusal 0"));
}

#[test]
fn a_scenario_plays_its_steps_and_a_bad_one_is_refused_naming_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[step]]\nat_ms = 0\nclear = \"all\"\n[[step]]\nat_ms = 1\nkick = \"nobody\"\n").unwrap();
    let output = mock_broker().arg("--scenario").arg(&bad).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("step 2: device \"nobody\": expected productKey/deviceName"), "{stderr}");

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[[step]]\nat_ms = 0\narm = { fault = \"kick\", name = \"cli\" }\n").unwrap();
    let mut child =
        mock_broker().arg("--scenario").arg(&good).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("scenario step 1 at 0 ms: armed fault 1 (cli)") {
        let mut line = String::new();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0, "stderr ended: {seen}");
        seen.push_str(&line);
    }
    child.stderr = None;
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
}

/// Without --ca-out the CA goes into a private temporary directory (an unpredictable name,
/// mode 0700), kept while the broker runs and removed when it exits.
#[test]
fn the_ca_lives_in_a_private_directory_removed_on_exit() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let (child, info) = started(&ready, mock_broker().args(["--transport", "tls", "--quiet"]));
    let ca_file = Path::new(info["ca_file"].as_str().unwrap()).to_path_buf();
    assert!(std::fs::read_to_string(&ca_file).unwrap().contains("BEGIN CERTIFICATE"));
    let ca_dir = ca_file.parent().unwrap().to_path_buf();
    let name = ca_dir.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("mock-broker-"), "{name}");
    assert_ne!(name, format!("mock-broker-{}", child.id()), "the name is not predictable");
    assert_eq!(std::fs::metadata(&ca_dir).unwrap().permissions().mode() & 0o777, 0o700);
    let (status, _, err) = terminate(child);
    assert!(status.success(), "{err}");
    assert!(!ca_dir.exists(), "{} is removed on exit", ca_dir.display());
}

/// A device of the user's own, not the demo's: its signatures must not be printed.
const OWN: (&str, &str, &str) = ("a1OwnPrdct1", "own-device", "Rk8vQ2mZ7xLp4Wn9Ty3Bc6Hd1Fs5Ga0J");

/// Runs the broker for the [`OWN`] device with `extra` flags, sends one CONNECT signed with a
/// wrong secret over tcp, and returns the banner, stdout, the events file and the expected
/// signature of that CONNECT and of the banner's examples.
async fn own_device_refused(extra: &[&str]) -> (String, String, String, String, String) {
    let (pk, dn, secret) = OWN;
    let dir = tempfile::tempdir().unwrap();
    let (ready, events) = (dir.path().join("ready.json"), dir.path().join("events.jsonl"));
    let (child, info) = started(
        &ready,
        mock_broker()
            .args(["--device", &format!("{pk}/{dn}/{secret}"), "--transport", "tcp", "--transport", "ws"])
            .args(extra)
            .arg("--events")
            .arg(&events),
    );
    let content = sign_content(Some("own"), dn, pk, Some("1"));
    let mut io = connector::dial(info["tcp"].as_str().unwrap(), &DialOptions::default()).await.unwrap();
    let mut connect = mqttbytes::v4::Connect::new("own|securemode=3,signmethod=hmacsha256,timestamp=1|");
    connect.keep_alive = 60;
    connect.set_login(format!("{dn}&{pk}"), sign(SignMethod::HmacSha256, "wrongSecret0", &content));
    let mut buf = bytes::BytesMut::new();
    connect.write(&mut buf).unwrap();
    io.write_bytes(&buf).await.unwrap();
    match io.read().await.unwrap() {
        Some(Packet::Connack(ack)) => assert_eq!(ack.code, ConnackCode::BadCredentials),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    let (status, stdout, stderr) = terminate(child);
    assert!(status.success(), "{status}: {stderr}");
    let events = std::fs::read_to_string(&events).unwrap();
    let expected = sign(SignMethod::HmacSha256, secret, &content);
    let example = sign_content(Some("example-1"), dn, pk, Some("1700000000000"));
    (stderr, stdout, events, expected, sign(SignMethod::HmacSha1, secret, &example))
}

#[tokio::test]
async fn an_own_device_s_signatures_are_cut_unless_revealed() {
    let (banner, stdout, events, expected, example) = own_device_refused(&[]).await;
    assert!(banner.contains("\"PASSWORD\"") && banner.contains("--reveal-signatures"), "{banner}");
    assert!(banner.contains("openssl dgst -sha1 -hmac"), "{banner}");
    let cut = format!("expected {}… (64 hex digits)", &expected[..8]);
    assert!(stdout.contains(&cut), "{stdout}");
    assert!(events.contains(&cut), "{events}");
    for (name, text) in [("banner", &banner), ("stdout", &stdout), ("events", &events)] {
        for value in [OWN.2, &expected[..9], &example[..9]] {
            assert!(!text.contains(value), "{name} holds {value}: {text}");
        }
    }

    let (banner, stdout, events, expected, example) = own_device_refused(&["--reveal-signatures"]).await;
    assert!(banner.contains(&example) && !banner.contains("\"PASSWORD\""), "{banner}");
    assert!(stdout.contains(&format!("expected {expected}")), "{stdout}");
    assert!(events.contains(&format!("expected {expected}")), "{events}");
    for text in [&banner, &stdout, &events] {
        assert!(!text.contains(OWN.2), "the secret itself is never printed: {text}");
    }
}

/// The soft and hard `Max open files` of a process, from `/proc/PID/limits`.
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("the limits list open files");
    let fields: Vec<_> = line.split_whitespace().collect();
    (fields[3].to_string(), fields[4].to_string())
}

#[test]
fn a_low_soft_open_files_limit_is_raised_to_the_hard_limit_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    // prlimit runs the broker in its own process with a soft limit of 256, the hard one as is.
    let mut command = Command::new("prlimit");
    command.args(["--nofile=256:", env!("CARGO_BIN_EXE_mock-broker"), "--quiet"]);
    let (child, info) = started(&ready, &mut command);
    let (soft, hard) = open_files_limits(info["pid"].as_u64().unwrap() as u32);
    let (status, _, stderr) = terminate(child);
    assert!(status.success(), "{stderr}");
    assert_eq!(soft, hard, "the soft limit was raised to the hard limit ({stderr})");
}
