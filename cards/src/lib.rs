//! SMART Health Cards (spec.smarthealth.cards 1.4) and ICAO VDS-NC
//! vaccination certificates: what the `certificate` plugin, the host and
//! the offline verifier share. Nothing here holds a private key: signing
//! is the host's (`kiroku::certificates`), and plugins only frame, decode
//! and render.

pub mod fhir;
pub mod jws;
#[cfg(feature = "crypto")]
pub mod keys;
pub mod qr;
mod qr_draw;
mod qr_encode;
mod qr_mask;
mod qr_png;
pub mod shc;
pub mod vds;

/// Why a card could not be read, built or checked. Messages name parts of
/// the card and limits, never a value from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardError(pub String);

impl std::fmt::Display for CardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CardError {}

/// A [`CardError`] with `message`.
pub fn err<T>(message: impl Into<String>) -> Result<T, CardError> {
    Err(CardError(message.into()))
}

/// Base64url without padding, as JOSE and VDS-NC use it.
pub fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url (padding tolerated); `what` names the part for errors.
pub fn from_b64url(text: &str, what: &str) -> Result<Vec<u8>, CardError> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| CardError(format!("{what} is not base64url")))
}

/// The largest card payload the decoders inflate (a zip bomb stops here).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// The longest JWS the decoders read.
pub const MAX_JWS_BYTES: usize = 16 * 1024;

/// The RFC 8785 canonical bytes of any JSON value.
pub fn jcs(value: &serde_json::Value) -> Result<Vec<u8>, CardError> {
    serde_json_canonicalizer::to_vec(value)
        .map_err(|_| CardError("the JSON cannot be canonicalised".into()))
}
