//! The bus that carries the transcript and keeps its history.
//!
//! Every event a broker emits is numbered (its `seq`, from 1, in the order emitted) and kept
//! in one bounded ring (`Policy::history_events`). There is no copy per subscriber: an
//! [`EventStream`] is a cursor into the ring, from the moment it was taken
//! ([`crate::Broker::events`]) or from the oldest event still kept ([`crate::Broker::history`]).
//! The ring records whether or not anyone reads, so the history is complete from the start.
//!
//! Nothing is lost silently: when the ring is full the oldest event makes room and is
//! counted as evicted, and a cursor left behind the ring is told how many events it missed
//! ([`StreamError::Lagged`]). Per-kind counts of every event emitted are kept for
//! [`crate::Broker::event_stats`].
//!
//! Emitting takes one short lock, never awaits, and wakes the waiting readers only when there
//! are some; readers drain in batches ([`EventStream::recv_many`]).

use super::filter::{Closest, Ended, EventFilter, NoMatch};
use super::{ConnId, Event, EventKind};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::time::Instant;

/// One kept event, with the device its connection belongs to (once known).
#[derive(Clone)]
pub(crate) struct Entry {
    pub seq: u64,
    pub event: Arc<Event>,
    /// `productKey/deviceName`: from the CONNECT's username, then from `online`.
    pub device: Option<Arc<str>>,
}

