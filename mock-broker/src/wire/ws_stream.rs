//! One connection's WebSocket (ws, wss) after the upgrade: the frames received, turned back
//! into the byte stream MQTT travels in, and the frames sent, in either role.
//!
//! [`WsStream::feed`] takes the bytes of each read as they come: a binary frame's payload is
//! unmasked where it lies and handed on at once, so a packet may span frames, a frame may
//! hold several packets, and a large frame is never buffered whole. Only a frame's header
//! (at most 14 bytes, kept inline) and a control or text frame's payload wait for the rest of
//! their bytes. A ping is answered with a pong, a pong is ignored, a close frame is answered
//! with a close frame and ends the stream, a text frame is [`ReadError::TextFrame`], and a
//! message is refused ([`ReadError::MessageTooLong`]) as soon as a header makes it longer than
//! its limit, before any of its payload is read. Between frames, nothing is allocated.

use crate::wire::ReadError;
use crate::wire::ws_frame::{self, Header, MAX_HEADER_LEN, OpCode, Role, frame_in_place, violation};
use bytes::BytesMut;
use std::hash::BuildHasher;
use std::ops::Range;

/// The WebSocket state of one connection.
pub(crate) struct WsStream {
    role: Role,
    /// The masking keys of the frames a client sends; unused by a server.
    keys: MaskKeys,
    max_message_len: usize,
    /// The header received so far: a header may arrive in pieces.
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    /// What the next bytes received are.
    payload: Payload,
    /// While a fragmented binary message is unfinished: its length so far.
    fragmented: Option<u64>,
    /// A control or text frame's payload, gathered until whole; unallocated otherwise.
    gathered: Vec<u8>,
    /// A close frame was received (the stream has ended) or sent.
    close_received: bool,
    close_sent: bool,
}

/// What the bytes after a complete header are.
#[derive(Clone, Copy)]
enum Payload {
    /// No frame under way: the next bytes are a header.
    Header,
    /// `left` bytes of a binary frame, handed on as they come; `phase` is how far into the
    /// masking key's cycle the next byte is.
    Data { left: u64, mask: Option<[u8; 4]>, phase: usize },
    /// `left` more bytes of a control or text frame, gathered until whole.
    Gather { header: Header, left: u64 },
}

impl WsStream {
    /// The WebSocket of `role`'s end, reading messages of at most `max_message_len` bytes.
    pub(crate) fn new(role: Role, max_message_len: usize) -> WsStream {
        WsStream {
            role,
            keys: MaskKeys::default(),
            max_message_len,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            payload: Payload::Header,
            fragmented: None,
            gathered: Vec::new(),
            close_received: false,
            close_sent: false,
        }
    }

    /// Whether a close frame has been received: the stream has ended.
    pub(crate) fn ended(&self) -> bool {
        self.close_received
    }

    /// Takes `input`, bytes just read: binary payloads are appended to `inbound`, unmasked;
    /// answers (a pong, the close frame answering a close) are appended to `outbound`.
    /// False once a close frame has arrived; the bytes after it are ignored.
    pub(crate) fn feed(
        &mut self,
        mut input: &mut [u8],
        inbound: &mut BytesMut,
        outbound: &mut BytesMut,
    ) -> Result<bool, ReadError> {
        while !input.is_empty() && !self.close_received {
            let taken = match self.payload {
                Payload::Header => self.header_bytes(input, outbound)?,
                Payload::Data { left, mask, phase } => {
                    let n = input.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let chunk = &mut input[..n];
                    if let Some(key) = mask {
                        ws_frame::apply_mask(chunk, key, phase);
                    }
                    inbound.extend_from_slice(chunk);
                    let left = left - n as u64;
                    self.payload =
                        if left == 0 { Payload::Header } else { Payload::Data { left, mask, phase: (phase + n) % 4 } };
                    n
                }
                Payload::Gather { header, left } => {
                    let n = input.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.gathered.extend_from_slice(&input[..n]);
                    let left = left - n as u64;
                    self.payload = Payload::Gather { header, left };
                    if left == 0 {
                        self.gathered_frame(header, outbound)?;
                    }
                    n
                }
            };
            input = &mut input[taken..];
        }
        Ok(!self.close_received)
    }

    /// Adds the front of `input` to the header under way; once it is whole, starts its
    /// frame. Returns how many bytes of `input` the header took.
    fn header_bytes(&mut self, input: &[u8], outbound: &mut BytesMut) -> Result<usize, ReadError> {
        let had = self.header_len;
        let take = input.len().min(MAX_HEADER_LEN - had);
        self.header[had..had + take].copy_from_slice(&input[..take]);
        match Header::parse(&self.header[..had + take], self.role)? {
            None => {
                self.header_len += take;
                Ok(take)
            }
            Some((header, len)) => {
                self.header_len = 0;
                self.start(header, outbound)?;
                Ok(len - had)
            }
        }
    }

