//! The control endpoint's routes: the table, matching a request to one, and each handler.
//! The table is what a 404 lists and what the module docs of [`crate::control`] describe.

use super::double::timed_out;
use super::history::{self, AheadOfHead};
use super::http::{ApiError, Limits, parse_json, read_body};
use super::policy;
use crate::broker::{Broker, CloudError};
use crate::cloud::PublishRequest;
use crate::events::EventFilter;
use crate::expect::Ledger;
use crate::fault::{FaultId, FaultSpec};
use crate::registry::{Device, RegistryError};
use crate::rules::Rule;
use crate::secret::Secret;
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// What each route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    ListFaults,
    ArmFault,
    ClearFaults,
    ClearFault,
    Publish,
    ListDevices,
    Kick,
    Close,
    Enable,
    Disable,
    Secret,
    Events,
    WaitEvent,
    Stats,
    Uplinks,
    WaitUplink,
    WaitOnline,
    WaitSubscribed,
    Credentials,
    Declare,
    ListExpectations,
    DismissExpectations,
    Verify,
    AddDevice,
    RemoveDevice,
    GetPolicy,
    PatchPolicy,
}

/// Every route: method, path pattern (`{name}` is one path segment), endpoint.
const ROUTES: [(Method, &str, Endpoint); 27] = [
    (Method::GET, "/faults", Endpoint::ListFaults),
    (Method::POST, "/faults", Endpoint::ArmFault),
    (Method::DELETE, "/faults", Endpoint::ClearFaults),
    (Method::DELETE, "/faults/{id}", Endpoint::ClearFault),
    (Method::POST, "/publish", Endpoint::Publish),
    (Method::GET, "/devices", Endpoint::ListDevices),
    (Method::POST, "/devices/{pk}/{dn}/kick", Endpoint::Kick),
    (Method::POST, "/devices/{pk}/{dn}/close", Endpoint::Close),
    (Method::POST, "/devices/{pk}/{dn}/enable", Endpoint::Enable),
    (Method::POST, "/devices/{pk}/{dn}/disable", Endpoint::Disable),
    (Method::POST, "/devices/{pk}/{dn}/secret", Endpoint::Secret),
    (Method::GET, "/events", Endpoint::Events),
    (Method::GET, "/events/wait", Endpoint::WaitEvent),
    (Method::GET, "/stats", Endpoint::Stats),
    (Method::GET, "/uplinks", Endpoint::Uplinks),
    (Method::GET, "/uplinks/wait", Endpoint::WaitUplink),
    (Method::GET, "/devices/{pk}/{dn}/online", Endpoint::WaitOnline),
    (Method::GET, "/devices/{pk}/{dn}/subscribed", Endpoint::WaitSubscribed),
    (Method::GET, "/credentials/{pk}/{dn}", Endpoint::Credentials),
    (Method::POST, "/expectations", Endpoint::Declare),
    (Method::GET, "/expectations", Endpoint::ListExpectations),
    (Method::DELETE, "/expectations", Endpoint::DismissExpectations),
    (Method::POST, "/expectations/verify", Endpoint::Verify),
    (Method::POST, "/devices", Endpoint::AddDevice),
    (Method::DELETE, "/devices/{pk}/{dn}", Endpoint::RemoveDevice),
    (Method::GET, "/policy", Endpoint::GetPolicy),
    (Method::PATCH, "/policy", Endpoint::PatchPolicy),
];

/// The most events one `GET /events` returns.
const PAGE_LIMIT: usize = 1000;
/// The longest long poll, and the one used without `timeout_ms`.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(60);
const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// What every request is answered with.
pub(crate) struct App {
    pub broker: Arc<Broker>,
    pub limits: Limits,
    /// The expectations declared over HTTP (`/expectations`), apart from the broker's own.
    pub expected: Mutex<Ledger>,
}

pub(super) type Answer = Result<(StatusCode, Value), ApiError>;

/// The captured `{...}` segments of a path, percent-decoded.
type Captures = Vec<String>;

