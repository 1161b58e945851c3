//! MQTT packets over a byte stream (tcp, tls) or inside WebSocket binary frames (ws, wss).
//!
//! [`PacketIo`] hides the difference: a packet may span frames and a frame may hold several
//! packets (T-WS), because frames only feed a buffer the strict decoder reads from. Every read
//! is bounded by the decoder's packet size limit; deadlines are the caller's.
//!
//! A PUBLISH longer than the packet limit is the one oversize packet that breaks no MQTT
//! statement: the reader reports it from its fixed header ([`ReadError::OversizePublish`],
//! an S-PAYLOAD matter) and, if the caller reads on, discards its bytes as they arrive
//! without buffering them. A WebSocket message is bounded by a limit of its own (the
//! handshake's, `Policy::max_ws_message_len`), since one message may carry several packets.

use crate::mqtt::{self, Direction, Packet, Violation};
use crate::rules::Rule;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{self, Message};

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
    /// when the WebSocket layer refused the frame's text as invalid UTF-8 (MQTT bytes sent
    /// as text often are), which it does before the frame reaches the reader.
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
    /// A WebSocket message over the message limit, refused by the WebSocket layer before any
    /// of its bytes reach the decoder. The connection cannot go on.
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

enum Wire {
    Stream(BoxIo),
    Ws(Box<WebSocketStream<BoxIo>>),
}

/// Reads and writes whole MQTT packets on one connection.
pub struct PacketIo {
    wire: Wire,
    inbound: BytesMut,
    outbound: BytesMut,
    direction: Direction,
    max_packet_len: usize,
    /// Byte offsets at which each outbound packet is split into WebSocket frames (a fault);
    /// empty: one frame per packet.
    splits: Vec<usize>,
    /// Bytes of an oversize PUBLISH still to discard.
    skipping: usize,
}

/// The read buffer grows in steps of this size; most MQTT packets fit in one step.
const READ_CHUNK: usize = 4096;

impl PacketIo {
    /// Packets over a byte stream.
    pub fn stream(io: BoxIo, direction: Direction, max_packet_len: usize) -> PacketIo {
        Self::new(Wire::Stream(io), direction, max_packet_len)
    }

    /// Packets inside WebSocket binary frames.
    pub fn websocket(ws: WebSocketStream<BoxIo>, direction: Direction, max_packet_len: usize) -> PacketIo {
        Self::new(Wire::Ws(Box::new(ws)), direction, max_packet_len)
    }

