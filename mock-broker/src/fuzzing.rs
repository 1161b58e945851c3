//! Entry points for the coverage-guided fuzz targets (`fuzz/` at the workspace root): the
//! parts of a connection that are private to the broker, run on any byte stream, so that a
//! target can feed them bytes in process. Not an API: hidden from the docs, and nothing but
//! the fuzz targets and the robustness tests use it.

use crate::events::Handshake;
use crate::handshake::upgrade;
use crate::policy::Policy;
use crate::wire::{BoxIo, ReadError};

/// What [`websocket`] saw: how many MQTT packets the frames held, and how it ended.
#[derive(Debug)]
pub struct WebSocketRun {
    /// True once the upgrade completed.
    pub upgraded: bool,
    /// The packets read from binary frames.
    pub packets: usize,
    /// `None` when the peer closed cleanly between packets; otherwise what ended it.
    pub error: Option<String>,
}

/// Runs the WebSocket upgrade on `io` as a ws listener with `policy` does, then reads MQTT
/// packets from its frames until the stream ends or a read fails.
pub async fn websocket(io: BoxIo, policy: &Policy) -> WebSocketRun {
    let upgraded =
        upgrade(io, Handshake::default(), &policy.ws_paths, policy.max_packet_len(), policy.max_ws_message_len(), None)
            .await;
    let mut io = match upgraded {
        Ok((io, _, _)) => io,
        Err(failed) => return WebSocketRun { upgraded: false, packets: 0, error: Some(failed.message) },
    };
    let mut packets = 0;
    loop {
        match io.read().await {
            Ok(Some(_)) => packets += 1,
            // The reader skips an oversize PUBLISH's bytes when read on, as the session does
            // under `OversizeReaction::Drop`.
            Err(ReadError::OversizePublish { .. }) => continue,
            Ok(None) => return WebSocketRun { upgraded: true, packets, error: None },
            Err(e) => return WebSocketRun { upgraded: true, packets, error: Some(e.to_string()) },
        }
    }
}