impl App {
    /// Answers one request.
    pub(crate) async fn handle(&self, request: Request<Incoming>) -> Answer {
        let (endpoint, captures) = route(request.method(), request.uri().path())?;
        let query = Query::parse(request.uri().query())?;
        let body = || read_body(request.into_body(), self.limits);
        let device = || (captures[0].as_str(), captures[1].as_str());
        match endpoint {
            Endpoint::ListFaults => self.list_faults(),
            Endpoint::ArmFault => self.arm(&body().await?).await,
            Endpoint::ClearFaults => Ok((StatusCode::OK, json!({"cleared": self.broker.clear_faults()}))),
            Endpoint::ClearFault => self.clear(&captures[0]),
            Endpoint::Publish => self.publish(&body().await?).await,
            Endpoint::ListDevices => self.list_devices(),
            Endpoint::Kick => self.kick(device()).await,
            Endpoint::Close => self.close(device()).await,
            Endpoint::Enable => self.set_enabled(device(), true),
            Endpoint::Disable => self.set_enabled(device(), false),
            Endpoint::Secret => self.rotate_secret(device(), &body().await?),
            Endpoint::Events => self.events(&query),
            Endpoint::WaitEvent => self.wait_event(&query).await,
            Endpoint::Stats => Ok((
                StatusCode::OK,
                json!({"events": self.broker.event_stats(), "uplinks": self.broker.uplink_stats()}),
            )),
            Endpoint::Uplinks => self.uplinks(&query),
            Endpoint::WaitUplink => self.wait_uplink(&query).await,
            Endpoint::WaitOnline => self.wait_online(device(), &query).await,
            Endpoint::WaitSubscribed => self.wait_subscribed(device(), &query).await,
            Endpoint::Credentials => self.credentials(device(), &query),
            Endpoint::Declare => self.declare(&body().await?),
            Endpoint::ListExpectations => self.list_expectations(),
            Endpoint::DismissExpectations => self.dismiss_expectations(),
            Endpoint::Verify => self.verify().await,
            Endpoint::AddDevice => self.add_device(&body().await?),
            Endpoint::RemoveDevice => self.remove_device(device()),
            Endpoint::GetPolicy => Ok((StatusCode::OK, policy::to_json(&self.broker.policy()))),
            Endpoint::PatchPolicy => self.patch_policy(&body().await?),
        }
    }

    /// The expectations declared over HTTP.
    pub(super) fn expected(&self) -> MutexGuard<'_, Ledger> {
        // Nothing panics while holding it; if something did, the ledger is still consistent.
        self.expected.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn list_faults(&self) -> Answer {
        let faults: Vec<Value> = self
            .broker
            .faults()
            .into_iter()
            .map(|(id, spec)| {
                let mut value = serde_json::to_value(spec).unwrap_or(Value::Null);
                value["id"] = id.into();
                value
            })
            .collect();
        Ok((StatusCode::OK, json!({"faults": faults})))
    }

    async fn arm(&self, body: &[u8]) -> Answer {
        let spec: FaultSpec = parse_json(body)?;
        spec.check().map_err(|e| ApiError::unprocessable(e.0))?;
        let id = self.broker.arm(spec).await.map_err(|e| ApiError::unprocessable(e.0))?;
        Ok((StatusCode::CREATED, json!({"id": id})))
    }

    fn clear(&self, id: &str) -> Answer {
        let id: FaultId =
            id.parse().map_err(|_| ApiError::bad_request(format!("fault id {id:?}: expected a number")))?;
        if !self.broker.clear(id) {
            return Err(ApiError::not_found(format!("fault {id} is not armed (never armed, used up or cleared)")));
        }
        Ok((StatusCode::OK, json!({"cleared": id})))
    }

    async fn publish(&self, body: &[u8]) -> Answer {
        let request: PublishRequest = parse_json(body)?;
        self.known((&request.product_key, &request.device_name))?;
        let delivery = request.send(&self.broker).await.map_err(|e| ApiError::unprocessable(e.0))?;
        Ok((StatusCode::OK, delivery))
    }

    fn list_devices(&self) -> Answer {
        let devices: Vec<Value> = self
            .broker
            .registry()
            .devices()
            .map(|d| {
                json!({
                    "product_key": d.product_key,
                    "device_name": d.device_name,
                    "enabled": d.enabled,
                    "online": self.broker.online(&d.product_key, &d.device_name),
                })
            })
            .collect();
        Ok((StatusCode::OK, json!({"devices": devices})))
    }

    async fn kick(&self, (pk, dn): (&str, &str)) -> Answer {
        self.known((pk, dn))?;
        let conn = self.broker.kick(pk, dn).await.map_err(cloud_error)?;
        Ok((StatusCode::OK, json!({"kicked": conn})))
    }

    async fn close(&self, (pk, dn): (&str, &str)) -> Answer {
        self.known((pk, dn))?;
        let conn = self.broker.close_device(pk, dn).await.map_err(cloud_error)?;
        Ok((StatusCode::OK, json!({"closed": conn})))
    }

    fn set_enabled(&self, (pk, dn): (&str, &str), enabled: bool) -> Answer {
        self.broker.set_enabled(pk, dn, enabled).map_err(registry_error)?;
        Ok((StatusCode::OK, json!({"product_key": pk, "device_name": dn, "enabled": enabled})))
    }

