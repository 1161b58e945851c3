//! One connection's life in the connect and idle phases: wait for a handshake slot, dial,
//! report how it went, then stay idle, sending PINGREQ every keepalive and reading what the
//! broker sends, until the run releases it (for publishing, or to be closed).

use crate::dial::{DialError, Dialer, StageTimes};
use crate::identity::Device;
use crate::link::Link;
use crate::mqtt::{self, PINGRESP};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

/// What every connection of the run shares.
pub struct Plan {
    pub dialer: Dialer,
    pub handshakes: Semaphore,
    /// Each connection's own deadline for all its stages.
    pub connect_timeout: Duration,
    /// When the connect phase gives up: attempts not started by then are not made.
    pub phase_deadline: Instant,
    /// Keepalives are spread over this range (inclusive), one value per connection.
    pub keepalive: (u16, u16),
}

impl Plan {
    /// The keepalive connection `index` declares and pings at.
    pub fn keepalive_of(&self, index: usize) -> u16 {
        spread_keepalive(self.keepalive, index)
    }
}

/// Connection `index`'s keepalive in `low..=high`: consecutive connections take consecutive
/// values, so that their pings spread out.
fn spread_keepalive((low, high): (u16, u16), index: usize) -> u16 {
    low + (index % (usize::from(high - low) + 1)) as u16
}

/// How one attempt went.
pub enum Dialed {
    Connected(StageTimes),
    Failed(DialError),
    NotStarted,
}

/// A connection's idle phase.
#[derive(Debug, Default)]
pub struct Idle {
    pub pings: u64,
    pub pongs: u64,
    /// Why the connection ended while idle, if it did.
    pub lost: Option<String>,
}

/// Runs connection `index`: reports its attempt on `dialed`, idles, and hands back its link
/// (when it still has one) and its idle counts once `release` turns true.
pub async fn run(
    index: usize,
    device: Device,
    plan: Arc<Plan>,
    dialed: mpsc::UnboundedSender<Dialed>,
    release: watch::Receiver<bool>,
) -> (Option<Link>, Idle) {
    let Ok(Ok(permit)) = tokio::time::timeout_at(plan.phase_deadline, plan.handshakes.acquire()).await else {
        let _ = dialed.send(Dialed::NotStarted);
        return (None, Idle::default());
    };
    let keepalive = plan.keepalive_of(index);
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let creds = device.credentials(&format!("lg{index}"), plan.dialer.target.scheme.expected_securemode(), now_ms);
    let deadline = plan.phase_deadline.min(Instant::now() + plan.connect_timeout);
    let result = plan.dialer.dial(&creds, keepalive, index as u32 + 1, deadline).await;
    drop(permit);
    match result {
        Ok((link, times)) => {
            let _ = dialed.send(Dialed::Connected(times));
            idle(link, index, Duration::from_secs(keepalive.into()), release).await
        }
        Err(error) => {
            let _ = dialed.send(Dialed::Failed(error));
            (None, Idle::default())
        }
    }
}

/// Pings every `keepalive` (the first at a point spread by `index`, so that thousands of
/// connections do not ping at once) until released.
async fn idle(
    mut link: Link,
    index: usize,
    keepalive: Duration,
    mut release: watch::Receiver<bool>,
) -> (Option<Link>, Idle) {
    let mut counts = Idle::default();
    let spread = keepalive.mul_f64((index.wrapping_mul(7919) % 1000) as f64 / 1000.0);
    // Keepalive 0 turns the mechanism off (MQTT 3.1.1 section 3.1.2.10): no pings.
    let mut next_ping = if keepalive.is_zero() { far_future() } else { Instant::now() + spread.max(keepalive / 2) };
    while !*release.borrow() {
        tokio::select! {
            _ = tokio::time::sleep_until(next_ping) => {
                mqtt::pingreq(link.packet_buf());
                link.end_packet();
                if let Err(e) = link.flush().await {
                    counts.lost = Some(format!("PINGREQ write: {e}"));
                    return (None, counts);
                }
                counts.pings += 1;
                next_ping += keepalive;
            }
            read = link.read_packets(|p| counts.pongs += u64::from(p.kind == PINGRESP)) => {
                if let Err(e) = read {
                    counts.lost = Some(e);
                    return (None, counts);
                }
            }
            changed = release.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    (Some(link), counts)
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

#[cfg(test)]
mod tests {
    use super::spread_keepalive;

    #[test]
    fn keepalives_cover_the_range() {
        let values: Vec<u16> = (0..33).map(|i| spread_keepalive((30, 60), i)).collect();
        assert_eq!((values[0], values[30], values[31], values[32]), (30, 60, 30, 31));
        assert_eq!(spread_keepalive((60, 60), 7), 60);
        assert_eq!(spread_keepalive((0, u16::MAX), 65_535), u16::MAX);
    }
}
