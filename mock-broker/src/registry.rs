//! The products and devices the broker knows: identities (ID-PK, ID-DN, ID-SECRET), the
//! enabled flag (A-DEVICE) and each product's custom topic classes (S-TOPIC-OWN).
//!
//! A registry is written in TOML; `demo-registry.toml` beside this file is the documented
//! example and is what [`Registry::demo`] loads. Loading refuses a registry whose identities
//! break an ID- rule, naming the entry and the rule, so that a CONNECT is never judged
//! against an identity the platform could not have issued.
//!
//! Interpretations (the platform's docs leave these open):
//! - ID-PK: every platform-issued productKey has 11 letters and digits, but the SDK buffers
//!   allow 20, and the spec's test vectors use `pk`; the mock accepts 1-20 ASCII letters and
//!   digits.
//! - ID-SECRET: likewise 32 in every example, 64 in SDK buffers, `secret` in the vectors; the
//!   mock accepts 1-64 ASCII letters and digits.
//! - ID-DN: "letters" are the ASCII letters, as in the RegisterDevice API doc.
//! - A custom topic class must lie under `/${productKey}/${deviceName}/user/`, as the
//!   platform's console demands; `+` and `#` must stand alone in a level, `#` last.
//! - A device whose product has no `[[product]]` entry gets that product implicitly, with no
//!   custom topic classes. A product or device listed twice is an error.
//!
//! A running broker edits its registry (devices added, removed, enabled, disabled, secrets
//! rotated): [`Registry::rotate_secret`] keeps the last [`PREVIOUS_SECRETS`] secrets a device
//! had, so that a CONNECT still signed with one is told so (A-SIGN-CONTENT).

use crate::rules::Rule;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// What ID-PK demands of a productKey, as error messages state it.
const PK_REQUIREMENT: &str = "1-20 letters and digits";
/// What ID-DN demands of a deviceName.
const DN_REQUIREMENT: &str = "4-32 characters of letters, digits and - _ @ . :";
/// What ID-SECRET demands of a deviceSecret.
const SECRET_REQUIREMENT: &str = "1-64 letters and digits";
/// What S-TOPIC-OWN demands of a custom topic class.
const PATTERN_REQUIREMENT: &str = "a custom topic class is /${productKey}/${deviceName}/user/ followed by at least \
     one level, where + and # stand alone in a level and # comes last";
/// The prefix every custom topic class starts with (S-TOPIC-OWN).
const CUSTOM_CLASS_PREFIX: &str = "/${productKey}/${deviceName}/user/";

/// How many replaced secrets [`Registry::rotate_secret`] keeps per device.
pub const PREVIOUS_SECRETS: usize = 4;

/// ID-PK: 1-20 ASCII letters and digits (platform-issued keys have 11; SDK buffers hold 20).
pub fn valid_product_key(product_key: &str) -> bool {
    (1..=20).contains(&product_key.len()) && product_key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// ID-DN: 4-32 characters of ASCII letters, digits and `- _ @ . :`.
pub fn valid_device_name(device_name: &str) -> bool {
    (4..=32).contains(&device_name.len())
        && device_name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_@.:".contains(&b))
}

/// ID-SECRET: 1-64 ASCII letters and digits (platform-issued secrets have 32; SDK buffers
/// hold 64).
pub fn valid_secret(secret: &str) -> bool {
    (1..=64).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A device: its identity, its secret and whether it may connect (A-DEVICE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub product_key: String,
    pub device_name: String,
    /// The deviceSecret. Never printed: a [`Secret`] does not format, verdicts never carry it.
    pub secret: Secret,
    /// A disabled device is refused (A-DEVICE, CONNACK 0x05 assumed).
    pub enabled: bool,
}

impl Device {
    /// True if this is a device of the embedded demo registry ([`Registry::demo`]) with the
    /// demo's own secret, which is published in the source: its signatures may be shown in
    /// full. A demo device given another secret is no longer one.
    pub fn is_demo(&self) -> bool {
        static DEMO: OnceLock<Registry> = OnceLock::new();
        let demo = DEMO.get_or_init(Registry::demo);
        demo.device(&self.product_key, &self.device_name).is_some_and(|d| d.secret == self.secret)
    }
}

/// A secret a device had before a rotation ([`Registry::rotate_secret`]): a CONNECT signed
/// with it is refused like any wrong signature, and its verdict says which secret it used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviousSecret {
    /// The replaced deviceSecret; never printed, like every [`Secret`].
    pub secret: Secret,
    /// When it was replaced, counted from the broker's start.
    pub replaced_at: Duration,
}

/// What a topic class allows (S-TOPIC-OWN), written `pub`, `sub` or `all` in TOML.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rights {
    #[serde(rename = "pub")]
    Publish,
    #[serde(rename = "sub")]
    Subscribe,
    #[serde(rename = "all")]
    All,
}

