//! Expectations in the style of wiremock: declared before the code under test runs, verified
//! when the test ends, and, when one is not met, a report that says precisely what did not
//! happen.
//!
//! An [`Expectation`] is about one device (or one rule): it comes online, publishes to a
//! topic some number of times, subscribes to a filter, is never refused, never breaks a rule.
//! It counts only what happens after it was declared; `within` bounds that window.
//!
//! They live in a scope: the broker's own ([`crate::Broker::expect`], verified by
//! [`crate::Broker::verify`] or when the broker is dropped), or an [`Expectations`] taken with
//! [`crate::Broker::expectations`] for one block of a test, verified by
//! [`Expectations::verify`] or when it is dropped. A verification that fails returns (or, on
//! drop, panics with) an [`Unmet`] report: each expectation, expected against observed, the
//! verdicts involved, and the tail of the transcript.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mock_broker::{Broker, Expectation, Rule};
//! use std::time::Duration;
//! let broker = Broker::builder().device("a1B2c3D4e5F", "sensor-01", "s3cr3tS3cr3t").start().await?;
//! let mut scope = broker.expectations();
//! scope.expect(Expectation::online("a1B2c3D4e5F", "sensor-01").within(Duration::from_millis(50)));
//! scope.expect(Expectation::never_breaks(Rule::KTimeout));
//! // ... no device runs here, so the first is not met:
//! let unmet = scope.verify().await.unwrap_err();
//! assert!(unmet.to_string().contains("NOT MET: a1B2c3D4e5F/sensor-01 comes online within 50 ms"));
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

mod check;
mod report;

pub use report::{Unmet, Verified};

use crate::events::Bus;
use crate::hub::DeviceKey;
use crate::rules::Rule;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// How many times a device must publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    Exactly(u64),
    AtLeast(u64),
}

/// What must (or must not) happen.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expected {
    Online { device: DeviceKey },
    Publishes { device: DeviceKey, topic: String, times: Times },
    Subscribes { device: DeviceKey, filter: String },
    NeverRefused { device: DeviceKey },
    NeverBreaks { rule: Rule, device: Option<DeviceKey> },
}

/// One thing a test expects of the devices it runs. Build it with one of the constructors,
/// then narrow it (`times`, `at_least`, `within`, `of_device`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    expected: Expected,
    within: Option<Duration>,
}

impl Expectation {
    fn new(expected: Expected) -> Expectation {
        Expectation { expected, within: None }
    }

    /// The device comes online (its CONNECT is accepted).
    pub fn online(product_key: &str, device_name: &str) -> Expectation {
        Expectation::new(Expected::Online { device: DeviceKey::new(product_key, device_name) })
    }

    /// The device publishes to a topic matching `topic` (an MQTT filter: `+`, `#`) at least
    /// once; [`Expectation::times`] and [`Expectation::at_least`] change the count. Every
    /// PUBLISH the broker read counts, whether or not it accepted it (the verdicts say).
    pub fn publishes(product_key: &str, device_name: &str, topic: &str) -> Expectation {
        let device = DeviceKey::new(product_key, device_name);
        Expectation::new(Expected::Publishes { device, topic: topic.into(), times: Times::AtLeast(1) })
    }

    /// The device SUBSCRIBEs to exactly `filter`, and the broker grants it.
    pub fn subscribes(product_key: &str, device_name: &str, filter: &str) -> Expectation {
        Expectation::new(Expected::Subscribes {
            device: DeviceKey::new(product_key, device_name),
            filter: filter.into(),
        })
    }

    /// No CONNECT of the device is refused.
    pub fn never_refused(product_key: &str, device_name: &str) -> Expectation {
        Expectation::new(Expected::NeverRefused { device: DeviceKey::new(product_key, device_name) })
    }

    /// No connection (or, with [`Expectation::of_device`], none of the device's) gets a
    /// failed verdict on `rule`.
    pub fn never_breaks(rule: Rule) -> Expectation {
        Expectation::new(Expected::NeverBreaks { rule, device: None })
    }

    /// Publishes: exactly `n` times (other kinds have no count and stay as they are).
    pub fn times(mut self, n: u64) -> Expectation {
        if let Expected::Publishes { times, .. } = &mut self.expected {
            *times = Times::Exactly(n);
        }
        self
    }

