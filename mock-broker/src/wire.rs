//! MQTT packets over a byte stream (tcp, tls) or inside WebSocket binary frames (ws, wss).
//!
//! [`PacketIo`] hides the difference: a packet may span frames and a frame may hold several
//! packets (T-WS), because frames only feed a buffer the strict decoder reads from. The
//! WebSocket framing is the kit's own (`ws_frame`, `ws_stream`), in both roles. Every read
//! is bounded by the decoder's packet size limit; deadlines are the caller's.
//!
//! Writes are batched: [`PacketIo::write`] appends a packet (one binary frame on WebSocket)
//! to the outbound buffer, and [`PacketIo::flush`] writes the buffer out, so the replies to
//! packets that arrived together leave in one write ([`PacketIo::send`] does both). A reader writes out what is buffered
//! before it waits for input. An idle connection owns no buffer: the inbound one is released
//! once drained, before the reader waits, and the outbound one once flushed; each read goes
//! through a stack buffer held only while the read is polled.
//!
//! A PUBLISH longer than the packet limit is the one oversize packet that breaks no MQTT
//! statement: the reader reports it from its fixed header ([`ReadError::OversizePublish`],
//! an S-PAYLOAD matter) and, if the caller reads on, discards its bytes as they arrive
//! without buffering them. A WebSocket message is bounded by a limit of its own (the
//! handshake's, `Policy::max_ws_message_len`), since one message may carry several packets.

pub(crate) mod ws_frame;
pub(crate) mod ws_stream;

use crate::mqtt::{self, Direction, Packet, Violation};
use crate::rules::Rule;
use bytes::{Buf, BytesMut};
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use ws_frame::{OpCode, Role};
use ws_stream::WsStream;

/// Any byte stream the broker serves: TCP or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed byte stream.
pub type BoxIo = Box<dyn Io>;

/// How reading a packet failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The bytes break MQTT.
    #[error("{0}")]
    Violation(Violation),
    /// A WebSocket text frame: MQTT travels in binary frames only (T-WS). `utf8` is false
    /// when the frame's text is not even valid UTF-8 (MQTT bytes sent as text often are).
    #[error("a WebSocket text frame arrived{}; MQTT travels in binary frames only", if *utf8 { "" } else { " (and not even valid UTF-8)" })]
    TextFrame { utf8: bool },
    /// A WebSocket frame that breaks RFC 6455 (unmasked, reserved bits or opcode, a
    /// continuation with nothing to continue, a fragmented or oversize control frame...):
    /// the client's WebSocket is broken (T-WS). The connection cannot go on.
    #[error("a WebSocket frame breaks RFC 6455: {0}")]
    FrameViolation(String),
    /// A PUBLISH of `len` bytes, over the packet limit: its payload is over the S-PAYLOAD
    /// limit whatever its topic. Reading on skips its bytes.
    #[error("a PUBLISH of {len} bytes is over the packet limit of {limit} bytes")]
    OversizePublish { len: usize, limit: usize },
    /// A WebSocket message over the message limit, refused as soon as a frame header makes it
    /// so, before any more of its bytes are read. The connection cannot go on.
    #[error("a WebSocket message of {size} bytes is over the limit of {limit} bytes")]
    MessageTooLong { size: usize, limit: usize },
    /// The transport failed.
    #[error("{0}")]
    Io(String),
}

impl ReadError {
    /// The rule or MQTT statement the failure breaks, for the transcript.
    pub fn rule(&self) -> String {
        match self {
            ReadError::Violation(v) => v.statement.to_string(),
            ReadError::TextFrame { .. } | ReadError::FrameViolation(_) => Rule::TWs.id().to_string(),
            ReadError::OversizePublish { .. } | ReadError::MessageTooLong { .. } => Rule::SPayload.id().to_string(),
            ReadError::Io(_) => "transport".to_string(),
        }
    }
}

/// Reads and writes whole MQTT packets on one connection.
pub struct PacketIo {
    io: BoxIo,
    /// The WebSocket on ws and wss; none on a byte stream.
    ws: Option<WsStream>,
    /// MQTT bytes received and not yet decoded; released when drained.
    inbound: BytesMut,
    /// Bytes to write (frames on WebSocket); released when flushed.
    outbound: BytesMut,
    /// Bytes read with the WebSocket upgrade's head, before this stream existed: the first
    /// frames, read before the socket.
    early: BytesMut,
    direction: Direction,
    max_packet_len: usize,
    /// Byte offsets at which each outbound packet is split into WebSocket frames (a fault);
    /// empty: one frame per packet.
    splits: Vec<usize>,
    /// Bytes of an oversize PUBLISH still to discard.
    skipping: usize,
}

/// The most one read takes from the socket, into a buffer on the stack.
const READ_CHUNK: usize = 8192;
/// How much the outbound buffer holds before [`PacketIo::wants_flush`] says to write it out.
pub const FLUSH_THRESHOLD: usize = 64 * 1024;

