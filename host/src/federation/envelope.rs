//! Signed federation requests: who asks whom, a nonce and a timestamp
//! around the body, signed (ECDSA P-256, SHA-256, over the exact body
//! bytes) with the querying municipality's certificate key. The answering
//! host opens one only if the signer is the peer of the TLS connection and
//! the querier the request names, the time is inside the window, and the
//! nonce is new.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey};
use rustls_pki_types::CertificateDer;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Refusal;
use super::identity::{code_of, verifying_key_of};
use crate::clock::Entropy;
use crate::ids::TenantCode;

/// The HTTP header carrying the body's signature (base64url, r || s).
pub const SIGNATURE_HEADER: &str = "kiroku-signature";

/// The version of the request format.
pub const ENVELOPE_VERSION: u32 = 1;

/// How far a request's timestamp may be from the answering node's clock.
pub const FRESHNESS_WINDOW_MS: i64 = 5 * 60 * 1_000;

/// Most nonces remembered at once (inside the window); beyond it requests
/// are refused as `busy` rather than let the guard grow without bound.
pub const MAX_REMEMBERED_NONCES: usize = 1_000_000;

/// A request from one municipality to another.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope<T> {
    /// `ENVELOPE_VERSION`.
    pub version: u32,
    /// The asking municipality.
    pub querier: String,
    /// The answering municipality.
    pub answerer: String,
    /// 32 hex digits, new for every request.
    pub nonce: String,
    /// When the querying host made it (ms since the epoch).
    pub timestamp_ms: i64,
    /// What is asked.
    pub body: T,
}

/// A request ready to send: its bytes and their signature.
pub struct Sealed {
    /// The JSON body.
    pub bytes: Vec<u8>,
    /// The `SIGNATURE_HEADER` value.
    pub signature: String,
}

/// Makes and signs a request from `querier` to `answerer`.
pub fn seal<T: Serialize>(
    key: &SigningKey,
    querier: &TenantCode,
    answerer: &TenantCode,
    body: T,
    now_ms: i64,
    entropy: &dyn Entropy,
) -> Sealed {
    let mut nonce = [0u8; 16];
    entropy.fill(&mut nonce);
    let envelope = Envelope {
        version: ENVELOPE_VERSION,
        querier: querier.to_string(),
        answerer: answerer.to_string(),
        nonce: hex::encode(nonce),
        timestamp_ms: now_ms,
        body,
    };
    let bytes = serde_json::to_vec(&envelope).expect("an envelope serialises");
    let signature: Signature = key.sign(&bytes);
    Sealed {
        signature: URL_SAFE_NO_PAD.encode(signature.to_bytes()),
        bytes,
    }
}

/// Opens a request that arrived over a connection whose client presented
/// `peer`, for a node that answers for `answerer` (the tenant in the
/// path). Checks, in order: shape, that the peer's municipality is the
/// querier and the path's the answerer, the signature, the time, the nonce.
pub fn open<T: DeserializeOwned>(
    bytes: &[u8],
    signature: Option<&str>,
    peer: &CertificateDer<'_>,
    answerer: &TenantCode,
    guard: &ReplayGuard,
    now_ms: i64,
) -> Result<Envelope<T>, Refusal> {
    let envelope: Envelope<T> = serde_json::from_slice(bytes).map_err(|_| Refusal::Malformed)?;
    let nonce = parse_nonce(&envelope.nonce).ok_or(Refusal::Malformed)?;
    if envelope.version != ENVELOPE_VERSION || envelope.answerer != answerer.as_str() {
        return Err(Refusal::Malformed);
    }
    if code_of(peer)?.as_str() != envelope.querier {
        return Err(Refusal::WrongMunicipality);
    }
    let signature = signature
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .and_then(|raw| Signature::from_slice(&raw).ok())
        .ok_or(Refusal::BadSignature)?;
    verifying_key_of(peer)?
        .verify(bytes, &signature)
        .map_err(|_| Refusal::BadSignature)?;
    guard.admit(nonce, envelope.timestamp_ms, now_ms)?;
    Ok(envelope)
}

fn parse_nonce(text: &str) -> Option<[u8; 16]> {
    let mut nonce = [0u8; 16];
    (text.len() == 32).then_some(())?;
    hex::decode_to_slice(text, &mut nonce).ok()?;
    Some(nonce)
}

/// The nonces seen inside the freshness window. Requests stamped before
/// this guard was made are refused as stale, so a restart (which forgets
/// the nonces) cannot make an earlier request new again.
pub struct ReplayGuard {
    started_ms: i64,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    nonces: HashSet<[u8; 16]>,
    by_time: VecDeque<(i64, [u8; 16])>,
}

impl ReplayGuard {
    /// A guard that accepts requests stamped from `now_ms` on.
    pub fn new(now_ms: i64) -> ReplayGuard {
        ReplayGuard {
            started_ms: now_ms,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Admits a nonce once, for a request stamped `timestamp_ms`.
    pub fn admit(&self, nonce: [u8; 16], timestamp_ms: i64, now_ms: i64) -> Result<(), Refusal> {
        if timestamp_ms < self.started_ms || (now_ms - timestamp_ms).abs() > FRESHNESS_WINDOW_MS {
            return Err(Refusal::Stale);
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        // Nonces stamped before the window's start can no longer be
        // replayed (they are stale), so they need not be kept.
        while let Some(&(at, old)) = seen.by_time.front() {
            if at >= now_ms - FRESHNESS_WINDOW_MS {
                break;
            }
            seen.by_time.pop_front();
            seen.nonces.remove(&old);
        }
        if seen.nonces.contains(&nonce) {
            return Err(Refusal::Replayed);
        }
        if seen.nonces.len() >= MAX_REMEMBERED_NONCES {
            return Err(Refusal::Busy);
        }
        seen.nonces.insert(nonce);
        // Kept in arrival order; a request stamped earlier than one before
        // it stays until the later one goes, which only keeps it longer.
        seen.by_time.push_back((timestamp_ms, nonce));
        Ok(())
    }
}
