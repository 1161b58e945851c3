//! One established connection: its byte stream (TCP or TLS), WebSocket framing when the
//! transport has it, and buffers reused for every write and read, so that a batch of MQTT
//! packets is one write and many acknowledgements are parsed from one large read.

use crate::mqtt::{self, Packet};
use crate::ws::{self, Masks};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The byte stream under a connection.
pub enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    pub async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => write_flushed(s, bytes).await,
            Stream::Tls(s) => write_flushed(s.as_mut(), bytes).await,
        }
    }

    /// Reads what is there (at least one byte) onto the end of `buf`; 0 at end of stream.
    pub async fn read_into(&mut self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        buf.reserve(READ_SIZE);
        match self {
            Stream::Tcp(s) => s.read_buf(buf).await,
            Stream::Tls(s) => s.read_buf(buf).await,
        }
    }
}

async fn write_flushed<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// How much one read asks for.
const READ_SIZE: usize = 64 * 1024;

/// An established MQTT connection.
pub struct Link {
    stream: Stream,
    /// WebSocket masks, for a ws or wss link.
    websocket: Option<Masks>,
    /// Bytes read and not yet unframed (WebSocket only).
    raw: Vec<u8>,
    /// MQTT bytes read and not yet parsed.
    inbound: Vec<u8>,
    /// MQTT packets waiting for [`Link::flush`].
    pending: Vec<u8>,
    /// The framed bytes of one write.
    outbound: Vec<u8>,
}

impl Link {
    /// `inbound` holds bytes read past the upgrade answer (already WebSocket frames on a
    /// WebSocket link).
    pub fn new(stream: Stream, websocket: Option<Masks>, already_read: Vec<u8>) -> Link {
        let (raw, inbound) = if websocket.is_some() { (already_read, Vec::new()) } else { (Vec::new(), already_read) };
        Link { stream, websocket, raw, inbound, pending: Vec::new(), outbound: Vec::new() }
    }

    /// The buffer to append one MQTT packet to; [`Link::end_packet`] after each.
    pub fn packet_buf(&mut self) -> &mut Vec<u8> {
        &mut self.pending
    }

    /// Frames the packet just appended (one WebSocket frame a packet, as a device sends).
    pub fn end_packet(&mut self) {
        match &mut self.websocket {
            Some(masks) => {
                ws::frame(&mut self.outbound, &self.pending, masks.next());
                self.pending.clear();
            }
            None => self.outbound.append(&mut self.pending),
        }
    }

    /// Writes every packet ended since the last flush in one write.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        let result = self.stream.write_all(&self.outbound).await;
        self.outbound.clear();
        result
    }

    /// Whether packets wait for [`Link::flush`].
    pub fn has_pending(&self) -> bool {
        !self.outbound.is_empty()
    }

    /// Reads once and calls `each` for every complete packet now buffered. A closed stream,
    /// a read error or bad framing is an error naming it.
    pub async fn read_packets(&mut self, mut each: impl FnMut(&Packet<'_>)) -> Result<(), String> {
        let buf = if self.websocket.is_some() { &mut self.raw } else { &mut self.inbound };
        match self.stream.read_into(buf).await {
            Ok(0) => return Err("the broker closed the connection".into()),
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
        if self.websocket.is_some() {
            ws::unframe(&mut self.raw, &mut self.inbound)?;
        }
        self.parse(&mut each)
    }

    /// Calls `each` for the packets already buffered (bytes that came with the last read).
    pub fn parse(&mut self, each: &mut impl FnMut(&Packet<'_>)) -> Result<(), String> {
        let mut at = 0;
        while let Some((packet, used)) = mqtt::next(&self.inbound[at..])? {
            each(&packet);
            at += used;
        }
        self.inbound.drain(..at);
        Ok(())
    }
}
