//! The control endpoint's memory of the transcript: every broker event, numbered from 1 in
//! the order it happened (its `seq`, which is also the cursor a client passes back), kept in
//! a bounded window, with the device each connection belongs to.
//!
//! A client that asks for events after a cursor older than the window is told how many it
//! missed. If the recorder itself falls behind the broker's bus, the lost events still use up
//! their numbers, so they show as missed too.

use crate::events::{ConnId, Event, EventKind, EventStream, StreamError};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;
use tokio::time::Instant;

/// One recorded event.
struct Entry {
    seq: u64,
    conn: ConnId,
    kind: &'static str,
    /// `productKey/deviceName` of its connection, when known.
    device: Option<String>,
    /// The transcript's JSON plus `seq`.
    json: Value,
}

struct State {
    entries: VecDeque<Entry>,
    /// The device of each open connection, from its CONNECT's username, then from `online`.
    devices: HashMap<ConnId, String>,
}

/// The bounded, numbered event history.
pub(crate) struct History {
    state: Mutex<State>,
    capacity: usize,
    /// The newest event's number (0 before the first).
    head: watch::Sender<u64>,
}

/// Which events a long poll waits for.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub kind: Option<String>,
    pub conn: Option<ConnId>,
    pub device: Option<String>,
}

impl Filter {
    fn accepts(&self, entry: &Entry) -> bool {
        self.kind.as_deref().is_none_or(|k| k == entry.kind)
            && self.conn.is_none_or(|c| c == entry.conn)
            && self.device.as_ref().is_none_or(|d| entry.device.as_ref() == Some(d))
    }
}

/// Events after a cursor.
#[derive(Debug, PartialEq)]
pub(crate) struct Page {
    pub events: Vec<Value>,
    /// The cursor for the next call: the last event returned, or the newest.
    pub next: u64,
    /// Events after the cursor that are no longer kept.
    pub missed: u64,
}

/// Why a cursor cannot be read from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AheadOfHead {
    pub cursor: u64,
    pub head: u64,
}