impl Rights {
    /// True if the class may be published to.
    pub fn publish(self) -> bool {
        matches!(self, Rights::Publish | Rights::All)
    }

    /// True if the class may be subscribed to.
    pub fn subscribe(self) -> bool {
        matches!(self, Rights::Subscribe | Rights::All)
    }
}

/// A topic class: a topic filter with `${productKey}` and `${deviceName}` placeholders, and
/// the rights it grants to each device of the product (S-TOPIC-OWN).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicClass {
    /// For example `/${productKey}/${deviceName}/user/data`, possibly with `+` or `#` levels.
    pub pattern: String,
    pub rights: Rights,
}

/// A product and its custom topic classes (the default classes are in `topics`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub product_key: String,
    pub topic_classes: Vec<TopicClass>,
}

/// Why a registry could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read registry {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TOML parser's message and line, without its quote of the line: that line may hold
    /// a secret.
    #[error("registry is not valid TOML{}: {message}", line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Toml { line: Option<usize>, message: String },
    /// An identity or pattern breaks a rule. `shown` is the value quoted, except for a
    /// secret, which is described by its length only.
    #[error("{entry}: {field} {shown} breaks {rule}: {requirement}")]
    Invalid { entry: String, field: &'static str, shown: String, rule: Rule, requirement: &'static str },
    #[error("{entry}: {what} is already listed")]
    Duplicate { entry: String, what: String },
    #[error("no device {device_name:?} of product {product_key:?} in the registry")]
    UnknownDevice { product_key: String, device_name: String },
    /// A device added to a running broker is registered already.
    #[error("device {device_name:?} of product {product_key:?} is registered already")]
    AlreadyRegistered { product_key: String, device_name: String },
}

/// The products and devices the broker authenticates against.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    products: BTreeMap<String, Product>,
    devices: BTreeMap<(String, String), Device>,
    /// The secrets each device had before its last rotations, newest first.
    previous: BTreeMap<(String, String), VecDeque<PreviousSecret>>,
}

