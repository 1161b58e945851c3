//! A GET on the mock broker's control endpoint (HTTP/1.1 on loopback), enough for the bench's
//! checks (`/stats`, `/events/wait`) without an HTTP client crate.

use anyhow::{Context, bail};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// GETs `path` from the endpoint at `base` (`http://127.0.0.1:PORT`): the status and the body.
pub fn get(base: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let authority = base.strip_prefix("http://").with_context(|| format!("control URL {base:?} is not http://"))?;
    let mut stream = TcpStream::connect(authority).with_context(|| format!("connecting to {base}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(70)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).with_context(|| format!("reading the answer to GET {path}"))?;
    parse(&String::from_utf8_lossy(&answer))
}

/// The status code and body of an HTTP/1.1 answer (`Content-Length` or `Connection: close`).
fn parse(answer: &str) -> anyhow::Result<(u16, String)> {
    let Some((head, body)) = answer.split_once("\r\n\r\n") else { bail!("an answer without a head: {answer:.100}") };
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no status code")?;
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_status_and_body() {
        let answer = "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n\r\n{\"error\":\"x\"}";
        assert_eq!(super::parse(answer).unwrap(), (404, "{\"error\":\"x\"}".to_string()));
        assert!(super::parse("garbage").is_err());
    }
}
