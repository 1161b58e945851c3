//! What devices published, as the cloud side sees it: the platform's server-side
//! subscription (AMQP or the data-forwarding rules) receives every message a device PUBLISHed
//! and the platform accepted, with its topic, QoS and payload bytes.
//!
//! The broker keeps the newest accepted uplinks in one bounded log, numbered from 1 in the
//! order accepted (`Policy::uplink_history` messages and `Policy::uplink_history_bytes` bytes
//! at most). A message the broker did not accept is not here: QoS 2 (S-QOS), over the payload
//! limit (S-PAYLOAD), over the rate (S-RATE) or on a topic the device may not publish to
//! (S-PUB-DENY); the transcript says why.
//!
//! Nothing is lost silently: the log counts what it let go, and a reader whose cursor fell
//! behind it is told how many it missed ([`UplinkError::Lagged`]). Waits have deadlines.

mod ring;

use crate::events::ConnId;
use crate::hub::DeviceKey;
use crate::mqtt::{Publish, QoS};
use crate::topics::filter_matches;
use bytes::Bytes;
use ring::ByteRing;
use serde::Serialize;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// One message a device published and the broker accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Uplink {
    /// Its number, from 1, in the order the broker accepted uplinks.
    pub seq: u64,
    /// The connection it came on.
    pub conn: ConnId,
    /// Time since the broker started.
    #[serde(serialize_with = "crate::events::serialize_millis", rename = "at_ms")]
    pub at: Duration,
    pub product_key: String,
    pub device_name: String,
    pub topic: String,
    /// The QoS it was published at (0 or 1: S-QOS); a number in JSON.
    #[serde(serialize_with = "qos_number")]
    pub qos: QoS,
    /// The payload bytes, as sent.
    #[serde(skip)]
    pub payload: Bytes,
}

fn qos_number<S: serde::Serializer>(qos: &QoS, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(*qos as u8)
}

impl Uplink {
    /// The payload as UTF-8 text, if it is.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }
}

/// Which uplinks a reader wants: any, or those of one device, on topics matching an MQTT
/// filter (`+`, `#`). Built like `UplinkFilter::any().device("pk", "dn").topic("/pk/+/user/#")`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UplinkFilter {
    device: Option<(String, String)>,
    topic: Option<String>,
}

impl UplinkFilter {
    /// Every uplink.
    pub fn any() -> UplinkFilter {
        UplinkFilter::default()
    }

    /// Only those of this device.
    pub fn device(mut self, product_key: &str, device_name: &str) -> UplinkFilter {
        self.device = Some((product_key.into(), device_name.into()));
        self
    }

    /// Only those on a topic `filter` matches.
    pub fn topic(mut self, filter: &str) -> UplinkFilter {
        self.topic = Some(filter.into());
        self
    }

    /// Whether `uplink` is wanted.
    pub fn accepts(&self, uplink: &Uplink) -> bool {
        self.accepts_parts(&uplink.product_key, &uplink.device_name, || uplink.topic.clone())
    }

    /// Whether an uplink of this device, on the topic `topic` gives (asked for only when
    /// the filter has one), is wanted.
    fn accepts_parts(&self, product_key: &str, device_name: &str, topic: impl FnOnce() -> String) -> bool {
        self.device.as_ref().is_none_or(|(pk, dn)| pk == product_key && dn == device_name)
            && self.topic.as_deref().is_none_or(|f| filter_matches(f, &topic()))
    }
}

impl fmt::Display for UplinkFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.device, &self.topic) {
            (None, None) => f.write_str("any uplink"),
            (Some((pk, dn)), None) => write!(f, "an uplink of {pk}/{dn}"),
            (None, Some(topic)) => write!(f, "an uplink on {topic}"),
            (Some((pk, dn)), Some(topic)) => write!(f, "an uplink of {pk}/{dn} on {topic}"),
        }
    }
}

/// Why no uplink was returned.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UplinkError {
    /// Nothing matched within the time given; `seen` uplinks did not match.
    #[error("waited {} ms for {wanted}; none came ({seen} other uplinks did)", waited.as_millis())]
    Timeout { wanted: String, waited: Duration, seen: u64 },
    /// The reader's cursor fell behind the log: `0` uplinks were let go before it read them.
    #[error("{0} uplinks were lost: the reader fell behind the uplink history (Policy::uplink_history)")]
    Lagged(u64),
}