    /// Publishes: at least `n` times (other kinds stay as they are).
    pub fn at_least(mut self, n: u64) -> Expectation {
        if let Expected::Publishes { times, .. } = &mut self.expected {
            *times = Times::AtLeast(n);
        }
        self
    }

    /// Never breaks: only the connections of this device (other kinds name their device
    /// already and stay as they are).
    pub fn of_device(mut self, product_key: &str, device_name: &str) -> Expectation {
        if let Expected::NeverBreaks { device, .. } = &mut self.expected {
            *device = Some(DeviceKey::new(product_key, device_name));
        }
        self
    }

    /// Only what happens within `window` of the declaration counts. A verification waits
    /// until the window ends for an expectation not yet met that still can be.
    pub fn within(mut self, window: Duration) -> Expectation {
        self.within = Some(window);
        self
    }
}

/// `a1B2c3D4e5F/sensor-01`.
fn device(key: &DeviceKey) -> String {
    format!("{}/{}", key.product_key, key.device_name)
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expected {
            Expected::Online { device: d } => write!(f, "{} comes online", device(d))?,
            Expected::Publishes { device: d, topic, times } => {
                write!(f, "{} publishes to {topic} ", device(d))?;
                match times {
                    Times::Exactly(1) => f.write_str("once")?,
                    Times::Exactly(n) => write!(f, "{n} times")?,
                    Times::AtLeast(n) => write!(f, "at least {n} time{}", if *n == 1 { "" } else { "s" })?,
                }
            }
            Expected::Subscribes { device: d, filter } => write!(f, "{} subscribes to {filter}", device(d))?,
            Expected::NeverRefused { device: d } => write!(f, "{} is never refused", device(d))?,
            Expected::NeverBreaks { rule, device: None } => write!(f, "no device breaks {rule}")?,
            Expected::NeverBreaks { rule, device: Some(d) } => write!(f, "{} never breaks {rule}", device(d))?,
        }
        if let Some(window) = self.within {
            write!(f, " within {}", millis(window))?;
        }
        Ok(())
    }
}

/// `250 ms`, `5 s`, `1.5 s`.
fn millis(d: Duration) -> String {
    match d.as_millis() {
        ms if ms % 1000 == 0 && ms > 0 => format!("{} s", ms / 1000),
        ms if ms >= 1000 => format!("{:.3} s", d.as_secs_f64()).replace(".500 s", ".5 s"),
        ms => format!("{ms} ms"),
    }
}

/// An expectation as declared: numbered in its scope, with the event it counts after.
#[derive(Clone, Debug)]
pub(crate) struct Declared {
    pub id: u64,
    pub expectation: Expectation,
    /// The seq of the newest event when it was declared: it counts the events after it.
    pub after_seq: u64,
    /// When it was declared, since the broker started.
    pub at: Duration,
    /// When its window ends.
    pub deadline: Option<Instant>,
}

impl Declared {
    /// The end of its window, since the broker started.
    fn window_end(&self) -> Option<Duration> {
        self.expectation.within.map(|w| self.at + w)
    }
}

/// The expectations of one scope, as plain data: what the control endpoint keeps, and what
/// [`Expectations`] and the broker's own scope wrap.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    declared: Vec<Declared>,
    next_id: u64,
}

impl Ledger {
    /// Declares `expectation` now; returns its number.
    pub(crate) fn declare(&mut self, bus: &Bus, expectation: Expectation) -> u64 {
        self.next_id += 1;
        let deadline = expectation.within.map(|w| Instant::now() + w);
        let declared = Declared { id: self.next_id, after_seq: bus.head(), at: bus.elapsed(), deadline, expectation };
        self.declared.push(declared);
        self.next_id
    }

    /// The expectations declared and not yet verified.
    pub(crate) fn declared(&self) -> impl Iterator<Item = (u64, &Expectation)> {
        self.declared.iter().map(|d| (d.id, &d.expectation))
    }

    /// Drops every expectation unverified; returns how many there were.
    pub(crate) fn dismiss(&mut self) -> usize {
        std::mem::take(&mut self.declared).len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.declared.is_empty()
    }

