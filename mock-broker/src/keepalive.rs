//! When a silent device is cut (K-TIMER, K-TIMEOUT).
//!
//! The platform checks every 30 s and cuts each device silent for more than 1.5 x its
//! keepalive, so a cut lands between 1.5K and 1.5K + period after the last packet. Instead of
//! waking every connection on every check, each connection computes the check at which it
//! will be cut and sleeps until then; a packet moves that point. Checks are aligned to the
//! broker's start plus a phase, as one platform-wide checker would be.
//!
//! The arithmetic saturates: an absurd phase or period (operator input) puts the cut in the
//! far future instead of overflowing.

use crate::policy::KeepaliveCheck;
use std::time::Duration;
use tokio::time::Instant;

/// The silence after which a device with `keep_alive` seconds is due for a cut: 1.5 x K.
pub fn allowed_silence(keep_alive: u16) -> Duration {
    Duration::from_millis(u64::from(keep_alive) * 1500)
}

/// The instant the broker cuts a device whose last packet arrived at `last`.
///
/// `epoch` is the broker's start. With periodic checks it is the first check strictly after
/// `last + 1.5K` (silence must be *more than* 1.5K); in exact mode, `last + 1.5K` itself.
pub fn cut_at(check: KeepaliveCheck, epoch: Instant, last: Instant, keep_alive: u16) -> Instant {
    let due = saturating_add(last, allowed_silence(keep_alive));
    match check {
        KeepaliveCheck::Exact => due,
        KeepaliveCheck::Periodic { period, phase } => {
            let first = saturating_add(epoch, phase);
            if due < first || period.is_zero() {
                return first.max(due);
            }
            let since = (due - first).as_nanos();
            let period_ns = period.as_nanos();
            let checks = since / period_ns + 1;
            let after = checks.saturating_mul(period_ns);
            let after = u64::try_from(after).map_or(Duration::MAX, Duration::from_nanos);
            saturating_add(first, after)
        }
    }
}

/// How far ahead "never" lies: about 30 years, as tokio's own far future.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `at + by`, or a far-future instant where that overflows.
fn saturating_add(at: Instant, by: Duration) -> Instant {
    at.checked_add(by.min(FAR_FUTURE)).or_else(|| at.checked_add(FAR_FUTURE)).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn periodic(period: u64, phase: u64) -> KeepaliveCheck {
        KeepaliveCheck::Periodic { period: S(period), phase: S(phase) }
    }

    #[test]
    fn exact_mode_cuts_at_one_and_a_half_keepalive() {
        let epoch = Instant::now();
        assert_eq!(cut_at(KeepaliveCheck::Exact, epoch, epoch + S(7), 60), epoch + S(97));
    }

    #[test]
    fn periodic_cut_is_the_first_check_after_one_and_a_half_keepalive() {
        let epoch = Instant::now();
        // Last packet at 7 s, K = 60: due at 97 s; checks at 0, 30, 60, 90, 120: cut at 120.
        assert_eq!(cut_at(periodic(30, 0), epoch, epoch + S(7), 60), epoch + S(120));
        // Due exactly on a check (silence equal to 1.5K is not "more than"): the next one.
        assert_eq!(cut_at(periodic(30, 0), epoch, epoch + S(0), 60), epoch + S(120));
        // A phase shifts the checks: 10, 40, 70, 100.
        assert_eq!(cut_at(periodic(30, 10), epoch, epoch + S(7), 60), epoch + S(100));
    }

    #[test]
    fn absurd_phases_and_periods_saturate_instead_of_panicking() {
        let epoch = Instant::now();
        let far = epoch + FAR_FUTURE;
        assert_eq!(cut_at(periodic(30, u64::MAX), epoch, epoch, 60), far);
        let huge = KeepaliveCheck::Periodic { period: Duration::MAX, phase: Duration::MAX };
        assert_eq!(cut_at(huge, epoch, epoch + S(7), 60), far);
        // A huge period after the first check: the next check is far away, not wrapped round.
        let late = KeepaliveCheck::Periodic { period: Duration::MAX, phase: Duration::ZERO };
        assert_eq!(cut_at(late, epoch, epoch + S(7), 60), far);
        let odd = KeepaliveCheck::Periodic { period: Duration::from_nanos(u64::MAX), phase: Duration::ZERO };
        assert!(cut_at(odd, epoch, epoch + S(7), 60) > epoch + S(97));
    }

    #[test]
    fn periodic_cut_stays_within_the_documented_window() {
        let epoch = Instant::now();
        for last in 0..200 {
            for k in [30u16, 45, 300, 1200] {
                let last = epoch + Duration::from_millis(last * 137);
                let cut = cut_at(periodic(30, 0), epoch, last, k);
                let silence = cut - last;
                assert!(silence > allowed_silence(k), "k={k} silence={silence:?}");
                assert!(silence <= allowed_silence(k) + S(30), "k={k} silence={silence:?}");
            }
        }
    }
}