impl PacketIo {
    /// Packets over a byte stream.
    pub fn stream(io: BoxIo, direction: Direction, max_packet_len: usize) -> PacketIo {
        Self::new(io, None, BytesMut::new(), direction, max_packet_len)
    }

    /// Packets inside WebSocket binary frames, after the upgrade: `early` holds the bytes
    /// that came behind the upgrade's head. Reading from a client (`direction`), this end is
    /// the server; messages are read up to `max_message_len` bytes.
    pub(crate) fn websocket(
        io: BoxIo,
        early: BytesMut,
        direction: Direction,
        max_packet_len: usize,
        max_message_len: usize,
    ) -> PacketIo {
        let role = match direction {
            Direction::FromClient => Role::Server,
            Direction::FromServer => Role::Client,
        };
        Self::new(io, Some(WsStream::new(role, max_message_len)), early, direction, max_packet_len)
    }

    fn new(io: BoxIo, ws: Option<WsStream>, early: BytesMut, direction: Direction, max_packet_len: usize) -> PacketIo {
        PacketIo {
            io,
            ws,
            inbound: BytesMut::new(),
            outbound: BytesMut::new(),
            early,
            direction,
            max_packet_len,
            splits: Vec::new(),
            skipping: 0,
        }
    }

    /// Changes the decoder's size limit: the broker reads CONNECT under a small cap and
    /// raises it to the packet limit once the device is authenticated.
    pub fn set_max_packet_len(&mut self, max_packet_len: usize) {
        self.max_packet_len = max_packet_len;
    }