/// One kept uplink; its topic and payload bytes are in the log's [`ByteRing`].
struct Kept {
    seq: u64,
    conn: ConnId,
    at: Duration,
    device: Arc<DeviceKey>,
    qos: QoS,
    /// The stream position of its topic's first byte; the payload follows the topic.
    position: u64,
    topic_len: usize,
    payload_len: usize,
}

impl Kept {
    fn size(&self) -> usize {
        self.topic_len + self.payload_len
    }
}

struct Log {
    kept: VecDeque<Kept>,
    bytes: ByteRing,
    /// The seq the next uplink gets.
    next: u64,
    /// Uplinks let go. The kept ones are always a run of seqs ending at `next - 1`: one
    /// larger than the byte limit is never kept, and lets every older one go.
    evicted: u64,
    max_messages: usize,
    max_bytes: usize,
}

impl Log {
    /// The index in `kept` of the first uplink after `seq`.
    fn index_after(&self, seq: u64) -> usize {
        self.kept.partition_point(|k| k.seq <= seq)
    }

    /// How many uplinks after `seq` are no longer kept.
    fn missed_after(&self, seq: u64) -> u64 {
        self.first().saturating_sub(seq + 1)
    }

    /// The seq of the oldest uplink kept (`next` when none is).
    fn first(&self) -> u64 {
        self.kept.front().map_or(self.next, |k| k.seq)
    }

    /// The kept uplinks after `seq` that `filter` accepts, judged before any payload is
    /// copied out.
    fn matching<'a>(&'a self, seq: u64, filter: &'a UplinkFilter) -> impl Iterator<Item = &'a Kept> {
        self.kept.iter().skip(self.index_after(seq)).filter(move |k| {
            let topic = || String::from_utf8(self.bytes.copy_out(k.position, k.topic_len)).unwrap_or_default();
            filter.accepts_parts(&k.device.product_key, &k.device.device_name, topic)
        })
    }

    /// A kept uplink as the cloud side reads it: its bytes copied out of the ring.
    fn uplink(&self, kept: &Kept) -> Uplink {
        let mut bytes = self.bytes.copy_out(kept.position, kept.size());
        let payload = bytes.split_off(kept.topic_len);
        Uplink {
            seq: kept.seq,
            conn: kept.conn,
            at: kept.at,
            product_key: kept.device.product_key.clone(),
            device_name: kept.device.device_name.clone(),
            topic: String::from_utf8(bytes).unwrap_or_default(),
            qos: kept.qos,
            payload: payload.into(),
        }
    }
}

/// The bounded log of accepted uplinks, shared by every connection.
#[derive(Clone)]
pub(crate) struct Uplinks {
    log: Arc<Mutex<Log>>,
    arrived: Arc<Notify>,
    start: Instant,
}

/// What the uplink log holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UplinkStats {
    /// Uplinks accepted since the broker started.
    pub accepted: u64,
    /// Uplinks kept now, and their payload and topic bytes.
    pub held: usize,
    pub held_bytes: usize,
    /// Uplinks let go to stay within the limits (one larger than the byte limit is never
    /// kept, and takes the older ones with it).
    pub evicted: u64,
}

