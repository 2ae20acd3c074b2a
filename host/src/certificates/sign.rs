//! Signing: the health card's compact JWS (header `{"zip":"DEF","alg":
//! "ES256","kid"}`, raw-DEFLATEd minified payload, raw r‖s signature; RFC
//! 6979 nonces, so the same input signs the same) and the VDS-NC
//! signature over the canonical `data`.

use p256::ecdsa::Signature;
use p256::ecdsa::signature::Signer;
use serde_json::Value;

use kiroku_cards::{CardError, b64url, jws, shc, vds};

use super::keys::SigningKeys;
use crate::clock::Entropy;
use crate::crypto::TenantKeys;

/// The issuing country of VDS-NC documents.
pub const ISSUING_COUNTRY: &str = "JPN";

/// The revocation id of a person's cards: 16 base64url characters of a
/// keyed hash (the SHC limit is 24), the same on each of their cards.
pub fn revocation_id(keys: &TenantKeys, person: u64) -> String {
    b64url(&keys.revocation_mac(person)[..12])
}

/// A fresh certificate id: the tenant code and 16 random base32
/// characters (ASCII without `/`, so it can be the VDS-NC `uvci`).
pub fn certificate_id(code: &str, entropy: &dyn Entropy) -> String {
    let mut bytes = [0u8; 10];
    entropy.fill(&mut bytes);
    format!("JP{code}{}", data_encoding::BASE32_NOPAD.encode(&bytes))
}

/// The compact JWS of a health card.
pub fn health_card(keys: &SigningKeys, iss: &str, nbf: i64, bundle: &Value, rid: &str) -> String {
    let header = format!(r#"{{"zip":"DEF","alg":"ES256","kid":"{}"}}"#, keys.kid);
    let payload = shc::payload(iss, nbf, bundle, rid);
    let input = format!(
        "{}.{}",
        b64url(header.as_bytes()),
        b64url(&jws::deflate(payload.as_bytes()))
    );
    let signature: Signature = keys.shc.sign(input.as_bytes());
    format!("{input}.{}", b64url(&signature.to_bytes()))
}

/// The signed VDS-NC document of `msg` (the host sets `uvci`).
pub fn vds_document(keys: &SigningKeys, uvci: &str, mut msg: Value) -> Result<Value, CardError> {
    let Some(map) = msg.as_object_mut() else {
        return Err(CardError("the VDS-NC message is not a JSON object".into()));
    };
    map.insert("uvci".into(), Value::String(uvci.to_owned()));
    let data = vds::data(ISSUING_COUNTRY, msg);
    let canonical = vds::canonical(&data)?;
    let signature: Signature = keys.vds.sign(&canonical);
    Ok(vds::document(data, &keys.bsc, &signature.to_bytes()))
}
