//! A few lines of HTTP/1.1 client over a TcpStream for the control endpoint's tests, so
//! that they depend on no HTTP client library.

use super::PATIENCE;
use mock_broker::control::{self, ControlConfig, ControlServer};
use serde_json::Value;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Sends one request (`Connection: close`) and returns the status and the JSON body.
pub async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let raw = send_raw(addr, &request(method, path, body.unwrap_or(""))).await;
    let text = String::from_utf8(raw).expect("UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head end: {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status: {head}"));
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body:?}")))
}

pub fn request(method: &str, path: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: control\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Writes `bytes` and reads until the server closes.
pub async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.expect("the endpoint accepts");
    tcp.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    timeout(PATIENCE, tcp.read_to_end(&mut answer)).await.expect("the endpoint answers in time").unwrap();
    answer
}

pub async fn start(tb: &super::TestBroker, config: ControlConfig) -> ControlServer {
    control::serve(tb.broker.clone(), config).await.expect("the endpoint starts")
}

/// Sends one request and asserts it is refused with `status` and an error containing
/// `error`; returns the answer for further checks.
pub async fn assert_refused(
    addr: SocketAddr,
    (method, path, body): (&str, &str, Option<&str>),
    status: u16,
    error: &str,
) -> (u16, Value) {
    let answer = call(addr, method, path, body).await;
    let request = format!("{method} {path} {}", body.unwrap_or(""));
    assert_eq!(answer.0, status, "{request}: {answer:?}");
    assert!(error_of(&answer).contains(error), "{request}: {answer:?}");
    answer
}

pub fn error_of(answer: &(u16, Value)) -> &str {
    answer.1["error"].as_str().unwrap_or_else(|| panic!("no error in {answer:?}"))
}
