//! What the fuzz targets share: writing an input as a client would, so that the bytes after
//! an HTTP upgrade request reach the broker's WebSocket frame reader.
//!
//! A WebSocket client must wait for the server's answer before its first frame (RFC 6455
//! 4.1), and the broker refuses frames pipelined behind the request ("junk after client
//! request"), so an input fed in one write would rarely get past the upgrade. An input that
//! holds an end of HTTP head (`\r\n\r\n`) is therefore written in two parts: the head, then,
//! once the broker's answer head has been read (or the broker closed, or [`ANSWER_WAIT`]
//! passed: a head the broker does not take for a whole request leaves it waiting for more),
//! the rest.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use std::time::Duration;

const END_OF_HEAD: &[u8] = b"\r\n\r\n";

/// How long the client waits for the broker's answer to its HTTP head.
pub const ANSWER_WAIT: Duration = Duration::from_millis(100);

/// Writes `input` to `io` as a client (see the crate docs), then closes the write side.
/// Errors end the writing: the broker may close at any point.
pub async fn write_as_client<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, input: &[u8]) {
    let split = input.windows(END_OF_HEAD.len()).position(|w| w == END_OF_HEAD).map(|at| at + END_OF_HEAD.len());
    let (head, rest) = input.split_at(split.unwrap_or(0));
    if !head.is_empty() {
        if io.write_all(head).await.is_err() {
            return;
        }
        let answer = async {
            let mut answer = Vec::new();
            let mut byte = [0u8];
            while !answer.ends_with(END_OF_HEAD) {
                match io.read(&mut byte).await {
                    Ok(1) => answer.push(byte[0]),
                    _ => break,
                }
            }
        };
        let _ = tokio::time::timeout(ANSWER_WAIT, answer).await;
    }
    let _ = io.write_all(rest).await;
    let _ = io.shutdown().await;
}
