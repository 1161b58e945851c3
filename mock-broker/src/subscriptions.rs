//! One device's subscriptions with their granted QoS, indexed for routing.
//!
//! A filter without wildcards matches exactly one topic, so those sit in a hash map and a
//! downlink finds them in one lookup; only the wildcard filters (`+`, `#`) are matched one by
//! one. A repeated filter replaces the old subscription and its QoS [MQTT-3.8.4-3]. The number
//! a device may hold is bounded by `Policy::max_subscriptions` (the session enforces it).

use crate::mqtt::QoS;
use crate::topics;
use std::collections::{BTreeMap, HashMap};

/// A device's subscriptions: filter → granted QoS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscriptions {
    /// Filters without wildcards: each matches the one topic equal to it.
    exact: HashMap<String, QoS>,
    /// Filters with a `+` or `#` level, matched against each topic in turn.
    wildcard: BTreeMap<String, QoS>,
}

/// Whether `filter` has a wildcard level.
fn is_wildcard(filter: &str) -> bool {
    filter.split('/').any(|level| level == "+" || level == "#")
}

impl Subscriptions {
    /// How many filters are subscribed.
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }

    /// Whether `filter` is subscribed.
    pub fn contains(&self, filter: &str) -> bool {
        self.exact.contains_key(filter) || self.wildcard.contains_key(filter)
    }

    /// Subscribes `filter` at `qos`, replacing an earlier subscription to it; returns the
    /// QoS it replaced.
    pub fn insert(&mut self, filter: String, qos: QoS) -> Option<QoS> {
        if is_wildcard(&filter) { self.wildcard.insert(filter, qos) } else { self.exact.insert(filter, qos) }
    }

    /// Unsubscribes `filter`; false when it was not subscribed.
    pub fn remove(&mut self, filter: &str) -> bool {
        self.exact.remove(filter).or_else(|| self.wildcard.remove(filter)).is_some()
    }

    /// The QoS a downlink on `topic` goes out at: the lower of the published QoS and the
    /// highest QoS granted to a matching subscription ([MQTT-3.8.4-6]); `None` when none
    /// matches.
    pub fn downlink_qos(&self, topic: &str, published: QoS) -> Option<QoS> {
        let exact = self.exact.get(topic).copied();
        let wild = self.wildcard.iter().filter(|(filter, _)| topics::filter_matches(filter, topic)).map(|(_, q)| *q);
        let granted = exact.into_iter().chain(wild).max()?;
        Some(granted.min(published))
    }

    /// Every subscription, wildcard ones last (in no promised order otherwise).
    pub fn iter(&self) -> impl Iterator<Item = (&str, QoS)> {
        self.exact.iter().chain(self.wildcard.iter()).map(|(f, q)| (f.as_str(), *q))
    }
}

impl FromIterator<(String, QoS)> for Subscriptions {
    fn from_iter<I: IntoIterator<Item = (String, QoS)>>(iter: I) -> Self {
        let mut subscriptions = Subscriptions::default();
        for (filter, qos) in iter {
            subscriptions.insert(filter, qos);
        }
        subscriptions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subs(filters: &[(&str, QoS)]) -> Subscriptions {
        filters.iter().map(|(f, q)| (f.to_string(), *q)).collect()
    }

    #[test]
    fn exact_and_wildcard_filters_both_route() {
        let s = subs(&[("/pk/dn/user/get", QoS::AtMostOnce), ("/sys/pk/dn/thing/#", QoS::AtLeastOnce)]);
        assert_eq!(s.downlink_qos("/pk/dn/user/get", QoS::AtLeastOnce), Some(QoS::AtMostOnce));
        assert_eq!(s.downlink_qos("/sys/pk/dn/thing/x", QoS::AtLeastOnce), Some(QoS::AtLeastOnce));
        assert_eq!(s.downlink_qos("/sys/pk/dn/thing/x", QoS::AtMostOnce), Some(QoS::AtMostOnce));
        assert_eq!(s.downlink_qos("/pk/dn/user/other", QoS::AtLeastOnce), None);
    }

    #[test]
    fn the_highest_matching_grant_wins() {
        let s = subs(&[("/a/b", QoS::AtMostOnce), ("/a/+", QoS::AtLeastOnce)]);
        assert_eq!(s.downlink_qos("/a/b", QoS::AtLeastOnce), Some(QoS::AtLeastOnce));
    }

    #[test]
    fn a_repeated_filter_replaces_its_qos_and_remove_forgets_it() {
        let mut s = subs(&[("/a/b", QoS::AtMostOnce), ("/a/#", QoS::AtMostOnce)]);
        assert_eq!(s.insert("/a/b".into(), QoS::AtLeastOnce), Some(QoS::AtMostOnce));
        assert_eq!(s.len(), 2);
        assert!(s.remove("/a/#") && !s.remove("/a/#"));
        assert!(s.contains("/a/b") && !s.contains("/a/#"));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![("/a/b", QoS::AtLeastOnce)]);
    }

    #[test]
    fn a_plus_inside_a_level_is_not_a_wildcard() {
        assert!(!is_wildcard("/a+b/c#"));
        assert!(is_wildcard("+/x") && is_wildcard("/x/#"));
    }
}
