//! Throw-away PKI for one control plane, generated in Rust: a serving CA and certificate for
//! 127.0.0.1/localhost, a client CA with an admin identity in `system:masters`, and the
//! ServiceAccount token signing key pair.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

/// Paths of the generated files.
#[derive(Debug, Clone)]
pub struct Pki {
    /// CA that signed the serving certificate (clients trust it).
    pub serving_ca: PathBuf,
    /// The apiserver's serving certificate.
    pub serving_cert: PathBuf,
    /// Its key.
    pub serving_key: PathBuf,
    /// CA for client certificates (`--client-ca-file`).
    pub client_ca: PathBuf,
    /// Admin client certificate (`CN=admin, O=system:masters`).
    pub admin_cert: PathBuf,
    /// Its key.
    pub admin_key: PathBuf,
    /// ServiceAccount token signing key (private).
    pub sa_key: PathBuf,
    /// ServiceAccount token verification key (public).
    pub sa_pub: PathBuf,
}

fn ca_params(cn: &str) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn write(dir: &Path, name: &str, contents: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Generates the PKI into `dir`.
pub fn generate(dir: &Path) -> anyhow::Result<Pki> {
    let serving_ca = CertifiedIssuer::self_signed(
        ca_params("meshes-testenv-serving-ca")?,
        KeyPair::generate()?,
    )?;
    let serving_key = KeyPair::generate()?;
    let mut serving = CertificateParams::new(vec!["localhost".to_string()])?;
    serving
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_cert = serving.signed_by(&serving_key, &serving_ca)?;

    let client_ca =
        CertifiedIssuer::self_signed(ca_params("meshes-testenv-client-ca")?, KeyPair::generate()?)?;
    let admin_key = KeyPair::generate()?;
    let mut admin = CertificateParams::new(Vec::<String>::new())?;
    admin.distinguished_name.push(DnType::CommonName, "admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin_cert = admin.signed_by(&admin_key, &client_ca)?;

    let sa = KeyPair::generate()?;

    Ok(Pki {
        serving_ca: write(dir, "serving-ca.crt", &serving_ca.pem())?,
        serving_cert: write(dir, "serving.crt", &serving_cert.pem())?,
        serving_key: write(dir, "serving.key", &serving_key.serialize_pem())?,
        client_ca: write(dir, "client-ca.crt", &client_ca.pem())?,
        admin_cert: write(dir, "admin.crt", &admin_cert.pem())?,
        admin_key: write(dir, "admin.key", &admin_key.serialize_pem())?,
        sa_key: write(dir, "sa.key", &sa.serialize_pem())?,
        sa_pub: write(dir, "sa.pub", &sa.public_key_pem())?,
    })
}
