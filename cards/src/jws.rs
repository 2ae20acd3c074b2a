//! Compact JWS framing (RFC 7515) for health cards: header
//! `{"zip":"DEF","alg":"ES256","kid"}`, a raw-DEFLATEd payload and a raw
//! r‖s signature.

use serde::Deserialize;

use crate::{CardError, MAX_JWS_BYTES, MAX_PAYLOAD_BYTES, err, from_b64url};

/// A JWS split into its parts.
#[derive(Debug, Clone)]
pub struct Parts {
    /// The protected header.
    pub header: Header,
    /// The payload after inflating (the minified JSON that was signed).
    pub payload: Vec<u8>,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    pub signing_input: String,
    /// The signature bytes (64 for ES256).
    pub signature: Vec<u8>,
}

/// The protected header of a health card.
#[derive(Debug, Clone, Deserialize)]
pub struct Header {
    /// Must be `ES256`.
    pub alg: String,
    /// The key's RFC 7638 thumbprint.
    pub kid: String,
    /// Must be `DEF`.
    pub zip: Option<String>,
}

/// Splits and decodes a compact JWS, inflating its payload (at most
/// [`MAX_PAYLOAD_BYTES`]).
pub fn split(jws: &str) -> Result<Parts, CardError> {
    let jws = jws.trim();
    if jws.len() > MAX_JWS_BYTES {
        return err(format!("the JWS is longer than {MAX_JWS_BYTES} bytes"));
    }
    let mut it = jws.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return err("a JWS has three parts separated by '.'");
    };
    let header: Header = serde_json::from_slice(&from_b64url(h, "the JWS header")?)
        .map_err(|_| CardError("the JWS header is not a JSON object with alg and kid".into()))?;
    if header.alg != "ES256" {
        return err("the JWS header's alg is not ES256");
    }
    if header.zip.as_deref() != Some("DEF") {
        return err("the JWS header's zip is not DEF (a health card payload is raw-DEFLATEd)");
    }
    let compressed = from_b64url(p, "the JWS payload")?;
    let payload = inflate(&compressed)?;
    Ok(Parts {
        header,
        payload,
        signing_input: format!("{h}.{p}"),
        signature: from_b64url(s, "the JWS signature")?,
    })
}

/// Raw DEFLATE (RFC 1951, no zlib header) at the highest level.
pub fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(data, 9)
}

/// Inflates raw DEFLATE, refusing more than [`MAX_PAYLOAD_BYTES`].
pub fn inflate(data: &[u8]) -> Result<Vec<u8>, CardError> {
    miniz_oxide::inflate::decompress_to_vec_with_limit(data, MAX_PAYLOAD_BYTES).map_err(|_| {
        CardError(format!(
            "the JWS payload is not raw DEFLATE of at most {MAX_PAYLOAD_BYTES} bytes"
        ))
    })
}