impl Uplinks {
    /// A log keeping at most `max_messages` uplinks and `max_bytes` bytes, timed from `start`.
    /// With `max_messages` 0 it keeps none (but still numbers and counts them).
    pub(crate) fn new(start: Instant, max_messages: usize, max_bytes: usize) -> Uplinks {
        let log =
            Log { kept: VecDeque::new(), bytes: ByteRing::default(), next: 1, evicted: 0, max_messages, max_bytes };
        Uplinks { log: Arc::new(Mutex::new(log)), arrived: Arc::new(Notify::new()), start }
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        // Nothing panics while holding it; if something did, the log is still consistent.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `device`'s accepted PUBLISH. Its topic and payload are copied into the log's
    /// ring, so that the log never holds on to a connection's read buffer, and recording
    /// allocates nothing once the ring has grown (the hot path of every uplink).
    pub(crate) fn record(&self, conn: ConnId, device: &Arc<DeviceKey>, publish: &Publish) {
        let at = self.start.elapsed();
        let (topic, payload) = (publish.topic.as_bytes(), &publish.payload[..]);
        let size = topic.len() + payload.len();
        {
            let mut log = self.log();
            let seq = log.next;
            log.next += 1;
            if log.max_messages == 0 || size > log.max_bytes {
                // Never kept, and the uplinks kept stay a run of seqs: the older ones go too.
                let older = log.kept.len() as u64;
                log.kept.clear();
                log.bytes.pop(usize::MAX);
                log.evicted += older + 1;
            } else {
                while log.kept.len() >= log.max_messages || log.bytes.len() + size > log.max_bytes {
                    let oldest = log.kept.pop_front().expect("what is held is kept");
                    log.bytes.pop(oldest.size());
                    log.evicted += 1;
                }
                let max_bytes = log.max_bytes;
                let position = log.bytes.push([topic, payload], max_bytes);
                let (topic_len, payload_len) = (topic.len(), payload.len());
                let device = device.clone();
                log.kept.push_back(Kept { seq, conn, at, device, qos: publish.qos, position, topic_len, payload_len });
            }
        }
        self.arrived.notify_waiters();
    }

    /// The seq of the newest uplink (0 before the first).
    pub(crate) fn head(&self) -> u64 {
        self.log().next - 1
    }

    /// The cursor just before the oldest uplink kept.
    pub(crate) fn before_oldest(&self) -> u64 {
        self.log().first() - 1
    }

    /// Up to `limit` kept uplinks after `seq` that `filter` accepts, oldest first, with the
    /// number of uplinks after `seq` no longer kept.
    pub(crate) fn after(&self, seq: u64, limit: usize, filter: &UplinkFilter) -> (Vec<Uplink>, u64) {
        let log = self.log();
        let found = log.matching(seq, filter).take(limit).map(|k| log.uplink(k)).collect();
        (found, log.missed_after(seq))
    }

    /// The first uplink after `seq` that `filter` accepts, waiting at most `timeout` for it.
    /// Uplinks after `seq` already let go are an error: the one wanted may be among them.
    pub(crate) async fn wait(&self, seq: u64, filter: &UplinkFilter, timeout: Duration) -> Result<Uplink, UplinkError> {
        let deadline = Instant::now() + timeout;
        let mut cursor = seq;
        let mut seen = 0;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let (found, missed, head) = {
                let log = self.log();
                let found = log.matching(cursor, filter).next().map(|k| log.uplink(k));
                (found, log.missed_after(cursor), log.next - 1)
            };
            if missed > 0 {
                return Err(UplinkError::Lagged(missed));
            }
            if let Some(uplink) = found {
                return Ok(uplink);
            }
            // Every uplink up to the newest was read past.
            seen += head - cursor;
            cursor = head;
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Err(UplinkError::Timeout { wanted: filter.to_string(), waited: timeout, seen });
            }
        }
    }

    /// What the log holds.
    pub(crate) fn stats(&self) -> UplinkStats {
        let log = self.log();
        UplinkStats { accepted: log.next - 1, held: log.kept.len(), held_bytes: log.bytes.len(), evicted: log.evicted }
    }
}

/// A reader of the uplinks accepted from the moment it was taken ([`crate::Broker::uplinks`]):
/// a cursor into the broker's uplink log.
pub struct UplinkStream {
    uplinks: Uplinks,
    filter: UplinkFilter,
    cursor: u64,
}

impl UplinkStream {
    pub(crate) fn new(uplinks: Uplinks, filter: UplinkFilter, cursor: u64) -> UplinkStream {
        UplinkStream { uplinks, filter, cursor }
    }

    /// The next uplink the stream's filter accepts, waiting at most `timeout` for it.
    pub async fn next(&mut self, timeout: Duration) -> Result<Uplink, UplinkError> {
        let result = self.uplinks.wait(self.cursor, &self.filter, timeout).await;
        match &result {
            Ok(uplink) => self.cursor = uplink.seq,
            // Go on from the oldest one kept.
            Err(UplinkError::Lagged(n)) => self.cursor += n,
            Err(UplinkError::Timeout { .. }) => self.cursor = self.cursor.max(self.uplinks.head()),
        }
        result
    }

