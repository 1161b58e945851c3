//! `ws_frames`: the WebSocket path on a client's byte stream: the broker's HTTP upgrade,
//! then its frame reader and the MQTT decoder behind it, all in process over
//! `tokio::io::duplex`.
//!
//! The first byte picks the WebSocket message limit (the default, or a small one so that
//! oversize frames and messages are reached); the rest is what the client sends (its HTTP
//! head and the frames behind it, in one write: `write_as_client`), after which it closes
//! its side. The broker's answers are drained as they come. The run must end: the
//! stream is finite, and every read is bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mock_broker::Policy;
use mock_broker::fuzzing::websocket;
use mock_broker_fuzz::write_as_client;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::runtime::Runtime;

/// More than the broker ever answers to one input (an upgrade response, pongs, a close).
const DUPLEX_BUFFER: usize = 1 << 20;
/// A run that takes longer has hung.
const DEADLINE: Duration = Duration::from_secs(5);

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else { return };
    let policy = match selector & 1 {
        0 => Policy::default(),
        _ => Policy { payload_limit: 64, ws_message_limit: Some(256), ..Policy::default() },
    };
    runtime().block_on(async {
        let (mut client, server) = tokio::io::duplex(DUPLEX_BUFFER);
        let broker = websocket(Box::new(server), &policy);
        let peer = async {
            write_as_client(&mut client, stream).await;
            let mut answers = Vec::new();
            let _ = client.read_to_end(&mut answers).await;
        };
        let run = tokio::time::timeout(DEADLINE, async { tokio::join!(broker, peer).0 }).await;
        let run = run.expect("the WebSocket path ends on a finite stream");
        assert!(run.upgraded || run.packets == 0, "{run:?}");
    });
});
