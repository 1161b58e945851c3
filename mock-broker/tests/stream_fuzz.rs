//! A bounded, property-based stream fuzzer that always runs in `cargo test`: mutations of a
//! valid session's bytes (bit flips, truncation, edited length bytes, splices of other
//! packets) written to real connections over every transport and the mux, before and after
//! the handshakes.
//!
//! For each case the client writes its bytes, closes its side and reads until the broker
//! closes. The connection must close, with a `closed` event whose reason is named (a rule
//! for a violation, a message for a transport error), and a well-behaved device on another
//! connection must be served before and after every case: a panic in a connection's task
//! would leave no `closed` event, a wedged broker no PINGRESP. Bounded in cases and in time;
//! the coverage-guided targets of `fuzz/` go further (`cargo xtask fuzz`).

mod support;

use mock_broker::connector::{self, DialOptions};
use mock_broker::wire::PacketIo;
use mock_broker::{CloseReason, EventKind, Policy, Transport};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Cases generated at most, and the time they may take in all: whichever ends first.
const CASES: u32 = 1500;
const BUDGET: Duration = Duration::from_secs(30);
/// How long one case's connection may stay open after the client closed its side.
const CASE_DEADLINE: Duration = Duration::from_secs(5);

/// Where a case's bytes go.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// Raw on a fresh TCP connection to this transport's port, before any handshake.
    Raw(Transport),
    /// Raw WebSocket frames on a ws connection upgraded by hand.
    Upgraded,
    /// Raw on the mux's port.
    Mux,
    /// After the transport's handshakes (one binary frame on WebSocket).
    Handshaken(Transport),
}

/// The valid bytes a case starts from, for `target`.
fn base(target: Target) -> Vec<u8> {
    match target {
        Target::Upgraded => ws_frame(WS_BINARY, Some([9, 8, 7, 6]), &session_bytes(Transport::Ws)),
        Target::Raw(t) | Target::Handshaken(t) => session_bytes(t),
        Target::Mux => session_bytes(Transport::Tcp),
    }
}

/// One edit of a byte stream; positions are taken modulo the stream's length.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    Truncate {
        at: usize,
    },
    /// Overwrites a byte, most often a remaining-length byte near a packet's start.
    SetByte {
        at: usize,
        value: u8,
    },
    /// Inserts a packet of the session (or garbage) at a position.
    Splice {
        at: usize,
        packet: usize,
    },
    /// Drops a run of bytes.
    Cut {
        at: usize,
        len: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, packet)| Mutation::Splice { at, packet }),
        (any::<usize>(), 1usize..16).prop_map(|(at, len)| Mutation::Cut { at, len }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    match *mutation {
        Mutation::FlipBit { at, bit } if !bytes.is_empty() => bytes[at % len] ^= 1 << bit,
        Mutation::Truncate { at } => bytes.truncate(at % len),
        Mutation::SetByte { at, value } if !bytes.is_empty() => bytes[at % len] = value,
        Mutation::Splice { at, packet } => {
            let mut pieces: Vec<Vec<u8>> = session_packets().iter().map(|p| encoded(std::slice::from_ref(p))).collect();
            pieces.push(vec![0xff, 0xff, 0xff, 0xff, 0x7f]);
            let piece = &pieces[packet % pieces.len()];
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, piece.iter().copied());
        }
        Mutation::Cut { at, len: cut } => {
            let at = at % len;
            let end = (at + cut).min(bytes.len());
            bytes.drain(at.min(end)..end);
        }
        _ => {}
    }
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::Raw(Transport::Tcp)),
        Just(Target::Upgraded),
        Just(Target::Mux),
        prop::sample::select(Transport::ALL.to_vec()).prop_map(Target::Handshaken),
    ]
}

fn stream() -> impl Strategy<Value = (Target, Vec<u8>)> {
    (target(), prop::collection::vec(mutation(), 1..5)).prop_map(|(target, mutations)| {
        let mut bytes = base(target);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        (target, bytes)
    })
}

/// The broker, its transcript and the well-behaved device.
struct Fixture {
    tb: TestBroker,
    observer: Observer,
    options: DialOptions,
    /// How many cases ended with each close reason.
    reasons: BTreeMap<&'static str, usize>,
}

