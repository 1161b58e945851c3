//! The URL a run targets: `ws://`, `wss://`, `tcp://` or `tls://`, host, port and (for
//! WebSocket) path, checked up front so that a bad URL is one clear error.

use anyhow::{Context, anyhow, bail};
use mock_broker::Transport;
use std::net::SocketAddr;

/// A parsed target URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: Transport,
    pub host: String,
    pub port: u16,
    /// The HTTP path of the WebSocket upgrade (`/` when the URL has none).
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let (scheme, rest) = url.split_once("://").with_context(|| format!("URL {url:?} has no scheme://"))?;
        let scheme = match scheme {
            "mqtt" => Transport::Tcp,
            "mqtts" => Transport::Tls,
            other => {
                other.parse().map_err(|_| anyhow!("URL {url:?}: scheme {other:?} is none of ws, wss, tcp, tls"))?
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = authority.rsplit_once(':').with_context(|| format!("URL {url:?} has no :port"))?;
        let port = port.parse().with_context(|| format!("URL {url:?}: port {port:?} is not a number of 0..=65535"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            bail!("URL {url:?} has no host");
        }
        Ok(Target { scheme, host: host.to_string(), port, path: path.to_string() })
    }

    /// The `Host` header's value.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Resolves the host once, preferring IPv4, so that no connection pays for a lookup.
    pub async fn resolve(&self) -> anyhow::Result<SocketAddr> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("resolving {}", self.host))?
            .collect();
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or(addrs.first())
            .copied()
            .with_context(|| format!("{} resolves to no address", self.host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme() {
        let ws = Target::parse("ws://127.0.0.1:8080/mqtt").unwrap();
        assert_eq!(
            (ws.scheme, ws.host.as_str(), ws.port, ws.path.as_str()),
            (Transport::Ws, "127.0.0.1", 8080, "/mqtt")
        );
        let tls = Target::parse("tls://localhost:8883").unwrap();
        assert_eq!((tls.scheme, tls.path.as_str()), (Transport::Tls, "/"));
        assert_eq!(Target::parse("wss://[::1]:1/x").unwrap().authority(), "[::1]:1");
    }

    #[test]
    fn refuses_bad_urls_by_name() {
        for (url, says) in [
            ("127.0.0.1:1", "no scheme"),
            ("http://h:1", "none of ws"),
            ("ws://h/x", "no :port"),
            ("ws://h:99999", "not a number"),
            ("ws://:1", "no host"),
        ] {
            let error = Target::parse(url).unwrap_err().to_string();
            assert!(error.contains(says), "{url}: {error}");
        }
    }
}
