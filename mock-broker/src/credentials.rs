//! A device's MQTT credentials as the platform expects them, computed by the broker so they
//! are right by construction: the mqttClientId `{clientId}|securemode=..,signmethod=..,timestamp=..|`
//! (A-CID-FORMAT, A-SECUREMODE: 2 over wss and tls, 3 over ws and tcp), the username
//! `deviceName&productKey` (A-USERNAME) and the password, the hex HMAC of the sorted sign
//! content (A-SIGN-CONTENT, A-SIGN-HEX). Tests of cloud-side code connect correct devices with
//! any MQTT client this way.

use crate::auth::{SignMethod, sign, sign_content};
use crate::registry::Device;
use crate::transport::Transport;
use std::fmt;

/// The clientId prefix [`crate::Broker::credentials`] uses.
pub const TEST_CLIENT_ID: &str = "mock-broker-test";

/// What a device's CONNECT carries to log in.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Credentials {
    /// The whole mqttClientId, params included.
    pub client_id: String,
    /// `deviceName&productKey`.
    pub username: String,
    /// The signature, lower-case hex. Not shown by `Debug`: it logs the device in.
    pub password: String,
}

impl Credentials {
    /// Signs `device`'s login over `transport` with `method`, for the clientId prefix
    /// `client_id` and the timestamp `timestamp` (any digits: A-TIMESTAMP).
    pub fn sign(
        device: &Device,
        transport: Transport,
        method: SignMethod,
        client_id: &str,
        timestamp: &str,
    ) -> Credentials {
        let (pk, dn) = (&device.product_key, &device.device_name);
        let content = sign_content(Some(client_id), dn, pk, Some(timestamp));
        Credentials {
            client_id: format!(
                "{client_id}|securemode={},signmethod={},timestamp={timestamp}|",
                transport.expected_securemode(),
                method.name()
            ),
            username: format!("{dn}&{pk}"),
            password: sign(method, device.secret.expose(), &content),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &format_args!("<{} hex digits>", self.password.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::vectors::{V1, V2};
    use crate::secret::Secret;

    #[test]
    fn the_doc_example_signs_to_its_test_vectors_over_each_transport() {
        let device = Device {
            product_key: "pk".into(),
            device_name: "device".into(),
            secret: Secret::new("secret"),
            enabled: true,
        };
        let ws = Credentials::sign(&device, Transport::Ws, SignMethod::HmacSha1, "12345", "789");
        assert_eq!(ws.client_id, "12345|securemode=3,signmethod=hmacsha1,timestamp=789|");
        assert_eq!((ws.username.as_str(), ws.password.as_str()), ("device&pk", V1.signature));
        let tls = Credentials::sign(&device, Transport::Tls, SignMethod::HmacMd5, "12345", "789");
        assert_eq!(tls.client_id, "12345|securemode=2,signmethod=hmacmd5,timestamp=789|");
        assert_eq!(tls.password, V2.signature);
        assert_eq!(
            format!("{tls:?}"),
            "Credentials { client_id: \"12345|securemode=2,signmethod=hmacmd5,timestamp=789|\", \
             username: \"device&pk\", password: <32 hex digits> }"
        );
    }
}
