//! Certificates and the TLS server configuration (T-WSS, T-TLS, T-HOST).
//!
//! At start the broker mints a CA and a leaf certificate with rcgen; the CA's PEM is what a
//! user hands to a device client. The same [`Authority`] can issue the deliberately wrong
//! certificates (expired, another host name) that client certificate-verification checks need.
//! TLS uses rustls with the ring provider only: two providers in one binary make rustls panic
//! at run time.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use rustls::crypto::hash::HashAlgorithm;
use rustls::{ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::sync::Arc;

/// The host names every minted leaf certificate carries.
pub const DEFAULT_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why certificates could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("minting a certificate failed: {0}")]
    Mint(#[from] rcgen::Error),
    #[error("reading {path}: {message}")]
    Load { path: String, message: String },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The time span a leaf certificate is valid for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// Valid from 2020 to 2100.
    Current,
    /// Expired in 2001: a client must refuse it (C-TLS-VERIFY).
    Expired,
}

/// A certificate chain with its private key, ready for a server.
pub struct ServerCert {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl ServerCert {
    /// Loads a PEM certificate chain and a PEM private key from files.
    pub fn load(cert: &Path, key: &Path) -> Result<ServerCert, TlsError> {
        let load_err = |path: &Path, message: String| TlsError::Load { path: path.display().to_string(), message };
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| load_err(cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(load_err(cert, "no certificate in the file".into()));
        }
        let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| load_err(key, e.to_string()))?;
        Ok(ServerCert { chain, key: key_der })
    }

    /// A rustls server configuration (TLS 1.2 and 1.3, ring provider, no client auth).
    ///
    /// The broker picks the cipher suite by its own order, which puts those hashing with
    /// SHA-256 first: most machines hash it in hardware, while SHA-384 (the suites clients
    /// usually list first) runs in software and made a sixth of a wss handshake's cost.
    pub fn server_config(self) -> Result<Arc<ServerConfig>, TlsError> {
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites.sort_by_key(|suite| {
            let common = match suite {
                SupportedCipherSuite::Tls13(suite) => &suite.common,
                SupportedCipherSuite::Tls12(suite) => &suite.common,
            };
            common.hash_provider.algorithm() != HashAlgorithm::SHA256
        });
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain, self.key)?;
        config.ignore_client_order = true;
        Ok(Arc::new(config))
    }
}

/// A certificate authority minted at run time.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: CertificateDer<'static>,
}

impl Authority {
    /// Mints a new self-signed CA named `common_name`.
    pub fn generate(common_name: &str) -> Result<Authority, TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = distinguished_name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2100, 1, 1);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Authority { pem: cert.pem(), der: cert.der().clone(), issuer: Issuer::new(params, key) })
    }

    /// The CA certificate in PEM, for clients to trust.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate in DER.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses), chained to this CA.
    pub fn issue(&self, names: &[String], validity: Validity) -> Result<ServerCert, TlsError> {
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name = distinguished_name(names.first().map_or("mock-broker", String::as_str));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        (params.not_before, params.not_after) = match validity {
            Validity::Current => (date_time_ymd(2020, 1, 1), date_time_ymd(2100, 1, 1)),
            Validity::Expired => (date_time_ymd(2000, 1, 1), date_time_ymd(2001, 1, 1)),
        };
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(ServerCert {
            chain: vec![cert.der().clone(), self.der.clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "Aliyun IoT mock broker (test only)");
    dn
}

/// The names a leaf carries: the defaults plus the user's extra names, without repeats.
pub fn leaf_names(extra: &[String]) -> Vec<String> {
    let mut names: Vec<String> = DEFAULT_NAMES.iter().map(|n| n.to_string()).collect();
    for name in extra {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_leaf_makes_a_server_config() {
        let ca = Authority::generate("test CA").unwrap();
        assert!(ca.pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let leaf = ca
            .issue(&leaf_names(&["a1B2c3D4e5F.iot-as-mqtt.cn-shanghai.aliyuncs.com".into()]), Validity::Current)
            .unwrap();
        assert_eq!(leaf.chain.len(), 2);
        leaf.server_config().unwrap();
    }

    #[test]
    fn leaf_names_keep_defaults_and_drop_repeats() {
        let names = leaf_names(&["localhost".into(), "pk.example".into()]);
        assert_eq!(names, ["localhost", "127.0.0.1", "::1", "pk.example"]);
    }

    #[test]
    fn loading_a_missing_file_names_it() {
        let err =
            ServerCert::load(Path::new("/nonexistent/cert.pem"), Path::new("/nonexistent/key.pem")).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    }
}
