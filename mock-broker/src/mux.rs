//! The mux (T-MUX): one listener serving all four transports, told apart by their first bytes.
//!
//! On the platform one port (443) carries TLS-MQTT, ws and wss. The mux imitates that and
//! goes further, plain transports included: a TLS ClientHello (0x16) means TLS, and inside it
//! `GET ` means wss and an MQTT CONNECT (0x10) means tls; outside TLS, `GET ` means ws and
//! 0x10 means tcp. Anything else is refused as a T-MUX violation naming the bytes received.
//!
//! The bytes are read, not peeked (a TLS stream cannot peek), and replayed in front of the
//! stream by [`Rewind`], so the handshakes and the decoder see the connection whole. The
//! reads run under the connection's connect deadline like every other handshake step.

use crate::events::Handshake;
use crate::fault::shaping::ShapedStream;
use crate::handshake::{Cause, Established, Failed, Handshaker};
use crate::rules::Rule;
use crate::transport::Transport;
use crate::verdict::Verdict;
use crate::wire::BoxIo;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// How a connection (or the stream inside its TLS) may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opening {
    /// A TLS record of type handshake: the ClientHello.
    Tls,
    /// An MQTT CONNECT's fixed header.
    Mqtt,
    /// An HTTP GET: the WebSocket upgrade.
    Http,
}

impl Opening {
    /// The bytes that tell this opening, and how a verdict names them.
    fn signature(self) -> (&'static [u8], &'static str) {
        match self {
            Opening::Tls => (&[0x16], "a TLS ClientHello (0x16)"),
            Opening::Mqtt => (&[0x10], "an MQTT CONNECT (0x10)"),
            Opening::Http => (b"GET ", "an HTTP upgrade (GET )"),
        }
    }
}

/// What may open a connection on the mux.
const OUTSIDE: [Opening; 3] = [Opening::Tls, Opening::Mqtt, Opening::Http];
/// What may open the stream inside the mux's TLS.
const INSIDE_TLS: [Opening; 2] = [Opening::Mqtt, Opening::Http];
/// The longest signature: no more is read before deciding.
const SNIFF_LEN: usize = 4;

/// The handshakes of a mux connection: sniff, then TLS and sniff again if it is TLS, then
/// the WebSocket upgrade for ws and wss. `sniffed` hears the transport as soon as it is known.
pub(crate) async fn establish(
    handshaker: &Handshaker<'_>,
    mut tcp: ShapedStream,
    sniffed: impl FnOnce(Transport),
) -> Result<Established, Failed> {
    let mut handshake = Handshake::default();
    let (opening, seen) = sniff(&mut tcp, &OUTSIDE, "").await?;
    let tcp = Rewind::new(seen, tcp);
    let (transport, io): (Transport, BoxIo) = match opening {
        Opening::Mqtt => (Transport::Tcp, Box::new(tcp)),
        Opening::Http => (Transport::Ws, Box::new(tcp)),
        Opening::Tls => {
            let mut tls = handshaker.tls(tcp, &mut handshake).await?;
            let (inner, seen) = sniff(&mut tls, &INSIDE_TLS, "inside TLS, ").await?;
            let transport = if inner == Opening::Http { Transport::Wss } else { Transport::Tls };
            (transport, Box::new(Rewind::new(seen, tls)))
        }
    };
    sniffed(transport);
    handshaker.mqtt(io, transport, handshake).await
}

/// Reads until the bytes seen match one of `openings`, or none can match any more.
async fn sniff<S: AsyncRead + Unpin>(
    io: &mut S,
    openings: &[Opening],
    context: &str,
) -> Result<(Opening, Vec<u8>), Failed> {
    let mut buf = [0u8; SNIFF_LEN];
    let mut len = 0;
    loop {
        let seen = &buf[..len];
        let mut possible = false;
        for &opening in openings {
            let (signature, _) = opening.signature();
            if seen.starts_with(signature) {
                return Ok((opening, seen.to_vec()));
            }
            possible |= signature.starts_with(seen);
        }
        if !possible {
            return Err(refusal(openings, context, seen));
        }
        match io.read(&mut buf[len..]).await {
            Ok(0) => {
                let message = format!("closed by the client after {len} of the first bytes (T-MUX)");
                return Err(Failed { message, verdicts: Vec::new(), cause: Cause::ClientClosed });
            }
            Ok(n) => len += n,
            Err(e) => return Err(Failed::new(format!("reading the first bytes (T-MUX): {e}"))),
        }
    }
}

