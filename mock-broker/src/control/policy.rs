//! The policy as the control endpoint's JSON (`GET /policy`, `PATCH /policy`): durations as
//! `*_ms` numbers, CONNACK codes and QoS as numbers, reactions as snake_case strings, the
//! keepalive check as `{"mode": "periodic", "period_ms", "phase_ms"}` or `{"mode": "exact"}`.
//!
//! A patch is a JSON object with any subset of the fields: it is laid over the current
//! policy's JSON and read back through the same type, so that a value is checked exactly as
//! in a whole policy. An unknown field is refused naming the editable ones; a change of a
//! field fixed at start is refused by the broker ([`crate::policy::PolicyError`]).

use super::http::ApiError;
use crate::mqtt::{ConnackCode, QoS};
use crate::policy::{FIXED_AT_START, KeepaliveCheck, OversizeReaction, Policy, Qos2PublishReaction};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

/// The keepalive check (K-TIMEOUT) in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
enum CheckJson {
    Periodic { period_ms: u64, phase_ms: u64 },
    Exact,
}

/// [`Policy`] in JSON, field by field (see [`Policy`] for each field's meaning). Reading it
/// back builds a whole `Policy`, so that a new policy field cannot be left out here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyJson {
    keepalive_range: (u16, u16),
    keepalive_refusal: u8,
    client_id_max_chars: usize,
    securemode_refusal: u8,
    signmethod_refusal: u8,
    unknown_device_refusal: u8,
    disabled_device_refusal: u8,
    keepalive_check: CheckJson,
    connect_timeout_ms: u64,
    qos2_publish: Qos2PublishReaction,
    qos2_subscribe_grant: u8,
    puback_denied_publish: bool,
    uplink_rate_per_second: u32,
    payload_limit: usize,
    oversize: OversizeReaction,
    stored_session_max_messages: usize,
    stored_session_max_bytes: usize,
    stored_session_expiry_ms: u64,
    ws_paths: Vec<String>,
    ws_message_limit: Option<usize>,
    max_connections: usize,
    max_connect_len: usize,
    tls_handshake_timeout_ms: u64,
    ws_upgrade_timeout_ms: u64,
    max_subscriptions: usize,
    verdicts_per_second: u32,
    outbound_queue: usize,
    history_events: usize,
    uplink_history: usize,
    uplink_history_bytes: usize,
    write_timeout_ms: u64,
    reveal_signatures: bool,
}

/// A duration in whole milliseconds, saturating.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The JSON name of a policy field: durations carry `_ms`.
fn json_name(field: &str) -> String {
    match field {
        "stored_session_expiry" => format!("{field}_ms"),
        other => other.to_owned(),
    }
}

impl From<&Policy> for PolicyJson {
    fn from(p: &Policy) -> PolicyJson {
        PolicyJson {
            keepalive_range: p.keepalive_range,
            keepalive_refusal: p.keepalive_refusal.as_u8(),
            client_id_max_chars: p.client_id_max_chars,
            securemode_refusal: p.securemode_refusal.as_u8(),
            signmethod_refusal: p.signmethod_refusal.as_u8(),
            unknown_device_refusal: p.unknown_device_refusal.as_u8(),
            disabled_device_refusal: p.disabled_device_refusal.as_u8(),
            keepalive_check: match p.keepalive_check {
                KeepaliveCheck::Periodic { period, phase } => {
                    CheckJson::Periodic { period_ms: ms(period), phase_ms: ms(phase) }
                }
                KeepaliveCheck::Exact => CheckJson::Exact,
            },
            connect_timeout_ms: ms(p.connect_timeout),
            qos2_publish: p.qos2_publish,
            qos2_subscribe_grant: p.qos2_subscribe_grant as u8,
            puback_denied_publish: p.puback_denied_publish,
            uplink_rate_per_second: p.uplink_rate_per_second,
            payload_limit: p.payload_limit,
            oversize: p.oversize,
            stored_session_max_messages: p.stored_session_max_messages,
            stored_session_max_bytes: p.stored_session_max_bytes,
            stored_session_expiry_ms: ms(p.stored_session_expiry),
            ws_paths: p.ws_paths.clone(),
            ws_message_limit: p.ws_message_limit,
            max_connections: p.max_connections,
            max_connect_len: p.max_connect_len,
            tls_handshake_timeout_ms: ms(p.tls_handshake_timeout),
            ws_upgrade_timeout_ms: ms(p.ws_upgrade_timeout),
            max_subscriptions: p.max_subscriptions,
            verdicts_per_second: p.verdicts_per_second,
            outbound_queue: p.outbound_queue,
            history_events: p.history_events,
            uplink_history: p.uplink_history,
            uplink_history_bytes: p.uplink_history_bytes,
            write_timeout_ms: ms(p.write_timeout),
            reveal_signatures: p.reveal_signatures,
        }
    }
}