    fn new(wire: Wire, direction: Direction, max_packet_len: usize) -> PacketIo {
        PacketIo {
            wire,
            inbound: BytesMut::new(),
            outbound: BytesMut::new(),
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

    /// The next packet; `Ok(None)` when the peer closed cleanly between packets.
    ///
    /// Cancel-safe: bytes read before a cancellation stay buffered for the next call.
    ///
    /// From a client, a PUBLISH over the packet limit is [`ReadError::OversizePublish`] as
    /// soon as its fixed header is in; the next call skips its bytes and reads on.
    pub async fn read(&mut self) -> Result<Option<Packet>, ReadError> {
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
                if !self.fill().await? {
                    return Err(ReadError::Io(format!(
                        "connection closed inside an oversize PUBLISH ({} bytes short)",
                        self.skipping
                    )));
                }
                continue;
            }
            if let Some(packet) =
                mqtt::decode(&mut self.inbound, self.direction, self.max_packet_len).map_err(ReadError::Violation)?
            {
                return Ok(Some(packet));
            }
            if !self.fill().await? {
                return if self.inbound.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Io(format!(
                        "connection closed inside a packet ({} bytes buffered)",
                        self.inbound.len()
                    )))
                };
            }
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    async fn fill(&mut self) -> Result<bool, ReadError> {
        match &mut self.wire {
            Wire::Stream(io) => {
                self.inbound.reserve(READ_CHUNK);
                let n = io.read_buf(&mut self.inbound).await.map_err(|e| ReadError::Io(e.to_string()))?;
                Ok(n > 0)
            }
            Wire::Ws(ws) => loop {
                match ws.next().await {
                    None | Some(Ok(Message::Close(_))) => return Ok(false),
                    Some(Ok(Message::Binary(data))) => {
                        self.inbound.extend_from_slice(&data);
                        return Ok(true);
                    }
                    Some(Ok(Message::Text(_))) => return Err(ReadError::TextFrame { utf8: true }),
                    Some(Err(tungstenite::Error::Utf8(_))) => return Err(ReadError::TextFrame { utf8: false }),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed)) => {
                        return Ok(false);
                    }
                    Some(Err(tungstenite::Error::Capacity(tungstenite::error::CapacityError::MessageTooLong {
                        size,
                        max_size,
                    }))) => return Err(ReadError::MessageTooLong { size, limit: max_size }),
                    Some(Err(tungstenite::Error::Protocol(p))) if frame_violation(&p) => {
                        return Err(ReadError::FrameViolation(p.to_string()));
                    }
                    Some(Err(e)) => return Err(ReadError::Io(e.to_string())),
                }
            },
        }
    }

    /// Writes one packet (one binary frame on WebSocket).
    pub async fn write(&mut self, packet: &Packet) -> io::Result<()> {
        self.outbound.clear();
        mqtt::encode(packet, &mut self.outbound).map_err(|v| io::Error::new(io::ErrorKind::InvalidInput, v))?;
        match &mut self.wire {
            // The buffer stays for the next packet.
            Wire::Stream(io) => write_flushed(io, &self.outbound).await,
            // A frame owns its bytes: they are split off the buffer, not copied.
            Wire::Ws(ws) if self.splits.is_empty() => send_binary(ws, self.outbound.split().freeze()).await,
            Wire::Ws(ws) => {
                let mut packet = self.outbound.split().freeze();
                let mut at = 0;
                for &split in &self.splits {
                    if split >= packet.len() + at {
                        break;
                    }
                    let frame = packet.split_to(split - at);
                    at = split;
                    ws.feed(Message::Binary(frame)).await.map_err(io::Error::other)?;
                }
                send_binary(ws, packet).await
            }
        }
    }

    /// Fault injection (T-WS): splits each packet written from now on into binary frames at
    /// these increasing byte offsets (offsets past a packet's end are ignored for it).
    pub fn split_frames(&mut self, at: Vec<usize>) {
        self.splits = at;
    }

    /// Fault injection: sends a WebSocket close frame with `code`; on a byte stream there are
    /// no frames: an error.
    pub async fn close_frame(&mut self, code: u16) -> io::Result<()> {
        use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
        match &mut self.wire {
            Wire::Stream(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "close frames need a WebSocket")),
            Wire::Ws(ws) => {
                let frame = CloseFrame { code: CloseCode::from(code), reason: "fault injected".into() };
                ws.close(Some(frame)).await.map_err(io::Error::other)
            }
        }
    }

    /// Fault injection: sends a WebSocket ping frame; on a byte stream, an error.
    pub async fn ping_frame(&mut self) -> io::Result<()> {
        match &mut self.wire {
            Wire::Stream(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "ping frames need a WebSocket")),
            Wire::Ws(ws) => ws.send(Message::Ping(Bytes::from_static(b"mock-broker"))).await.map_err(io::Error::other),
        }
    }

    /// Writes bytes as they are: on WebSocket, as one binary frame. Tests and fault
    /// injection use it to send what no well-behaved encoder would.
    pub async fn write_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.wire {
            Wire::Stream(io) => write_flushed(io, bytes).await,
            Wire::Ws(ws) => send_binary(ws, Bytes::copy_from_slice(bytes)).await,
        }
    }

    /// Fault injection (T-WS, C-WS): sends `text` as one WebSocket *text* frame, which MQTT
    /// over WebSocket forbids. Only a mutant client uses it, to show how the broker and a
    /// conformance check treat such a client. On a byte stream there are no frames: an error.
    pub async fn write_text_frame(&mut self, text: &str) -> io::Result<()> {
        match &mut self.wire {
            Wire::Stream(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "text frames need a WebSocket")),
            Wire::Ws(ws) => ws.send(Message::Text(text.into())).await.map_err(io::Error::other),
        }
    }

    /// Closes the connection: a WebSocket close frame, or a TCP/TLS shutdown.
    pub async fn close(&mut self) {
        match &mut self.wire {
            Wire::Stream(io) => {
                let _ = io.shutdown().await;
            }
            Wire::Ws(ws) => {
                let _ = ws.close(None).await;
            }
        }
    }
}

/// Whether a WebSocket protocol error is a frame the client got wrong, rather than the link
/// ending (a TCP close without a close frame stays a transport matter: many MQTT clients
/// close that way after DISCONNECT).
fn frame_violation(error: &tungstenite::error::ProtocolError) -> bool {
    use tungstenite::error::ProtocolError as P;
    matches!(
        error,
        P::NonZeroReservedBits
            | P::UnmaskedFrameFromClient
            | P::FragmentedControlFrame
            | P::ControlFrameTooBig
            | P::UnknownControlFrameType(_)
            | P::UnknownDataFrameType(_)
            | P::UnexpectedContinueFrame
            | P::ExpectedFragment(_)
            | P::InvalidOpcode(_)
            | P::InvalidCloseSequence
    )
}

async fn write_flushed(io: &mut BoxIo, bytes: &[u8]) -> io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

async fn send_binary(ws: &mut WebSocketStream<BoxIo>, bytes: Bytes) -> io::Result<()> {
    ws.send(Message::Binary(bytes)).await.map_err(io::Error::other)
}