/// The T-MUX refusal of first bytes no opening starts with.
fn refusal(openings: &[Opening], context: &str, seen: &[u8]) -> Failed {
    let names: Vec<&str> = openings.iter().map(|o| o.signature().1).collect();
    let expected = match names.split_last() {
        Some((last, [])) => format!("{context}{last}"),
        Some((last, rest)) => format!("{context}{} or {last}", rest.join(", ")),
        None => format!("{context}nothing"),
    };
    let received = describe(seen);
    let verdict = Verdict::fail(Rule::TMux, expected.clone(), &received)
        .with_detail("the mux tells the transports apart by their first bytes; the connection is closed");
    Failed {
        message: format!("expected {expected}; received {received}"),
        verdicts: vec![verdict],
        cause: Cause::Violation(Rule::TMux),
    }
}

/// Bytes in hex, with their text when they are printable ASCII.
fn describe(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("0x{b:02x}")).collect();
    let hex = hex.join(" ");
    if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{hex} ({:?})", String::from_utf8_lossy(bytes))
    } else {
        hex
    }
}

/// A stream with bytes already read from it put back in front.
pub(crate) struct Rewind<S> {
    prefix: Vec<u8>,
    /// How much of `prefix` has been read again.
    replayed: usize,
    inner: S,
}

impl<S> Rewind<S> {
    pub(crate) fn new(prefix: Vec<u8>, inner: S) -> Rewind<S> {
        Rewind { prefix, replayed: 0, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.replayed < this.prefix.len() {
            let rest = &this.prefix[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sniffed(bytes: &[u8], openings: &[Opening]) -> Result<(Opening, Vec<u8>), Failed> {
        let mut io = bytes;
        sniff(&mut io, openings, "").await
    }

    #[tokio::test]
    async fn each_opening_is_told_from_its_first_bytes() {
        for (bytes, opening) in [
            (&[0x16, 0x03, 0x01][..], Opening::Tls),
            (&[0x10, 0x2a][..], Opening::Mqtt),
            (&b"GET /mqtt HTTP/1.1\r\n"[..], Opening::Http),
        ] {
            let (found, seen) = sniffed(bytes, &OUTSIDE).await.unwrap_or_else(|f| panic!("{}", f.message));
            assert_eq!(found, opening);
            assert!(bytes.starts_with(&seen) && seen.len() <= SNIFF_LEN, "{seen:?}");
        }
    }

    #[tokio::test]
    async fn other_bytes_are_a_named_t_mux_refusal() {
        let failed = sniffed(b"POST / HTTP/1.1", &OUTSIDE).await.expect_err("refused");
        assert_eq!(failed.cause, Cause::Violation(Rule::TMux));
        let verdict = &failed.verdicts[0];
        assert_eq!(verdict.expected, "a TLS ClientHello (0x16), an MQTT CONNECT (0x10) or an HTTP upgrade (GET )");
        assert_eq!(verdict.received, r#"0x50 0x4f 0x53 0x54 ("POST")"#);
        let failed = sniffed(b"GEX", &OUTSIDE).await.expect_err("refused");
        assert_eq!(failed.verdicts[0].received, r#"0x47 0x45 0x58 ("GEX")"#);
        let failed = sniffed(&[0x16], &INSIDE_TLS).await.expect_err("no TLS inside TLS");
        assert_eq!(failed.verdicts[0].expected, "an MQTT CONNECT (0x10) or an HTTP upgrade (GET )");
        assert_eq!(failed.verdicts[0].received, "0x16");
    }

    #[tokio::test]
    async fn a_close_before_the_decision_is_the_client_closing() {
        for bytes in [&b""[..], b"GE"] {
            let failed = sniffed(bytes, &OUTSIDE).await.expect_err("closed");
            assert_eq!(failed.cause, Cause::ClientClosed, "{bytes:?}");
        }
    }

    #[tokio::test]
    async fn rewind_replays_what_was_read_then_reads_on() {
        let mut io = Rewind::new(b"GE".to_vec(), &b"T /"[..]);
        let mut all = String::new();
        io.read_to_string(&mut all).await.unwrap();
        assert_eq!(all, "GET /");
    }
}
