//! The ingest phase: each released connection publishes on its device's own topic, QoS 0 or
//! QoS 1, as fast as it may (QoS 1: a window of unacknowledged messages) or at a set rate,
//! writing every batch in one write and parsing PUBACKs from large reads. Messages count
//! from the end of the warm-up to the end of the measurement.

use crate::identity::Device;
use crate::link::Link;
use crate::mqtt::{self, PUBACK};
use serde::Serialize;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What to publish.
#[derive(Debug, Clone)]
pub struct Spec {
    pub qos1: bool,
    /// Unacknowledged QoS 1 messages per connection; for QoS 0, messages per write.
    pub window: usize,
    pub payload: usize,
    /// Messages per second over all connections; `None`: as fast as possible.
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub measure: Duration,
}

/// The JSON of the phase.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub qos: u8,
    pub connections: usize,
    pub payload_bytes: usize,
    pub window: usize,
    pub warmup_s: f64,
    pub seconds: f64,
    /// Messages written over the whole phase, warm-up included.
    pub sent: u64,
    /// QoS 1: PUBACKs received within the measurement; QoS 0: messages written within it.
    pub counted: u64,
    /// `counted` per second of measurement.
    pub rate_per_s: f64,
    /// QoS 1 messages still unacknowledged when the phase ended.
    pub unacked_at_end: u64,
    /// Acknowledgements received over the whole phase, warm-up included (QoS 1).
    pub acked_total: u64,
    pub errors: u64,
    pub error_examples: Vec<String>,
}

#[derive(Default)]
struct Counts {
    sent: u64,
    counted: u64,
    acked_total: u64,
    unacked: u64,
    error: Option<String>,
}

/// Publishes on every link; the phase ends `spec.warmup + spec.measure` from now.
pub async fn run(links: Vec<(Link, Device)>, spec: &Spec, on_measure: impl FnOnce()) -> Report {
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    let end = measure_from + spec.measure;
    let connections = links.len();
    let per_link_rate = spec.rate.map(|r| r / connections.max(1) as f64);
    let mut tasks = JoinSet::new();
    for (link, device) in links {
        let spec = spec.clone();
        tasks.spawn(publisher(link, device, spec, per_link_rate, (start, measure_from, end)));
    }
    tokio::time::sleep_until(measure_from).await;
    on_measure();
    let mut report = Report {
        qos: u8::from(spec.qos1),
        connections,
        payload_bytes: spec.payload,
        window: spec.window,
        warmup_s: spec.warmup.as_secs_f64(),
        seconds: spec.measure.as_secs_f64(),
        ..Report::default()
    };
    // Every publisher stops by `end`; the grace covers a busy runtime.
    while let Ok(Some(joined)) = tokio::time::timeout_at(end + JOIN_GRACE, tasks.join_next()).await {
        let counts =
            joined.unwrap_or_else(|e| Counts { error: Some(format!("publisher failed: {e}")), ..Counts::default() });
        report.sent += counts.sent;
        report.counted += counts.counted;
        report.acked_total += counts.acked_total;
        report.unacked_at_end += counts.unacked;
        if let Some(error) = counts.error {
            report.errors += 1;
            if report.error_examples.len() < 3 {
                report.error_examples.push(error);
            }
        }
    }
    let stuck = tasks.len() as u64;
    if stuck > 0 {
        report.errors += stuck;
        report.error_examples.push(format!("{stuck} publishers did not stop within {JOIN_GRACE:?} of the end"));
    }
    report.rate_per_s = report.counted as f64 / spec.measure.as_secs_f64().max(f64::EPSILON);
    report
}

/// How long after the end of the phase the publishers must have stopped.
const JOIN_GRACE: Duration = Duration::from_secs(5);

async fn publisher(
    mut link: Link,
    device: Device,
    spec: Spec,
    rate: Option<f64>,
    (start, measure_from, end): (Instant, Instant, Instant),
) -> Counts {
    let topic = format!("/{}/{}/user/update", device.product_key, device.device_name);
    let payload = vec![b'x'; spec.payload];
    let mut counts = Counts::default();
    let mut next_id: u16 = 1;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let room = if spec.qos1 { spec.window as u64 - counts.unacked } else { spec.window as u64 };
        let allowed =
            rate.map_or(u64::MAX, |r| (((now - start).as_secs_f64() * r) as u64 + 1).saturating_sub(counts.sent));
        for _ in 0..room.min(allowed) {
            let id = spec.qos1.then_some(next_id);
            next_id = next_id.checked_add(1).unwrap_or(1);
            mqtt::publish(link.packet_buf(), &topic, id, &payload);
            link.end_packet();
            counts.sent += 1;
            counts.unacked += u64::from(spec.qos1);
            if !spec.qos1 && now >= measure_from {
                counts.counted += 1;
            }
        }
        if link.has_pending() {
            // A write still blocked at the end is the broker's backpressure: the phase is over.
            match tokio::time::timeout_at(end, link.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return counts.failed(format!("write: {e}")),
                Err(_) => break,
            }
        }
        if spec.qos1 && counts.unacked > 0 {
            let mut acks = 0;
            match tokio::time::timeout_at(end, link.read_packets(|p| acks += u64::from(p.kind == PUBACK))).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return counts.failed(e),
                Err(_) => break,
            }
            counts.unacked = counts.unacked.saturating_sub(acks);
            counts.acked_total += acks;
            if Instant::now() >= measure_from {
                counts.counted += acks;
            }
        } else if let Some(rate) = rate {
            tokio::time::sleep(Duration::from_secs_f64(1.0 / rate).min(Duration::from_millis(10))).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    counts
}

impl Counts {
    fn failed(mut self, error: String) -> Counts {
        self.error = Some(error);
        self
    }
}