/// The TOML file, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    product: Vec<ProductEntry>,
    #[serde(default)]
    device: Vec<DeviceEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductEntry {
    product_key: String,
    #[serde(default)]
    topic: Vec<TopicClass>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceEntry {
    product_key: String,
    device_name: String,
    secret: Secret,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

/// A device is enabled unless it says otherwise (the registry's TOML, `POST /devices`).
pub(crate) fn enabled_by_default() -> bool {
    true
}

impl Registry {
    /// The demo registry embedded from `demo-registry.toml`: product `a1DemoPrdct` with the
    /// custom class `/${productKey}/${deviceName}/user/data` (all rights), the enabled device
    /// `demo-device` and the disabled device `disabled-device`.
    pub fn demo() -> Registry {
        Registry::from_toml_str(include_str!("demo-registry.toml"))
            .expect("the embedded demo registry is valid (checked by a unit test)")
    }

    /// Reads a registry file (see `demo-registry.toml` for the format).
    pub fn load(path: &Path) -> Result<Registry, RegistryError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| RegistryError::Read { path: path.to_owned(), source })?;
        Registry::from_toml_str(&text)
    }

    /// Parses a registry from TOML, checking every identity against the ID- rules and every
    /// topic class against S-TOPIC-OWN. Errors name the entry as `product N` or `device N`,
    /// counting from 1 in file order.
    pub fn from_toml_str(text: &str) -> Result<Registry, RegistryError> {
        let file: RegistryFile = toml::from_str(text).map_err(|e| RegistryError::Toml {
            line: e.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1),
            message: e.message().trim_end().to_owned(),
        })?;
        let mut registry = Registry::default();
        for (index, entry) in file.product.into_iter().enumerate() {
            let product = Product { product_key: entry.product_key, topic_classes: entry.topic };
            registry.insert_product(&format!("product {}", index + 1), product)?;
        }
        for (index, entry) in file.device.into_iter().enumerate() {
            let device = Device {
                product_key: entry.product_key,
                device_name: entry.device_name,
                secret: entry.secret,
                enabled: entry.enabled,
            };
            registry.insert_device(&format!("device {}", index + 1), device)?;
        }
        Ok(registry)
    }

    /// Adds a device after checking it against ID-PK, ID-DN and ID-SECRET. Its product is
    /// created, without custom topic classes, if the registry does not have it yet.
    pub fn add_device(&mut self, device: Device) -> Result<(), RegistryError> {
        let entry = format!("device {:?} of product {:?}", device.device_name, device.product_key);
        self.insert_device(&entry, device)
    }

    /// The device registered as (productKey, deviceName), enabled or not.
    pub fn device(&self, product_key: &str, device_name: &str) -> Option<&Device> {
        self.devices.get(&(product_key.to_owned(), device_name.to_owned()))
    }

    /// The product, listed or implied by one of its devices.
    pub fn product(&self, product_key: &str) -> Option<&Product> {
        self.products.get(product_key)
    }

    /// Enables or disables a device (A-DEVICE): a disabled device's next CONNECT is refused.
    pub fn set_enabled(&mut self, product_key: &str, device_name: &str, enabled: bool) -> Result<(), RegistryError> {
        self.device_mut(product_key, device_name)?.enabled = enabled;
        Ok(())
    }

    /// Replaces a device's secret after checking it against ID-SECRET; the next CONNECT must
    /// be signed with the new one (A-SIGN-CONTENT).
    pub fn set_secret(&mut self, product_key: &str, device_name: &str, secret: Secret) -> Result<(), RegistryError> {
        let entry = format!("device {device_name:?} of product {product_key:?}");
        check_secret(&entry, &secret)?;
        self.device_mut(product_key, device_name)?.secret = secret;
        Ok(())
    }

    /// Replaces a device's secret like [`Registry::set_secret`] and remembers the old one
    /// (the last [`PREVIOUS_SECRETS`]) as replaced `at` (counted from the broker's start), so
    /// that a CONNECT still signed with it is told so.
    pub fn rotate_secret(
        &mut self,
        product_key: &str,
        device_name: &str,
        secret: Secret,
        at: Duration,
    ) -> Result<(), RegistryError> {
        let old = self.device(product_key, device_name).map(|d| d.secret.clone());
        self.set_secret(product_key, device_name, secret)?;
        if let Some(secret) = old {
            let previous = self.previous.entry((product_key.to_owned(), device_name.to_owned())).or_default();
            previous.push_front(PreviousSecret { secret, replaced_at: at });
            previous.truncate(PREVIOUS_SECRETS);
        }
        Ok(())
    }

    /// The secrets a device had before its last rotations, newest first.
    pub fn previous_secrets(&self, product_key: &str, device_name: &str) -> impl Iterator<Item = &PreviousSecret> {
        // Every CONNECT asks; without a rotation there is no key to build.
        let rotated = !self.previous.is_empty();
        let kept = rotated.then(|| self.previous.get(&(product_key.to_owned(), device_name.to_owned()))).flatten();
        kept.into_iter().flatten()
    }

    /// Removes a device, with its previous secrets, and returns it. Its product stays.
    pub fn remove_device(&mut self, product_key: &str, device_name: &str) -> Result<Device, RegistryError> {
        let key = (product_key.to_owned(), device_name.to_owned());
        self.previous.remove(&key);
        self.devices.remove(&key).ok_or_else(|| RegistryError::UnknownDevice {
            product_key: product_key.into(),
            device_name: device_name.into(),
        })
    }

    fn device_mut(&mut self, product_key: &str, device_name: &str) -> Result<&mut Device, RegistryError> {
        self.devices.get_mut(&(product_key.to_owned(), device_name.to_owned())).ok_or_else(|| {
            RegistryError::UnknownDevice { product_key: product_key.into(), device_name: device_name.into() }
        })
    }

    /// Every device, ordered by productKey then deviceName.
    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    fn insert_product(&mut self, entry: &str, product: Product) -> Result<(), RegistryError> {
        check_product_key(entry, &product.product_key)?;
        for (index, class) in product.topic_classes.iter().enumerate() {
            if !valid_pattern(&class.pattern) {
                return Err(RegistryError::Invalid {
                    entry: format!("{entry}, topic {}", index + 1),
                    field: "pattern",
                    shown: format!("{:?}", class.pattern),
                    rule: Rule::STopicOwn,
                    requirement: PATTERN_REQUIREMENT,
                });
            }
        }
        if self.products.contains_key(&product.product_key) {
            return Err(RegistryError::Duplicate {
                entry: entry.to_owned(),
                what: format!("product {:?}", product.product_key),
            });
        }
        self.products.insert(product.product_key.clone(), product);
        Ok(())
    }

    fn insert_device(&mut self, entry: &str, device: Device) -> Result<(), RegistryError> {
        check_product_key(entry, &device.product_key)?;
        if !valid_device_name(&device.device_name) {
            return Err(RegistryError::Invalid {
                entry: entry.to_owned(),
                field: "deviceName",
                shown: format!("{:?}", device.device_name),
                rule: Rule::IdDn,
                requirement: DN_REQUIREMENT,
            });
        }
        check_secret(entry, &device.secret)?;
        let key = (device.product_key.clone(), device.device_name.clone());
        if self.devices.contains_key(&key) {
            return Err(RegistryError::Duplicate {
                entry: entry.to_owned(),
                what: format!("device {:?} of product {:?}", key.1, key.0),
            });
        }
        self.products
            .entry(key.0.clone())
            .or_insert_with(|| Product { product_key: key.0.clone(), topic_classes: Vec::new() });
        self.devices.insert(key, device);
        Ok(())
    }
}