impl History {
    pub(crate) fn new(capacity: usize) -> Arc<History> {
        let state = State { entries: VecDeque::with_capacity(capacity.min(1024)), devices: HashMap::new() };
        Arc::new(History { state: Mutex::new(state), capacity: capacity.max(1), head: watch::channel(0).0 })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records events from `stream` until the broker is gone.
    pub(crate) async fn record_from(self: Arc<Self>, mut stream: EventStream) {
        loop {
            match stream.recv().await {
                Ok(event) => self.record(&event),
                Err(StreamError::Lagged(lost)) => self.head.send_modify(|head| *head += lost),
                Err(StreamError::Closed) => return,
            }
        }
    }

    fn record(&self, event: &Event) {
        let mut state = self.state();
        let device = match &event.kind {
            EventKind::Connect(connect) => {
                let named = connect.username.as_deref().and_then(|u| u.split_once('&'));
                named.map(|(dn, pk)| format!("{pk}/{dn}"))
            }
            EventKind::Online { product_key, device_name, .. } => Some(format!("{product_key}/{device_name}")),
            _ => None,
        };
        if let Some(device) = device {
            state.devices.insert(event.conn, device);
        }
        let device = match event.kind {
            EventKind::Closed { .. } => state.devices.remove(&event.conn),
            _ => state.devices.get(&event.conn).cloned(),
        };
        let seq = *self.head.borrow() + 1;
        let mut json = serde_json::to_value(event).unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}));
        if let Value::Object(map) = &mut json {
            map.insert("seq".into(), seq.into());
        }
        if state.entries.len() == self.capacity {
            state.entries.pop_front();
        }
        state.entries.push_back(Entry { seq, conn: event.conn, kind: event.kind.name(), device, json });
        // Under the lock, so no reader sees an entry newer than the head.
        self.head.send_replace(seq);
    }

    /// At most `limit` events after `cursor`, oldest first.
    pub(crate) fn after(&self, cursor: u64, limit: usize) -> Result<Page, AheadOfHead> {
        let state = self.state();
        let head = *self.head.borrow();
        if cursor > head {
            return Err(AheadOfHead { cursor, head });
        }
        let events: Vec<&Entry> = state.entries.iter().filter(|e| e.seq > cursor).take(limit).collect();
        let next = events.last().map_or(head, |e| e.seq);
        let missed = next - cursor - events.len() as u64;
        Ok(Page { events: events.into_iter().map(|e| e.json.clone()).collect(), next, missed })
    }

    /// The first event after `cursor` that `filter` accepts, waiting for it until `deadline`.
    pub(crate) async fn wait(
        &self,
        cursor: u64,
        filter: &Filter,
        deadline: Instant,
    ) -> Result<Option<Value>, AheadOfHead> {
        let mut head = self.head.subscribe();
        let mut seen = cursor;
        loop {
            let newest = *head.borrow_and_update();
            if seen > newest {
                return Err(AheadOfHead { cursor, head: newest });
            }
            let found = {
                let state = self.state();
                state.entries.iter().filter(|e| e.seq > seen).find(|e| filter.accepts(e)).map(|e| e.json.clone())
            };
            if found.is_some() {
                return Ok(found);
            }
            seen = newest;
            match tokio::time::timeout_at(deadline, head.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{CloseReason, ConnectSummary};
    use crate::mqtt::Protocol;
    use std::time::Duration;

    fn event(conn: ConnId, kind: EventKind) -> Event {
        Event { conn, at: Duration::from_millis(conn), kind }
    }

    fn connect(username: &str) -> EventKind {
        EventKind::Connect(ConnectSummary {
            protocol: Protocol::V311,
            client_id: "c".into(),
            username: Some(username.into()),
            password_len: Some(40),
            keep_alive: 60,
            clean_session: true,
            will: false,
        })
    }

    fn closed() -> EventKind {
        EventKind::Closed { reason: CloseReason::ClientClosed }
    }

    #[test]
    fn cursors_page_and_count_what_fell_out_of_the_window() {
        let history = History::new(3);
        for conn in 1..=5 {
            history.record(&event(conn, closed()));
        }
        let page = history.after(0, 10).unwrap();
        let seqs: Vec<_> = page.events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!((seqs, page.next, page.missed), (vec![3, 4, 5], 5, 2));
        assert_eq!(page.events[0]["event"], "closed");
        assert_eq!(page.events[0]["conn"], 3);
        let page = history.after(3, 1).unwrap();
        assert_eq!((page.events.len(), page.next, page.missed), (1, 4, 0));
        assert_eq!(history.after(5, 10).unwrap(), Page { events: vec![], next: 5, missed: 0 });
        assert_eq!(history.after(6, 10), Err(AheadOfHead { cursor: 6, head: 5 }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_finds_a_device_by_its_username_then_times_out() {
        let history = History::new(16);
        history.record(&event(1, connect("device&pk")));
        history.record(&event(2, connect("other&pk")));
        history.record(&event(2, closed()));
        history.record(&event(1, closed()));
        let filter = Filter { kind: Some("closed".into()), device: Some("pk/device".into()), ..Filter::default() };
        let found = history.wait(0, &filter, Instant::now()).await.unwrap().unwrap();
        assert_eq!((found["seq"].as_u64(), found["conn"].as_u64()), (Some(4), Some(1)));
        let start = Instant::now();
        let none = history.wait(4, &filter, start + Duration::from_millis(250)).await.unwrap();
        assert_eq!((none, start.elapsed()), (None, Duration::from_millis(250)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_wakes_for_a_later_event() {
        let history = History::new(16);
        let waiter = {
            let history = history.clone();
            tokio::spawn(async move {
                let filter = Filter { conn: Some(7), ..Filter::default() };
                history.wait(0, &filter, Instant::now() + Duration::from_secs(5)).await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        history.record(&event(6, closed()));
        history.record(&event(7, closed()));
        let found = waiter.await.unwrap().unwrap().unwrap();
        assert_eq!(found["seq"], 2);
    }
}
