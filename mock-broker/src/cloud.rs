//! Cloud-side actions as plain values, shared by the control endpoint and scenario files: a
//! downlink to publish and what became of it.
//!
//! ```json
//! {"product_key": "a1DemoPrdct", "device_name": "demo-device",
//!  "topic": "/a1DemoPrdct/demo-device/user/get", "payload": "hi", "qos": 1}
//! ```
//!
//! answered (by [`routed_json`]) `{"routed": "sent", "conn": 3}`, `{"routed": "queued"}` or
//! `{"routed": "offline"}`.

use crate::broker::Broker;
use crate::hub::Routed;
use crate::mqtt::QoS;
use serde::Deserialize;

/// A downlink, as the cloud side publishes it to one device.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    pub product_key: String,
    pub device_name: String,
    pub topic: String,
    /// The payload, as UTF-8 text.
    #[serde(default)]
    pub payload: String,
    /// 0 or 1 (S-QOS: the platform offers no QoS 2); 0 when absent.
    #[serde(default)]
    pub qos: u8,
}

/// Why a downlink cannot be published.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PublishError(pub String);

impl PublishRequest {
    /// Refuses a downlink the platform could not send, saying why.
    pub fn check(&self) -> Result<QoS, PublishError> {
        if self.topic.is_empty() || self.topic.contains(['+', '#']) {
            return Err(PublishError(format!(
                "topic {:?}: a downlink needs a topic name without wildcards",
                self.topic
            )));
        }
        match self.qos {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            qos => Err(PublishError(format!("qos {qos}: the platform offers QoS 0 and 1 (S-QOS)"))),
        }
    }

    /// Checks and publishes it; the answer is [`routed_json`]'s.
    pub async fn send(&self, broker: &Broker) -> Result<serde_json::Value, PublishError> {
        let qos = self.check()?;
        let routed = broker
            .publish(&self.product_key, &self.device_name, &self.topic, self.payload.clone().into_bytes(), qos)
            .await;
        Ok(routed_json(&routed))
    }
}

/// What [`Broker::publish`] did, as JSON: the one place that maps its result.
pub fn routed_json(routed: &Routed) -> serde_json::Value {
    match routed {
        Routed::Sent(conn) => serde_json::json!({"routed": "sent", "conn": conn}),
        Routed::Queued => serde_json::json!({"routed": "queued"}),
        Routed::Offline => serde_json::json!({"routed": "offline"}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(topic: &str, qos: u8) -> PublishRequest {
        PublishRequest {
            product_key: "pk".into(),
            device_name: "device".into(),
            topic: topic.into(),
            payload: String::new(),
            qos,
        }
    }

    #[test]
    fn wildcards_and_qos_2_are_refused() {
        assert_eq!(request("/pk/device/user/get", 1).check(), Ok(QoS::AtLeastOnce));
        assert!(request("/pk/+/user/get", 0).check().unwrap_err().0.contains("wildcards"));
        assert!(request("/pk/device/user/get", 2).check().unwrap_err().0.contains("S-QOS"));
    }

    #[test]
    fn every_routing_has_its_json() {
        assert_eq!(routed_json(&Routed::Sent(3)), serde_json::json!({"routed": "sent", "conn": 3}));
        assert_eq!(routed_json(&Routed::Queued)["routed"], "queued");
        assert_eq!(routed_json(&Routed::Offline)["routed"], "offline");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<PublishRequest>(
            r#"{"product_key": "pk", "device_name": "d", "topic": "/t", "colour": 1}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }
}
