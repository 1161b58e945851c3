//! The four ways a device reaches the platform (T-WS, T-WSS, T-TCP, T-TLS).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A transport the broker listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// MQTT over plain WebSocket (T-WS).
    Ws,
    /// MQTT over WebSocket over TLS (T-WSS).
    Wss,
    /// MQTT over plain TCP (T-TCP).
    Tcp,
    /// MQTT over TLS direct (T-TLS).
    Tls,
}

impl Transport {
    /// All transports, in the order the broker reports them.
    pub const ALL: [Transport; 4] = [Transport::Ws, Transport::Wss, Transport::Tcp, Transport::Tls];

    /// The URL scheme, which is also the name used on the command line.
    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Wss => "wss",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// True for the transports that run inside TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Transport::Wss | Transport::Tls)
    }

    /// True for the WebSocket transports.
    pub fn is_websocket(self) -> bool {
        matches!(self, Transport::Ws | Transport::Wss)
    }

    /// The securemode a client must declare on this transport (A-SECUREMODE): 2 inside TLS,
    /// 3 outside.
    pub fn expected_securemode(self) -> &'static str {
        if self.is_tls() { "2" } else { "3" }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme())
    }
}

impl FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Transport::ALL
            .into_iter()
            .find(|t| t.scheme() == s)
            .ok_or_else(|| format!("unknown transport {s:?}: expected ws, wss, tcp or tls"))
    }
}
