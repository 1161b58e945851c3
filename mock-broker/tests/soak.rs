//! A bounded soak test of the real `mock-broker` binary: thousands of connections churning
//! (connect, publish, drop or DISCONNECT, reconnect, and some that never get past the TCP
//! connect) over a fixed time, on tcp and ws, 127.0.0.1 only.
//!
//! Afterwards the broker's resident memory (`VmRSS` of `/proc/PID/status`) is back near its
//! baseline, measured after a warm-up (the allocator keeps some freed memory: the tolerance
//! is [`RSS_TOLERANCE_KIB`]), and its events file accounts for every connection: each one
//! the test opened has exactly one `accepted` and exactly one `closed`, none leaked, none
//! lost.
//!
//! The broker keeps a bounded history of its events, which grows until it is full and then
//! stays that size: the soak runs with a history the warm-up fills ([`HISTORY_EVENTS`]), so
//! that the baseline includes it and any growth after it is a leak.

mod support;

use mock_broker::Transport;
use mock_broker::auth::{SignMethod, sign, sign_content};
use mock_broker::connector::{self, DialOptions};
use mock_broker::mqtt::{ConnackCode, Packet, QoS};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;
use tokio::net::TcpStream;

/// Devices churning side by side, each in a task of its own.
const DEVICES: usize = 20;
/// Connections each device makes after the warm-up, spread over [`SOAK_TIME`].
const PER_DEVICE: usize = 100;
/// Connections each device makes before the baseline is measured.
const WARM_UP_PER_DEVICE: usize = 15;
const SOAK_TIME: Duration = Duration::from_secs(15);
/// How far above the baseline the broker's RSS may stay once the churn is over: freed
/// memory the allocator keeps in its arenas (one per worker thread), not a leak, which
/// would grow with the connection count (2000 connections leaking 2 KiB each would be
/// 4 MiB). Measured here: about 0.5 MiB above a baseline of about 16 MiB.
const RSS_TOLERANCE_KIB: u64 = 4 * 1024;
/// The history's size: fewer events than the warm-up's connections emit (each connection
/// that logs in emits a score of them), yet seconds of the event file sink's lag.
const HISTORY_EVENTS: usize = 4000;

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the broker's status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("a VmRSS line");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmRSS in kB")
}

/// `accepted` and `closed` events per connection in the events file.
fn tally(events: &Path) -> HashMap<u64, (u32, u32)> {
    let mut tally: HashMap<u64, (u32, u32)> = HashMap::new();
    let text = std::fs::read_to_string(events).unwrap_or_default();
    // The last line may be half written while the broker runs.
    for event in text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
        let Some(conn) = event["conn"].as_u64() else { continue };
        match event["event"].as_str() {
            Some("accepted") => tally.entry(conn).or_default().0 += 1,
            Some("closed") => tally.entry(conn).or_default().1 += 1,
            _ => {}
        }
    }
    tally
}

/// One device's churn: `count` connections, the `n`-th starting no earlier than
/// `start + n * pace`. Returns how many TCP connections it opened.
async fn churn(urls: [String; 2], addr: String, device: usize, count: usize, start: Instant, pace: Duration) -> usize {
    let name = format!("soak{device:02}");
    let client_id = format!("c{device}");
    let password = sign(SignMethod::HmacSha1, SECRET, &sign_content(Some(&client_id), &name, PK, None));
    let mut opened = 0;
    for n in 0..count {
        tokio::time::sleep_until((start + pace * n as u32).into()).await;
        opened += 1;
        if n % 5 == 4 {
            // Connects and drops before any byte.
            drop(TcpStream::connect(&addr).await.expect("the broker accepts"));
            continue;
        }
        let (url, transport) = if n % 2 == 0 { (&urls[0], Transport::Tcp) } else { (&urls[1], Transport::Ws) };
        let id = format!("{client_id}|securemode={},signmethod=hmacsha1|", transport.expected_securemode());
        let mut io = connector::dial(url, &DialOptions::default()).await.expect("dialed");
        io.write_bytes(&connect_bytes(&id, &format!("{name}&{PK}"), &password, 60)).await.expect("CONNECT");
        assert_eq!(read_connack(&mut io).await, Some(ConnackCode::Accepted), "{name}");
        let topic = format!("/{PK}/{name}/user/update");
        let publish = mock_broker::mqtt::Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic,
            packet_id: Some(1),
            payload: bytes::Bytes::from(vec![b'x'; 512]),
        };
        io.write(&Packet::Publish(publish)).await.expect("PUBLISH");
        assert_eq!(io.read().await.expect("PUBACK"), Some(Packet::Puback(1)), "{name}");
        if n % 3 == 0 {
            io.write(&Packet::Disconnect).await.expect("DISCONNECT");
        }
        drop(io);
    }
    opened
}

