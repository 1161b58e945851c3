//! Editing a running broker: devices added and removed, a secret rotated (the previous ones
//! remembered, so that a CONNECT still signed with one is told so), and the policy for new
//! connections swapped. Every edit applies from the next CONNECT, or the next connection
//! accepted; a live connection keeps its device's login and the policy it started with
//! (kick or close it to make it reconnect).

use super::Broker;
use crate::policy::{Policy, PolicyError};
use crate::registry::{Device, RegistryError};
use crate::secret::Secret;

impl Broker {
    /// Adds an enabled device, checked against ID-PK, ID-DN and ID-SECRET like
    /// [`crate::BrokerBuilder::device`]. Its next CONNECT is accepted; a device registered
    /// already is an error naming it ([`RegistryError::AlreadyRegistered`]).
    pub fn add_device(
        &self,
        product_key: &str,
        device_name: &str,
        secret: impl Into<Secret>,
    ) -> Result<(), RegistryError> {
        let (product_key, device_name) = (product_key.to_owned(), device_name.to_owned());
        self.register(Device { product_key, device_name, secret: secret.into(), enabled: true })
    }

    /// Adds `device` as given, enabled or not (see [`Broker::add_device`]).
    pub fn register(&self, device: Device) -> Result<(), RegistryError> {
        let mut registry = self.shared.registry_mut();
        if registry.device(&device.product_key, &device.device_name).is_some() {
            let Device { product_key, device_name, .. } = device;
            return Err(RegistryError::AlreadyRegistered { product_key, device_name });
        }
        registry.add_device(device)
    }

    /// Removes a device and its previous secrets. Its next CONNECT is refused as an unknown
    /// device (A-DEVICE); a live connection stays up (kick or close it to make it reconnect).
    pub fn remove_device(&self, product_key: &str, device_name: &str) -> Result<(), RegistryError> {
        self.shared.registry_mut().remove_device(product_key, device_name).map(drop)
    }

    /// The policy connections accepted from now on get (a copy).
    pub fn policy(&self) -> Policy {
        Policy::clone(&self.shared.policy())
    }

    /// Replaces the policy for the connections accepted from now on; a live connection keeps
    /// the policy it started with. A change of a field of [`crate::policy::FIXED_AT_START`]
    /// is refused, and nothing changes.
    pub fn set_policy(&self, policy: Policy) -> Result<(), PolicyError> {
        self.update_policy(|current| *current = policy).map(drop)
    }

    /// Edits the policy for the connections accepted from now on (see
    /// [`Broker::set_policy`]) and returns the new one.
    pub fn update_policy(&self, edit: impl FnOnce(&mut Policy)) -> Result<Policy, PolicyError> {
        self.shared.update_policy(edit).map(|policy| Policy::clone(&policy))
    }
}