impl Fixture {
    async fn start() -> Fixture {
        let policy = Policy { connect_timeout: Duration::from_secs(2), ..Policy::default() };
        let (tb, observer) = with_observer(policy).await;
        let options = DialOptions { ca_pem: tb.broker.ca_pem().map(str::to_string), ..DialOptions::default() };
        Fixture { tb, observer, options, reasons: BTreeMap::new() }
    }

    async fn observer_served(&mut self) -> Result<(), String> {
        self.observer.served().await
    }

    /// Runs one case; `Err` says what went wrong.
    async fn case(&mut self, target: Target, bytes: &[u8]) -> Result<(), String> {
        self.observer_served().await?;
        let ended = match target {
            Target::Raw(t) => raw(self.tb.broker.addr(t).expect("served"), false, bytes).await,
            Target::Upgraded => raw(self.tb.broker.addr(Transport::Ws).expect("served"), true, bytes).await,
            Target::Mux => raw(self.tb.broker.mux_addr().expect("served"), false, bytes).await,
            Target::Handshaken(t) => {
                let url = self.tb.broker.url(t).expect("served");
                let io = connector::dial(&url, &self.options).await.map_err(|e| format!("dialing {url}: {e}"))?;
                tokio::time::timeout(CASE_DEADLINE, after_handshake(io, bytes)).await
            }
        };
        ended.map_err(|_| "the broker held the connection open after the client closed".to_string())?;
        let accepted = self.tb.next_accepted().await;
        let transcript = self
            .tb
            .events
            .transcript(accepted.conn, PATIENCE)
            .await
            .map_err(|e| format!("connection #{}: the transcript has no end: {e}", accepted.conn))?;
        match transcript.last().map(|e| &e.kind) {
            Some(EventKind::Closed { reason }) => {
                named(reason)?;
                *self.reasons.entry(reason.label()).or_default() += 1;
            }
            _ => return Err(format!("connection #{} has no closed event: {transcript:#?}", accepted.conn)),
        }
        self.observer_served().await
    }
}

/// Every close reason names what happened: a violation its rule, an error its message.
fn named(reason: &CloseReason) -> Result<(), String> {
    match reason {
        CloseReason::Violation { rule, message } if rule.is_empty() || message.is_empty() => {
            Err(format!("a violation without its rule or message: {reason:?}"))
        }
        CloseReason::TransportError { message } | CloseReason::HandshakeFailed { message } if message.is_empty() => {
            Err(format!("an error without its message: {reason:?}"))
        }
        _ => Ok(()),
    }
}

/// Writes the bytes on a fresh TCP connection (after an upgrade by hand if `upgrade`),
/// closes the write side, reads until the end.
async fn raw(addr: SocketAddr, upgrade: bool, bytes: &[u8]) -> Result<(), tokio::time::error::Elapsed> {
    let mut tcp = TcpStream::connect(addr).await.expect("the broker accepts");
    tokio::time::timeout(CASE_DEADLINE, async {
        if upgrade {
            ws_upgrade_by_hand(&mut tcp).await;
        }
        let _ = tcp.write_all(bytes).await;
        let _ = tcp.shutdown().await;
        let mut sink = Vec::new();
        let _ = tcp.read_to_end(&mut sink).await;
    })
    .await
}

async fn after_handshake(mut io: PacketIo, bytes: &[u8]) {
    if io.write_bytes(bytes).await.is_ok() {
        io.close().await;
        while let Ok(Some(_)) = io.read().await {}
    }
}

#[test]
fn mutated_streams_end_only_their_own_connection() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let fixture = Mutex::new(runtime.block_on(Fixture::start()));
    let started = Instant::now();
    let config = Config { cases: CASES, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&stream(), |(target, bytes)| {
        if started.elapsed() > BUDGET {
            return Ok(());
        }
        let mut fixture = fixture.lock().unwrap_or_else(|e| e.into_inner());
        runtime.block_on(fixture.case(target, &bytes)).map_err(|e| TestCaseError::fail(format!("{target:?}: {e}")))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let fixture = fixture.into_inner().unwrap_or_else(|e| e.into_inner());
    let ran: usize = fixture.reasons.values().sum();
    eprintln!("stream_fuzz: {ran} cases in {:?}, closed as {:?}", started.elapsed(), fixture.reasons);
    assert!(ran > 0, "no case ran");
}
