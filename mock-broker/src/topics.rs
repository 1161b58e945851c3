//! S-TOPIC-OWN: the topics a device may publish to and subscribe to.
//!
//! A device's rights are the default topic classes every product has (S-TOPIC-OWN,
//! see `RULES.md`) plus its product's custom classes from the registry, each with
//! `${productKey}` and `${deviceName}` replaced by the device's identity.
//!
//! - PUBLISH: the topic must match a class with publish right.
//! - SUBSCRIBE: the filter must be covered by a single class with subscribe right, that is,
//!   every topic the filter can match is matched by that class. Level by level: a class `#`
//!   covers the rest; a class `+` covers one level, a filter `+` included; a filter `#` is
//!   covered only by a class `#` at the same level; literals must be equal. Two classes
//!   jointly covering a filter do not count.
//!
//! Interpretation: the S-KICK notice goes to `/ext/notify`, which the broker pushes whether
//! or not the device subscribed. The SDKs do not subscribe to it, but a device that does is
//! harmless and the platform's reaction is unknown, so the mock grants it (assumed) rather
//! than fail a client over an undocumented point.

use crate::registry::{Registry, Rights};
use std::borrow::Cow;

/// The device's own telemetry topic: the class every device publishes its messages to.
const USER_UPDATE: &str = "/${productKey}/${deviceName}/user/update";
/// The device's own downlink topic: the class every device subscribes to for messages.
const USER_GET: &str = "/${productKey}/${deviceName}/user/get";

/// The classes every product has (S-TOPIC-OWN), plus `/ext/notify` (assumed, see above).
const DEFAULT_CLASSES: &[(&str, Rights)] = &[
    (USER_UPDATE, Rights::Publish),
    ("/${productKey}/${deviceName}/user/update/error", Rights::Publish),
    (USER_GET, Rights::Subscribe),
    ("/sys/${productKey}/${deviceName}/thing/#", Rights::All),
    ("/sys/${productKey}/${deviceName}/rrpc/#", Rights::All),
    ("/broadcast/${productKey}/#", Rights::Subscribe),
    ("/ota/device/inform/${productKey}/${deviceName}", Rights::Publish),
    ("/ota/device/upgrade/${productKey}/${deviceName}", Rights::Subscribe),
    ("/shadow/update/${productKey}/${deviceName}", Rights::Publish),
    ("/shadow/get/${productKey}/${deviceName}", Rights::Subscribe),
    ("/ext/ntp/${productKey}/${deviceName}/request", Rights::Publish),
    ("/ext/ntp/${productKey}/${deviceName}/response", Rights::Subscribe),
    ("/ext/notify", Rights::Subscribe),
];

/// The device's own telemetry topic, `/{productKey}/{deviceName}/user/update` (the
/// contract's `IOT_PUBLISH_TOPIC`).
pub fn user_update_topic(product_key: &str, device_name: &str) -> String {
    for_device(USER_UPDATE, product_key, device_name)
}

/// The device's own downlink topic, `/{productKey}/{deviceName}/user/get` (the contract's
/// `IOT_SUBSCRIBE_TOPIC`).
pub fn user_get_topic(product_key: &str, device_name: &str) -> String {
    for_device(USER_GET, product_key, device_name)
}

/// A class pattern with `${productKey}` and `${deviceName}` replaced.
fn for_device(pattern: &str, product_key: &str, device_name: &str) -> String {
    pattern.replace("${productKey}", product_key).replace("${deviceName}", device_name)
}

/// The action asked for.
#[derive(Clone, Copy)]
enum Action {
    Publish,
    Subscribe,
}

