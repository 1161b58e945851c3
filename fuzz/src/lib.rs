//! What the fuzz targets share: writing an input as a client, then closing the write side.
//!
//! An input that starts with an HTTP upgrade request carries its WebSocket frames right
//! behind it: the broker reads bytes pipelined behind the request head as the first frames,
//! so the input goes out in one write and reaches the frame reader without waiting for the
//! broker's answer.

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Writes `input` to `io`, then closes the write side. Errors end the writing: the broker
/// may close at any point.
pub async fn write_as_client<S: AsyncWrite + Unpin>(io: &mut S, input: &[u8]) {
    let _ = io.write_all(input).await;
    let _ = io.shutdown().await;
}
