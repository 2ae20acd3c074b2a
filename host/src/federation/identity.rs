//! A municipality's federation identity (its certificate and key), and the
//! municipality a peer's certificate names.

use std::path::Path;

use anyhow::{Context, bail};
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::extensions::GeneralName;

use super::Refusal;
use crate::ids::TenantCode;

/// The subjectAltName URI form: `urn:kiroku:lg:` followed by the 6-digit
/// local government code.
pub const SAN_PREFIX: &str = "urn:kiroku:lg:";

/// The TLS server name a node is asked for when `code` answers; it picks
/// that municipality's certificate by it.
pub fn server_name(code: &TenantCode) -> String {
    format!("{code}.lg.kiroku.invalid")
}

/// The one municipality code a certificate names in a SAN URI.
pub fn code_of(cert: &CertificateDer<'_>) -> Result<TenantCode, Refusal> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| Refusal::UntrustedCertificate)?;
    let san = parsed
        .subject_alternative_name()
        .map_err(|_| Refusal::UntrustedCertificate)?
        .ok_or(Refusal::UntrustedCertificate)?;
    let mut codes = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => uri.strip_prefix(SAN_PREFIX),
            _ => None,
        });
    let code = codes.next().ok_or(Refusal::UntrustedCertificate)?;
    if codes.next().is_some() {
        return Err(Refusal::UntrustedCertificate);
    }
    TenantCode::parse(code).map_err(|_| Refusal::UntrustedCertificate)
}

/// The P-256 key a certificate certifies (request signatures are checked
/// with it).
pub fn verifying_key_of(cert: &CertificateDer<'_>) -> Result<VerifyingKey, Refusal> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|_| Refusal::UntrustedCertificate)?;
    VerifyingKey::from_public_key_der(parsed.public_key().raw)
        .map_err(|_| Refusal::UntrustedCertificate)
}

/// One municipality's certificate chain (leaf first) and its P-256 key:
/// what its node presents in mutual TLS and signs requests with.
pub struct MunicipalityIdentity {
    /// The municipality its certificate names.
    pub code: TenantCode,
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The key, for TLS.
    pub key: PrivateKeyDer<'static>,
    /// The same key, for request signatures.
    pub signing: SigningKey,
}

impl std::fmt::Debug for MunicipalityIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MunicipalityIdentity")
            .field("code", &self.code)
            .finish_non_exhaustive()
    }
}

impl MunicipalityIdentity {
    /// An identity from a chain and a PKCS#8 P-256 key, checking that the
    /// key is the certificate's and that it names exactly one code.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> anyhow::Result<MunicipalityIdentity> {
        let leaf = chain.first().context("the certificate chain is empty")?;
        let code = code_of(leaf).map_err(|_| {
            anyhow::anyhow!("the certificate names no municipality as a SAN URI {SAN_PREFIX}<code>")
        })?;
        let PrivateKeyDer::Pkcs8(pkcs8) = &key else {
            bail!("the federation key must be a PKCS#8 P-256 key");
        };
        let signing = SigningKey::from_pkcs8_der(pkcs8.secret_pkcs8_der())
            .map_err(|_| anyhow::anyhow!("the federation key must be a PKCS#8 P-256 key"))?;
        let certified = verifying_key_of(leaf)
            .map_err(|_| anyhow::anyhow!("the certificate's key is not a P-256 key"))?;
        if certified != *signing.verifying_key() {
            bail!("the key is not the certificate's key");
        }
        Ok(MunicipalityIdentity {
            code,
            chain,
            key,
            signing,
        })
    }

    /// Reads an identity from PEM files.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<MunicipalityIdentity> {
        let chain = crate::tls::load_chain(cert)?;
        let key_der = crate::tls::load_key(key)?;
        MunicipalityIdentity::new(chain, key_der)
            .with_context(|| format!("the federation identity {}", cert.display()))
    }
}