impl Action {
    fn allowed_by(self, rights: Rights) -> bool {
        match self {
            Action::Publish => rights.publish(),
            Action::Subscribe => rights.subscribe(),
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }

    /// True if the class (a filter, by levels) grants the action on `topic` (a topic name
    /// or a filter).
    fn reaches<S: AsRef<str>>(self, class: impl Iterator<Item = S>, topic: &str) -> bool {
        match self {
            Action::Publish => levels_match(class, topic),
            Action::Subscribe => covers_filter(class, topic),
        }
    }
}

/// S-TOPIC-OWN: may the device publish to `topic`?
pub fn may_publish(registry: &Registry, product_key: &str, device_name: &str, topic: &str) -> bool {
    check_publish(registry, product_key, device_name, topic).is_ok()
}

/// S-TOPIC-OWN: may the device subscribe to `filter`?
pub fn may_subscribe(registry: &Registry, product_key: &str, device_name: &str, filter: &str) -> bool {
    check_subscribe(registry, product_key, device_name, filter).is_ok()
}

/// S-TOPIC-OWN for a PUBLISH: `Err` holds the reason for the S-PUB-DENY verdict.
pub fn check_publish(registry: &Registry, product_key: &str, device_name: &str, topic: &str) -> Result<(), String> {
    if topic.contains(['+', '#']) {
        return Err(format!("the topic {topic:?} holds a wildcard, which only a subscription may use"));
    }
    check(registry, product_key, device_name, topic, Action::Publish)
}

/// S-TOPIC-OWN for one SUBSCRIBE filter: `Err` holds the reason for the S-SUB-DENY verdict.
pub fn check_subscribe(registry: &Registry, product_key: &str, device_name: &str, filter: &str) -> Result<(), String> {
    check(registry, product_key, device_name, filter, Action::Subscribe)
}

fn check(registry: &Registry, product_key: &str, device_name: &str, topic: &str, action: Action) -> Result<(), String> {
    let custom = registry
        .product(product_key)
        .into_iter()
        .flat_map(|product| product.topic_classes.iter().map(|c| (c.pattern.as_str(), c.rights)));
    let mut reaching = DEFAULT_CLASSES
        .iter()
        .copied()
        .chain(custom)
        .filter(|(pattern, _)| action.reaches(class_levels(pattern, product_key, device_name), topic))
        .peekable();
    let first = reaching.peek().copied();
    if reaching.any(|(_, rights)| action.allowed_by(rights)) {
        return Ok(());
    }
    let mut reason =
        format!("no topic class of product {product_key} grants device {device_name} {} on {topic:?}", action.verb());
    if let Some((pattern, rights)) = first {
        let only = if rights.publish() { "publish" } else { "subscribe" };
        reason.push_str(&format!(" ({} grants {only} only)", for_device(pattern, product_key, device_name)));
    }
    Err(reason)
}

/// The levels of a class pattern with `${productKey}` and `${deviceName}` replaced, without
/// building the class: checking a PUBLISH allocates nothing.
fn class_levels<'a>(
    pattern: &'a str,
    product_key: &'a str,
    device_name: &'a str,
) -> impl Iterator<Item = Cow<'a, str>> {
    pattern.split('/').map(move |level| match level {
        "${productKey}" => Cow::Borrowed(product_key),
        "${deviceName}" => Cow::Borrowed(device_name),
        level if level.contains("${") => Cow::Owned(for_device(level, product_key, device_name)),
        level => Cow::Borrowed(level),
    })
}

/// MQTT topic matching: does `filter` match the topic name `topic`? (`#` matches the parent
/// level too: `a/#` matches `a`.) Used for class rights here and for routing by the broker.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    levels_match(filter.split('/'), topic)
}

