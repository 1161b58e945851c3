//! Cloud-side actions as plain values, shared by the control endpoint and scenario files: a
//! downlink to publish and what became of it.
//!
//! ```json
//! {"product_key": "a1DemoPrdct", "device_name": "demo-device",
//!  "topic": "/a1DemoPrdct/demo-device/user/get", "payload": "hi", "qos": 1}
//! ```
//!
//! answered (by [`delivery_json`]) `{"delivery": "delivered", "conn": 3, "qos": 1}`,
//! `{"delivery": "undelivered", "conn": 3}` (online, not subscribed), `{"delivery": "queued"}`
//! or `{"delivery": "dropped"}`.

use crate::broker::Broker;
use crate::hub::Delivery;
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
        match crate::topics::downlink_problem(&self.topic, self.qos) {
            Some(problem) => Err(PublishError(problem)),
            None if self.qos == 0 => Ok(QoS::AtMostOnce),
            None => Ok(QoS::AtLeastOnce),
        }
    }

    /// Checks and publishes it; the answer is [`delivery_json`]'s.
    pub async fn send(&self, broker: &Broker) -> Result<serde_json::Value, PublishError> {
        let qos = self.check()?;
        let delivery = broker
            .publish(&self.product_key, &self.device_name, &self.topic, self.payload.clone().into_bytes(), qos)
            .await
            .map_err(|e| PublishError(e.to_string()))?;
        Ok(delivery_json(&delivery))
    }
}

/// What [`Broker::publish`] did, as JSON: the one place that maps its result.
pub fn delivery_json(delivery: &Delivery) -> serde_json::Value {
    match delivery {
        Delivery::Delivered { conn, qos } => {
            serde_json::json!({"delivery": "delivered", "conn": conn, "qos": *qos as u8})
        }
        Delivery::Undelivered { conn } => serde_json::json!({"delivery": "undelivered", "conn": conn}),
        Delivery::Queued => serde_json::json!({"delivery": "queued"}),
        Delivery::Dropped => serde_json::json!({"delivery": "dropped"}),
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
        assert!(request("/pk/+/user/get", 0).check().unwrap_err().0.contains("wildcard"));
        assert!(request("/pk/device/user/get", 2).check().unwrap_err().0.contains("S-QOS"));
    }

    #[test]
    fn every_delivery_has_its_json() {
        let delivered = Delivery::Delivered { conn: 3, qos: QoS::AtLeastOnce };
        assert_eq!(delivery_json(&delivered), serde_json::json!({"delivery": "delivered", "conn": 3, "qos": 1}));
        assert_eq!(delivery_json(&Delivery::Undelivered { conn: 3 })["delivery"], "undelivered");
        assert_eq!(delivery_json(&Delivery::Queued)["delivery"], "queued");
        assert_eq!(delivery_json(&Delivery::Dropped)["delivery"], "dropped");
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