    /// Checks every expectation against the history as it is now, ending the scope.
    pub(crate) fn verify_now(&mut self, bus: &Bus) -> Unmet {
        let declared = std::mem::take(&mut self.declared);
        report::conclude(bus, &declared, check::all(bus, &declared))
    }

    /// Checks every expectation, first waiting, until its window ends, for each one not yet
    /// met that still can be; ends the scope.
    pub(crate) async fn verify(&mut self, bus: &Bus) -> Unmet {
        let declared = std::mem::take(&mut self.declared);
        let mut events = bus.subscribe();
        loop {
            let checks = check::all(bus, &declared);
            let now = Instant::now();
            let pending = declared
                .iter()
                .zip(&checks)
                .filter(|(_, c)| c.can_still_be_met())
                .filter_map(|(d, _)| d.deadline.filter(|end| *end > now))
                .min();
            let Some(until) = pending else { return report::conclude(bus, &declared, checks) };
            let mut batch = Vec::new();
            match tokio::time::timeout_at(until, events.recv_many(&mut batch, 1024)).await {
                Ok(Err(crate::events::StreamError::Closed)) | Err(_) => {
                    let checks = check::all(bus, &declared);
                    return report::conclude(bus, &declared, checks);
                }
                Ok(_) => {}
            }
        }
    }
}

/// A scope of expectations for one block of a test, taken with
/// [`crate::Broker::expectations`]. Dropped unverified, it verifies what has happened so far
/// and panics with the report if an expectation is not met (unless the thread is already
/// panicking); [`Expectations::verify`] first waits for the windows still open.
#[must_use = "a scope verifies its expectations when it is dropped: keep it for the block"]
pub struct Expectations {
    bus: Bus,
    ledger: Ledger,
}

impl Expectations {
    pub(crate) fn new(bus: Bus) -> Expectations {
        Expectations { bus, ledger: Ledger::default() }
    }

    /// Declares an expectation, counting what happens from now.
    pub fn expect(&mut self, expectation: Expectation) -> &mut Expectations {
        self.ledger.declare(&self.bus, expectation);
        self
    }

    /// Verifies every expectation (waiting for those whose window is still open), ending
    /// the scope. `Ok` carries how many were met.
    pub async fn verify(mut self) -> Result<usize, Unmet> {
        self.ledger.verify(&self.bus).await.into_result()
    }

    /// Ends the scope without verifying.
    pub fn dismiss(mut self) {
        self.ledger.dismiss();
    }
}

impl Drop for Expectations {
    fn drop(&mut self) {
        verify_on_drop(&mut self.ledger, &self.bus);
    }
}

/// What a scope does when it is dropped unverified: verify now, and panic with the report if
/// an expectation is not met (unless the thread is already panicking: the first failure is
/// the one to read).
pub(crate) fn verify_on_drop(ledger: &mut Ledger, bus: &Bus) {
    if ledger.is_empty() {
        return;
    }
    let verdict = ledger.verify_now(bus).into_result();
    if let Err(unmet) = verdict
        && !std::thread::panicking()
    {
        panic!("{unmet}");
    }
}

impl crate::Broker {
    /// Declares an expectation in the broker's own scope, counting what happens from now.
    /// [`crate::Broker::verify`] or [`crate::Broker::finish`] verifies them; a broker dropped
    /// with expectations unverified verifies them then, and panics with the report if one is
    /// not met.
    pub fn expect(&self, expectation: Expectation) -> &crate::Broker {
        self.expected().declare(&self.shared.bus, expectation);
        self
    }

    /// A new scope of expectations for one block of a test (see [`Expectations`]).
    pub fn expectations(&self) -> Expectations {
        Expectations::new(self.shared.bus.clone())
    }

    /// Verifies the broker's own expectations, first waiting for those whose window is still
    /// open, and ends them. `Ok` carries how many were met.
    pub async fn verify(&self) -> Result<usize, Unmet> {
        let mut ledger = std::mem::take(&mut *self.expected());
        ledger.verify(&self.shared.bus).await.into_result()
    }

