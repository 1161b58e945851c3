//! The four ways a device reaches the platform (T-WS, T-WSS, T-TCP, T-TLS), and the
//! listeners that serve them: one per transport, or the mux that serves all four on one port
//! (T-MUX).

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
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

/// The listener a connection arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Listener {
    /// The listener of one transport.
    Transport(Transport),
    /// The mux (T-MUX): one port for all four transports, told apart by the first bytes.
    Mux,
}

impl From<Transport> for Listener {
    fn from(transport: Transport) -> Self {
        Listener::Transport(transport)
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listener::Transport(transport) => transport.fmt(f),
            Listener::Mux => f.write_str("mux"),
        }
    }
}

/// As the fields of an event: `"transport": "ws"` for a transport's own listener (so those
/// events read as they always have), `"listener": "mux"` for the mux, whose transport is known
/// only once sniffed.
impl Serialize for Listener {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        match self {
            Listener::Transport(transport) => map.serialize_entry("transport", transport)?,
            Listener::Mux => map.serialize_entry("listener", "mux")?,
        }
        map.end()
    }
}
