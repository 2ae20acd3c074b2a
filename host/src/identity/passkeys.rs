//! WebAuthn passkeys (webauthn-rs) as a second factor beside TOTP: a staff
//! member with a live session registers one; a login then presents the
//! password and a passkey assertion instead of a code. Ceremony states live
//! in memory for a few minutes and are used once.

use std::collections::HashMap;
use std::sync::Mutex;

use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Url, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::accounts::AccountRow;
use crate::clock::Entropy;

/// How long a started ceremony may be finished.
pub const CEREMONY_MS: i64 = 5 * 60_000;
/// Ceremonies pending at once; beyond, the oldest are dropped (a flood of
/// starts costs bounded memory).
pub const MAX_PENDING: usize = 10_000;
/// Passkeys one account may hold.
pub const MAX_PASSKEYS: usize = 8;

enum Ceremony {
    Register(PasskeyRegistration),
    Login(PasskeyAuthentication),
}

struct Pending {
    account: String,
    started_ms: i64,
    ceremony: Ceremony,
}

/// The node's relying party and its pending ceremonies.
pub struct Passkeys {
    webauthn: Webauthn,
    pending: Mutex<HashMap<String, Pending>>,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passkeys")
    }
}

/// An account's passkeys, as the row stores them (JSON: webauthn-rs types
/// are self-describing, the row's postcard is not).
pub fn of(row: &AccountRow) -> Vec<Passkey> {
    serde_json::from_slice(&row.passkeys).unwrap_or_default()
}

fn store(row: &mut AccountRow, keys: &[Passkey]) {
    row.passkeys = serde_json::to_vec(keys).unwrap_or_default();
}

impl Passkeys {
    /// The relying party of `public_url` (its host is the RP id).
    pub fn new(public_url: &str) -> Result<Passkeys, String> {
        let origin = Url::parse(public_url).map_err(|e| format!("{public_url:?}: {e}"))?;
        let rp_id = origin
            .host_str()
            .ok_or_else(|| format!("{public_url:?} has no host"))?
            .to_owned();
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|b| b.rp_name("Kiroku").build())
            .map_err(|e| format!("WebAuthn relying party for {public_url}: {e}"))?;
        Ok(Passkeys {
            webauthn,
            pending: Mutex::new(HashMap::new()),
        })
    }

    fn remember(
        &self,
        account: &str,
        now_ms: i64,
        ceremony: Ceremony,
        entropy: &dyn Entropy,
    ) -> String {
        let mut bytes = [0u8; 16];
        entropy.fill(&mut bytes);
        let id = hex::encode(bytes);
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, p| now_ms - p.started_ms <= CEREMONY_MS);
        if pending.len() >= MAX_PENDING {
            let oldest = pending
                .iter()
                .min_by_key(|(_, p)| p.started_ms)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                pending.remove(&k);
            }
        }
        pending.insert(
            id.clone(),
            Pending {
                account: account.to_owned(),
                started_ms: now_ms,
                ceremony,
            },
        );
        id
    }

    /// Takes a pending ceremony of `account` (used once, whatever happens).
    fn take(&self, id: &str, account: &str, now_ms: i64) -> Option<Ceremony> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let p = pending.remove(id)?;
        (p.account == account && now_ms - p.started_ms <= CEREMONY_MS).then_some(p.ceremony)
    }

    /// Starts registering a passkey for `row`'s holder.
    pub fn start_registration(
        &self,
        row: &AccountRow,
        now_ms: i64,
        entropy: &dyn Entropy,
    ) -> Result<(String, CreationChallengeResponse), String> {
        let existing = of(row);
        if existing.len() >= MAX_PASSKEYS {
            return Err(format!("an account holds at most {MAX_PASSKEYS} passkeys"));
        }
        let exclude = existing.iter().map(|k| k.cred_id().clone()).collect();
        let mut id = [0u8; 16];
        entropy.fill(&mut id);
        let (options, state) = self
            .webauthn
            .start_passkey_registration(Uuid::from_bytes(id), &row.name, &row.name, Some(exclude))
            .map_err(|e| format!("cannot start a registration: {e}"))?;
        let ceremony = self.remember(&row.name, now_ms, Ceremony::Register(state), entropy);
        Ok((ceremony, options))
    }

    /// Finishes a registration: the passkey is added to `row`.
    pub fn finish_registration(
        &self,
        row: &mut AccountRow,
        ceremony: &str,
        credential: &RegisterPublicKeyCredential,
        now_ms: i64,
    ) -> Result<(), String> {
        let Some(Ceremony::Register(state)) = self.take(ceremony, &row.name, now_ms) else {
            return Err("no such registration in progress (it lasts 5 minutes)".into());
        };
        let key = self
            .webauthn
            .finish_passkey_registration(credential, &state)
            .map_err(|e| format!("the passkey was not accepted: {e}"))?;
        let mut keys = of(row);
        keys.push(key);
        store(row, &keys);
        Ok(())
    }

    /// Starts a passkey login for `row` (None if it holds no passkey).
    pub fn start_login(
        &self,
        row: &AccountRow,
        now_ms: i64,
        entropy: &dyn Entropy,
    ) -> Option<(String, RequestChallengeResponse)> {
        let keys = of(row);
        if keys.is_empty() {
            return None;
        }
        let (options, state) = self.webauthn.start_passkey_authentication(&keys).ok()?;
        let ceremony = self.remember(&row.name, now_ms, Ceremony::Login(state), entropy);
        Some((ceremony, options))
    }

    /// Checks a login's assertion against `row`'s passkeys, updating the
    /// used one's counter; the ceremony is spent either way.
    pub fn check_login(
        &self,
        row: &mut AccountRow,
        ceremony: &str,
        assertion: &PublicKeyCredential,
        now_ms: i64,
    ) -> bool {
        let Some(Ceremony::Login(state)) = self.take(ceremony, &row.name, now_ms) else {
            return false;
        };
        let Ok(result) = self
            .webauthn
            .finish_passkey_authentication(assertion, &state)
        else {
            return false;
        };
        let mut keys = of(row);
        for key in &mut keys {
            key.update_credential(&result);
        }
        store(row, &keys);
        true
    }
}
