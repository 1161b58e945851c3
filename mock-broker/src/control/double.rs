//! The control endpoint's test-double routes: the cloud side's uplink view, waits for a
//! device online or subscribed, a device's credentials, and expectations declared over HTTP
//! and verified with a report (see the route table in [`crate::control`]).

use super::http::{ApiError, parse_json};
use super::routes::{Answer, App, Query, device_param, wait_timeout};
use crate::auth::SignMethod;
use crate::broker::url_host;
use crate::credentials::TEST_CLIENT_ID;
use crate::expect::{Expectation, Unmet};
use crate::rules::Rule;
use crate::transport::Transport;
use crate::uplinks::{Uplink, UplinkError, UplinkFilter};
use base64::Engine;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// The most uplinks one `GET /uplinks` returns.
const PAGE_LIMIT: usize = 1000;
/// The longest window an expectation declared over HTTP may have: a verification waits for
/// it, so it is the longest long poll.
const MAX_WINDOW: Duration = super::routes::MAX_WAIT;

/// An uplink's JSON: its fields, the payload in base64 and, when it is UTF-8, as text.
fn uplink_json(uplink: &Uplink) -> Value {
    let mut value = serde_json::to_value(uplink).unwrap_or_default();
    value["payload_base64"] = base64::engine::general_purpose::STANDARD.encode(&uplink.payload).into();
    value["payload_text"] = uplink.text().into();
    value
}

/// The uplink filter of a query's `device` and `topic` parameters.
fn uplink_filter(query: &Query) -> Result<UplinkFilter, ApiError> {
    let mut filter = UplinkFilter::any();
    if let Some(device) = query.get("device") {
        let (pk, dn) = device_param(device)?;
        filter = filter.device(pk, dn);
    }
    if let Some(topic) = query.get("topic") {
        filter = filter.topic(topic);
    }
    Ok(filter)
}

/// One expectation as `POST /expectations` takes it.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum ExpectationSpec {
    Online { device: String, within_ms: Option<u64> },
    Publishes { device: String, topic: String, times: Option<u64>, at_least: Option<u64>, within_ms: Option<u64> },
    Subscribes { device: String, filter: String, within_ms: Option<u64> },
    NeverRefused { device: String, within_ms: Option<u64> },
    NeverBreaks { rule: String, device: Option<String>, within_ms: Option<u64> },
}

impl ExpectationSpec {
    /// The expectation, and the device it names (which must be in the registry).
    fn build(self) -> Result<(Expectation, Option<String>), ApiError> {
        let (expectation, device, within) = match self {
            ExpectationSpec::Online { device, within_ms } => {
                let (pk, dn) = device_param(&device)?;
                (Expectation::online(pk, dn), Some(device.clone()), within_ms)
            }
            ExpectationSpec::Publishes { device, topic, times, at_least, within_ms } => {
                let (pk, dn) = device_param(&device)?;
                let publishes = Expectation::publishes(pk, dn, &topic);
                let counted = match (times, at_least) {
                    (Some(_), Some(_)) => return Err(ApiError::bad_request("give `times` or `at_least`, not both")),
                    (Some(n), None) => publishes.times(n),
                    (None, Some(n)) => publishes.at_least(n),
                    (None, None) => publishes,
                };
                (counted, Some(device.clone()), within_ms)
            }
            ExpectationSpec::Subscribes { device, filter, within_ms } => {
                let (pk, dn) = device_param(&device)?;
                (Expectation::subscribes(pk, dn, &filter), Some(device.clone()), within_ms)
            }
            ExpectationSpec::NeverRefused { device, within_ms } => {
                let (pk, dn) = device_param(&device)?;
                (Expectation::never_refused(pk, dn), Some(device.clone()), within_ms)
            }
            ExpectationSpec::NeverBreaks { rule, device, within_ms } => {
                let rule = Rule::from_id(&rule)
                    .ok_or_else(|| ApiError::bad_request(format!("rule {rule:?} is not a rule ID (see RULES.md)")))?;
                let mut never = Expectation::never_breaks(rule);
                if let Some(device) = &device {
                    let (pk, dn) = device_param(device)?;
                    never = never.of_device(pk, dn);
                }
                (never, device, within_ms)
            }
        };
        let expectation = match within.map(Duration::from_millis) {
            Some(window) if window > MAX_WINDOW => {
                return Err(ApiError::bad_request(format!(
                    "within_ms {} is over the limit of {} ms",
                    window.as_millis(),
                    MAX_WINDOW.as_millis()
                )));
            }
            Some(window) => expectation.within(window),
            None => expectation,
        };
        Ok((expectation, device))
    }
}

/// A verification's JSON: whether all were met, each one, and the report's text.
fn verification_json(report: Unmet) -> Value {
    let results = serde_json::to_value(&report.outcomes).unwrap_or_default();
    match report.into_result() {
        Ok(met) => json!({"passed": true, "met": met, "results": results, "report": null}),
        Err(unmet) => json!({"passed": false, "met": unmet.outcomes.iter().filter(|o| o.met).count(),
                             "results": results, "report": unmet.to_string()}),
    }
}