struct State {
    entries: VecDeque<Entry>,
    capacity: usize,
    /// The seq the next event gets; events `next - entries.len() .. next` are kept.
    next: u64,
    counts: [u64; EventKind::NAMES.len()],
    /// `packet_in` and `packet_out` events by packet (`PUBLISH`, `PUBACK`...), in the order
    /// first seen: a handful of entries, found by the name's address first.
    packets_in: Vec<(&'static str, u64)>,
    packets_out: Vec<(&'static str, u64)>,
    /// The device of each open connection.
    devices: HashMap<ConnId, Arc<str>>,
    /// Readers waiting for the next event.
    wakers: Vec<Waker>,
    /// True once every sender is gone: readers get [`StreamError::Closed`] after the last
    /// event.
    closed: bool,
}

impl State {
    /// The seq of the oldest event kept (`next` when none is).
    fn first(&self) -> u64 {
        self.next - self.entries.len() as u64
    }

    /// The device of `event`'s connection, learning it from a CONNECT or an `online` and
    /// forgetting it at the close.
    fn device_of(&mut self, event: &Event) -> Option<Arc<str>> {
        let named = match &event.kind {
            EventKind::Connect(connect) => {
                let named = connect.username.as_deref().and_then(|u| u.split_once('&'));
                named.map(|(dn, pk)| format!("{pk}/{dn}"))
            }
            EventKind::Online { product_key, device_name, .. } => Some(format!("{product_key}/{device_name}")),
            _ => None,
        };
        if let Some(device) = named {
            self.devices.insert(event.conn, device.into());
        }
        match event.kind {
            EventKind::Closed { .. } => self.devices.remove(&event.conn),
            _ => self.devices.get(&event.conn).cloned(),
        }
    }
}

struct Ring {
    state: Mutex<State>,
}

impl Ring {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; if something did, the ring is still consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Closes the ring when the last [`Bus`] clone is dropped.
struct Senders(Arc<Ring>);

impl Drop for Senders {
    fn drop(&mut self) {
        let wakers = {
            let mut state = self.0.state();
            state.closed = true;
            std::mem::take(&mut state.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The sending side of the transcript, shared by every connection.
#[derive(Clone)]
pub(crate) struct Bus {
    ring: Arc<Ring>,
    _senders: Arc<Senders>,
    start: Instant,
}

/// Counts one packet of `name` in `counts`.
fn count_packet(counts: &mut Vec<(&'static str, u64)>, name: &'static str) {
    let same = |(known, _): &&mut (&'static str, u64)| std::ptr::eq(*known, name) || *known == name;
    match counts.iter_mut().find(same) {
        Some((_, n)) => *n += 1,
        None => counts.push((name, 1)),
    }
}

/// What a broker's bus has carried so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EventStats {
    /// Events emitted since the broker started.
    pub emitted: u64,
    /// Events emitted, by kind (`packet_in`, `verdict`...); kinds never emitted are left out.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// `packet_in` events by packet (`PUBLISH`, `PINGREQ`...): every packet the broker read
    /// after CONNECT.
    pub packets_in: BTreeMap<&'static str, u64>,
    /// `packet_out` events by packet (`CONNACK`, `PUBACK`...): every packet the broker sent.
    pub packets_out: BTreeMap<&'static str, u64>,
    /// The history: how many events it keeps at most, keeps now, and has let go.
    pub history: HistoryStats,
}

/// The fill of the event history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HistoryStats {
    /// The most events it keeps (`Policy::history_events`).
    pub capacity: usize,
    /// The events it keeps now.
    pub held: usize,
    /// The oldest events let go to make room for newer ones.
    pub evicted: u64,
}

impl Bus {
    /// A bus keeping the last `capacity` events (at least one), timed from `start`.
    pub(crate) fn new(start: Instant, capacity: usize) -> Bus {
        let capacity = capacity.max(1);
        let state = State {
            entries: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            next: 1,
            counts: [0; EventKind::NAMES.len()],
            packets_in: Vec::new(),
            packets_out: Vec::new(),
            devices: HashMap::new(),
            wakers: Vec::new(),
            closed: false,
        };
        let ring = Arc::new(Ring { state: Mutex::new(state) });
        Bus { _senders: Arc::new(Senders(ring.clone())), ring, start }
    }

    /// Records an event.
    pub(crate) fn emit(&self, conn: ConnId, kind: EventKind) {
        let event = Event { conn, at: self.start.elapsed(), kind };
        let (evicted, wakers) = {
            let mut state = self.ring.state();
            state.counts[event.kind.index()] += 1;
            match &event.kind {
                EventKind::PacketIn(summary) => count_packet(&mut state.packets_in, summary.packet),
                EventKind::PacketOut(summary) => count_packet(&mut state.packets_out, summary.packet),
                _ => {}
            }
            let device = state.device_of(&event);
            let evicted = if state.entries.len() >= state.capacity { state.entries.pop_front() } else { None };
            let seq = state.next;
            state.next += 1;
            state.entries.push_back(Entry { seq, event: Arc::new(event), device });
            let wakers = if state.wakers.is_empty() { Vec::new() } else { std::mem::take(&mut state.wakers) };
            (evicted, wakers)
        };
        // Outside the lock: freeing the evicted event and waking the readers.
        drop(evicted);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// A stream of the events emitted from now on.
    pub(crate) fn subscribe(&self) -> EventStream {
        let cursor = self.ring.state().next;
        EventStream { ring: self.ring.clone(), cursor, lost: 0 }
    }

    /// A stream of every event emitted, from the first: those no longer kept are reported
    /// first as [`StreamError::Lagged`].
    pub(crate) fn history(&self) -> EventStream {
        EventStream { ring: self.ring.clone(), cursor: 1, lost: 0 }
    }

    /// A stream from the event numbered `seq` (`head() + 1`: the next one).
    pub(crate) fn stream_from(&self, seq: u64) -> EventStream {
        EventStream { ring: self.ring.clone(), cursor: seq.max(1), lost: 0 }
    }

    /// The time since the broker started, as events count it.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The seq of the newest event (0 before the first).
    pub(crate) fn head(&self) -> u64 {
        self.ring.state().next - 1
    }

    /// Up to `limit` kept events after `seq` that `accept` takes, oldest first, with the
    /// number of events after `seq` no longer kept.
    pub(crate) fn after(&self, seq: u64, limit: usize, accept: impl Fn(&Entry) -> bool) -> (Vec<Entry>, u64) {
        let state = self.ring.state();
        let missed = state.first().saturating_sub(seq + 1);
        let skip = usize::try_from((seq + 1).saturating_sub(state.first())).unwrap_or(usize::MAX);
        let entries = state.entries.iter().skip(skip).filter(|e| accept(e)).take(limit).cloned().collect();
        (entries, missed)
    }

    /// What the bus has carried so far.
    pub(crate) fn stats(&self) -> EventStats {
        let state = self.ring.state();
        let by_kind: BTreeMap<_, _> =
            EventKind::NAMES.iter().zip(state.counts).filter(|(_, n)| *n > 0).map(|(k, n)| (*k, n)).collect();
        EventStats {
            emitted: state.next - 1,
            by_kind,
            packets_in: state.packets_in.iter().copied().collect(),
            packets_out: state.packets_out.iter().copied().collect(),
            history: HistoryStats { capacity: state.capacity, held: state.entries.len(), evicted: state.first() - 1 },
        }
    }
}

/// A reader of the broker's events: a cursor into the bus's history.
///
/// Events are never lost silently: a reader that falls further behind than the history
/// keeps gets [`StreamError::Lagged`] (or [`WaitError::Lagged`]) with the number it missed,
/// and [`EventStream::lost`] keeps the total.
pub struct EventStream {
    ring: Arc<Ring>,
    /// The seq of the next event to read.
    cursor: u64,
    lost: u64,
}

/// Why [`EventStream::recv`] returned no event.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The reader fell behind and `0` events were lost (let go from the history before it
    /// read them).
    #[error("{0} events were lost: the reader fell behind the event history")]
    Lagged(u64),
    /// The broker is gone and every event has been read.
    #[error("the broker has shut down")]
    Closed,
}

/// Why [`EventStream::wait_for`] found no event.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// No accepted event within the time given.
    #[error("no such event in time")]
    Timeout,
    /// The reader fell behind and `0` events were lost: the one waited for may be among
    /// them.
    #[error("{0} events were lost: the reader fell behind the event history")]
    Lagged(u64),
    /// The broker is gone.
    #[error("the broker has shut down")]
    Closed,
}

impl EventStream {
    /// Moves the cursor over the next entry, or registers to be woken when there is one.
    fn poll_entry(&mut self, cx: &mut Context<'_>) -> Poll<Result<Entry, StreamError>> {
        let mut state = self.ring.state();
        let first = state.first();
        if self.cursor < first {
            let missed = first - self.cursor;
            self.cursor = first;
            self.lost = self.lost.saturating_add(missed);
            return Poll::Ready(Err(StreamError::Lagged(missed)));
        }
        if let Some(entry) = state.entries.get((self.cursor - first) as usize) {
            self.cursor += 1;
            return Poll::Ready(Ok(entry.clone()));
        }
        if state.closed {
            return Poll::Ready(Err(StreamError::Closed));
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The next event with its seq and device.
    pub(crate) async fn recv_entry(&mut self) -> Result<Entry, StreamError> {
        poll_fn(|cx| self.poll_entry(cx)).await
    }

    /// The next event, or how many were lost since the last one.
    pub async fn recv(&mut self) -> Result<Arc<Event>, StreamError> {
        self.recv_entry().await.map(|entry| entry.event)
    }

    /// Waits for at least one event, then moves every event available (up to `max`) into
    /// `into`, returning how many. A gap before them is reported first, as for
    /// [`EventStream::recv`].
    pub async fn recv_many(&mut self, into: &mut Vec<Arc<Event>>, max: usize) -> Result<usize, StreamError> {
        let first = self.recv().await?;
        into.push(first);
        let mut taken = 1;
        let state = self.ring.state();
        let start = (self.cursor - state.first()) as usize;
        for entry in state.entries.iter().skip(start).take(max.saturating_sub(1)) {
            into.push(entry.event.clone());
            taken += 1;
        }
        self.cursor += taken as u64 - 1;
        Ok(taken)
    }

    /// How many events this reader has missed in all because it fell behind.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Waits up to `timeout` for the first event that `pred` accepts, skipping others. A gap
    /// in the stream ends the wait with [`WaitError::Lagged`].
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Result<Arc<Event>, WaitError> {
        self.wait_entry(timeout, |entry| pred(&entry.event)).await.map(|entry| entry.event)
    }

    /// [`EventStream::wait_for`], judging the whole entry (seq and device too).
    pub(crate) async fn wait_entry(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Entry) -> bool,
    ) -> Result<Entry, WaitError> {
        tokio::time::timeout(timeout, async {
            loop {
                match self.recv_entry().await {
                    Ok(entry) if pred(&entry) => return Ok(entry),
                    Ok(_) => continue,
                    Err(StreamError::Lagged(n)) => return Err(WaitError::Lagged(n)),
                    Err(StreamError::Closed) => return Err(WaitError::Closed),
                }
            }
        })
        .await
        .unwrap_or(Err(WaitError::Timeout))
    }

    /// Waits up to `timeout` for the first event `filter` accepts, skipping others. Events
    /// let go from the history before the wait read them are counted, and the wait goes on;
    /// the error says what it waited for and shows the events that came closest.
    pub async fn wait_matching(&mut self, filter: &EventFilter, timeout: Duration) -> Result<Arc<Event>, NoMatch> {
        self.wait_matching_entry(filter, timeout).await.map(|entry| entry.event)
    }

    /// [`EventStream::wait_matching`], returning the whole entry.
    pub(crate) async fn wait_matching_entry(
        &mut self,
        filter: &EventFilter,
        timeout: Duration,
    ) -> Result<Entry, NoMatch> {
        let mut closest = Closest::new(filter);
        let found = self.wait_noting(timeout, &mut closest, |entry| filter.accepts(entry)).await;
        found.map_err(|ended| closest.into_error(timeout, ended))
    }

    /// Waits up to `timeout` for the first entry `accept` takes, adding those it reads past
    /// (and the number let go from the history unread) to `closest`; the wait goes on past
    /// such a gap.
    pub(crate) async fn wait_noting(
        &mut self,
        timeout: Duration,
        closest: &mut Closest<'_>,
        mut accept: impl FnMut(&Entry) -> bool,
    ) -> Result<Entry, Ended> {
        tokio::time::timeout(timeout, async {
            loop {
                match self.recv_entry().await {
                    Ok(entry) if accept(&entry) => return Ok(entry),
                    Ok(entry) => closest.note(&entry),
                    Err(StreamError::Lagged(n)) => closest.missed += n,
                    Err(StreamError::Closed) => return Err(Ended::Closed),
                }
            }
        })
        .await
        .unwrap_or(Err(Ended::Timeout))
    }

    /// Collects the events of connection `conn` up to and including its `Closed` event,
    /// waiting at most `timeout` in all (what came so far, when it passes or the broker is
    /// gone). A gap in the stream is an error: the transcript would have holes.
    pub async fn transcript(&mut self, conn: ConnId, timeout: Duration) -> Result<Vec<Arc<Event>>, WaitError> {
        let deadline = Instant::now() + timeout;
        let mut events = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.wait_for(left, |e| e.conn == conn).await {
                Ok(ev) => {
                    let closed = matches!(ev.kind, EventKind::Closed { .. });
                    events.push(ev);
                    if closed {
                        return Ok(events);
                    }
                }
                Err(WaitError::Lagged(n)) => return Err(WaitError::Lagged(n)),
                Err(WaitError::Timeout | WaitError::Closed) => return Ok(events),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::CloseReason;
    use crate::events::test_events::connect;

    fn closed() -> EventKind {
        EventKind::Closed { reason: CloseReason::Shutdown }
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_the_history_is_told_how_many_events_it_missed() {
        let bus = Bus::new(Instant::now(), 8);
        let mut events = bus.subscribe();
        for _ in 0..8 + 5 {
            bus.emit(1, closed());
        }
        bus.emit(2, closed());
        assert_eq!(events.wait_for(Duration::from_secs(1), |e| e.conn == 2).await.err(), Some(WaitError::Lagged(6)));
        assert_eq!(events.lost(), 6);
        let mut late = bus.subscribe();
        for _ in 0..8 + 1 {
            bus.emit(3, closed());
        }
        assert_eq!(late.transcript(3, Duration::from_secs(1)).await.err(), Some(WaitError::Lagged(1)));
    }

    #[tokio::test]
    async fn the_history_holds_what_came_before_any_reader_and_states_what_it_let_go() {
        let bus = Bus::new(Instant::now(), 3);
        for conn in 1..=5 {
            bus.emit(conn, closed());
        }
        let mut history = bus.history();
        assert_eq!(history.recv().await.err(), Some(StreamError::Lagged(2)));
        let mut read = Vec::new();
        for _ in 0..3 {
            read.push(history.recv().await.unwrap().conn);
        }
        assert_eq!(read, [3, 4, 5]);
        let stats = bus.stats();
        assert_eq!((stats.emitted, stats.by_kind.get("closed")), (5, Some(&5)));
        assert!(stats.packets_in.is_empty() && stats.packets_out.is_empty());
        assert_eq!(stats.history, HistoryStats { capacity: 3, held: 3, evicted: 2 });
    }

    #[test]
    fn packets_in_and_out_are_counted_by_packet() {
        use crate::events::PacketSummary;
        use crate::mqtt::Packet;
        let bus = Bus::new(Instant::now(), 2);
        for _ in 0..3 {
            bus.emit(1, EventKind::PacketIn(PacketSummary::of(&Packet::Pingreq)));
            bus.emit(1, EventKind::PacketOut(PacketSummary::of(&Packet::Pingresp)));
        }
        bus.emit(1, EventKind::PacketOut(PacketSummary::of(&Packet::Puback(4))));
        let stats = bus.stats();
        assert_eq!(stats.packets_in, BTreeMap::from([("PINGREQ", 3)]));
        assert_eq!(stats.packets_out, BTreeMap::from([("PINGRESP", 3), ("PUBACK", 1)]));
        assert_eq!((stats.by_kind["packet_out"], stats.history.evicted), (4, 5));
    }

    #[tokio::test]
    async fn a_batch_takes_everything_available_and_the_end_follows_the_last_event() {
        let bus = Bus::new(Instant::now(), 16);
        let mut events = bus.subscribe();
        for conn in 1..=5 {
            bus.emit(conn, closed());
        }
        let mut batch = Vec::new();
        assert_eq!(events.recv_many(&mut batch, 3).await, Ok(3));
        assert_eq!(events.recv_many(&mut batch, 10).await, Ok(2));
        assert_eq!(batch.iter().map(|e| e.conn).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        drop(bus);
        assert_eq!(events.recv().await.err(), Some(StreamError::Closed));
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_for_a_later_event() {
        let bus = Bus::new(Instant::now(), 16);
        let mut events = bus.subscribe();
        let reader = tokio::spawn(async move { events.recv().await.map(|e| e.conn) });
        tokio::task::yield_now().await;
        bus.emit(9, closed());
        assert_eq!(reader.await.unwrap(), Ok(9));
    }

    #[test]
    fn entries_carry_their_device_from_connect_to_close_and_pages_count_the_missed() {
        let bus = Bus::new(Instant::now(), 4);
        bus.emit(1, connect("device&pk"));
        bus.emit(2, closed());
        bus.emit(1, closed());
        bus.emit(1, closed());
        let (all, missed) = bus.after(0, 10, |_| true);
        let devices: Vec<_> = all.iter().map(|e| e.device.as_deref()).collect();
        assert_eq!((devices, missed), (vec![Some("pk/device"), None, Some("pk/device"), None], 0));
        bus.emit(3, closed());
        let (page, missed) = bus.after(0, 2, |e| e.event.conn != 2);
        assert_eq!((page.iter().map(|e| e.seq).collect::<Vec<_>>(), missed), (vec![3, 4], 1));
        assert_eq!(bus.head(), 5);
    }
}
