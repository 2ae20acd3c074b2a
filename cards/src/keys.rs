//! Public keys and revocation, for the host and the offline verifier: JWKs
//! with RFC 7638 thumbprints as `kid`, ES256 checks over raw r‖s, the
//! issuer's key set and its revocation lists (`method: rid`), and the
//! whole verdict on a card.

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{CardError, b64url, err, from_b64url, jws, shc};

/// A P-256 public key as a JWK.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    /// `EC`.
    pub kty: String,
    /// The RFC 7638 thumbprint.
    #[serde(default)]
    pub kid: String,
    /// `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// `ES256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `P-256`.
    #[serde(default)]
    pub crv: String,
    /// The x coordinate, base64url.
    #[serde(default)]
    pub x: String,
    /// The y coordinate, base64url.
    #[serde(default)]
    pub y: String,
    /// The version of this key's revocation list, when it has one.
    #[serde(
        rename = "crlVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub crl_version: Option<u64>,
}

impl Jwk {
    /// The JWK of a verifying key, its `kid` the thumbprint.
    pub fn of(key: &VerifyingKey) -> Jwk {
        let point = key.to_sec1_point(false);
        let bytes = point.as_bytes();
        let (x, y) = (b64url(&bytes[1..33]), b64url(&bytes[33..65]));
        Jwk {
            kid: thumbprint(&x, &y),
            kty: "EC".into(),
            use_: Some("sig".into()),
            alg: Some("ES256".into()),
            crv: "P-256".into(),
            x,
            y,
            crl_version: None,
        }
    }

    /// The verifying key this JWK describes.
    pub fn key(&self) -> Result<VerifyingKey, CardError> {
        if self.kty != "EC" || self.crv != "P-256" {
            return err("the key is not an EC P-256 key");
        }
        let (x, y) = (
            from_b64url(&self.x, "the key's x")?,
            from_b64url(&self.y, "the key's y")?,
        );
        if x.len() != 32 || y.len() != 32 {
            return err("the key's coordinates are not 32 bytes");
        }
        let mut sec1 = vec![4u8];
        sec1.extend_from_slice(&x);
        sec1.extend_from_slice(&y);
        VerifyingKey::from_sec1_bytes(&sec1)
            .map_err(|_| CardError("the key is not a P-256 point".into()))
    }
}

/// The RFC 7638 SHA-256 thumbprint of a P-256 key.
pub fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    b64url(&Sha256::digest(canonical.as_bytes()))
}

/// Whether `sig` (raw r‖s) is `key`'s ES256 signature over `message`.
pub fn verify_es256(key: &VerifyingKey, message: &[u8], sig: &[u8]) -> bool {
    Signature::from_slice(sig).is_ok_and(|s| key.verify(message, &s).is_ok())
}

/// An issuer's key set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// A revocation list of one key (SHC `method: rid`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Crl {
    /// The key it belongs to.
    pub kid: String,
    /// `rid`.
    pub method: String,
    /// Its version, counting up with each change.
    pub ctr: u64,
    /// Revoked ids; `rid.T` revokes only cards with `nbf` before T.
    pub rids: Vec<String>,
}

impl Crl {
    /// Whether a card with `rid`, issued at `nbf`, is revoked.
    pub fn revokes(&self, rid: &str, nbf: f64) -> bool {
        self.rids.iter().any(|entry| match entry.split_once('.') {
            None => entry == rid,
            Some((r, until)) => r == rid && until.parse::<f64>().is_ok_and(|t| nbf < t),
        })
    }
}

/// Everything a verifier says about a card.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The card verifies and is not revoked.
    pub valid: bool,
    /// Why not, when not.
    pub reason: Option<String>,
    /// The card's issuer.
    pub issuer: Option<String>,
    /// The key id in its header.
    pub kid: Option<String>,
    /// Its revocation list names it.
    pub revoked: bool,
    /// What it says, when it could be read.
    pub card: Option<shc::Card>,
}

impl Verdict {
    fn invalid(reason: impl Into<String>) -> Verdict {
        Verdict {
            valid: false,
            reason: Some(reason.into()),
            issuer: None,
            kid: None,
            revoked: false,
            card: None,
        }
    }
}

/// Verifies a JWS against an issuer's keys and revocation lists at
/// `now_s`: signature, `kid` (the thumbprint of the key that verifies),
/// `iss` (when `expected_issuer` is given), `nbf`, structure, revocation.
pub fn verify_card(
    jws_text: &str,
    jwks: &Jwks,
    crls: &[Crl],
    expected_issuer: Option<&str>,
    now_s: f64,
) -> Verdict {
    let parts = match jws::split(jws_text) {
        Ok(p) => p,
        Err(e) => return Verdict::invalid(e.0),
    };
    let kid = parts.header.kid.clone();
    let card = shc::read(&parts.payload);
    let mut verdict = Verdict {
        valid: false,
        reason: None,
        issuer: card.as_ref().ok().map(|c| c.iss.clone()),
        kid: Some(kid.clone()),
        revoked: false,
        card: None,
    };
    let fail = |mut v: Verdict, reason: &str| {
        v.reason = Some(reason.to_owned());
        v
    };
    let Some(jwk) = jwks.keys.iter().find(|k| k.kid == kid) else {
        return fail(verdict, "no key of the issuer has this kid");
    };
    let key = match jwk.key() {
        Ok(k) => k,
        Err(e) => return fail(verdict, &e.0),
    };
    if Jwk::of(&key).kid != kid {
        return fail(verdict, "the kid is not the key's RFC 7638 thumbprint");
    }
    if !verify_es256(&key, parts.signing_input.as_bytes(), &parts.signature) {
        return fail(verdict, "the signature does not verify");
    }
    let card = match card {
        Ok(c) => c,
        Err(e) => return fail(verdict, &e.0),
    };
    if expected_issuer.is_some_and(|iss| iss != card.iss) {
        return fail(verdict, "the card's iss is not this issuer");
    }
    if card.nbf > now_s + 60.0 {
        verdict.card = Some(card);
        return fail(verdict, "the card's nbf is in the future");
    }
    let rid = card.rid.clone();
    let nbf = card.nbf;
    verdict.card = Some(card);
    if let Some(rid) = rid {
        verdict.revoked = crls.iter().any(|c| c.kid == kid && c.revokes(&rid, nbf));
    }
    if verdict.revoked {
        return fail(verdict, "the card is revoked");
    }
    verdict.valid = true;
    verdict
}

/// The JSON answer of a verifier (`valid`, `reason`, `issuer`, `kid`,
/// `revoked`, `patient`, `doses`).
pub fn verdict_json(v: &Verdict) -> Value {
    let (patient, doses) = match &v.card {
        Some(c) => (
            c.patient
                .as_ref()
                .map_or(Value::Null, crate::fhir::patient_json),
            c.doses.iter().map(crate::fhir::dose_json).collect(),
        ),
        None => (Value::Null, Vec::new()),
    };
    serde_json::json!({
        "valid": v.valid, "reason": v.reason, "issuer": v.issuer, "kid": v.kid,
        "revoked": v.revoked, "patient": patient, "doses": doses,
    })
}
