//! The client's connection attempts as a case's transcript shows them: when each was
//! accepted, what it sent as CONNECT, whether it went online, how and when it ended. The
//! fault cases (reconnect, refused, pong-loss, resubscribe, pub-retry) judge on these.

use mock_broker::events::ConnectSummary;
use mock_broker::{CloseReason, ConnId, Event, EventKind};
use std::sync::Arc;
use std::time::Duration;

/// One TCP connection of the client.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub conn: ConnId,
    /// Broker time of the accept.
    pub accepted: Duration,
    pub connect: Option<ConnectSummary>,
    /// Broker time of CONNACK 0, when it went online.
    pub online: Option<Duration>,
    /// Broker time and reason of the close, when it closed.
    pub closed: Option<(Duration, CloseReason)>,
}

impl Attempt {
    /// True when the broker refused its CONNECT (by a rule or a fault).
    pub fn refused(&self) -> bool {
        matches!(self.closed, Some((_, CloseReason::Refused { .. })))
    }

    /// The `timestamp` param of its mqttClientId, if any.
    pub fn timestamp(&self) -> Option<&str> {
        let client_id = &self.connect.as_ref()?.client_id;
        let params = client_id.split_once('|')?.1;
        params.split([',', '|']).find_map(|p| p.trim().strip_prefix("timestamp="))
    }
}

/// Every connection of the transcript, in accept order.
pub fn attempts(transcript: &[Arc<Event>]) -> Vec<Attempt> {
    let mut attempts: Vec<Attempt> = Vec::new();
    for event in transcript {
        if let EventKind::Accepted { .. } = event.kind {
            attempts.push(Attempt { conn: event.conn, accepted: event.at, connect: None, online: None, closed: None });
            continue;
        }
        let Some(attempt) = attempts.iter_mut().find(|a| a.conn == event.conn) else { continue };
        match &event.kind {
            EventKind::Connect(connect) => attempt.connect = Some(connect.clone()),
            EventKind::Online { .. } => attempt.online = Some(event.at),
            EventKind::Closed { reason } => attempt.closed = Some((event.at, reason.clone())),
            _ => {}
        }
    }
    attempts
}

#[cfg(test)]
mod tests {
    use super::*;
    use mock_broker::Transport;
    use mock_broker::mqtt::Protocol;

    fn event(conn: ConnId, ms: u64, kind: EventKind) -> Arc<Event> {
        Arc::new(Event { conn, at: Duration::from_millis(ms), kind })
    }

    #[test]
    fn attempts_follow_each_connection_and_read_its_timestamp() {
        let connect = ConnectSummary {
            protocol: Protocol::V311,
            client_id: "c1|securemode=3,signmethod=hmacsha1,timestamp=789|".into(),
            username: None,
            password_len: None,
            keep_alive: 60,
            clean_session: true,
            will: false,
        };
        let peer = "127.0.0.1:1".parse().unwrap();
        let transcript = vec![
            event(1, 0, EventKind::Accepted { listener: Transport::Ws.into(), peer }),
            event(1, 5, EventKind::Connect(connect)),
            event(
                1,
                6,
                EventKind::Online { product_key: "pk".into(), device_name: "dn".into(), session_present: false },
            ),
            event(2, 7, EventKind::Accepted { listener: Transport::Ws.into(), peer }),
            event(1, 1000, EventKind::Closed { reason: CloseReason::ClosedByCloud }),
        ];
        let found = attempts(&transcript);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].online, Some(Duration::from_millis(6)));
        assert_eq!(found[0].closed, Some((Duration::from_secs(1), CloseReason::ClosedByCloud)));
        assert_eq!(found[0].timestamp(), Some("789"));
        assert!(found[1].closed.is_none() && found[1].timestamp().is_none());
    }
}