fn check_product_key(entry: &str, product_key: &str) -> Result<(), RegistryError> {
    if valid_product_key(product_key) {
        return Ok(());
    }
    Err(RegistryError::Invalid {
        entry: entry.to_owned(),
        field: "productKey",
        shown: format!("{product_key:?}"),
        rule: Rule::IdPk,
        requirement: PK_REQUIREMENT,
    })
}

/// ID-SECRET, described by the secret's length only.
fn check_secret(entry: &str, secret: &Secret) -> Result<(), RegistryError> {
    if valid_secret(secret.expose()) {
        return Ok(());
    }
    Err(RegistryError::Invalid {
        entry: entry.to_owned(),
        field: "deviceSecret",
        shown: format!("of {} characters", secret.expose().chars().count()),
        rule: Rule::IdSecret,
        requirement: SECRET_REQUIREMENT,
    })
}

/// S-TOPIC-OWN: a custom class lies under `/${productKey}/${deviceName}/user/`, has at least
/// one level there, uses no other placeholder, and keeps `+`/`#` whole (`#` last).
fn valid_pattern(pattern: &str) -> bool {
    let Some(rest) = pattern.strip_prefix(CUSTOM_CLASS_PREFIX) else {
        return false;
    };
    if rest.is_empty() || rest.contains("${") {
        return false;
    }
    let levels: Vec<&str> = rest.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| match *level {
        "+" => true,
        "#" => i + 1 == levels.len(),
        literal => !literal.contains(['+', '#']),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(pk: &str, dn: &str, secret: &str) -> Device {
        Device { product_key: pk.into(), device_name: dn.into(), secret: secret.into(), enabled: true }
    }

    #[test]
    fn demo_registry_loads_with_its_documented_entries() {
        let demo = Registry::demo();
        let enabled = demo.device("a1DemoPrdct", "demo-device").expect("demo-device");
        assert!(enabled.enabled);
        assert_eq!(enabled.secret.len(), 32);
        assert!(!demo.device("a1DemoPrdct", "disabled-device").expect("disabled-device").enabled);
        let product = demo.product("a1DemoPrdct").expect("product");
        assert_eq!(product.product_key.len(), 11);
        assert_eq!(
            product.topic_classes,
            vec![TopicClass { pattern: "/${productKey}/${deviceName}/user/data".into(), rights: Rights::All }]
        );
        assert_eq!(demo.devices().count(), 2);
    }

    #[test]
    fn identity_validators_follow_the_id_rules() {
        assert!(valid_product_key("pk"));
        assert!(valid_product_key("a1DemoPrdct"));
        assert!(valid_product_key(&"a".repeat(20)));
        for bad in ["", &"a".repeat(21), "a1-bc", "a1 bc", "a1Ä"] {
            assert!(!valid_product_key(bad), "{bad:?}");
        }
        assert!(valid_device_name("device"));
        assert!(valid_device_name("a-_@.:9Z"));
        assert!(valid_device_name(&"d".repeat(32)));
        for bad in ["abc", &"d".repeat(33), "dev&ice", "dev/ice", "dev ice", "dévice", "dev+ice"] {
            assert!(!valid_device_name(bad), "{bad:?}");
        }
        assert!(valid_secret("secret"));
        assert!(valid_secret(&"S".repeat(64)));
        for bad in ["", &"s".repeat(65), "sec-ret", "sec ret"] {
            assert!(!valid_secret(bad), "{bad:?}");
        }
    }

    #[test]
    fn toml_defaults_enabled_and_implies_unlisted_products() {
        let registry = Registry::from_toml_str(
            "[[device]]\nproduct_key = \"pk\"\ndevice_name = \"device\"\nsecret = \"secret\"\n",
        )
        .expect("valid");
        assert!(registry.device("pk", "device").expect("device").enabled);
        assert_eq!(registry.product("pk").expect("implied product").topic_classes, vec![]);
        assert!(registry.device("pk", "other").is_none());
    }

    #[test]
    fn a_bad_device_name_is_refused_naming_the_entry_and_rule() {
        let text = "[[device]]\nproduct_key = \"pk\"\ndevice_name = \"device\"\nsecret = \"s\"\n\
                    [[device]]\nproduct_key = \"pk\"\ndevice_name = \"dev2\"\nsecret = \"s\"\n\
                    [[device]]\nproduct_key = \"pk\"\ndevice_name = \"ab\"\nsecret = \"s\"\n";
        let err = Registry::from_toml_str(text).expect_err("ab is too short");
        assert_eq!(
            err.to_string(),
            "device 3: deviceName \"ab\" breaks ID-DN: 4-32 characters of letters, digits and - _ @ . :"
        );
    }

    #[test]
    fn a_bad_secret_is_refused_without_showing_it() {
        let text = "[[device]]\nproduct_key = \"pk\"\ndevice_name = \"device\"\nsecret = \"not-a-good-one\"\n";
        let message = Registry::from_toml_str(text).expect_err("dash").to_string();
        assert_eq!(message, "device 1: deviceSecret of 14 characters breaks ID-SECRET: 1-64 letters and digits");
        assert!(!message.contains("not-a-good-one"));
    }

    #[test]
    fn a_bad_product_key_is_refused_in_products_and_devices() {
        let err = Registry::from_toml_str("[[product]]\nproduct_key = \"a1-x\"\n").expect_err("dash");
        assert_eq!(err.to_string(), "product 1: productKey \"a1-x\" breaks ID-PK: 1-20 letters and digits");
        let mut registry = Registry::default();
        let err = registry.add_device(device("", "device", "secret")).expect_err("empty");
        assert!(matches!(err, RegistryError::Invalid { rule: Rule::IdPk, .. }), "{err}");
    }

    #[test]
    fn bad_topic_patterns_are_refused_under_s_topic_own() {
        for pattern in [
            "/${productKey}/${deviceName}/user/",
            "/${productKey}/${deviceName}/user/#/x",
            "/${productKey}/${deviceName}/user/a+",
            "/${productKey}/${deviceName}/user/${other}",
            "/${productKey}/${deviceName}/data",
            "/sys/${productKey}/${deviceName}/user/x",
        ] {
            let text = format!(
                "[[product]]\nproduct_key = \"pk\"\n[[product.topic]]\npattern = {pattern:?}\nrights = \"sub\"\n"
            );
            let err = Registry::from_toml_str(&text).expect_err(pattern);
            assert!(err.to_string().starts_with("product 1, topic 1: pattern"), "{err}");
            assert!(matches!(err, RegistryError::Invalid { rule: Rule::STopicOwn, .. }), "{err}");
        }
        for pattern in ["/${productKey}/${deviceName}/user/a/+/b", "/${productKey}/${deviceName}/user/#"] {
            assert!(valid_pattern(pattern), "{pattern}");
        }
    }

    #[test]
    fn duplicates_and_unknown_fields_are_refused() {
        let twice = "[[device]]\nproduct_key = \"pk\"\ndevice_name = \"device\"\nsecret = \"s\"\n\
                     [[device]]\nproduct_key = \"pk\"\ndevice_name = \"device\"\nsecret = \"t\"\n";
        let err = Registry::from_toml_str(twice).expect_err("twice");
        assert_eq!(err.to_string(), "device 2: device \"device\" of product \"pk\" is already listed");
        let err = Registry::from_toml_str("[[product]]\nproduct_key = \"pk\"\n[[product]]\nproduct_key = \"pk\"\n")
            .expect_err("twice");
        assert!(matches!(err, RegistryError::Duplicate { .. }), "{err}");
        let typo = "[[device]]\nproduct_key = \"pk\"\ndevice_name = \"device\"\nsecret = \"s\"\nenable = false\n";
        assert!(matches!(Registry::from_toml_str(typo), Err(RegistryError::Toml { .. })));
        let rights = "[[product]]\nproduct_key = \"pk\"\n[[product.topic]]\npattern = \"/${productKey}/${deviceName}/user/a\"\nrights = \"write\"\n";
        assert!(matches!(Registry::from_toml_str(rights), Err(RegistryError::Toml { .. })));
    }

    #[test]
    fn a_toml_error_names_its_line_without_quoting_it() {
        let text = "[[device]]\nproduct_key = \"pk\"\ndevice_name = \"device\"\nsecret = \"a1b2c3d4e5f6\" oops\n";
        let message = Registry::from_toml_str(text).expect_err("syntax").to_string();
        assert!(message.starts_with("registry is not valid TOML (line 4): "), "{message}");
        assert!(!message.contains("a1b2c3d4e5f6"), "{message}");
        let number = "[[device]]\nproduct_key = \"pk\"\ndevice_name = \"device\"\nsecret = 918273645\n";
        let message = Registry::from_toml_str(number).expect_err("a number").to_string();
        assert_eq!(message, "registry is not valid TOML (line 4): a deviceSecret must be a string");
    }

    #[test]
    fn load_reads_a_file_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("registry.toml");
        std::fs::write(&path, include_str!("demo-registry.toml")).expect("write");
        assert!(Registry::load(&path).expect("loads").device("a1DemoPrdct", "demo-device").is_some());
        let err = Registry::load(&dir.path().join("absent.toml")).expect_err("missing");
        assert!(matches!(err, RegistryError::Read { .. }), "{err}");
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let demo = Registry::demo();
        let shown = format!("{demo:?}");
        assert!(shown.contains("demo-device"));
        for device in demo.devices() {
            assert!(!shown.contains(device.secret.expose()));
        }
    }

    #[test]
    fn demo_devices_are_told_by_their_published_secret() {
        let demo = Registry::demo();
        assert!(demo.devices().all(Device::is_demo));
        let mut rotated = demo.device("a1DemoPrdct", "demo-device").unwrap().clone();
        rotated.secret = "anotherSecret1".into();
        assert!(!rotated.is_demo(), "a demo device given another secret is no longer the demo");
        assert!(!device("pk", "device", "secret").is_demo());
    }

    proptest::proptest! {
        /// Whatever its identity, a registered device's Debug form (and its registry's) and
        /// its secret's serialized form never hold the secret.
        #[test]
        fn no_formatted_form_holds_the_secret(
            product_key in "[0-9A-Za-z]{1,20}",
            device_name in "[0-9A-Za-z_@.:-]{4,32}",
            secret in "[0-9A-Za-z]{12,64}",
            enabled: bool,
        ) {
            let mut registry = Registry::default();
            let device = Device { product_key, device_name, secret: secret.as_str().into(), enabled };
            registry.add_device(device).unwrap();
            let device = registry.devices().next().unwrap();
            let forms = [
                format!("{device:?}"),
                format!("{device:#?}"),
                format!("{registry:?}"),
                serde_json::to_string(&device.secret).unwrap(),
                toml::to_string(&std::collections::BTreeMap::from([("secret", &device.secret)])).unwrap(),
            ];
            for form in forms {
                proptest::prop_assert!(!form.contains(&secret), "{}", form);
                proptest::prop_assert!(form.contains("<redacted>"), "{}", form);
            }
        }
    }

    #[test]
    fn a_device_is_disabled_and_its_secret_rotated_in_place() {
        let mut registry = Registry::default();
        registry.add_device(device("pk", "device", "secret")).unwrap();
        registry.set_enabled("pk", "device", false).unwrap();
        registry.set_secret("pk", "device", "newSecret2".into()).unwrap();
        let changed = registry.device("pk", "device").unwrap();
        assert_eq!((changed.enabled, changed.secret.expose()), (false, "newSecret2"));
        let bad = registry.set_secret("pk", "device", "not-a-good-one".into()).unwrap_err().to_string();
        assert_eq!(
            bad,
            "device \"device\" of product \"pk\": deviceSecret of 14 characters breaks ID-SECRET: 1-64 letters and digits"
        );
        assert_eq!(
            registry.device("pk", "device").unwrap().secret.expose(),
            "newSecret2",
            "a refused secret changes nothing"
        );
        let unknown = registry.set_enabled("pk", "nobody", true).unwrap_err();
        assert!(matches!(unknown, RegistryError::UnknownDevice { .. }), "{unknown}");
    }

    #[test]
    fn rotations_keep_the_last_previous_secrets_newest_first() {
        let mut registry = Registry::default();
        registry.add_device(device("pk", "device", "secret0")).unwrap();
        for n in 1..=PREVIOUS_SECRETS + 1 {
            registry
                .rotate_secret("pk", "device", format!("secret{n}").as_str().into(), Duration::from_secs(n as u64))
                .unwrap();
        }
        let kept: Vec<(&str, u64)> =
            registry.previous_secrets("pk", "device").map(|p| (p.secret.expose(), p.replaced_at.as_secs())).collect();
        assert_eq!(kept, vec![("secret4", 5), ("secret3", 4), ("secret2", 3), ("secret1", 2)]);
        assert!(registry.rotate_secret("pk", "device", "bad one".into(), Duration::ZERO).is_err());
        assert_eq!(
            registry.previous_secrets("pk", "device").count(),
            PREVIOUS_SECRETS,
            "a refused secret changes nothing"
        );
        let removed = registry.remove_device("pk", "device").unwrap();
        assert_eq!(removed.secret.expose(), "secret5");
        assert_eq!(registry.previous_secrets("pk", "device").count(), 0, "removing forgets the previous secrets");
        assert!(registry.device("pk", "device").is_none() && registry.product("pk").is_some());
        let again = registry.remove_device("pk", "device").unwrap_err();
        assert!(matches!(again, RegistryError::UnknownDevice { .. }), "{again}");
    }
}