    /// A frame whose header is in: checks it against the message under way and the limit,
    /// and says what its payload is.
    fn start(&mut self, header: Header, outbound: &mut BytesMut) -> Result<(), ReadError> {
        let Header { fin, opcode, mask, len } = header;
        if !opcode.is_control() {
            let so_far = match (opcode, self.fragmented) {
                (OpCode::Continuation, Some(so_far)) => so_far,
                (OpCode::Continuation, None) => {
                    return Err(violation(
                        "a continuation frame with no fragmented message to continue (RFC 6455 5.4)".into(),
                    ));
                }
                (_, Some(_)) => {
                    return Err(violation(format!(
                        "a new {} frame while a fragmented message is unfinished (RFC 6455 5.4)",
                        opcode.name()
                    )));
                }
                (_, None) => 0,
            };
            let size = so_far.saturating_add(len);
            if size > self.max_message_len as u64 {
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                return Err(ReadError::MessageTooLong { size, limit: self.max_message_len });
            }
            self.fragmented = (!fin).then_some(size);
            if opcode != OpCode::Text {
                self.payload = if len == 0 { Payload::Header } else { Payload::Data { left: len, mask, phase: 0 } };
                return Ok(());
            }
        }
        self.payload = Payload::Gather { header, left: len };
        if len == 0 {
            self.gathered_frame(header, outbound)?;
        }
        Ok(())
    }

    /// A control or text frame whose payload is whole.
    fn gathered_frame(&mut self, header: Header, outbound: &mut BytesMut) -> Result<(), ReadError> {
        self.payload = Payload::Header;
        let mut payload = std::mem::take(&mut self.gathered);
        if let Some(key) = header.mask {
            ws_frame::apply_mask(&mut payload, key, 0);
        }
        match header.opcode {
            OpCode::Ping => self.put_frame(outbound, OpCode::Pong, &payload),
            OpCode::Close => {
                let code = close_code(&payload)?;
                self.close_received = true;
                self.close(outbound, code, "");
            }
            OpCode::Text => return Err(ReadError::TextFrame { utf8: text_is_utf8(&payload, header.fin) }),
            // Unsolicited pongs are allowed and mean nothing (RFC 6455 5.5.3); data frames
            // are never gathered.
            _ => {}
        }
        Ok(())
    }

    /// Appends `payload` to `out` as one frame of `opcode`.
    pub(crate) fn put_frame(&mut self, out: &mut BytesMut, opcode: OpCode, payload: &[u8]) {
        let start = out.len();
        out.extend_from_slice(payload);
        self.frame(out, start..out.len(), opcode);
    }

    /// Turns `out[range]` into one frame of `opcode`, masked if this end is a client.
    pub(crate) fn frame(&mut self, out: &mut BytesMut, range: Range<usize>, opcode: OpCode) {
        let mask = (self.role == Role::Client).then(|| self.keys.next());
        frame_in_place(out, range, opcode, mask);
    }

    /// Appends a close frame with `code` (none: an empty body) and `reason`, unless one was
    /// sent already.
    pub(crate) fn close(&mut self, out: &mut BytesMut, code: Option<u16>, reason: &str) {
        if std::mem::replace(&mut self.close_sent, true) {
            return;
        }
        let start = out.len();
        if let Some(code) = code {
            out.extend_from_slice(&code.to_be_bytes());
            out.extend_from_slice(reason.as_bytes());
        }
        self.frame(out, start..out.len(), OpCode::Close);
    }
}

/// The status code of a close frame's body, checked (RFC 6455 5.5.1 and 7.4).
fn close_code(body: &[u8]) -> Result<Option<u16>, ReadError> {
    match body {
        [] => Ok(None),
        [_] => Err(violation(
            "a close frame with a 1-byte body: a body starts with a 2-byte status code (RFC 6455 5.5.1)".into(),
        )),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if let Some(problem) = ws_frame::close_code_problem(code) {
                return Err(violation(problem));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(violation("a close frame whose reason is not valid UTF-8 (RFC 6455 5.5.1)".into()));
            }
            Ok(Some(code))
        }
    }
}

/// Whether a text frame's payload is UTF-8; a frame that is not its message's last may end
/// inside a character.
fn text_is_utf8(payload: &[u8], fin: bool) -> bool {
    match std::str::from_utf8(payload) {
        Ok(_) => true,
        Err(e) => !fin && e.error_len().is_none(),
    }
}

/// Masking keys for a client's frames (RFC 6455 5.3): SipHash of a counter under the keys
/// of a std `RandomState`, which the OS seeds. A key must be unpredictable to whoever sits
/// between client and server; this is not key material for anything else.
#[derive(Default)]
pub(crate) struct MaskKeys {
    hasher: std::collections::hash_map::RandomState,
    counter: u64,
}

impl MaskKeys {
    /// The next key.
    pub(crate) fn next(&mut self) -> [u8; 4] {
        self.counter += 1;
        (self.hasher.hash_one(self.counter) as u32).to_ne_bytes()
    }
}

#[cfg(test)]
mod tests;
