//! What a test asks of a running broker as a test double: the events kept in its history,
//! filtered; waits with deadlines for an event, for a device to be online or subscribed; and
//! the cloud side's view of what devices published (see [`crate::uplinks`]).
//!
//! Every wait that ends empty-handed says what it waited for and shows the events that came
//! closest ([`NoMatch`]).

use crate::auth::SignMethod;
use crate::broker::Broker;
use crate::credentials::{Credentials, TEST_CLIENT_ID};
use crate::events::{Closest, ConnId, Entry, Event, EventFilter, NoMatch};
use crate::hub::DeviceKey;
use crate::mqtt::QoS;
use crate::registry::RegistryError;
use crate::transport::Transport;
use crate::uplinks::{Uplink, UplinkError, UplinkFilter, UplinkStats, UplinkStream};
use std::sync::Arc;
use std::time::Duration;

impl Broker {
    /// The kept events `filter` accepts, oldest first (the history keeps
    /// `Policy::history_events`; [`Broker::event_stats`] says how many it let go).
    pub fn events_matching(&self, filter: &EventFilter) -> Vec<Arc<Event>> {
        let (entries, _) = self.shared.bus.after(0, usize::MAX, |e| filter.accepts(e));
        entries.into_iter().map(|e| e.event).collect()
    }

    /// The first event `filter` accepts, from the start of the history: one that already
    /// happened, or the next one, waiting at most `timeout`.
    pub async fn wait_event(&self, filter: &EventFilter, timeout: Duration) -> Result<Arc<Event>, NoMatch> {
        self.history().wait_matching(filter, timeout).await
    }

    /// Waits at most `timeout` for the device to be online; returns its live connection.
    pub async fn wait_online(
        &self,
        product_key: &str,
        device_name: &str,
        timeout: Duration,
    ) -> Result<ConnId, NoMatch> {
        let filter = EventFilter::kind("online").expect("a kind").device(product_key, device_name);
        let mut events = self.events();
        if let Some(conn) = self.online(product_key, device_name) {
            return Ok(conn);
        }
        let mut closest = self.device_history(&filter, product_key, device_name);
        let found = events.wait_noting(timeout, &mut closest, |entry| filter.accepts(entry)).await;
        found.map(|entry| entry.event.conn).map_err(|ended| closest.into_error(timeout, ended))
    }

    /// Waits at most `timeout` for the device's live session to hold a subscription to
    /// exactly `filter` (granted, or resumed from a stored session); returns the connection
    /// and the granted QoS.
    pub async fn wait_subscribed(
        &self,
        product_key: &str,
        device_name: &str,
        filter: &str,
        timeout: Duration,
    ) -> Result<(ConnId, QoS), NoMatch> {
        let key = DeviceKey::new(product_key, device_name);
        let of_device = EventFilter::any().device(product_key, device_name);
        let mut events = self.events();
        let mut found = self.shared.hub.subscription(&key, filter);
        if let Some(found) = found {
            return Ok(found);
        }
        let mut closest = self.device_history(&of_device, product_key, device_name);
        // After each event, the hub says whether the subscription is there now.
        let subscribed = |_: &Entry| {
            found = self.shared.hub.subscription(&key, filter);
            found.is_some()
        };
        match events.wait_noting(timeout, &mut closest, subscribed).await {
            Ok(_) => Ok(found.expect("the wait ends once the subscription is found")),
            Err(ended) => {
                let wanted = format!("subscription of {product_key}/{device_name} to {filter}");
                Err(closest.into_error_wanting(wanted, timeout, ended))
            }
        }
    }

    /// The closest events to `filter` among the kept events of the device: where a wait for
    /// something of the device starts its explanation.
    fn device_history<'a>(&self, filter: &'a EventFilter, product_key: &str, device_name: &str) -> Closest<'a> {
        let mut closest = Closest::new(filter);
        let of_device = EventFilter::any().device(product_key, device_name);
        let (kept, _) = self.shared.bus.after(0, usize::MAX, |e| of_device.accepts(e));
        kept.iter().for_each(|entry| closest.note(entry));
        closest
    }

    /// The uplinks `filter` accepts from now on: what devices publish and the broker
    /// accepts, as the platform's server-side subscription receives it.
    pub fn uplinks(&self, filter: UplinkFilter) -> UplinkStream {
        let uplinks = &self.shared.uplinks;
        UplinkStream::new(uplinks.clone(), filter, uplinks.head())
    }

    /// The uplinks `filter` accepts from the oldest one kept (`Policy::uplink_history`), then
    /// live.
    pub fn uplink_history(&self, filter: UplinkFilter) -> UplinkStream {
        UplinkStream::new(self.shared.uplinks.clone(), filter, 0)
    }

    /// The first uplink `filter` accepts from the start of the kept uplinks: one already
    /// received, or the next one, waiting at most `timeout`.
    pub async fn wait_uplink(&self, filter: UplinkFilter, timeout: Duration) -> Result<Uplink, UplinkError> {
        let uplinks = &self.shared.uplinks;
        UplinkStream::new(uplinks.clone(), filter, uplinks.before_oldest()).next(timeout).await
    }

    /// Credentials that log the device in over `transport`, signed with `method`, for the
    /// clientId prefix [`crate::credentials::TEST_CLIENT_ID`] and the current time in ms:
    /// what a test of cloud-side code gives any MQTT client to connect a correct device.
    pub fn credentials(
        &self,
        product_key: &str,
        device_name: &str,
        transport: Transport,
        method: SignMethod,
    ) -> Result<Credentials, RegistryError> {
        self.credentials_for(product_key, device_name, transport, method, TEST_CLIENT_ID)
    }

    /// [`Broker::credentials`] for the clientId prefix `client_id`.
    pub(crate) fn credentials_for(
        &self,
        product_key: &str,
        device_name: &str,
        transport: Transport,
        method: SignMethod,
        client_id: &str,
    ) -> Result<Credentials, RegistryError> {
        let registry = self.shared.registry();
        let device = registry.device(product_key, device_name).ok_or_else(|| RegistryError::UnknownDevice {
            product_key: product_key.into(),
            device_name: device_name.into(),
        })?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let timestamp = now.as_millis().to_string();
        Ok(Credentials::sign(device, transport, method, client_id, &timestamp))
    }

    /// How many uplinks the broker accepted, and how full their log is.
    pub fn uplink_stats(&self) -> UplinkStats {
        self.shared.uplinks.stats()
    }
}