impl PolicyJson {
    /// The policy, after the checks the command line makes of the same values: refusing
    /// CONNACK codes (1-5), a grant of QoS 0 or 1, an ordered keepalive range, a periodic
    /// check with a period, at least 1 where 0 would refuse everything. A breach is a 422
    /// naming the field.
    fn into_policy(self) -> Result<Policy, ApiError> {
        let invalid = |field: &str, why: &str| ApiError::unprocessable(format!("policy field {field}: {why}"));
        let code = |field: &str, value: u8| {
            ConnackCode::from_u8(value)
                .filter(|c| *c != ConnackCode::Accepted)
                .ok_or_else(|| invalid(field, &format!("{value} is not a refusing CONNACK code, 1 to 5")))
        };
        let at_least_one = |field: &str, value: usize| match value {
            0 => Err(invalid(field, "expected at least 1")),
            n => Ok(n),
        };
        let (low, high) = self.keepalive_range;
        if low > high {
            return Err(invalid("keepalive_range", &format!("[{low}, {high}] is empty: expected [low, high]")));
        }
        if self.verdicts_per_second == 0 {
            return Err(invalid("verdicts_per_second", "expected at least 1"));
        }
        if self.payload_limit > crate::policy::MAX_PAYLOAD_LIMIT {
            let most = crate::policy::MAX_PAYLOAD_LIMIT;
            return Err(invalid(
                "payload_limit",
                &format!("expected at most {most} bytes, the largest MQTT remaining length"),
            ));
        }
        Ok(Policy {
            keepalive_range: self.keepalive_range,
            keepalive_refusal: code("keepalive_refusal", self.keepalive_refusal)?,
            client_id_max_chars: self.client_id_max_chars,
            securemode_refusal: code("securemode_refusal", self.securemode_refusal)?,
            signmethod_refusal: code("signmethod_refusal", self.signmethod_refusal)?,
            unknown_device_refusal: code("unknown_device_refusal", self.unknown_device_refusal)?,
            disabled_device_refusal: code("disabled_device_refusal", self.disabled_device_refusal)?,
            keepalive_check: match self.keepalive_check {
                CheckJson::Periodic { period_ms: 0, .. } => {
                    return Err(invalid(
                        "keepalive_check",
                        "a periodic check needs a period_ms above 0 (or mode exact)",
                    ));
                }
                CheckJson::Periodic { period_ms, phase_ms } => KeepaliveCheck::Periodic {
                    period: Duration::from_millis(period_ms),
                    phase: Duration::from_millis(phase_ms),
                },
                CheckJson::Exact => KeepaliveCheck::Exact,
            },
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            qos2_publish: self.qos2_publish,
            qos2_subscribe_grant: match self.qos2_subscribe_grant {
                0 => QoS::AtMostOnce,
                1 => QoS::AtLeastOnce,
                other => return Err(invalid("qos2_subscribe_grant", &format!("{other}: expected 0 or 1"))),
            },
            puback_denied_publish: self.puback_denied_publish,
            uplink_rate_per_second: self.uplink_rate_per_second,
            payload_limit: self.payload_limit,
            oversize: self.oversize,
            stored_session_max_messages: self.stored_session_max_messages,
            stored_session_max_bytes: self.stored_session_max_bytes,
            stored_session_expiry: Duration::from_millis(self.stored_session_expiry_ms),
            ws_paths: self.ws_paths,
            ws_message_limit: self.ws_message_limit,
            max_connections: at_least_one("max_connections", self.max_connections)?,
            max_connect_len: self.max_connect_len,
            tls_handshake_timeout: Duration::from_millis(self.tls_handshake_timeout_ms),
            ws_upgrade_timeout: Duration::from_millis(self.ws_upgrade_timeout_ms),
            max_subscriptions: self.max_subscriptions,
            verdicts_per_second: self.verdicts_per_second,
            outbound_queue: at_least_one("outbound_queue", self.outbound_queue)?,
            history_events: self.history_events,
            uplink_history: self.uplink_history,
            uplink_history_bytes: self.uplink_history_bytes,
            write_timeout: Duration::from_millis(self.write_timeout_ms),
            reveal_signatures: self.reveal_signatures,
        })
    }
}

/// The policy as the JSON `GET /policy` answers.
pub(super) fn to_json(policy: &Policy) -> Value {
    serde_json::to_value(PolicyJson::from(policy)).unwrap_or(Value::Null)
}