    /// The next packet; `Ok(None)` when the peer closed cleanly between packets (on
    /// WebSocket, by a close frame, which is answered).
    ///
    /// Before it waits for input, it writes out what is buffered (a pong it owes, packets
    /// written and not flushed). Cancel-safe: bytes read or still to write before a
    /// cancellation stay buffered for the next call.
    ///
    /// From a client, a PUBLISH over the packet limit is [`ReadError::OversizePublish`] as
    /// soon as its fixed header is in; the next call skips its bytes and reads on.
    pub async fn read(&mut self) -> Result<Option<Packet>, ReadError> {
        // True once the stream has ended: what is buffered is all there will be.
        let mut ended = false;
        loop {
            if self.skipping > 0 {
                let n = self.skipping.min(self.inbound.len());
                self.inbound.advance(n);
                self.skipping -= n;
            }
            if self.skipping == 0
                && self.direction == Direction::FromClient
                && let Some(oversize) = mqtt::oversize_publish(&self.inbound, self.direction, self.max_packet_len)
            {
                self.skipping = oversize.len;
                return Err(ReadError::OversizePublish { len: oversize.len, limit: self.max_packet_len });
            }
            if self.skipping > 0 {
                if ended {
                    return Err(ReadError::Io(format!(
                        "connection closed inside an oversize PUBLISH ({} bytes short)",
                        self.skipping
                    )));
                }
            } else if let Some(packet) =
                mqtt::decode(&mut self.inbound, self.direction, self.max_packet_len).map_err(ReadError::Violation)?
            {
                return Ok(Some(packet));
            } else if ended {
                return if self.inbound.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Io(format!(
                        "connection closed inside a packet ({} bytes buffered)",
                        self.inbound.len()
                    )))
                };
            }
            ended = !self.fill().await?;
        }
    }

    /// Whether the packets travel in WebSocket frames (ws, wss).
    pub fn is_websocket(&self) -> bool {
        self.ws.is_some()
    }

    /// Whether a whole packet is already buffered, so that [`PacketIo::read`] returns it
    /// without waiting for input: a caller answering packets may hold its replies back
    /// until it has answered all of those.
    pub fn has_buffered_packet(&self) -> bool {
        self.skipping == 0 && mqtt::whole_packet_buffered(&self.inbound)
    }

    /// Reads more bytes into the buffer; false at end of stream (on WebSocket, once a close
    /// frame arrived: the answer goes out before it returns).
    async fn fill(&mut self) -> Result<bool, ReadError> {
        if self.ws.as_ref().is_some_and(WsStream::ended) {
            return Ok(false);
        }
        let more = if self.early.is_empty() {
            self.flush().await.map_err(|e| ReadError::Io(e.to_string()))?;
            if self.inbound.is_empty() {
                self.inbound = BytesMut::new();
            }
            self.read_chunk().await?
        } else {
            let mut early = std::mem::take(&mut self.early);
            take_in(&mut early, self.ws.as_mut(), &mut self.inbound, &mut self.outbound)?
        };
        if !more && self.ws.is_some() {
            // The close frame's answer; the stream has ended either way.
            let _ = self.flush().await;
        }
        Ok(more)
    }

    /// One read from the socket, through a buffer on the stack that lives only while the
    /// read is polled.
    async fn read_chunk(&mut self) -> Result<bool, ReadError> {
        let PacketIo { io, ws, inbound, outbound, .. } = self;
        std::future::poll_fn(|cx| {
            let mut buf = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut read = ReadBuf::uninit(&mut buf);
            ready!(Pin::new(&mut *io).poll_read(cx, &mut read)).map_err(|e| ReadError::Io(e.to_string()))?;
            Poll::Ready(take_in(read.filled_mut(), ws.as_mut(), inbound, outbound))
        })
        .await
    }

    /// Writes one packet (one binary frame on WebSocket) into the outbound buffer, where it
    /// waits for the next [`PacketIo::flush`]; nothing is written to the stream. Once the
    /// buffer holds [`FLUSH_THRESHOLD`] bytes, [`PacketIo::wants_flush`] says so.
    pub fn write(&mut self, packet: &Packet) -> io::Result<()> {
        let start = self.outbound.len();
        mqtt::encode(packet, &mut self.outbound).map_err(|v| io::Error::new(io::ErrorKind::InvalidInput, v))?;
        if let Some(ws) = self.ws.as_mut() {
            // The pieces are framed from the last, so that each header moves only what follows.
            let mut end = self.outbound.len();
            let len = end - start;
            for &at in self.splits.iter().rev().filter(|&&at| at > 0 && at < len) {
                ws.frame(&mut self.outbound, start + at..end, OpCode::Binary);
                end = start + at;
            }
            ws.frame(&mut self.outbound, start..end, OpCode::Binary);
        }
        Ok(())
    }

    /// Whether the outbound buffer is full enough to be written out before anything more is
    /// added to it.
    pub fn wants_flush(&self) -> bool {
        self.outbound.len() >= FLUSH_THRESHOLD
    }

    /// Writes out everything buffered and flushes the stream; the outbound buffer is
    /// released. Cancel-safe: what was not written stays buffered.
    pub async fn flush(&mut self) -> io::Result<()> {
        while !self.outbound.is_empty() {
            if self.io.write_buf(&mut self.outbound).await? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        self.outbound = BytesMut::new();
        self.io.flush().await
    }

    /// Writes one packet and flushes: for a caller that waits for the answer next.
    pub async fn send(&mut self, packet: &Packet) -> io::Result<()> {
        self.write(packet)?;
        self.flush().await
    }

    /// Fault injection (T-WS): splits each packet written from now on into binary frames at
    /// these increasing byte offsets (offsets past a packet's end are ignored for it).
    pub fn split_frames(&mut self, at: Vec<usize>) {
        self.splits = at;
    }

    /// Fault injection: sends a WebSocket close frame with `code`; on a byte stream there are
    /// no frames: an error.
    pub async fn close_frame(&mut self, code: u16) -> io::Result<()> {
        frames(&mut self.ws, "close frames")?.close(&mut self.outbound, Some(code), "fault injected");
        self.flush().await
    }

    /// Fault injection: sends a WebSocket ping frame; on a byte stream, an error.
    pub async fn ping_frame(&mut self) -> io::Result<()> {
        frames(&mut self.ws, "ping frames")?.put_frame(&mut self.outbound, OpCode::Ping, b"mock-broker");
        self.flush().await
    }

    /// Writes bytes as they are, after what is buffered, and flushes: on WebSocket, as one
    /// binary frame. Tests and fault injection use it to send what no well-behaved encoder
    /// would.
    pub async fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.ws.as_mut() {
            Some(ws) => ws.put_frame(&mut self.outbound, OpCode::Binary, bytes),
            None => self.outbound.extend_from_slice(bytes),
        }
        self.flush().await
    }

    /// Fault injection (T-WS, C-WS): sends `text` as one WebSocket *text* frame, which MQTT
    /// over WebSocket forbids. Only a mutant client uses it, to show how the broker and a
    /// conformance check treat such a client. On a byte stream there are no frames: an error.
    pub async fn write_text_frame(&mut self, text: &str) -> io::Result<()> {
        frames(&mut self.ws, "text frames")?.put_frame(&mut self.outbound, OpCode::Text, text.as_bytes());
        self.flush().await
    }

    /// Closes the connection: writes out what is buffered, then a WebSocket close frame
    /// (unless one was sent) and a TCP/TLS shutdown. Errors are ignored: it is closing.
    pub async fn close(&mut self) {
        if let Some(ws) = self.ws.as_mut() {
            ws.close(&mut self.outbound, None, "");
        }
        let _ = self.flush().await;
        let _ = self.io.shutdown().await;
    }
}

/// The WebSocket, to send `what`; on a byte stream, the error saying they need one.
fn frames<'a>(ws: &'a mut Option<WsStream>, what: &str) -> io::Result<&'a mut WsStream> {
    ws.as_mut().ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, format!("{what} need a WebSocket")))
}

/// Bytes just read: MQTT bytes as they are on a byte stream, frames to take apart on
/// WebSocket. False at the end of the stream.
fn take_in(
    bytes: &mut [u8],
    ws: Option<&mut WsStream>,
    inbound: &mut BytesMut,
    outbound: &mut BytesMut,
) -> Result<bool, ReadError> {
    match ws {
        _ if bytes.is_empty() => Ok(false),
        None => {
            inbound.extend_from_slice(bytes);
            Ok(true)
        }
        Some(ws) => ws.feed(bytes, inbound, outbound),
    }
}
