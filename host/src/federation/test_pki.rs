//! A test federation PKI made with rcgen: a CA and municipality
//! certificates of the form `identity.rs` describes. For trials, tests and
//! the README; a real federation uses certificates from its own CA.

use std::path::Path;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::identity::{MunicipalityIdentity, SAN_PREFIX};
use crate::ids::TenantCode;

/// A CA that signs municipality certificates.
pub struct TestCa {
    pub(super) issuer: Issuer<'static, KeyPair>,
    /// The CA certificate.
    pub cert: CertificateDer<'static>,
    /// The same, PEM.
    pub pem: String,
}

/// A municipality's certificate and key as made by `TestCa::issue`.
pub struct Issued {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The PKCS#8 key, PEM.
    pub key_pem: String,
    /// The identity they make.
    pub identity: MunicipalityIdentity,
}

/// Validity of a certificate, as (year, month, day) pairs.
pub type Validity = ((i32, u8, u8), (i32, u8, u8));

/// From 2024 to 2045.
pub const CURRENT: Validity = ((2024, 1, 1), (2045, 1, 1));

impl TestCa {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> anyhow::Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} federation CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2046, 1, 1);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = params.self_signed(&key)?;
        Ok(TestCa {
            pem: cert.pem(),
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA as a root store.
    pub fn roots(&self) -> std::sync::Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.cert.clone())
            .expect("rcgen makes a valid CA certificate");
        std::sync::Arc::new(roots)
    }

    /// A certificate for municipality `code`, valid over `validity`.
    pub fn issue(&self, code: &TenantCode, validity: Validity) -> anyhow::Result<Issued> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("Kiroku municipality {code}"));
        params.subject_alt_names = vec![SanType::URI(format!("{SAN_PREFIX}{code}").try_into()?)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let ((y0, m0, d0), (y1, m1, d1)) = validity;
        params.not_before = rcgen::date_time_ymd(y0, m0, d0);
        params.not_after = rcgen::date_time_ymd(y1, m1, d1);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            identity: MunicipalityIdentity::new(vec![cert.der().clone()], der)?,
        })
    }
}

/// Writes `ca.pem` and, per code, `{code}.crt` and `{code}.key` (mode
/// 0600) into `dir`.
pub fn write(dir: &Path, name: &str, codes: &[TenantCode]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca = TestCa::new(name)?;
    std::fs::write(dir.join("ca.pem"), &ca.pem)?;
    for code in codes {
        let issued = ca.issue(code, CURRENT)?;
        std::fs::write(dir.join(format!("{code}.crt")), &issued.cert_pem)?;
        write_private(&dir.join(format!("{code}.key")), issued.key_pem.as_bytes())?;
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}
