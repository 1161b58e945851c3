//! The TLS and WebSocket handshakes that come before MQTT (T-WS, T-WSS, T-TLS, T-HOST,
//! T-WS-PATH, T-WS-SUBPROTO).
//!
//! TLS is done once with tokio-rustls for wss and tls alike; the WebSocket upgrade runs on
//! the plain or TLS stream. The steps are separate so the mux (T-MUX, [`crate::mux`]) can
//! sniff between them. The upgrade echoes the MQTT subprotocol the client offers, since
//! several real clients fail the handshake otherwise. Each step has a deadline of its own
//! (`Policy::tls_handshake_timeout`, `Policy::ws_upgrade_timeout`), inside the connection's
//! connect timeout, and a step that overruns it names itself ([`Cause::Timeout`]).

use crate::events::Handshake;
use crate::fault::armory::{ConnFaults, Faults, TlsFate};
use crate::fault::shaping::ShapedStream;
use crate::mqtt::Direction;
use crate::rules::Rule;
use crate::transport::Transport;
use crate::verdict::Verdict;
use crate::wire::{BoxIo, PacketIo};
use crate::ws_upgrade::{self, UpgradeRequest};
use rustls::ServerConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The subprotocols an MQTT client may offer, in the order the broker prefers them.
const MQTT_SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// What the handshakes produced: the packet stream, what was learnt, and the verdicts.
pub struct Established {
    pub io: PacketIo,
    /// The transport served: the listener's, or the one the mux sniffed.
    pub transport: Transport,
    pub handshake: Handshake,
    pub verdicts: Vec<Verdict>,
}

/// Why a handshake failed, with the verdicts reached before it did.
pub struct Failed {
    pub message: String,
    pub verdicts: Vec<Verdict>,
    pub cause: Cause,
}

/// Who ended a failed handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The handshake itself failed (TLS, the WebSocket upgrade, a read error).
    Handshake,
    /// An injected fault ended it, not the client.
    Fault,
    /// The client broke this rule (T-MUX: first bytes no transport starts with).
    Violation(Rule),
    /// The client closed the connection before the handshakes were done.
    ClientClosed,
    /// The step `stage` (`tls` or `websocket`) overran its deadline `after`.
    Timeout { stage: &'static str, after: Duration },
}

impl Failed {
    pub(crate) fn new(message: String) -> Failed {
        Failed { message, verdicts: Vec::new(), cause: Cause::Handshake }
    }

    fn fault(message: String) -> Failed {
        Failed { message, verdicts: Vec::new(), cause: Cause::Fault }
    }
}

/// How long a `tls_close_mid_handshake` fault waits for the start of the ClientHello.
const MID_HANDSHAKE_READ: Duration = Duration::from_secs(5);

/// The faults the handshakes consult, and the connection they are asked for.
pub struct HandshakeFaults<'a> {
    pub(crate) faults: &'a Faults,
    pub(crate) view: &'a ConnFaults,
}

/// What the handshakes of one connection need: the TLS configuration, the WebSocket path
/// allow-list, the size limits and the faults.
pub struct Handshaker<'a> {
    pub(crate) tls: Option<&'a Arc<ServerConfig>>,
    pub(crate) ws_paths: &'a [String],
    pub(crate) max_packet_len: usize,
    pub(crate) max_ws_message_len: usize,
    /// The deadline of the TLS handshake.
    pub(crate) tls_timeout: Duration,
    /// The deadline of the WebSocket upgrade.
    pub(crate) ws_timeout: Duration,
    pub(crate) faults: HandshakeFaults<'a>,
}

/// Runs one handshake step within its deadline.
async fn within<T>(
    stage: &'static str,
    after: Duration,
    step: impl Future<Output = Result<T, Failed>>,
) -> Result<T, Failed> {
    tokio::time::timeout(after, step).await.unwrap_or_else(|_| {
        Err(Failed {
            message: format!("the {stage} handshake did not finish within {} ms", after.as_millis()),
            verdicts: Vec::new(),
            cause: Cause::Timeout { stage, after },
        })
    })
}

