//! `connection`: whole connections to a broker running in process, over every transport and
//! at every stage (this target also covers the byte stream after each handshake).
//!
//! One broker is started on first use, serving the four transports and the mux on
//! 127.0.0.1. The first byte of an input picks where its bytes go (`selector % 5`: ws, wss,
//! tcp, tls, or the mux; `selector / 5 % 2`: raw on the fresh TCP connection, before any
//! handshake, or after the transport's handshakes: TLS by a real client, the WebSocket
//! upgrade, the bytes then in one binary frame). The client writes them, closes its side and
//! reads until the broker closes, under a deadline: a broker that holds a closed connection
//! open has hung. Every [`CHECK_EVERY`] inputs a well-behaved device connects, is accepted and
//! gets its PINGRESP: the broker still serves everyone else. A panic in any broker task
//! aborts the process (libFuzzer's panic hook), so it is found as a crash.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mock_broker::connector::{self, DialOptions};
use mock_broker::mqtt::{Connack, ConnackCode, Connect, Packet, Protocol, encode};
use mock_broker::{Broker, Policy, Transport};
use mock_broker_fuzz::write_as_client;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// How often the well-behaved device checks that the broker still serves.
const CHECK_EVERY: u64 = 64;
/// How long one input's connection may stay open after the client closed its side.
const DEADLINE: Duration = Duration::from_secs(5);
const TRANSPORTS: [Transport; 4] = [Transport::Ws, Transport::Wss, Transport::Tcp, Transport::Tls];

struct Fixture {
    runtime: Runtime,
    broker: Broker,
    options: DialOptions,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // A Rust program ignores SIGPIPE before its main runs, so that writing to a socket
        // the peer closed is an error (EPIPE), as the broker expects; libFuzzer's main does
        // not, and a TLS write (writev, which cannot ask for no signal) to a client that has
        // gone would end the whole fuzzer.
        // SAFETY: called once, before any thread of this target starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        // A short connect deadline bounds inputs that stall inside a handshake.
        let policy = Policy { connect_timeout: Duration::from_secs(2), ..Policy::default() };
        let localhost: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        let broker = runtime
            .block_on(Broker::builder().device("pk", "device", "secret").policy(policy).mux(localhost).start())
            .expect("the broker starts");
        let options = DialOptions { ca_pem: broker.ca_pem().map(str::to_string), ..DialOptions::default() };
        Fixture { runtime, broker, options }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else { return };
    let fixture = fixture();
    fixture.runtime.block_on(async {
        let pick = usize::from(selector % 5);
        let raw = (selector / 5) % 2 == 0;
        let transport = TRANSPORTS.get(pick).copied();
        let url = match transport {
            Some(t) => fixture.broker.url(t),
            None => fixture.broker.mux_url(TRANSPORTS[usize::from(selector / 10) % 4]),
        }
        .expect("served");
        let ended = if raw {
            let addr = match transport {
                Some(t) => fixture.broker.addr(t),
                None => fixture.broker.mux_addr(),
            };
            tokio::time::timeout(DEADLINE, raw_connection(addr.expect("served"), stream)).await
        } else {
            tokio::time::timeout(DEADLINE, after_handshake(&url, &fixture.options, stream)).await
        };
        ended.unwrap_or_else(|_| panic!("the broker held a closed connection open ({url}, raw: {raw})"));
        static INPUTS: AtomicU64 = AtomicU64::new(0);
        if INPUTS.fetch_add(1, Ordering::Relaxed) % CHECK_EVERY == 0 {
            well_behaved(fixture).await;
        }
    });
});

/// Writes `stream` on a fresh TCP connection (`write_as_client`), closes the write side,
/// reads until the end.
async fn raw_connection(addr: SocketAddr, stream: &[u8]) {
    let mut tcp = TcpStream::connect(addr).await.expect("the broker accepts");
    write_as_client(&mut tcp, stream).await;
    let mut sink = Vec::new();
    let _ = tcp.read_to_end(&mut sink).await;
}

/// Completes the transport's handshakes, writes `stream` (one binary frame on WebSocket),
/// closes, and reads until the end.
async fn after_handshake(url: &str, options: &DialOptions, stream: &[u8]) {
    let Ok(mut io) = connector::dial(url, options).await else { panic!("the handshakes of {url} fail") };
    if io.write_bytes(stream).await.is_err() {
        return;
    }
    io.close().await;
    while let Ok(Some(_)) = io.read().await {}
}

/// A device that does everything right is accepted and answered.
async fn well_behaved(fixture: &Fixture) {
    let url = fixture.broker.url(Transport::Tcp).expect("tcp is served");
    let mut io = connector::dial(&url, &fixture.options).await.expect("the well-behaved device connects");
    let connect = Connect {
        protocol: Protocol::V311,
        client_id: "12345|securemode=3,signmethod=hmacsha1,timestamp=789|".into(),
        clean_session: true,
        keep_alive: 60,
        username: Some("device&pk".into()),
        password: Some(mock_broker::auth::vectors::V1.signature.as_bytes().to_vec().into()),
        will: None,
    };
    let mut bytes = BytesMut::new();
    encode(&Packet::Connect(connect), &mut bytes).expect("CONNECT encodes");
    let served = async {
        io.write_bytes(&bytes).await.expect("CONNECT is written");
        let accepted = Packet::Connack(Connack { session_present: false, code: ConnackCode::Accepted });
        assert_eq!(io.read().await.expect("CONNACK is read"), Some(accepted));
        io.send(&Packet::Pingreq).await.expect("PINGREQ is written");
        assert_eq!(io.read().await.expect("PINGRESP is read"), Some(Packet::Pingresp));
    };
    tokio::time::timeout(DEADLINE, served).await.expect("the well-behaved device is served in time");
    io.close().await;
}
