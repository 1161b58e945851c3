//! What a client claims to support, and the reasons a case does not run for it.
//!
//! A client profile is a small TOML file (`--client-profile FILE`); flags override it. Every
//! key is optional; an absent key claims everything:
//!
//! ```toml
//! name = "my-device"                     # shown in reports; default: the executable's name
//! transports = ["ws", "wss"]             # default: ws, wss, tcp, tls
//! sign_methods = ["hmacsha256"]          # default: hmacmd5, hmacsha1, hmacsha256
//! honours_keepalive = true               # uses IOT_KEEPALIVE; default true
//! honours_client_id = true               # uses IOT_CLIENT_ID as its clientId; default true
//! ```
//!
//! A case needing what the client does not claim is "not run", and the reason says what is
//! missing; it is never a silent pass.

use mock_broker::Transport;
use mock_broker::auth::SignMethod;
use serde::Deserialize;
use std::fmt;
use std::path::Path;

/// What a client supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientProfile {
    pub name: String,
    pub transports: Vec<Transport>,
    pub sign_methods: Vec<SignMethod>,
    /// The client declares the keepalive `IOT_KEEPALIVE` asks for.
    pub honours_keepalive: bool,
    /// The client uses `IOT_CLIENT_ID` as its clientId.
    pub honours_client_id: bool,
}

/// A capability a case may need beyond a transport and a sign method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Declares the keepalive `IOT_KEEPALIVE` asks for.
    HonoursKeepalive,
    /// Uses `IOT_CLIENT_ID` as its clientId.
    HonoursClientId,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::HonoursKeepalive => "honouring IOT_KEEPALIVE",
            Capability::HonoursClientId => "honouring IOT_CLIENT_ID",
        })
    }
}

/// Why a profile could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("reading the client profile {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the client profile {path}: {message}")]
    Parse { path: String, message: String },
}

/// The TOML form: every key optional, names as strings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: Option<String>,
    transports: Option<Vec<String>>,
    sign_methods: Option<Vec<String>>,
    honours_keepalive: Option<bool>,
    honours_client_id: Option<bool>,
}

/// Parses a sign method name as the `signmethod` param writes it.
pub fn parse_sign_method(name: &str) -> Result<SignMethod, String> {
    SignMethod::from_name(name)
        .ok_or_else(|| format!("unknown sign method {name:?}: expected hmacmd5, hmacsha1 or hmacsha256"))
}

impl ClientProfile {
    /// A client that claims everything.
    pub fn claiming_everything(name: &str) -> ClientProfile {
        ClientProfile {
            name: name.to_owned(),
            transports: Transport::ALL.to_vec(),
            sign_methods: SignMethod::ALL.to_vec(),
            honours_keepalive: true,
            honours_client_id: true,
        }
    }

    /// Parses a profile; absent keys claim everything and the name defaults to `default_name`.
    pub fn from_toml_str(text: &str, default_name: &str) -> Result<ClientProfile, String> {
        let file: ProfileFile = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let mut profile = ClientProfile::claiming_everything(file.name.as_deref().unwrap_or(default_name));
        if let Some(names) = file.transports {
            profile.transports = names.iter().map(|n| n.parse()).collect::<Result<_, String>>()?;
        }
        if let Some(names) = file.sign_methods {
            profile.sign_methods = names.iter().map(|n| parse_sign_method(n)).collect::<Result<_, _>>()?;
        }
        profile.honours_keepalive = file.honours_keepalive.unwrap_or(true);
        profile.honours_client_id = file.honours_client_id.unwrap_or(true);
        Ok(profile)
    }

