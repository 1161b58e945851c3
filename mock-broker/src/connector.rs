//! The client side of the four transports: dial a broker URL and get a [`PacketIo`].
//!
//! Tests, the conformance suite and the reference client use it to reach a broker as a device
//! would: real TCP, real TLS verified against a CA PEM, a real WebSocket upgrade offering the
//! subprotocols asked for (`ws_upgrade`), then masked frames as a client sends them.

use crate::mqtt::Direction;
use crate::transport::Transport;
use crate::wire::{BoxIo, PacketIo};
use crate::ws_upgrade;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A URL the broker serves: `ws://host:port/path`, `wss://...`, `tcp://host:port`, `tls://...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    pub transport: Transport,
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// Why dialing failed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("bad URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("TCP connect to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("WebSocket upgrade: {0}")]
    WebSocket(String),
}

impl BrokerUrl {
    /// Parses a broker URL.
    pub fn parse(url: &str) -> Result<BrokerUrl, DialError> {
        let bad = |reason: &str| DialError::Url { url: url.into(), reason: reason.into() };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let transport: Transport = scheme.parse().map_err(|e: String| bad(&e))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = authority.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port = port.parse().map_err(|_| bad("the port is not a number"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(BrokerUrl { transport, host: host.into(), port, path: path.into() })
    }
}

/// How to dial.
#[derive(Clone, Debug)]
pub struct DialOptions {
    /// The CA certificate (PEM) to trust for wss and tls.
    pub ca_pem: Option<String>,
    /// The TLS server name to send and verify, when not the URL's host (T-HOST).
    pub server_name: Option<String>,
    /// The WebSocket subprotocols to offer (default `mqtt`); empty offers none.
    pub subprotocols: Vec<String>,
    /// The largest packet to accept from the broker.
    pub max_packet_len: usize,
    /// Whether to verify the server certificate (default true). False accepts any
    /// certificate, untrusted, expired or for another host: fault injection for the client
    /// that breaks C-TLS-VERIFY, never for real use.
    pub verify_tls: bool,
}

impl Default for DialOptions {
    fn default() -> Self {
        DialOptions {
            ca_pem: None,
            server_name: None,
            subprotocols: vec!["mqtt".into()],
            max_packet_len: 1 << 20,
            verify_tls: true,
        }
    }
}

/// Connects to `url` as a device would; the MQTT session is the caller's.
pub async fn dial(url: &str, options: &DialOptions) -> Result<PacketIo, DialError> {
    let url = BrokerUrl::parse(url)?;
    let addr = format!("{}:{}", bracket_ipv6(&url.host), url.port);
    let tcp = TcpStream::connect(&addr).await.map_err(|source| DialError::Connect { addr: addr.clone(), source })?;
    let _ = tcp.set_nodelay(true);
    let mut io: BoxIo = if url.transport.is_tls() {
        let name = options.server_name.clone().unwrap_or_else(|| url.host.clone());
        Box::new(tls_connect(tcp, &name, options).await?)
    } else {
        Box::new(tcp)
    };
    if !url.transport.is_websocket() {
        return Ok(PacketIo::stream(io, Direction::FromServer, options.max_packet_len));
    }
    let early =
        ws_upgrade::request(&mut io, &addr, &url.path, &options.subprotocols).await.map_err(DialError::WebSocket)?;
    let max_message_len = options.max_packet_len.saturating_add(crate::policy::WS_MESSAGE_MARGIN);
    Ok(PacketIo::websocket(io, early, Direction::FromServer, options.max_packet_len, max_message_len))
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') { format!("[{host}]") } else { host.to_string() }
}

async fn tls_connect(
    tcp: TcpStream,
    name: &str,
    options: &DialOptions,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, DialError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DialError::Tls(e.to_string()))?;
    let config = if options.verify_tls {
        builder.with_root_certificates(trusted_roots(options.ca_pem.as_deref())?).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    };
    let server_name =
        ServerName::try_from(name.to_string()).map_err(|e| DialError::Tls(format!("server name {name:?}: {e}")))?;
    TlsConnector::from(Arc::new(config)).connect(server_name, tcp).await.map_err(|e| DialError::Tls(e.to_string()))
}

/// The roots a verifying client trusts: the CA PEM's certificates, nothing else.
fn trusted_roots(ca_pem: Option<&str>) -> Result<RootCertStore, DialError> {
    let mut roots = RootCertStore::empty();
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| DialError::Tls(format!("reading the CA PEM: {e}")))?;
            roots.add(cert).map_err(|e| DialError::Tls(format!("adding the CA: {e}")))?;
        }
    }
    Ok(roots)
}

/// Fault injection (C-TLS-VERIFY): a verifier that trusts every server certificate. The
/// handshake signatures are still checked, so the TLS session itself is sound; only the
/// certificate's chain, validity and names are ignored.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_url_forms() {
        let ws = BrokerUrl::parse("ws://127.0.0.1:4000/mqtt").unwrap();
        assert_eq!(
            (ws.transport, ws.host.as_str(), ws.port, ws.path.as_str()),
            (Transport::Ws, "127.0.0.1", 4000, "/mqtt")
        );
        let tls = BrokerUrl::parse("tls://localhost:8883").unwrap();
        assert_eq!((tls.transport, tls.port, tls.path.as_str()), (Transport::Tls, 8883, "/"));
        assert_eq!(BrokerUrl::parse("tcp://[::1]:1883").unwrap().host, "::1");
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("127.0.0.1:1", "no scheme"),
            ("http://a:1", "unknown transport"),
            ("ws://a/mqtt", "no port"),
            ("ws://a:x/", "not a number"),
        ] {
            let err = BrokerUrl::parse(url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
        }
    }
}