    fn rotate_secret(&self, (pk, dn): (&str, &str), body: &[u8]) -> Answer {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NewSecret {
            secret: Secret,
        }
        let NewSecret { secret } = parse_json(body)?;
        self.broker.rotate_secret(pk, dn, secret).map_err(registry_error)?;
        Ok((StatusCode::OK, json!({"product_key": pk, "device_name": dn, "rotated": true})))
    }

    fn events(&self, query: &Query) -> Answer {
        query.only(&["since", "limit"])?;
        let since = query.number("since")?.unwrap_or(0);
        let limit = query.number("limit")?.map_or(PAGE_LIMIT, |n| (n as usize).clamp(1, PAGE_LIMIT));
        let page = history::after(self.broker.bus(), since, limit).map_err(ahead)?;
        Ok((StatusCode::OK, json!({"events": page.events, "next": page.next, "missed": page.missed})))
    }

    async fn wait_event(&self, query: &Query) -> Answer {
        query.only(&["since", "timeout_ms", "event", "conn", "device", "rule"])?;
        let since = query.number("since")?.unwrap_or(0);
        let timeout = wait_timeout(query)?;
        let filter = event_filter(query)?;
        let event = history::wait(self.broker.bus(), since, &filter, timeout).await.map_err(ahead)?;
        Ok((StatusCode::OK, event.map_err(timed_out)?))
    }

    fn add_device(&self, body: &[u8]) -> Answer {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct NewDevice {
            product_key: String,
            device_name: String,
            secret: Secret,
            #[serde(default = "crate::registry::enabled_by_default")]
            enabled: bool,
        }
        let NewDevice { product_key, device_name, secret, enabled } = parse_json(body)?;
        let answer = json!({"product_key": product_key, "device_name": device_name, "enabled": enabled});
        self.broker.register(Device { product_key, device_name, secret, enabled }).map_err(registry_error)?;
        Ok((StatusCode::CREATED, answer))
    }

    fn remove_device(&self, (pk, dn): (&str, &str)) -> Answer {
        self.broker.remove_device(pk, dn).map_err(registry_error)?;
        let online = self.broker.online(pk, dn);
        Ok((StatusCode::OK, json!({"removed": {"product_key": pk, "device_name": dn}, "online": online})))
    }

    fn patch_policy(&self, body: &[u8]) -> Answer {
        let patch: Value = parse_json(body)?;
        let mut refused = None;
        let updated = self.broker.update_policy(|current| match policy::patched(current, patch) {
            Ok(patched) => *current = patched,
            Err(e) => refused = Some(e),
        });
        if let Some(e) = refused {
            return Err(e);
        }
        let updated = updated.map_err(|e| ApiError::unprocessable(e.to_string()))?;
        Ok((StatusCode::OK, policy::to_json(&updated)))
    }

    /// 404 unless the registry has the device.
    pub(super) fn known(&self, (pk, dn): (&str, &str)) -> Result<(), ApiError> {
        match self.broker.registry().device(pk, dn) {
            Some(_) => Ok(()),
            None => {
                Err(registry_error(RegistryError::UnknownDevice { product_key: pk.into(), device_name: dn.into() }))
            }
        }
    }
}

/// A long poll's `timeout_ms` (10 s without it, at most 60 s).
pub(super) fn wait_timeout(query: &Query) -> Result<Duration, ApiError> {
    match query.number("timeout_ms")? {
        None => Ok(DEFAULT_WAIT),
        Some(ms) if ms <= MAX_WAIT.as_millis() as u64 => Ok(Duration::from_millis(ms)),
        Some(ms) => {
            Err(ApiError::bad_request(format!("timeout_ms {ms} is over the limit of {} ms", MAX_WAIT.as_millis())))
        }
    }
}

/// The event filter of a query's `event`, `conn`, `device` (`productKey/deviceName`) and
/// `rule` parameters.
fn event_filter(query: &Query) -> Result<EventFilter, ApiError> {
    let mut filter = EventFilter::any();
    if let Some(kind) = query.get("event") {
        filter = filter.and_kind(kind).map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    if let Some(conn) = query.number("conn")? {
        filter = filter.conn(conn);
    }
    if let Some(device) = query.get("device") {
        let (pk, dn) = device_param(device)?;
        filter = filter.device(pk, dn);
    }
    if let Some(id) = query.get("rule") {
        let rule = Rule::from_id(id)
            .ok_or_else(|| ApiError::bad_request(format!("rule {id:?} is not a rule ID (see RULES.md)")))?;
        filter = filter.rule(rule);
    }
    Ok(filter)
}

/// A `productKey/deviceName` parameter.
pub(super) fn device_param(device: &str) -> Result<(&str, &str), ApiError> {
    match device.split_once('/') {
        Some((pk, dn)) if !pk.is_empty() && !dn.is_empty() => Ok((pk, dn)),
        _ => Err(ApiError::bad_request(format!("device {device:?}: expected productKey/deviceName"))),
    }
}

fn cloud_error(e: CloudError) -> ApiError {
    ApiError::not_found(e.to_string())
}

fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::UnknownDevice { .. } => ApiError::not_found(e.to_string()),
        RegistryError::AlreadyRegistered { .. } => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        _ => ApiError::unprocessable(e.to_string()),
    }
}