/// `policy` with `patch` laid over it: 400 for a patch that is not an object, names an
/// unknown field or holds a value of the wrong type; 422 for a value out of range.
pub(super) fn patched(policy: &Policy, patch: Value) -> Result<Policy, ApiError> {
    let Value::Object(patch) = patch else {
        return Err(ApiError::bad_request("a policy patch is a JSON object of the fields to change"));
    };
    let Value::Object(mut fields) = to_json(policy) else {
        return Err(ApiError::bad_request("the policy has no JSON form"));
    };
    for (field, value) in patch {
        if !fields.contains_key(&field) {
            return Err(unknown_field(&field, &fields));
        }
        fields.insert(field, value);
    }
    let json: PolicyJson = serde_json::from_value(Value::Object(fields))
        .map_err(|e| ApiError::bad_request(format!("invalid policy patch: {e}")))?;
    json.into_policy()
}

/// The 400 for a field the policy does not have, listing those a patch may change.
fn unknown_field(field: &str, fields: &Map<String, Value>) -> ApiError {
    let fixed: Vec<String> = FIXED_AT_START.iter().map(|(name, _)| json_name(name)).collect();
    let editable: Vec<&str> = fields.keys().map(String::as_str).filter(|k| !fixed.iter().any(|f| f == k)).collect();
    ApiError::bad_request(format!(
        "unknown policy field {field:?}; the editable fields are {} (fixed at start: {})",
        editable.join(", "),
        fixed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_json_form_reads_back_to_the_same_policy() {
        let edited = Policy {
            keepalive_check: KeepaliveCheck::Exact,
            ws_paths: vec!["/mqtt".into()],
            ws_message_limit: Some(4096),
            ..Policy::default()
        };
        for policy in [Policy::default(), edited] {
            let back = patched(&policy, json!({})).expect("an empty patch");
            assert_eq!(PolicyJson::from(&back), PolicyJson::from(&policy));
        }
        let json = to_json(&Policy::default());
        assert_eq!(json["keepalive_check"], json!({"mode": "periodic", "period_ms": 30000, "phase_ms": 0}));
        assert_eq!((json["keepalive_refusal"].clone(), json["oversize"].clone()), (json!(2), json!("close")));
        assert_eq!(json["stored_session_expiry_ms"], json!(7 * 24 * 3600 * 1000));
    }

    #[test]
    fn patches_are_checked_field_by_field() {
        let policy = Policy::default();
        let narrowed = patched(&policy, json!({"keepalive_range": [90, 120], "qos2_publish": "drop"})).unwrap();
        assert_eq!((narrowed.keepalive_range, narrowed.qos2_publish), ((90, 120), Qos2PublishReaction::Drop));
        let unknown = patched(&policy, json!({"keepalive": 5})).unwrap_err();
        assert_eq!(unknown.status, hyper::StatusCode::BAD_REQUEST);
        assert!(
            unknown.message.starts_with(
                "unknown policy field \"keepalive\"; the editable fields are client_id_max_chars, connect_timeout_ms, "
            ),
            "{}",
            unknown.message
        );
        assert!(unknown.message.ends_with("(fixed at start: history_events, uplink_history, uplink_history_bytes, stored_session_max_messages, stored_session_max_bytes, stored_session_expiry_ms)"), "{}", unknown.message);
        assert!(!unknown.message.contains("are history_events"), "{}", unknown.message);
        let wrong_type = patched(&policy, json!({"payload_limit": "big"})).unwrap_err();
        assert_eq!(wrong_type.status, hyper::StatusCode::BAD_REQUEST);
        for (patch, needle) in [
            (json!({"keepalive_refusal": 0}), "keepalive_refusal: 0 is not a refusing CONNACK code"),
            (json!({"keepalive_range": [60, 30]}), "keepalive_range: [60, 30] is empty"),
            (json!({"keepalive_check": {"mode": "periodic", "period_ms": 0, "phase_ms": 0}}), "period_ms above 0"),
            (json!({"qos2_subscribe_grant": 2}), "qos2_subscribe_grant: 2: expected 0 or 1"),
            (json!({"max_connections": 0}), "max_connections: expected at least 1"),
            (json!({"payload_limit": 268_435_456}), "payload_limit: expected at most"),
        ] {
            let refused = patched(&policy, patch).unwrap_err();
            assert_eq!(refused.status, hyper::StatusCode::UNPROCESSABLE_ENTITY);
            assert!(refused.message.contains(needle), "{}", refused.message);
        }
        assert_eq!(patched(&policy, json!([1])).unwrap_err().status, hyper::StatusCode::BAD_REQUEST);
    }
}