impl Handshaker<'_> {
    /// Runs the TLS handshake (wss, tls) and the WebSocket upgrade (ws, wss) of `transport`.
    pub async fn establish(&self, tcp: ShapedStream, transport: Transport) -> Result<Established, Failed> {
        let mut handshake = Handshake::default();
        let io: BoxIo = if transport.is_tls() { Box::new(self.tls(tcp, &mut handshake).await?) } else { Box::new(tcp) };
        self.mqtt(io, transport, handshake).await
    }

    /// The TLS handshake on `tcp`, through the TLS faults; records the SNI in `handshake`.
    pub(crate) async fn tls<S>(&self, mut tcp: S, handshake: &mut Handshake) -> Result<TlsStream<S>, Failed>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let Some(config) = self.tls else { return Err(Failed::new("no TLS configuration".into())) };
        let config = match self.faults.faults.tls(self.faults.view) {
            TlsFate::Normal => config.clone(),
            TlsFate::Serve(bad) => bad,
            TlsFate::CloseMidHandshake => {
                let mut hello = [0u8; 5];
                let _ = tokio::time::timeout(MID_HANDSHAKE_READ, tcp.read(&mut hello)).await;
                return Err(Failed::fault("the fault tls_close_mid_handshake closed the TLS handshake".into()));
            }
        };
        let accept = async {
            TlsAcceptor::from(config).accept(tcp).await.map_err(|e| Failed::new(format!("TLS handshake: {e}")))
        };
        let stream = within("tls", self.tls_timeout, accept).await?;
        handshake.server_name = stream.get_ref().1.server_name().map(str::to_string);
        Ok(stream)
    }

    /// MQTT on `io` (TCP, or TLS already handshaken): straight on the stream for tcp and tls,
    /// after the WebSocket upgrade for ws and wss.
    pub(crate) async fn mqtt(
        &self,
        io: BoxIo,
        transport: Transport,
        handshake: Handshake,
    ) -> Result<Established, Failed> {
        if !transport.is_websocket() {
            return Ok(Established {
                io: PacketIo::stream(io, Direction::FromClient, self.max_packet_len),
                transport,
                handshake,
                verdicts: Vec::new(),
            });
        }
        let refuse = self.faults.faults.upgrade(self.faults.view);
        let upgrading = upgrade(io, handshake, self.ws_paths, self.max_packet_len, self.max_ws_message_len, refuse);
        let (io, handshake, verdicts) = within("websocket", self.ws_timeout, upgrading).await?;
        Ok(Established { io, transport, handshake, verdicts })
    }
}

/// The WebSocket upgrade of a connection: the request read and checked
/// ([`crate::ws_upgrade`]), the path allow-list and the subprotocol ([`inspect_upgrade`]),
/// the `refuse_upgrade` fault, then 101.
pub(crate) async fn upgrade(
    mut io: BoxIo,
    mut handshake: Handshake,
    ws_paths: &[String],
    max_packet_len: usize,
    max_ws_message_len: usize,
    refuse: Option<u16>,
) -> Result<(PacketIo, Handshake, Vec<Verdict>), Failed> {
    let mut verdicts = Vec::new();
    let (request, early) = match ws_upgrade::read_request(&mut io).await {
        Ok(read) => read,
        Err(bad) => {
            ws_upgrade::refuse(&mut io, 400, &bad).await;
            return Err(Failed::new(format!("WebSocket upgrade: {bad}; answered 400")));
        }
    };
    let subprotocol = match inspect_upgrade(&request, ws_paths, &mut handshake, &mut verdicts) {
        Ok(subprotocol) => subprotocol,
        Err(refusal) => {
            ws_upgrade::refuse(&mut io, 404, &refusal).await;
            return Err(Failed {
                message: format!("WebSocket upgrade: {refusal}; answered 404"),
                verdicts,
                cause: Cause::Handshake,
            });
        }
    };
    if let Some(status) = refuse {
        ws_upgrade::refuse(&mut io, status, "refused by the fault refuse_upgrade").await;
        return Err(Failed {
            message: format!("the fault refuse_upgrade refused the WebSocket upgrade with HTTP {status}"),
            verdicts,
            cause: Cause::Fault,
        });
    }
    if let Err(e) = ws_upgrade::accept(&mut io, &request.key, subprotocol).await {
        return Err(Failed {
            message: format!("WebSocket upgrade: writing the answer: {e}"),
            verdicts,
            cause: Cause::Handshake,
        });
    }
    let io = PacketIo::websocket(io, early, Direction::FromClient, max_packet_len, max_ws_message_len);
    Ok((io, handshake, verdicts))
}

/// Records the request, applies the path allow-list and picks the subprotocol to echo;
/// `Err` says why the path is not served (a 404).
fn inspect_upgrade(
    request: &UpgradeRequest,
    ws_paths: &[String],
    handshake: &mut Handshake,
    verdicts: &mut Vec<Verdict>,
) -> Result<Option<&'static str>, String> {
    let path = request.path.clone();
    handshake.ws_path = Some(path.clone());
    handshake.host = request.host.clone();
    handshake.subprotocols = request.subprotocols.clone();

    let allowed: std::borrow::Cow<'static, str> =
        if ws_paths.is_empty() { "any path".into() } else { ws_paths.join(" or ").into() };
    if !ws_paths.is_empty() && !ws_paths.contains(&path) {
        let message = format!("the path {path} is not served (served: {allowed})");
        verdicts.push(Verdict::fail(Rule::TWsPath, allowed, path));
        return Err(message);
    }
    verdicts.push(Verdict::pass(Rule::TWsPath, allowed, path));

    let chosen = MQTT_SUBPROTOCOLS.into_iter().find(|p| handshake.subprotocols.iter().any(|o| o == p));
    let offered =
        if handshake.subprotocols.is_empty() { "none".to_string() } else { handshake.subprotocols.join(", ") };
    match chosen {
        Some(protocol) => {
            handshake.subprotocol = Some(protocol.to_string());
            verdicts.push(Verdict::pass(Rule::TWsSubproto, "mqtt or mqttv3.1 offered", offered));
        }
        None => verdicts.push(
            Verdict::warn(Rule::TWsSubproto, "mqtt or mqttv3.1 offered", offered)
                .with_detail("accepted without a subprotocol; several real servers and clients require mqtt"),
        ),
    }
    Ok(chosen)
}
