//! Applications from the smartphone app and the kiosk, made with the My
//! Number card: the card data, its signature and the card's signing
//! certificate. The host checks, before any plugin runs, that the
//! certificate chains to one of the tenant's trusted card CAs and is
//! valid now, and that it signed the RFC 8785 canonical form of the card
//! data. Nothing of an application is stored; refusals are audited
//! without values.

use std::time::Duration;

use base64::Engine;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Deserialize;
use serde_json::Value;

use crate::store::tables::meta;
use crate::store::{StoreResult, TenantStore, rows};

/// A verified application.
#[derive(Debug, Clone)]
pub struct CardApplication {
    /// `app` or `kiosk`.
    pub channel: String,
    /// Name in katakana.
    pub kana_name: String,
    /// Name in kanji.
    pub kanji_name: String,
    /// `yyyy-mm-dd`.
    pub birth_date: String,
    /// `1` or `2`.
    pub sex: String,
    /// Address.
    pub address: String,
    /// My Number.
    pub my_number: String,
    /// An overseas certificate is applied for.
    pub overseas: bool,
}

/// Why an application is refused: a short code for the audit event and a
/// message for the caller; neither quotes a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Audit reason code.
    pub code: &'static str,
    /// What the caller is told.
    pub message: &'static str,
}

const fn refused(code: &'static str, message: &'static str) -> Refused {
    Refused { code, message }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    kind: String,
    card: Value,
    signature: String,
    certificate: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Card {
    kana_name: String,
    kanji_name: String,
    birth_date: String,
    sex: String,
    address: String,
    my_number: String,
}

/// The tenant's trusted card CAs (DER).
pub fn card_cas(store: &TenantStore) -> StoreResult<Vec<Vec<u8>>> {
    match store.meta(meta::CARD_CAS)? {
        Some(bytes) => Ok(rows::decode(&bytes)?),
        None => Ok(Vec::new()),
    }
}

/// The meta value that trusts `cas` plus `new` (DER), checked to be a
/// usable CA certificate.
pub fn with_card_ca(store: &TenantStore, new: Vec<u8>) -> Result<Vec<u8>, String> {
    let cert = CertificateDer::from(new.clone());
    webpki::anchor_from_trusted_cert(&cert)
        .map_err(|_| "the file is not a usable CA certificate".to_owned())?;
    let mut cas = card_cas(store).map_err(|e| e.to_string())?;
    if !cas.contains(&new) {
        cas.push(new);
    }
    Ok(rows::encode(&cas))
}

fn b64(text: &str) -> Option<Vec<u8>> {
    let e = base64::engine::general_purpose::STANDARD;
    e.decode(text.trim())
        .ok()
        .or_else(|| kiroku_cards::from_b64url(text.trim(), "").ok())
}

/// Checks an application body sent on `channel` at `now_s`.
pub fn verify(
    body: &[u8],
    channel: &str,
    cas: &[Vec<u8>],
    now_s: u64,
) -> Result<CardApplication, Refused> {
    let malformed = refused(
        "malformed",
        "the application is JSON {kind, card: {kana_name, kanji_name, birth_date, sex, address, my_number}, signature, certificate}",
    );
    let body: Body = serde_json::from_slice(body).map_err(|_| malformed.clone())?;
    let overseas = match body.kind.as_str() {
        "domestic" => false,
        "overseas" => true,
        _ => return Err(refused("malformed", "kind is domestic or overseas")),
    };
    let card: Card = serde_json::from_value(body.card.clone()).map_err(|_| malformed.clone())?;
    let signed = kiroku_cards::jcs(&body.card).map_err(|_| malformed.clone())?;
    let (Some(der), Some(signature)) = (b64(&body.certificate), b64(&body.signature)) else {
        return Err(refused(
            "malformed",
            "signature and certificate are base64 (the certificate DER)",
        ));
    };
    let anchors: Vec<_> = cas
        .iter()
        .filter_map(|ca| {
            let ca = CertificateDer::from(ca.as_slice());
            webpki::anchor_from_trusted_cert(&ca)
                .ok()
                .map(|a| a.to_owned())
        })
        .collect();
    if anchors.is_empty() {
        return Err(refused(
            "no-card-ca",
            "this municipality trusts no card CA yet; card applications are not accepted",
        ));
    }
    let cert = CertificateDer::from(der);
    let ee = webpki::EndEntityCert::try_from(&cert).map_err(|_| {
        refused(
            "bad-certificate",
            "the signing certificate is not a certificate",
        )
    })?;
    let algs = [
        webpki::ring::ECDSA_P256_SHA256,
        webpki::ring::ECDSA_P384_SHA384,
        webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    ];
    ee.verify_for_usage(
        &algs,
        &anchors,
        &[],
        UnixTime::since_unix_epoch(Duration::from_secs(now_s)),
        webpki::KeyUsage::required_if_present(&[]),
        None,
        None,
    )
    .map_err(|e| match e {
        webpki::Error::CertExpired { .. } => {
            refused("certificate-expired", "the signing certificate has expired")
        }
        webpki::Error::CertNotValidYet { .. } => refused(
            "certificate-not-yet-valid",
            "the signing certificate is not valid yet",
        ),
        _ => refused(
            "untrusted-certificate",
            "the signing certificate does not chain to a trusted card CA",
        ),
    })?;
    let verified = [
        webpki::ring::ECDSA_P256_SHA256,
        webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    ]
    .iter()
    .any(|alg| ee.verify_signature(*alg, &signed, &signature).is_ok());
    if !verified {
        return Err(refused(
            "bad-signature",
            "the card data's signature does not verify (the data was altered or signed by another card)",
        ));
    }
    Ok(CardApplication {
        channel: channel.to_owned(),
        kana_name: card.kana_name,
        kanji_name: card.kanji_name,
        birth_date: card.birth_date,
        sex: card.sex,
        address: card.address,
        my_number: card.my_number,
        overseas,
    })
}