    /// Loads a profile file.
    pub fn load(path: &Path, default_name: &str) -> Result<ClientProfile, ProfileError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| ProfileError::Read { path: shown.clone(), source })?;
        ClientProfile::from_toml_str(&text, default_name)
            .map_err(|message| ProfileError::Parse { path: shown, message })
    }

    /// Whether the client has `capability`.
    pub fn has(&self, capability: Capability) -> bool {
        match capability {
            Capability::HonoursKeepalive => self.honours_keepalive,
            Capability::HonoursClientId => self.honours_client_id,
        }
    }

    /// Why a case needing `needs` cannot run over `transport` with `sign_methods` (the
    /// methods the run selected), or `None` when it can.
    pub fn not_run_reason(
        &self,
        transport: Transport,
        sign_methods: &[SignMethod],
        needs: &[Capability],
    ) -> Option<String> {
        if !self.transports.contains(&transport) {
            return Some(format!(
                "the client does not claim transport {transport} (profile {} claims {})",
                self.name,
                list(&self.transports)
            ));
        }
        if !sign_methods.iter().any(|m| self.sign_methods.contains(m)) {
            let selected: Vec<&str> = sign_methods.iter().map(|m| m.name()).collect();
            let claimed: Vec<&str> = self.sign_methods.iter().map(|m| m.name()).collect();
            return Some(format!(
                "the client claims none of the selected sign methods ({}); profile {} claims {}",
                or_none(&selected),
                self.name,
                or_none(&claimed)
            ));
        }
        let missing: Vec<String> = needs.iter().filter(|c| !self.has(**c)).map(|c| c.to_string()).collect();
        (!missing.is_empty())
            .then(|| format!("the case needs {}, which profile {} does not claim", missing.join(" and "), self.name))
    }

    /// The selected sign methods the client claims, in the selection's order.
    pub fn usable_sign_methods(&self, selected: &[SignMethod]) -> Vec<SignMethod> {
        selected.iter().copied().filter(|m| self.sign_methods.contains(m)).collect()
    }
}

fn list(transports: &[Transport]) -> String {
    let names: Vec<&str> = transports.iter().map(|t| t.scheme()).collect();
    or_none(&names)
}

fn or_none(names: &[&str]) -> String {
    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_profile_claims_everything() {
        let profile = ClientProfile::from_toml_str("", "my-client").unwrap();
        assert_eq!(profile, ClientProfile::claiming_everything("my-client"));
    }

    #[test]
    fn a_full_profile_parses() {
        let text = r#"
            name = "esp32-sdk"
            transports = ["wss", "tls"]
            sign_methods = ["hmacsha256"]
            honours_keepalive = false
            honours_client_id = false
        "#;
        let profile = ClientProfile::from_toml_str(text, "ignored").unwrap();
        assert_eq!(profile.name, "esp32-sdk");
        assert_eq!(profile.transports, [Transport::Wss, Transport::Tls]);
        assert_eq!(profile.sign_methods, [SignMethod::HmacSha256]);
        assert!(!profile.has(Capability::HonoursKeepalive) && !profile.has(Capability::HonoursClientId));
    }

    #[test]
    fn bad_profiles_say_what_is_wrong() {
        let err = ClientProfile::from_toml_str(r#"transports = ["mqtt"]"#, "c").unwrap_err();
        assert!(err.contains("\"mqtt\"") && err.contains("ws, wss, tcp or tls"), "{err}");
        let err = ClientProfile::from_toml_str(r#"sign_methods = ["HMACSHA1"]"#, "c").unwrap_err();
        assert!(err.contains("HMACSHA1"), "{err}");
        let err = ClientProfile::from_toml_str("honors_keepalive = true", "c").unwrap_err();
        assert!(err.contains("honors_keepalive"), "{err}");
        let err = ClientProfile::load(Path::new("/nonexistent/profile.toml"), "c").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/profile.toml"), "{err}");
    }

    #[test]
    fn not_run_reasons_name_what_is_missing() {
        let mut profile = ClientProfile::claiming_everything("dev");
        profile.transports = vec![Transport::Ws];
        profile.sign_methods = vec![SignMethod::HmacSha256];
        profile.honours_client_id = false;
        let all = SignMethod::ALL;
        assert_eq!(profile.not_run_reason(Transport::Ws, &all, &[]), None);
        let reason = profile.not_run_reason(Transport::Tls, &all, &[]).unwrap();
        assert_eq!(reason, "the client does not claim transport tls (profile dev claims ws)");
        let reason = profile.not_run_reason(Transport::Ws, &[SignMethod::HmacMd5], &[]).unwrap();
        assert_eq!(
            reason,
            "the client claims none of the selected sign methods (hmacmd5); profile dev claims hmacsha256"
        );
        let reason = profile.not_run_reason(Transport::Ws, &all, &[Capability::HonoursClientId]).unwrap();
        assert_eq!(reason, "the case needs honouring IOT_CLIENT_ID, which profile dev does not claim");
        assert_eq!(profile.not_run_reason(Transport::Ws, &all, &[Capability::HonoursKeepalive]), None);
        assert_eq!(profile.usable_sign_methods(&all), [SignMethod::HmacSha256]);
    }
}