fn ahead(e: AheadOfHead) -> ApiError {
    ApiError::bad_request(format!("cursor {} is ahead of the newest event, {}", e.cursor, e.head))
}

/// The endpoint and captures of a request, or the 404 or 405 saying why there is none.
fn route(method: &Method, path: &str) -> Result<(Endpoint, Captures), ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').trim_end_matches('/').split('/').collect();
    let mut allowed = Vec::new();
    for (route_method, pattern, endpoint) in &ROUTES {
        let Some(captures) = captures(pattern, &segments)? else { continue };
        if route_method == method {
            return Ok((*endpoint, captures));
        }
        allowed.push(route_method.as_str());
    }
    if !allowed.is_empty() {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} {path}: this path takes {}", allowed.join(", ")),
        ));
    }
    let routes: Vec<String> = ROUTES.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
    let mut error = ApiError::not_found(format!("no route {method} {path}; routes: {}", routes.join(", ")));
    error.extra = Some(("routes", routes.into()));
    Err(error)
}

/// The decoded `{...}` segments if `segments` has the shape of `pattern`.
fn captures(pattern: &str, segments: &[&str]) -> Result<Option<Captures>, ApiError> {
    let parts: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    if parts.len() != segments.len() {
        return Ok(None);
    }
    let mut captured = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            captured.push(percent_decode(segment)?);
        } else if part != segment {
            return Ok(None);
        }
    }
    Ok(Some(captured))
}

/// `%XX` escapes decoded, as UTF-8.
fn percent_decode(text: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request(format!("{text:?}: a bad percent escape or not UTF-8"));
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail.get(..2).and_then(|h| std::str::from_utf8(h).ok()).ok_or_else(bad)?;
            bytes.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| bad())
}

/// A parsed query string.
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Result<Query, ApiError> {
        let pairs = query.unwrap_or("").split('&').filter(|p| !p.is_empty());
        let decoded = pairs.map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(key)?, percent_decode(&value.replace('+', " "))?))
        });
        decoded.collect::<Result<_, ApiError>>().map(Query)
    }

    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub(super) fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.get(key)
            .map(|v| v.parse().map_err(|_| ApiError::bad_request(format!("{key}={v:?}: expected a whole number"))))
            .transpose()
    }

    /// Refuses parameters other than `known`.
    pub(super) fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            Some((key, _)) => Err(ApiError::bad_request(format!(
                "unknown query parameter {key:?}; this route takes {}",
                known.join(", ")
            ))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_routes_with_decoded_captures() {
        let (endpoint, captured) = route(&Method::POST, "/devices/pk/dev%3A01/kick").unwrap();
        assert_eq!((endpoint, captured), (Endpoint::Kick, vec!["pk".to_string(), "dev:01".to_string()]));
        assert_eq!(route(&Method::DELETE, "/faults/7/").unwrap(), (Endpoint::ClearFault, vec!["7".to_string()]));
        assert_eq!(route(&Method::GET, "/events/wait").unwrap().0, Endpoint::WaitEvent);
    }

    #[test]
    fn unknown_paths_list_the_routes_and_wrong_methods_name_the_right_ones() {
        let missing = route(&Method::GET, "/nope").unwrap_err();
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(
            missing.message.contains("no route GET /nope; routes: GET /faults, POST /faults"),
            "{}",
            missing.message
        );
        let wrong = route(&Method::PUT, "/faults").unwrap_err();
        assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(wrong.message.ends_with("this path takes GET, POST, DELETE"), "{}", wrong.message);
        assert_eq!(route(&Method::POST, "/devices/pk/%zz/kick").unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn queries_decode_and_refuse_strangers() {
        let query = Query::parse(Some("since=4&device=pk%2Fdevice&event=closed")).unwrap();
        assert_eq!((query.number("since").unwrap(), query.get("device")), (Some(4), Some("pk/device")));
        assert!(query.only(&["since", "device", "event"]).is_ok());
        assert!(query.only(&["since"]).unwrap_err().message.contains("unknown query parameter \"device\""));
        let bad = Query::parse(Some("since=x")).unwrap().number("since").unwrap_err();
        assert_eq!(bad.message, "since=\"x\": expected a whole number");
    }
}