/// [`filter_matches`] for a filter given by its levels.
fn levels_match<S: AsRef<str>>(mut filter: impl Iterator<Item = S>, topic: &str) -> bool {
    let mut topic = topic.split('/');
    loop {
        let level = filter.next();
        match (level.as_ref().map(AsRef::as_ref), topic.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Does the filter `class` (by levels) match every topic the filter `filter` matches?
fn covers_filter<S: AsRef<str>>(mut class: impl Iterator<Item = S>, filter: &str) -> bool {
    let mut filter = filter.split('/');
    loop {
        let level = class.next();
        match (level.as_ref().map(AsRef::as_ref), filter.next()) {
            (Some("#"), _) => return true,
            (_, Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(_), Some("+")) => return false,
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Why `topic` cannot be a PUBLISH's topic name ([MQTT-4.7.1-1], [MQTT-4.7.3-1],
/// [MQTT-4.7.3-2]), if it cannot.
pub fn name_problem(topic: &str) -> Option<&'static str> {
    if topic.is_empty() {
        Some("a topic name is at least one character long")
    } else if topic.contains(['+', '#']) {
        Some("a topic name holds no wildcard (`+`, `#`): those are for subscriptions")
    } else if topic.contains('\0') {
        Some("a topic name holds no U+0000")
    } else {
        None
    }
}

/// Why a cloud-side downlink (a fault's, a scenario's or the control endpoint's) cannot be
/// sent: a topic [`name_problem`] refuses, or a QoS other than 0 and 1 (S-QOS).
pub fn downlink_problem(topic: &str, qos: u8) -> Option<String> {
    if let Some(reason) = name_problem(topic) {
        return Some(format!("topic {topic:?}: {reason}"));
    }
    (qos > 1).then(|| format!("qos {qos}: the platform offers QoS 0 and 1 (S-QOS)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PK: &str = "a1DemoPrdct";
    const DN: &str = "demo-device";

    fn demo() -> Registry {
        Registry::demo()
    }

    fn publish(topic: &str) -> bool {
        may_publish(&demo(), PK, DN, topic)
    }

    fn subscribe(filter: &str) -> bool {
        may_subscribe(&demo(), PK, DN, filter)
    }

    #[test]
    fn the_contract_topics_are_the_device_own_and_granted() {
        assert_eq!(user_update_topic(PK, DN), "/a1DemoPrdct/demo-device/user/update");
        assert_eq!(user_get_topic(PK, DN), "/a1DemoPrdct/demo-device/user/get");
        assert!(publish(&user_update_topic(PK, DN)) && !subscribe(&user_update_topic(PK, DN)));
        assert!(subscribe(&user_get_topic(PK, DN)) && !publish(&user_get_topic(PK, DN)));
    }

    #[test]
    fn default_classes_grant_what_s_topic_own_lists() {
        let own = |suffix: &str| suffix.replace("{pk}", PK).replace("{dn}", DN);
        for topic in [
            "/{pk}/{dn}/user/update",
            "/{pk}/{dn}/user/update/error",
            "/sys/{pk}/{dn}/thing/event/property/post",
            "/sys/{pk}/{dn}/rrpc/response/123",
            "/ota/device/inform/{pk}/{dn}",
            "/shadow/update/{pk}/{dn}",
            "/ext/ntp/{pk}/{dn}/request",
        ] {
            assert!(publish(&own(topic)), "publish {topic}");
        }
        for filter in [
            "/{pk}/{dn}/user/get",
            "/sys/{pk}/{dn}/thing/#",
            "/sys/{pk}/{dn}/thing/service/+",
            "/sys/{pk}/{dn}/rrpc/request/+",
            "/broadcast/{pk}/#",
            "/broadcast/{pk}/news",
            "/ota/device/upgrade/{pk}/{dn}",
            "/shadow/get/{pk}/{dn}",
            "/ext/ntp/{pk}/{dn}/response",
            "/ext/notify",
        ] {
            assert!(subscribe(&own(filter)), "subscribe {filter}");
        }
    }

    #[test]
    fn one_direction_classes_refuse_the_other_direction() {
        let own = |suffix: &str| suffix.replace("{pk}", PK).replace("{dn}", DN);
        for topic in ["/{pk}/{dn}/user/get", "/broadcast/{pk}/news", "/ota/device/upgrade/{pk}/{dn}", "/ext/notify"] {
            assert!(!publish(&own(topic)), "publish {topic}");
        }
        for filter in ["/{pk}/{dn}/user/update", "/shadow/update/{pk}/{dn}", "/ext/ntp/{pk}/{dn}/request"] {
            assert!(!subscribe(&own(filter)), "subscribe {filter}");
        }
    }

    #[test]
    fn custom_classes_are_substituted_per_device() {
        assert!(publish("/a1DemoPrdct/demo-device/user/data"));
        assert!(subscribe("/a1DemoPrdct/demo-device/user/data"));
        assert!(!publish("/a1DemoPrdct/other-device/user/data"));
        assert!(!subscribe("/a1DemoPrdct/demo-device/user/data/more"));
        let registry = Registry::default();
        assert!(!may_publish(&registry, PK, DN, "/a1DemoPrdct/demo-device/user/data"));
        assert!(may_publish(&registry, PK, DN, "/a1DemoPrdct/demo-device/user/update"));
    }

    #[test]
    fn other_devices_and_products_are_refused() {
        assert!(!publish("/a1DemoPrdct/other/user/update"));
        assert!(!publish("/a1OtherPrdc/demo-device/user/update"));
        assert!(!subscribe("/sys/a1DemoPrdct/other/thing/#"));
        assert!(!subscribe("/broadcast/a1OtherPrdc/#"));
    }

    #[test]
    fn wildcard_filters_need_one_covering_class() {
        // `+` over user/ spans get (sub) and update (pub): not covered.
        assert!(!subscribe("/a1DemoPrdct/demo-device/user/+"));
        // `#` is covered only by a class `#` at that level.
        assert!(!subscribe("/sys/a1DemoPrdct/demo-device/#"));
        assert!(!subscribe("/a1DemoPrdct/demo-device/user/get/#"));
        assert!(!subscribe("#"));
        // A filter `+` where the class has a literal.
        assert!(!subscribe("/ota/device/upgrade/+/demo-device"));
        // A class `#` covers the parent level itself.
        assert!(subscribe("/sys/a1DemoPrdct/demo-device/thing"));
        assert!(subscribe("/sys/a1DemoPrdct/demo-device/thing/+/+/#"));
    }

    #[test]
    fn class_plus_covers_a_filter_plus() {
        let text = "[[product]]\nproduct_key = \"pk\"\n[[product.topic]]\n\
                    pattern = \"/${productKey}/${deviceName}/user/+/state\"\nrights = \"sub\"\n";
        let registry = Registry::from_toml_str(text).expect("valid");
        assert!(may_subscribe(&registry, "pk", "device", "/pk/device/user/+/state"));
        assert!(may_subscribe(&registry, "pk", "device", "/pk/device/user/lamp/state"));
        assert!(!may_subscribe(&registry, "pk", "device", "/pk/device/user/#"));
        assert!(!may_subscribe(&registry, "pk", "device", "/pk/device/user/lamp/state/x"));
        assert!(!may_publish(&registry, "pk", "device", "/pk/device/user/lamp/state"));
    }

    #[test]
    fn filter_matching_follows_mqtt() {
        assert!(filter_matches("/a/+/c", "/a/b/c"));
        assert!(filter_matches("/a/#", "/a"));
        assert!(filter_matches("/a/#", "/a/b/c"));
        assert!(filter_matches("#", "/a"));
        assert!(!filter_matches("/a/+", "/a/b/c"));
        assert!(!filter_matches("/a/+/c", "/a/b/d"));
        assert!(!filter_matches("/a/b", "/a/b/c"));
        assert!(!filter_matches("/a/b/c", "/a/b"));
    }

    #[test]
    fn publish_topics_may_not_hold_wildcards() {
        let err = check_publish(&demo(), PK, DN, "/sys/a1DemoPrdct/demo-device/thing/+").expect_err("wildcard");
        assert!(err.contains("wildcard"), "{err}");
    }

    #[test]
    fn denials_explain_themselves() {
        let err = check_publish(&demo(), PK, DN, "/a1DemoPrdct/other/user/update").expect_err("other device");
        assert_eq!(
            err,
            "no topic class of product a1DemoPrdct grants device demo-device publish on \"/a1DemoPrdct/other/user/update\""
        );
        let err = check_subscribe(&demo(), PK, DN, "/a1DemoPrdct/demo-device/user/update").expect_err("pub only");
        assert_eq!(
            err,
            "no topic class of product a1DemoPrdct grants device demo-device subscribe on \
             \"/a1DemoPrdct/demo-device/user/update\" (/a1DemoPrdct/demo-device/user/update grants publish only)"
        );
    }
}
