//! The HTTP/1.1 upgrade to WebSocket (RFC 6455 section 4), at both ends: the broker reads and
//! checks a client's request and answers it, the connector sends one and checks the answer.
//!
//! Heads are read with a size cap ([`MAX_HEAD_LEN`]) and parsed with `httparse`; the deadline
//! is the caller's (the broker's `Policy::ws_upgrade_timeout`). Bytes that arrive behind a
//! head (a client that sends its CONNECT without waiting for the answer) are handed back, to
//! be read as the first frames. What the broker makes of a valid request (the path
//! allow-list, the subprotocol it echoes, the verdicts) is [`crate::handshake`]'s.

use crate::wire::BoxIo;
use bytes::{BufMut, BytesMut};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest request or response head read (8 KiB, what common HTTP servers allow): a
/// longer one is refused without reading on.
pub const MAX_HEAD_LEN: usize = 8 * 1024;
/// The most header fields a head may have.
const MAX_HEADERS: usize = 64;
/// How much more of a head one read may take.
const HEAD_CHUNK: usize = 1024;
/// The GUID a server appends to the client's key (RFC 6455 1.3).
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A valid upgrade request, as the broker needs it.
pub(crate) struct UpgradeRequest {
    /// The request target's path, without the query.
    pub path: String,
    pub host: Option<String>,
    /// The subprotocols offered, in order.
    pub subprotocols: Vec<String>,
    /// `Sec-WebSocket-Key`.
    pub key: String,
}

/// A head read: its bytes, and the bytes that came behind it.
pub(crate) struct Head {
    pub head: BytesMut,
    pub rest: BytesMut,
}

/// Reads one HTTP head from `io`; `parse` says how long the head is once `buf` holds all of
/// it. `what` names the head in errors.
async fn read_head(io: &mut BoxIo, what: &str, parse: fn(&[u8]) -> httparse::Result<usize>) -> Result<Head, String> {
    let mut buf = BytesMut::new();
    loop {
        match parse(&buf).map(head_len) {
            Ok(Some(len)) => {
                let rest = if buf.len() > len { BytesMut::from(&buf[len..]) } else { BytesMut::new() };
                buf.truncate(len);
                return Ok(Head { head: buf, rest });
            }
            Ok(None) if buf.len() >= MAX_HEAD_LEN => {
                return Err(format!("the {what} head is over {MAX_HEAD_LEN} bytes"));
            }
            Ok(None) => {}
            Err(e) => return Err(format!("malformed {what} head: {e}")),
        }
        buf.reserve(HEAD_CHUNK);
        let mut room = (&mut buf).limit(HEAD_CHUNK);
        let read = io.read_buf(&mut room).await.map_err(|e| format!("reading the {what} head: {e}"))?;
        if read == 0 {
            return Err(format!("the connection closed after {} bytes of the {what} head", buf.len()));
        }
    }
}

/// Reads and checks a client's upgrade request (RFC 6455 4.2.1). `Err` says what was wrong,
/// to be answered with 400.
pub(crate) async fn read_request(io: &mut BoxIo) -> Result<(UpgradeRequest, BytesMut), String> {
    let Head { head, rest } = read_head(io, "request", request_len).await?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    request.parse(&head).map_err(|e| format!("malformed request head: {e}"))?;
    let method = request.method.unwrap_or_default();
    if method != "GET" {
        return Err(format!("the method is {method}; an upgrade is a GET (RFC 6455 4.1)"));
    }
    if request.version != Some(1) {
        return Err("HTTP/1.0: an upgrade needs HTTP/1.1 (RFC 6455 4.1)".into());
    }
    let fields = Fields(request.headers);
    if !fields.has_token("upgrade", "websocket") {
        return Err("no Upgrade: websocket header (RFC 6455 4.2.1)".into());
    }
    if !fields.has_token("connection", "upgrade") {
        return Err("the Connection header does not name Upgrade (RFC 6455 4.2.1)".into());
    }
    match fields.first("sec-websocket-version") {
        Some("13") => {}
        Some(other) => {
            return Err(format!("Sec-WebSocket-Version is {other:?}; the broker speaks 13 (RFC 6455 4.2.1)"));
        }
        None => return Err("no Sec-WebSocket-Version header (RFC 6455 4.2.1)".into()),
    }
    let key = match fields.first("sec-websocket-key") {
        Some(key) if !key.is_empty() => key.to_string(),
        _ => return Err("no Sec-WebSocket-Key header (RFC 6455 4.2.1)".into()),
    };
    let upgrade = UpgradeRequest {
        path: target_path(request.path.unwrap_or("/")),
        host: fields.first("host").map(str::to_string),
        subprotocols: fields.list("sec-websocket-protocol").map(str::to_string).collect(),
        key,
    };
    Ok((upgrade, rest))
}

/// Answers an upgrade request with 101, echoing `subprotocol` if one was chosen.
pub(crate) async fn accept(io: &mut BoxIo, key: &str, subprotocol: Option<&str>) -> std::io::Result<()> {
    let protocol = subprotocol.map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n")).unwrap_or_default();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{protocol}\r\n",
        accept_key(key)
    );
    write_flushed(io, response.as_bytes()).await
}

/// Refuses an upgrade request with `status`, saying `why` in the body; the connection then
/// ends. A failed write changes nothing: the upgrade has failed either way.
pub(crate) async fn refuse(io: &mut BoxIo, status: u16, why: &str) {
    let reason = hyper::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Refused");
    let body = format!("{why}\n");
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = write_flushed(io, response.as_bytes()).await;
}

