//! Mutual TLS between nodes, on the one rustls set-up (`crate::tls`).
//!
//! The answering node requires a client certificate chaining to the
//! federation CA (in its validity period, with `clientAuth`) and presents
//! the asked municipality's certificate, chosen by the server name. The
//! querying node accepts only a server certificate chaining to the same CA
//! (with `serverAuth`) that names the municipality it asked.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, Error, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::identity::{MunicipalityIdentity, code_of, server_name};
use crate::ids::TenantCode;
use crate::tls::provider;

/// The federation CA's certificates (PEM, one or more).
pub fn load_roots(path: &Path) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in crate::tls::load_chain(path)? {
        roots
            .add(cert)
            .with_context(|| format!("a CA certificate in {}", path.display()))?;
    }
    Ok(roots)
}

/// The answering side: client certificates required, the served
/// municipalities' certificates by server name.
pub fn server_config(
    roots: Arc<RootCertStore>,
    identities: &[Arc<MunicipalityIdentity>],
) -> anyhow::Result<Arc<ServerConfig>> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
        .build()
        .context("the federation CA")?;
    let mut by_name = HashMap::new();
    for identity in identities {
        by_name.insert(server_name(&identity.code), certified_key(identity)?);
    }
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(ByServerName(by_name)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The querying side for `identity` asking `answerer`.
pub fn client_config(
    roots: Arc<RootCertStore>,
    identity: &MunicipalityIdentity,
    answerer: TenantCode,
) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = provider();
    let verifier = AnswererVerifier {
        roots,
        answerer,
        provider: provider.clone(),
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
        .context("the federation certificate and key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The server name to ask for `answerer`.
pub fn server_name_of(answerer: &TenantCode) -> ServerName<'static> {
    ServerName::try_from(server_name(answerer)).expect("a code makes a valid DNS name")
}

fn certified_key(identity: &MunicipalityIdentity) -> anyhow::Result<Arc<CertifiedKey>> {
    let key = provider()
        .key_provider
        .load_private_key(identity.key.clone_key())
        .context("the federation key")?;
    Ok(Arc::new(CertifiedKey::new(identity.chain.clone(), key)))
}

#[derive(Debug)]
struct ByServerName(HashMap<String, Arc<CertifiedKey>>);

impl ResolvesServerCert for ByServerName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.get(hello.server_name()?).cloned()
    }
}

/// Chain to the federation CA, and the asked municipality's code; the
/// node's host name plays no part (the directory named it).
#[derive(Debug)]
struct AnswererVerifier {
    roots: Arc<RootCertStore>,
    answerer: TenantCode,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnswererVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        match code_of(end_entity) {
            Ok(code) if code == self.answerer => Ok(ServerCertVerified::assertion()),
            _ => Err(Error::General(
                "the node's certificate is not the asked municipality's".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