    /// The end of a test: verifies the broker's own expectations as [`crate::Broker::verify`]
    /// does, then shuts the broker down.
    pub async fn finish(self) -> Result<usize, Unmet> {
        let verified = self.verify().await;
        self.shutdown().await;
        verified
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_read_as_sentences() {
        let cases = [
            (Expectation::online("pk", "dev").within(Duration::from_secs(5)), "pk/dev comes online within 5 s"),
            (
                Expectation::publishes("pk", "dev", "/pk/dev/user/update"),
                "pk/dev publishes to /pk/dev/user/update at least 1 time",
            ),
            (Expectation::publishes("pk", "dev", "/t").times(1), "pk/dev publishes to /t once"),
            (
                Expectation::publishes("pk", "dev", "/t").times(3).within(Duration::from_millis(1500)),
                "pk/dev publishes to /t 3 times within 1.5 s",
            ),
            (Expectation::publishes("pk", "dev", "/t").at_least(2), "pk/dev publishes to /t at least 2 times"),
            (Expectation::subscribes("pk", "dev", "/pk/dev/user/get"), "pk/dev subscribes to /pk/dev/user/get"),
            (Expectation::never_refused("pk", "dev"), "pk/dev is never refused"),
            (Expectation::never_breaks(Rule::KTimeout), "no device breaks K-TIMEOUT"),
            (
                Expectation::never_breaks(Rule::SRate).of_device("pk", "dev").within(Duration::from_millis(250)),
                "pk/dev never breaks S-RATE within 250 ms",
            ),
        ];
        for (expectation, sentence) in cases {
            assert_eq!(expectation.to_string(), sentence);
        }
    }

    fn online(bus: &Bus, conn: u64) {
        let kind = crate::events::EventKind::Online {
            product_key: "pk".into(),
            device_name: "dev".into(),
            session_present: false,
        };
        bus.emit(conn, kind);
    }

    #[tokio::test(start_paused = true)]
    async fn a_verification_waits_for_an_open_window_and_no_longer() {
        let bus = Bus::new(Instant::now(), 64);
        let mut ledger = Ledger::default();
        ledger.declare(&bus, Expectation::online("pk", "dev").within(Duration::from_secs(5)));
        ledger.declare(&bus, Expectation::never_refused("pk", "dev"));
        let start = Instant::now();
        let late = {
            let bus = bus.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                online(&bus, 1);
            })
        };
        let report = ledger.verify(&bus).await;
        assert_eq!((report.outcomes.iter().all(|o| o.met), start.elapsed()), (true, Duration::from_secs(2)));
        late.await.unwrap();

        ledger.declare(&bus, Expectation::online("pk", "dev").within(Duration::from_secs(5)));
        let start = Instant::now();
        let waiter = {
            let bus = bus.clone();
            tokio::spawn(async move { (ledger.verify(&bus).await, Instant::now()) })
        };
        tokio::time::sleep(Duration::from_secs(6)).await;
        online(&bus, 2);
        let (report, ended) = waiter.await.unwrap();
        assert_eq!(ended - start, Duration::from_secs(5), "the verification ends with the window");
        let unmet = report.into_result().unwrap_err();
        let observed = &unmet.outcomes[0].observed;
        assert_eq!(observed, "no CONNECT named this device");
        let mut again = Ledger::default();
        again.declare(&bus, Expectation::online("pk", "dev").within(Duration::from_secs(1)));
        tokio::time::sleep(Duration::from_secs(2)).await;
        online(&bus, 3);
        let late = again.verify_now(&bus).into_result().unwrap_err();
        assert!(late.outcomes[0].observed.starts_with("online only at 10.000 s on #3, after its window"), "{late}");
    }

    #[test]
    fn a_window_the_history_let_go_cannot_be_verified_and_says_so() {
        let bus = Bus::new(Instant::now(), 2);
        let mut ledger = Ledger::default();
        ledger.declare(&bus, Expectation::never_breaks(Rule::SRate));
        for conn in 1..=3 {
            online(&bus, conn);
        }
        let unmet = ledger.verify_now(&bus).into_result().unwrap_err();
        assert!(
            unmet.outcomes[0].observed.ends_with("raise Policy::history_events (--history-events) to verify it"),
            "{unmet}"
        );
        assert!(ledger.is_empty(), "a verification ends the scope");
    }

    #[test]
    fn narrowing_applies_only_where_it_means_something() {
        let online = Expectation::online("pk", "dev");
        assert_eq!(online.clone().times(3).of_device("x", "y"), online);
    }
}