/// Runs `per_device` connections of every device over `time`; returns the total opened.
async fn round(ready: &serde_json::Value, per_device: usize, time: Duration) -> usize {
    let urls = [ready["tcp"].as_str().unwrap().to_string(), ready["ws"].as_str().unwrap().to_string()];
    let addr = urls[0].trim_start_matches("tcp://").to_string();
    let start = Instant::now();
    let pace = time / per_device as u32;
    let tasks: Vec<_> =
        (0..DEVICES).map(|d| tokio::spawn(churn(urls.clone(), addr.clone(), d, per_device, start, pace))).collect();
    let mut opened = 0;
    for task in tasks {
        opened += task.await.expect("a churning device panicked");
    }
    opened
}

/// Waits until every connection opened so far is accounted for; returns the tally.
fn settled(events: &Path, opened: usize) -> HashMap<u64, (u32, u32)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tally = tally(events);
        let done = tally.len() >= opened && tally.values().all(|&(a, c)| a == 1 && c == 1);
        if done || Instant::now() > deadline {
            return tally;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_churning_connections_leave_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (ready_path, events) = (dir.path().join("ready.json"), dir.path().join("events.jsonl"));
    let mut broker = Command::new(env!("CARGO_BIN_EXE_mock-broker"));
    broker.args(["--transport", "tcp", "--transport", "ws", "--quiet", "--ready-file"]).arg(&ready_path);
    broker.arg("--events").arg(&events).args(["--history-events", &HISTORY_EVENTS.to_string()]);
    for d in 0..DEVICES {
        broker.args(["--device", &format!("{PK}/soak{d:02}/{SECRET}")]);
    }
    let mut child: Child = broker.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("mock-broker starts");
    let ready = wait_ready(&mut child, &ready_path);
    let pid = child.id();

    let mut opened = round(&ready, WARM_UP_PER_DEVICE, Duration::from_secs(2)).await;
    settled(&events, opened);
    let baseline = vm_rss_kib(pid);

    let started = Instant::now();
    opened += round(&ready, PER_DEVICE, SOAK_TIME).await;
    let churned = started.elapsed();
    let peak = vm_rss_kib(pid);
    let tally = settled(&events, opened);
    // Freed memory goes back to the allocator at once; give the broker's tasks a moment.
    std::thread::sleep(Duration::from_millis(500));
    let after = vm_rss_kib(pid);
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = child.wait();

    eprintln!(
        "soak: {opened} connections ({} after the warm-up) in {churned:?}; VmRSS baseline {baseline} KiB, \
         at the end of the churn {peak} KiB, settled {after} KiB",
        opened - DEVICES * WARM_UP_PER_DEVICE
    );
    assert_eq!(tally.len(), opened, "every connection opened is accepted once, none lost");
    let unbalanced: Vec<_> = tally.iter().filter(|(_, counts)| **counts != (1, 1)).collect();
    assert!(unbalanced.is_empty(), "connections without exactly one accepted and one closed: {unbalanced:?}");
    assert!(
        after <= baseline + RSS_TOLERANCE_KIB,
        "VmRSS {after} KiB after the churn, baseline {baseline} KiB: over the {RSS_TOLERANCE_KIB} KiB tolerance"
    );
}