/// Sends an upgrade request for `path` on `host` (the authority, port included) offering
/// `subprotocols`, and checks the answer (RFC 6455 4.1). Returns the bytes that came behind
/// the answer.
pub(crate) async fn request(
    io: &mut BoxIo,
    host: &str,
    path: &str,
    subprotocols: &[String],
) -> Result<BytesMut, String> {
    let key = client_key();
    let protocols = if subprotocols.is_empty() {
        String::new()
    } else {
        format!("Sec-WebSocket-Protocol: {}\r\n", subprotocols.join(", "))
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n{protocols}\r\n"
    );
    write_flushed(io, request.as_bytes()).await.map_err(|e| format!("writing the request: {e}"))?;
    let Head { head, rest } = read_head(io, "response", response_len).await?;
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(&head).map_err(|e| format!("malformed response head: {e}"))?;
    let code = response.code.unwrap_or_default();
    if code != 101 {
        return Err(format!("the server answered HTTP {code} {}", response.reason.unwrap_or_default()));
    }
    let fields = Fields(response.headers);
    if !fields.has_token("upgrade", "websocket") || !fields.has_token("connection", "upgrade") {
        return Err("the 101 answer lacks Upgrade: websocket or Connection: Upgrade (RFC 6455 4.1)".into());
    }
    let expected = accept_key(&key);
    match fields.first("sec-websocket-accept") {
        Some(accept) if accept == expected => {}
        other => return Err(format!("Sec-WebSocket-Accept is {other:?}, expected {expected:?} (RFC 6455 4.1)")),
    }
    if let Some(chosen) = fields.first("sec-websocket-protocol")
        && !subprotocols.iter().any(|p| p == chosen)
    {
        return Err(format!("the server chose the subprotocol {chosen:?}, which was not offered (RFC 6455 4.1)"));
    }
    Ok(rest)
}

/// The length of the request head `buf` starts with, once it is all there.
fn request_len(buf: &[u8]) -> httparse::Result<usize> {
    httparse::Request::new(&mut [httparse::EMPTY_HEADER; MAX_HEADERS]).parse(buf)
}

/// The length of the response head `buf` starts with, once it is all there.
fn response_len(buf: &[u8]) -> httparse::Result<usize> {
    httparse::Response::new(&mut [httparse::EMPTY_HEADER; MAX_HEADERS]).parse(buf)
}

/// A head's length, once it is complete.
fn head_len(status: httparse::Status<usize>) -> Option<usize> {
    match status {
        httparse::Status::Complete(len) => Some(len),
        httparse::Status::Partial => None,
    }
}

async fn write_flushed(io: &mut BoxIo, bytes: &[u8]) -> std::io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// The header fields of a head, looked up by name in any case.
struct Fields<'h, 'b>(&'h [httparse::Header<'b>]);

impl<'b> Fields<'_, 'b> {
    /// Every value of the field `name` that is text.
    fn all(&self, name: &'static str) -> impl Iterator<Item = &'b str> + '_ {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    }

    fn first(&self, name: &'static str) -> Option<&'b str> {
        self.all(name).next()
    }

    /// The comma-separated items of every value of `name`, trimmed, empty ones left out.
    fn list(&self, name: &'static str) -> impl Iterator<Item = &'b str> + '_ {
        self.all(name).flat_map(|v| v.split(',')).map(str::trim).filter(|item| !item.is_empty())
    }

    /// Whether `name` lists `token`, in any case.
    fn has_token(&self, name: &'static str, token: &str) -> bool {
        self.list(name).any(|item| item.eq_ignore_ascii_case(token))
    }
}

/// The path of a request target: origin form (`/mqtt?x`) or absolute form
/// (`http://host/mqtt`), without its query.
fn target_path(target: &str) -> String {
    let path = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => target,
    };
    path.split(['?', '#']).next().unwrap_or("/").to_string()
}

/// `Sec-WebSocket-Accept` for a client's key (RFC 6455 4.2.2).
pub(crate) fn accept_key(key: &str) -> String {
    let digest = Sha1::new().chain_update(key.as_bytes()).chain_update(ACCEPT_GUID.as_bytes()).finalize();
    base64(&digest)
}

/// A client's `Sec-WebSocket-Key`: 16 unpredictable bytes in base64 (RFC 6455 4.1).
fn client_key() -> String {
    let mut keys = crate::wire::ws_stream::MaskKeys::default();
    let bytes: Vec<u8> = (0..4).flat_map(|_| keys.next()).collect();
    base64(&bytes)
}

/// Standard base64 with padding (RFC 4648 section 4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let bits = group.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(bits >> (18 - 6 * i) & 0x3F) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_rfc_6455s_example() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn base64_pads_as_rfc_4648_says() {
        for (input, expected) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(input.as_bytes()), expected, "{input}");
        }
    }

    #[test]
    fn a_target_path_drops_the_query_and_the_authority() {
        for (target, path) in
            [("/mqtt", "/mqtt"), ("/mqtt?x=1", "/mqtt"), ("http://h:1/a/b?c", "/a/b"), ("http://h", "/")]
        {
            assert_eq!(target_path(target), path, "{target}");
        }
    }

    #[test]
    fn a_client_key_is_16_bytes_in_base64() {
        let key = client_key();
        assert_eq!(key.len(), 24);
        assert!(key.ends_with("=="));
        assert_ne!(key, client_key(), "keys differ");
    }
}
