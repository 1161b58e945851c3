//! Properties of CONNECT authentication over identities generated within the ID- rules
//! (C-SIGN): a correctly signed CONNECT is accepted on the transport its securemode names,
//! any one-character edit of its password is refused (a case flip is not an edit: A-SIGN-HEX
//! accepts either case), and an mqttClientId survives a round trip through the parser.

use bytes::Bytes;
use mock_broker::auth::{MqttClientId, SignMethod, authenticate, sign, sign_content};
use mock_broker::mqtt::{ConnackCode, Connect, Protocol};
use mock_broker::registry::{Device, Registry};
use mock_broker::{Policy, Rule, Transport};
use proptest::prelude::*;
use proptest::sample::{Index, select};

/// A device within ID-PK, ID-DN and ID-SECRET, and the CONNECT fields it chooses.
#[derive(Clone, Debug)]
struct Login {
    product_key: String,
    device_name: String,
    secret: String,
    /// The clientId prefix: up to 64 printable characters, no `|`.
    prefix: String,
    method: SignMethod,
    timestamp: Option<String>,
    transport: Transport,
    upper_case: bool,
}

impl Login {
    fn registry(&self) -> Registry {
        let mut registry = Registry::default();
        let device = Device {
            product_key: self.product_key.clone(),
            device_name: self.device_name.clone(),
            secret: self.secret.as_str().into(),
            enabled: true,
        };
        registry.add_device(device).expect("generated within the ID- rules");
        registry
    }

    fn client_id(&self) -> String {
        let timestamp = self.timestamp.as_ref().map(|t| format!(",timestamp={t}")).unwrap_or_default();
        let securemode = self.transport.expected_securemode();
        format!("{}|securemode={securemode},signmethod={}{timestamp},_v=prop|", self.prefix, self.method.name())
    }

    fn password(&self) -> String {
        let content = sign_content(Some(&self.prefix), &self.device_name, &self.product_key, self.timestamp.as_deref());
        let signature = sign(self.method, &self.secret, &content);
        if self.upper_case { signature.to_ascii_uppercase() } else { signature }
    }

    fn connect(&self, password: &[u8]) -> Connect {
        Connect {
            protocol: Protocol::V311,
            client_id: self.client_id(),
            clean_session: true,
            keep_alive: 300,
            username: Some(format!("{}&{}", self.device_name, self.product_key)),
            password: Some(Bytes::copy_from_slice(password)),
            will: None,
        }
    }

    fn authenticate(&self, password: &[u8]) -> Result<mock_broker::auth::Identity, mock_broker::auth::Refusal> {
        authenticate(&self.connect(password), self.transport, &self.registry(), &Policy::default()).outcome
    }
}

fn login() -> impl Strategy<Value = Login> {
    (
        "[A-Za-z0-9]{1,20}",
        "[A-Za-z0-9_@.:-]{4,32}",
        "[A-Za-z0-9]{1,64}",
        "[^|\\p{C}]{0,64}",
        select(SignMethod::ALL.to_vec()),
        proptest::option::of("[0-9]{1,13}"),
        select(Transport::ALL.to_vec()),
        any::<bool>(),
    )
        .prop_map(|(product_key, device_name, secret, prefix, method, timestamp, transport, upper_case)| Login {
            product_key,
            device_name,
            secret,
            prefix,
            method,
            timestamp,
            transport,
            upper_case,
        })
}

/// One-character edits of a password.
#[derive(Clone, Debug)]
enum Edit {
    Replace(Index, char),
    Delete(Index),
    Insert(Index, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    let replacement = select("0123456789abcdefABCDEFgGzZ -=|,\0é".chars().collect::<Vec<_>>());
    prop_oneof![
        (any::<Index>(), replacement.clone()).prop_map(|(i, c)| Edit::Replace(i, c)),
        any::<Index>().prop_map(Edit::Delete),
        (any::<Index>(), replacement).prop_map(|(i, c)| Edit::Insert(i, c)),
    ]
}

impl Edit {
    /// The edited password, and whether the edit is only a change of case.
    fn apply(&self, password: &str) -> (String, bool) {
        let mut chars: Vec<char> = password.chars().collect();
        match self {
            Edit::Replace(index, c) => {
                let i = index.index(chars.len());
                let case_only = chars[i].eq_ignore_ascii_case(c);
                chars[i] = *c;
                (chars.into_iter().collect(), case_only)
            }
            Edit::Delete(index) => {
                chars.remove(index.index(chars.len()));
                (chars.into_iter().collect(), false)
            }
            Edit::Insert(index, c) => {
                chars.insert(index.index(chars.len() + 1), *c);
                (chars.into_iter().collect(), false)
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_correctly_signed_connect_is_accepted(login in login()) {
        let identity = login.authenticate(login.password().as_bytes());
        let identity = identity.map_err(|r| TestCaseError::fail(format!("refused: {r:?}")))?;
        prop_assert_eq!(&identity.product_key, &login.product_key);
        prop_assert_eq!(&identity.device_name, &login.device_name);
        prop_assert_eq!(&identity.client_id, &login.prefix);
        prop_assert_eq!(identity.sign_method, login.method);
    }

    #[test]
    fn any_one_character_edit_of_the_password_is_refused(login in login(), edit in edit()) {
        let (edited, case_only) = edit.apply(&login.password());
        let outcome = login.authenticate(edited.as_bytes());
        if case_only {
            prop_assert!(outcome.is_ok(), "case flip {edited:?} refused: {outcome:?}");
        } else {
            let refusal = outcome.map(|_| ()).expect_err("an edited password is refused");
            prop_assert_eq!(refusal.code, ConnackCode::BadCredentials);
            prop_assert!(matches!(refusal.rule, Rule::ASignHex | Rule::ASignContent), "{:?}", refusal.rule);
        }
    }

    #[test]
    fn case_flips_are_accepted(login in login(), flips in proptest::collection::vec(any::<bool>(), 64)) {
        let flipped: String = login
            .password()
            .chars()
            .zip(&flips)
            .map(|(c, &flip)| if flip && c.is_ascii_uppercase() { c.to_ascii_lowercase() } else if flip { c.to_ascii_uppercase() } else { c })
            .collect();
        prop_assert!(login.authenticate(flipped.as_bytes()).is_ok(), "{flipped:?}");
    }

    #[test]
    fn a_client_id_round_trips_through_the_parser(
        prefix in "[^|\\p{C}]{0,64}",
        params in proptest::collection::vec(
            ("[A-Za-z_][A-Za-z0-9_]{0,8}", "([^,\\p{C}\\s]([^,\\p{C}]{0,10}[^,\\p{C}\\s])?)?"),
            0..6,
        ),
        padding in select(vec!["", " ", "\t", " \n "]),
    ) {
        let mut unique: Vec<(String, String)> = Vec::new();
        for (key, value) in params {
            if !unique.iter().any(|(k, _)| *k == key) {
                unique.push((key, value));
            }
        }
        let block: Vec<String> =
            unique.iter().map(|(k, v)| format!("{padding}{k}{padding}={padding}{v}{padding}")).collect();
        let raw = format!("{prefix}|{}|", block.join(","));
        let parsed = MqttClientId::parse(&raw).map_err(|e| TestCaseError::fail(format!("{raw:?}: {e}")))?;
        prop_assert_eq!(parsed.prefix, prefix);
        prop_assert_eq!(parsed.params, unique);
        prop_assert!(!parsed.trailing_whitespace);
    }
}
