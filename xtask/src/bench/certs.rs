//! One certificate for both brokers: a P-256 CA and a leaf for `localhost` and 127.0.0.1,
//! minted with rcgen, so that wss figures compare the same handshake.

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};

/// The PEM files both brokers serve and the generator trusts.
pub struct Certs {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Mints the CA and leaf into `dir`.
pub fn mint(dir: &Path) -> anyhow::Result<Certs> {
    let ca_key = KeyPair::generate().context("a CA key")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "bench CA");
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().context("a leaf key")?;
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?
        .signed_by(&leaf_key, &issuer)?;
    let certs = Certs { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem") };
    for (path, pem) in [(&certs.ca, ca_cert.pem()), (&certs.cert, leaf.pem()), (&certs.key, leaf_key.serialize_pem())] {
        std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(certs)
}