impl App {
    pub(super) fn uplinks(&self, query: &Query) -> Answer {
        query.only(&["since", "limit", "device", "topic"])?;
        let since = query.number("since")?.unwrap_or(0);
        let limit = query.number("limit")?.map_or(PAGE_LIMIT, |n| (n as usize).clamp(1, PAGE_LIMIT));
        let uplinks = &self.broker.shared.uplinks;
        let (found, missed) = uplinks.after(since, limit, &uplink_filter(query)?);
        let next = found.last().map_or(uplinks.head().max(since), |u| u.seq);
        let found: Vec<Value> = found.iter().map(uplink_json).collect();
        Ok((StatusCode::OK, json!({"uplinks": found, "next": next, "missed": missed})))
    }

    pub(super) async fn wait_uplink(&self, query: &Query) -> Answer {
        query.only(&["since", "timeout_ms", "device", "topic"])?;
        let since = query.number("since")?.unwrap_or(0);
        let filter = uplink_filter(query)?;
        match self.broker.shared.uplinks.wait(since, &filter, wait_timeout(query)?).await {
            Ok(uplink) => Ok((StatusCode::OK, uplink_json(&uplink))),
            Err(e @ UplinkError::Timeout { .. }) => Err(ApiError::new(StatusCode::REQUEST_TIMEOUT, e.to_string())),
            Err(e @ UplinkError::Lagged(_)) => Err(ApiError::new(StatusCode::GONE, e.to_string())),
        }
    }

    pub(super) async fn wait_online(&self, (pk, dn): (&str, &str), query: &Query) -> Answer {
        query.only(&["timeout_ms"])?;
        self.known((pk, dn))?;
        let conn = self.broker.wait_online(pk, dn, wait_timeout(query)?).await.map_err(timed_out)?;
        Ok((StatusCode::OK, json!({"conn": conn})))
    }

    pub(super) async fn wait_subscribed(&self, (pk, dn): (&str, &str), query: &Query) -> Answer {
        query.only(&["filter", "timeout_ms"])?;
        self.known((pk, dn))?;
        let filter = query.get("filter").ok_or_else(|| ApiError::bad_request("filter=... is required"))?;
        let (conn, qos) = self.broker.wait_subscribed(pk, dn, filter, wait_timeout(query)?).await.map_err(timed_out)?;
        Ok((StatusCode::OK, json!({"conn": conn, "qos": qos as u8})))
    }

    pub(super) fn credentials(&self, (pk, dn): (&str, &str), query: &Query) -> Answer {
        query.only(&["transport", "sign_method", "client_id"])?;
        let transport: Transport = query
            .get("transport")
            .unwrap_or("ws")
            .parse()
            .map_err(|e: String| ApiError::bad_request(format!("transport: {e}")))?;
        let method = query.get("sign_method").unwrap_or("hmacsha256");
        let method = SignMethod::from_name(method).ok_or_else(|| {
            ApiError::bad_request(format!("sign_method {method:?}: expected hmacmd5, hmacsha1 or hmacsha256"))
        })?;
        let addr = self
            .broker
            .addr(transport)
            .ok_or_else(|| ApiError::unprocessable(format!("this broker does not serve {transport}")))?;
        let client_id = query.get("client_id").unwrap_or(TEST_CLIENT_ID);
        let creds = self
            .broker
            .credentials_for(pk, dn, transport, method, client_id)
            .map_err(|_| ApiError::not_found(format!("device {pk}/{dn} is not in the registry")))?;
        Ok((
            StatusCode::OK,
            json!({
                "client_id": creds.client_id, "username": creds.username, "password": creds.password,
                "url": self.broker.url(transport), "host": url_host(addr.ip(), transport.is_tls()),
                "port": addr.port(), "transport": transport, "sign_method": method.name(),
                "securemode": transport.expected_securemode().parse::<u8>().unwrap_or_default(),
            }),
        ))
    }

    pub(super) fn declare(&self, body: &[u8]) -> Answer {
        let spec: ExpectationSpec = parse_json(body)?;
        let (expectation, device) = spec.build()?;
        if let Some((pk, dn)) = device.as_deref().map(device_param).transpose()? {
            self.known((pk, dn))?;
        }
        let description = expectation.to_string();
        let id = self.expected().declare(&self.broker.shared.bus, expectation);
        Ok((StatusCode::CREATED, json!({"id": id, "description": description})))
    }

    pub(super) fn list_expectations(&self) -> Answer {
        let listed: Vec<Value> =
            self.expected().declared().map(|(id, e)| json!({"id": id, "description": e.to_string()})).collect();
        Ok((StatusCode::OK, json!({"expectations": listed})))
    }

    pub(super) fn dismiss_expectations(&self) -> Answer {
        Ok((StatusCode::OK, json!({"dropped": self.expected().dismiss()})))
    }

    pub(super) async fn verify(&self) -> Answer {
        let mut ledger = std::mem::take(&mut *self.expected());
        let report = ledger.verify(&self.broker.shared.bus).await;
        Ok((StatusCode::OK, verification_json(report)))
    }
}

/// A wait that ended empty-handed: 408 with the explanation and the closest events.
pub(super) fn timed_out(none: crate::events::NoMatch) -> ApiError {
    let mut error = ApiError::new(StatusCode::REQUEST_TIMEOUT, none.to_string());
    let closest: Vec<Value> = none.closest.iter().map(|e| serde_json::to_value(&**e).unwrap_or_default()).collect();
    error.extra = Some(("closest", closest.into()));
    error
}
