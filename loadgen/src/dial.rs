//! Establishing one connection stage by stage — TCP connect, TLS handshake, WebSocket
//! upgrade, MQTT CONNECT→CONNACK — timing each, under one deadline; a failure names its stage.

use crate::identity::Credentials;
use crate::link::{Link, Stream};
use crate::mqtt::{self, CONNACK};
use crate::target::Target;
use crate::ws::{self, Masks};
use anyhow::Context;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

/// A stage of establishing a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Tcp,
    Tls,
    Ws,
    Mqtt,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Tcp, Stage::Tls, Stage::Ws, Stage::Mqtt];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Tcp => "tcp",
            Stage::Tls => "tls",
            Stage::Ws => "ws",
            Stage::Mqtt => "mqtt",
        }
    }
}

/// How long each stage took: `None` for a stage the transport does not have.
pub type StageTimes = [Option<Duration>; 4];

/// A failed connection: the stage and what went wrong.
#[derive(Debug)]
pub struct DialError {
    pub stage: Stage,
    pub message: String,
}

/// What every connection of a run shares.
pub struct Dialer {
    pub target: Target,
    pub addr: SocketAddr,
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Dialer {
    /// Resolves the target once and loads the CA to trust (wss and tls need `ca_pem`).
    pub async fn new(target: Target, ca_pem: Option<&[u8]>) -> anyhow::Result<Dialer> {
        let addr = target.resolve().await?;
        let tls = match (target.scheme.is_tls(), ca_pem) {
            (false, _) => None,
            (true, None) => anyhow::bail!("{}:// needs --ca FILE, the CA certificate to trust", target_scheme(&target)),
            (true, Some(pem)) => Some(tls_connector(pem, &target.host)?),
        };
        Ok(Dialer { target, addr, tls })
    }

    /// Establishes one connection signing in with `creds` and declaring `keepalive`
    /// seconds, all stages before `deadline`.
    pub async fn dial(
        &self,
        creds: &Credentials,
        keepalive: u16,
        seed: u32,
        deadline: Instant,
    ) -> Result<(Link, StageTimes), DialError> {
        let mut times: StageTimes = [None; 4];
        let tcp = timed(Stage::Tcp, deadline, &mut times, async {
            let tcp = tokio::net::TcpStream::connect(self.addr).await.map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            Ok(tcp)
        })
        .await?;
        let mut stream = match &self.tls {
            None => Stream::Tcp(tcp),
            Some((connector, name)) => {
                let handshake = async { connector.connect(name.clone(), tcp).await.map_err(|e| e.to_string()) };
                Stream::Tls(Box::new(timed(Stage::Tls, deadline, &mut times, handshake).await?))
            }
        };
        let mut masks = Masks::new(seed);
        let mut already_read = Vec::new();
        let websocket = if self.target.scheme.is_websocket() {
            let upgrade = upgrade(&mut stream, &self.target, &mut masks, &mut already_read);
            timed(Stage::Ws, deadline, &mut times, upgrade).await?;
            Some(masks)
        } else {
            None
        };
        let mut link = Link::new(stream, websocket, already_read);
        timed(Stage::Mqtt, deadline, &mut times, connect(&mut link, creds, keepalive)).await?;
        Ok((link, times))
    }
}

fn target_scheme(target: &Target) -> &'static str {
    if target.scheme.is_websocket() { "wss" } else { "tls" }
}

/// Runs one stage before `deadline`, recording its time; a failure or the deadline names it.
async fn timed<T>(
    stage: Stage,
    deadline: Instant,
    times: &mut StageTimes,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, DialError> {
    let start = Instant::now();
    let result = match tokio::time::timeout_at(deadline, work).await {
        Ok(result) => result,
        Err(_) => Err("timed out (the connection's deadline passed)".into()),
    };
    times[stage as usize] = Some(start.elapsed());
    result.map_err(|message| DialError { stage, message })
}

async fn upgrade(stream: &mut Stream, target: &Target, masks: &mut Masks, rest: &mut Vec<u8>) -> Result<(), String> {
    let request = ws::upgrade_request(&target.path, &target.authority(), &ws::key(masks));
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
    loop {
        if stream.read_into(rest).await.map_err(|e| format!("read: {e}"))? == 0 {
            return Err("the broker closed the connection during the upgrade".into());
        }
        if let Some(end) = ws::head_end(rest) {
            ws::check_answer(&rest[..end])?;
            rest.drain(..end);
            return Ok(());
        }
        if rest.len() > 16 * 1024 {
            return Err("an upgrade answer of more than 16 KiB".into());
        }
    }
}

async fn connect(link: &mut Link, creds: &Credentials, keepalive: u16) -> Result<(), String> {
    mqtt::connect(link.packet_buf(), creds, keepalive);
    link.end_packet();
    link.flush().await.map_err(|e| format!("write: {e}"))?;
    loop {
        let mut answer = None;
        link.read_packets(|p| {
            answer.get_or_insert((p.kind, p.word()));
        })
        .await?;
        match answer {
            None => continue,
            Some((CONNACK, Some(word))) if word & 0xFF == 0 => return Ok(()),
            Some((CONNACK, Some(word))) => return Err(format!("CONNACK refused with code {:#04x}", word & 0xFF)),
            Some((kind, _)) => return Err(format!("a packet of type {kind} instead of a CONNACK")),
        }
    }
}

fn tls_connector(ca_pem: &[u8], host: &str) -> anyhow::Result<(TlsConnector, ServerName<'static>)> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.context("reading the CA PEM")?).context("trusting the CA")?;
    }
    anyhow::ensure!(!roots.is_empty(), "the CA file holds no certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string()).with_context(|| format!("server name {host:?}"))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}
