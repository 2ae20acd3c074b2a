//! Verifying certificates: a health card against an issuer's key set and
//! revocation lists, a VDS-NC document against a CSCA (its BSC must chain
//! to it and sign the canonical `data`). The same code answers the
//! plugin's `verify` and the offline `kiroku certificate verify`.

use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use serde_json::{Value, json};

use kiroku_cards::keys::{self, Crl, Jwks};
use kiroku_cards::vds;

use super::sign::ISSUING_COUNTRY;

/// A health card's verdict as JSON.
pub fn health_card(
    jws: &str,
    jwks: &Jwks,
    crls: &[Crl],
    issuer: Option<&str>,
    now_s: f64,
) -> Value {
    keys::verdict_json(&keys::verify_card(jws, jwks, crls, issuer, now_s))
}

/// Whether `bsc` (DER) chains to `csca` (DER) at `now_s` and signed
/// `message` (raw r‖s `sig`).
pub fn bsc_signed(
    bsc: &[u8],
    csca: &[u8],
    message: &[u8],
    sig: &[u8],
    now_s: u64,
) -> Result<(), &'static str> {
    let csca = CertificateDer::from(csca.to_vec());
    let anchor = webpki::anchor_from_trusted_cert(&csca)
        .map_err(|_| "the CSCA is not a usable certificate")?;
    let bsc = CertificateDer::from(bsc.to_vec());
    let ee = webpki::EndEntityCert::try_from(&bsc).map_err(|_| "sig.cer is not a certificate")?;
    ee.verify_for_usage(
        &[webpki::ring::ECDSA_P256_SHA256],
        &[anchor],
        &[],
        UnixTime::since_unix_epoch(Duration::from_secs(now_s)),
        webpki::KeyUsage::required_if_present(&[]),
        None,
        None,
    )
    .map_err(|e| match e {
        webpki::Error::CertExpired { .. } => "the barcode signer certificate has expired",
        webpki::Error::CertNotValidYet { .. } => "the barcode signer certificate is not valid yet",
        _ => "the barcode signer certificate does not chain to the issuer's CSCA",
    })?;
    let der = p256::ecdsa::Signature::from_slice(sig)
        .map_err(|_| "sig.sigvl is not an ES256 signature")?
        .to_der();
    ee.verify_signature(webpki::ring::ECDSA_P256_SHA256, message, der.as_bytes())
        .map_err(|_| "the signature does not verify")
}

/// A VDS-NC document's verdict as JSON; `revoked` tells whether a
/// certificate id (`uvci`) is revoked.
pub fn vds_document(doc: &Value, csca: &[u8], now_s: u64, revoked: impl Fn(&str) -> bool) -> Value {
    let parsed = match vds::read(doc) {
        Ok(p) => p,
        Err(e) => return verdict(false, Some(&e.0), None, false, None),
    };
    let answer = |valid, reason: Option<&str>, revoked| {
        verdict(valid, reason, Some(&parsed), revoked, Some(&parsed))
    };
    if parsed.country != ISSUING_COUNTRY {
        return answer(false, Some("the document is not issued by JPN"), false);
    }
    if let Err(reason) = bsc_signed(&parsed.cer, csca, &parsed.signed, &parsed.sig, now_s) {
        return answer(false, Some(reason), false);
    }
    if revoked(&parsed.uvci) {
        return answer(false, Some("the certificate is revoked"), true);
    }
    answer(true, None, false)
}

fn verdict(
    valid: bool,
    reason: Option<&str>,
    issued: Option<&vds::Parsed>,
    revoked: bool,
    content: Option<&vds::Parsed>,
) -> Value {
    json!({
        "valid": valid,
        "reason": reason,
        "issuer": issued.map(|p| p.country.clone()),
        "kid": Value::Null,
        "uvci": issued.map(|p| p.uvci.clone()),
        "revoked": revoked,
        "patient": content.map_or(Value::Null, |p| p.pid.clone()),
        "doses": content.map(vds::doses_json).unwrap_or_default(),
    })
}
