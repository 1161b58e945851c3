//! The control endpoint's view of the broker's event history ([`crate::events`]' bus): pages
//! of events after a cursor, and a long poll for the first match after one. An event's cursor
//! is its `seq`, its number from 1 in the order the broker emitted it; its JSON is the
//! transcript's plus `seq`.
//!
//! A client that asks for events after a cursor older than the history is told how many it
//! missed.

use crate::events::{Bus, Entry, EventFilter, NoMatch};
use serde_json::Value;
use std::time::Duration;

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

/// The transcript's JSON of an entry, plus its `seq`.
fn json(entry: &Entry) -> Value {
    let mut json = serde_json::to_value(&*entry.event).unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}));
    if let Value::Object(map) = &mut json {
        map.insert("seq".into(), entry.seq.into());
    }
    json
}

/// Refuses a cursor past the newest event.
fn check(bus: &Bus, cursor: u64) -> Result<(), AheadOfHead> {
    let head = bus.head();
    if cursor > head {
        return Err(AheadOfHead { cursor, head });
    }
    Ok(())
}

/// At most `limit` events after `cursor`, oldest first.
pub(crate) fn after(bus: &Bus, cursor: u64, limit: usize) -> Result<Page, AheadOfHead> {
    check(bus, cursor)?;
    let head = bus.head();
    let (entries, _) = bus.after(cursor, limit, |_| true);
    let next = entries.last().map_or(head, |e| e.seq);
    let missed = next - cursor - entries.len() as u64;
    Ok(Page { events: entries.iter().map(json).collect(), next, missed })
}

/// The first event after `cursor` that `filter` accepts, waiting for it up to `timeout`;
/// without one, what the wait saw.
pub(crate) async fn wait(
    bus: &Bus,
    cursor: u64,
    filter: &EventFilter,
    timeout: Duration,
) -> Result<Result<Value, NoMatch>, AheadOfHead> {
    check(bus, cursor)?;
    let mut stream = bus.stream_from(cursor + 1);
    Ok(stream.wait_matching_entry(filter, timeout).await.map(|entry| json(&entry)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::test_events::connect;
    use crate::events::{CloseReason, EventKind};
    use tokio::time::Instant;

    fn closed() -> EventKind {
        EventKind::Closed { reason: CloseReason::ClientClosed }
    }

    #[test]
    fn cursors_page_and_count_what_fell_out_of_the_history() {
        let bus = Bus::new(Instant::now(), 3);
        for conn in 1..=5 {
            bus.emit(conn, closed());
        }
        let page = after(&bus, 0, 10).unwrap();
        let seqs: Vec<_> = page.events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!((seqs, page.next, page.missed), (vec![3, 4, 5], 5, 2));
        assert_eq!(page.events[0]["event"], "closed");
        assert_eq!(page.events[0]["conn"], 3);
        let page = after(&bus, 3, 1).unwrap();
        assert_eq!((page.events.len(), page.next, page.missed), (1, 4, 0));
        assert_eq!(after(&bus, 5, 10).unwrap(), Page { events: vec![], next: 5, missed: 0 });
        assert_eq!(after(&bus, 6, 10), Err(AheadOfHead { cursor: 6, head: 5 }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_finds_a_device_by_its_username_then_times_out() {
        let bus = Bus::new(Instant::now(), 16);
        bus.emit(1, connect("device&pk"));
        bus.emit(2, connect("other&pk"));
        bus.emit(2, closed());
        bus.emit(1, closed());
        let filter = EventFilter::kind("closed").unwrap().device("pk", "device");
        let found = wait(&bus, 0, &filter, Duration::ZERO).await.unwrap().unwrap();
        assert_eq!((found["seq"].as_u64(), found["conn"].as_u64()), (Some(4), Some(1)));
        bus.emit(2, connect("device&pk"));
        let start = Instant::now();
        let none = wait(&bus, 4, &filter, Duration::from_millis(250)).await.unwrap().unwrap_err();
        assert_eq!(start.elapsed(), Duration::from_millis(250));
        assert_eq!(
            none.to_string(),
            "no event with event=closed device=pk/device within 250 ms; 1 other events seen. The closest:\n  \
             \u{20}   0.000s #2    CONNECT MQTT clientId=\"c\" username=\"device&pk\" password=<40 bytes> \
             keepalive=60 s clean=1"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_wakes_for_a_later_event() {
        let bus = Bus::new(Instant::now(), 16);
        let waiter = {
            let bus = bus.clone();
            tokio::spawn(async move { wait(&bus, 0, &EventFilter::any().conn(7), Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        bus.emit(6, closed());
        bus.emit(7, closed());
        let found = waiter.await.unwrap().unwrap().unwrap();
        assert_eq!(found["seq"], 2);
    }
}
