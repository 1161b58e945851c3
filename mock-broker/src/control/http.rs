//! HTTP/1.1 plumbing of the control endpoint, on hyper: the accept loop (a bounded number of
//! connections, each with a read deadline on every request head), request bodies read with a
//! size limit and the same deadline, and JSON answers, errors included as
//! `{"error": "..."}`.

use super::routes::App;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// An answer of the endpoint.
pub(crate) type Reply = Response<Full<Bytes>>;

/// A request the endpoint refuses: its status and a sentence saying what was wrong.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// More JSON fields beside `error` (the route list of a 404).
    pub extra: Option<(&'static str, Value)>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), extra: None }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    fn reply(self) -> Reply {
        let mut body = serde_json::json!({"error": self.message});
        if let Some((key, value)) = self.extra {
            body[key] = value;
        }
        json(self.status, &body)
    }
}

/// A JSON answer.
pub(crate) fn json(status: StatusCode, body: &Value) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body.to_string() + "\n")));
    *reply.status_mut() = status;
    reply.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

/// Limits of the endpoint's connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub body: usize,
    pub read_timeout: Duration,
    pub connections: usize,
}

/// Reads a whole request body within the size limit and the read deadline.
pub(crate) async fn read_body(body: Incoming, limits: Limits) -> Result<Bytes, ApiError> {
    let collected = tokio::time::timeout(limits.read_timeout, Limited::new(body, limits.body).collect()).await;
    match collected {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {} ms", limits.read_timeout.as_millis()),
        )),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over the limit of {} bytes", limits.body),
        )),
        Ok(Err(e)) => Err(ApiError::bad_request(format!("reading the request body: {e}"))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Parses a JSON body, refusing it with serde's own message.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Serves HTTP/1.1 on `listener`, answering with `app`, until `stop` turns true; then ends
/// every connection and waits for them, so no task holds the broker any more.
pub(crate) async fn serve(listener: TcpListener, app: Arc<App>, mut stop: watch::Receiver<bool>) {
    let limits = app.limits;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) if connections.len() < limits.connections => {
                    connections.spawn(serve_connection(tcp, app.clone()));
                }
                // Over the limit: dropping the socket closes it.
                Ok(_) => tracing::warn!("control endpoint: over {} connections, one refused", limits.connections),
                Err(e) => {
                    tracing::warn!("control endpoint: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = crate::server::stopped(&mut stop) => break,
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(tcp: TcpStream, app: Arc<App>) {
    let read_timeout = app.limits.read_timeout;
    let service = service_fn(move |request: Request<Incoming>| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(answer(app.handle(request).await)) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(read_timeout)
        .serve_connection(TokioIo::new(tcp), service);
    if let Err(e) = connection.await {
        tracing::debug!("control endpoint connection: {e}");
    }
}

fn answer(result: Result<(StatusCode, Value), ApiError>) -> Reply {
    match result {
        Ok((status, body)) => json(status, &body),
        Err(e) => e.reply(),
    }
}