    /// Every uplink the filter accepts that has arrived and not been read, without waiting.
    pub fn drain(&mut self) -> Vec<Uplink> {
        let (found, missed) = self.uplinks.after(self.cursor, usize::MAX, &self.filter);
        self.cursor = found.last().map_or(self.cursor + missed, |u| u.seq).max(self.uplinks.head());
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(product_key: &str, device_name: &str) -> Arc<DeviceKey> {
        Arc::new(DeviceKey::new(product_key, device_name))
    }

    fn publish(topic: &str, payload: &'static [u8]) -> Publish {
        crate::bench_support::qos1_publish(topic, Bytes::from_static(payload))
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_waits_for_the_next_matching_uplink_and_says_what_it_waited_for() {
        let uplinks = Uplinks::new(Instant::now(), 16, 1 << 20);
        let mut stream = UplinkStream::new(uplinks.clone(), UplinkFilter::any().device("pk", "a").topic("/pk/a/#"), 0);
        uplinks.record(1, &device("pk", "b"), &publish("/pk/b/user/update", b"other"));
        uplinks.record(2, &device("pk", "a"), &publish("/pk/a/user/update", b"{\"t\":1}"));
        let found = stream.next(Duration::from_secs(1)).await.unwrap();
        assert_eq!((found.seq, found.conn, found.text()), (2, 2, Some("{\"t\":1}")));
        let waiter = tokio::spawn(async move { stream.next(Duration::from_secs(5)).await.map(|u| u.seq) });
        tokio::time::sleep(Duration::from_millis(10)).await;
        uplinks.record(2, &device("pk", "a"), &publish("/pk/a/user/get", b"late"));
        assert_eq!(waiter.await.unwrap(), Ok(3));

        let mut none = UplinkStream::new(uplinks.clone(), UplinkFilter::any().topic("/nobody"), 0);
        let timeout = none.next(Duration::from_millis(250)).await.unwrap_err();
        assert_eq!(timeout.to_string(), "waited 250 ms for an uplink on /nobody; none came (3 other uplinks did)");
    }

    #[test]
    fn the_log_keeps_within_its_message_and_byte_limits_and_counts_what_it_let_go() {
        let uplinks = Uplinks::new(Instant::now(), 3, 21);
        for _ in 0..4 {
            uplinks.record(1, &device("pk", "a"), &publish("/t", b"12345"));
        }
        assert_eq!(uplinks.stats(), UplinkStats { accepted: 4, held: 3, held_bytes: 21, evicted: 1 });
        uplinks.record(1, &device("pk", "a"), &publish("/t", b"0123456789"));
        assert_eq!(uplinks.stats(), UplinkStats { accepted: 5, held: 2, held_bytes: 19, evicted: 3 });
        let (page, missed) = uplinks.after(0, 10, &UplinkFilter::any());
        assert_eq!((page.iter().map(|u| u.seq).collect::<Vec<_>>(), missed), (vec![4, 5], 3));
        let oversize = publish("/t", b"0123456789012345678901234");
        uplinks.record(1, &device("pk", "a"), &oversize);
        assert_eq!(uplinks.stats(), UplinkStats { accepted: 6, held: 0, held_bytes: 0, evicted: 6 });
        uplinks.record(1, &device("pk", "a"), &publish("/t", b"x"));
        let (page, missed) = uplinks.after(0, 10, &UplinkFilter::any());
        assert_eq!((page.iter().map(|u| (u.seq, u.text())).collect::<Vec<_>>(), missed), (vec![(7, Some("x"))], 6));
        let none = Uplinks::new(Instant::now(), 0, 20);
        none.record(1, &device("pk", "a"), &publish("/t", b"x"));
        assert_eq!(none.stats(), UplinkStats { accepted: 1, held: 0, held_bytes: 0, evicted: 1 });
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_behind_the_log_is_told_how_many_it_missed_then_goes_on() {
        let uplinks = Uplinks::new(Instant::now(), 2, 1 << 20);
        let mut stream = UplinkStream::new(uplinks.clone(), UplinkFilter::any(), 0);
        for _ in 0..5 {
            uplinks.record(1, &device("pk", "a"), &publish("/t", b"x"));
        }
        assert_eq!(stream.next(Duration::from_secs(1)).await, Err(UplinkError::Lagged(3)));
        assert_eq!(stream.next(Duration::from_secs(1)).await.map(|u| u.seq), Ok(4));
        assert_eq!(stream.drain().iter().map(|u| u.seq).collect::<Vec<_>>(), [5]);
    }
}
