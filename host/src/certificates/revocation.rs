//! What is kept of an issued certificate (sealed, and only what revoking
//! it needs) and the published revocation lists: one per signing key,
//! `method: rid`. Revoking a certificate adds `rid.T`, T one second after
//! its `nbf`: it and any earlier card of the person under that key stop
//! verifying, and a card issued later still verifies.

use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};

use kiroku_cards::keys::Crl;

use crate::store::tables::{CERTIFICATES, REVOCATIONS};
use crate::store::{StoreError, StoreResult, TenantStore, rows};

/// An issued certificate as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertificateRow {
    /// The key that signed it.
    pub kid: String,
    /// Its revocation id.
    pub rid: String,
    /// Its `nbf` (seconds).
    pub nbf: i64,
    /// `counter`, `app` or `kiosk`.
    pub channel: String,
    /// `domestic` or `overseas` (counter issues only).
    pub kind: Option<String>,
    /// The issue date (counter issues only).
    pub issued_on: Option<String>,
    /// Revoked: the reason code and when (ms).
    pub revoked: Option<(String, i64)>,
}

fn what(id: &str) -> String {
    format!("certificate/{id}")
}

/// The sealed bytes of a row.
pub fn seal(
    store: &TenantStore,
    id: &str,
    row: &CertificateRow,
    entropy: &dyn crate::clock::Entropy,
) -> Vec<u8> {
    store
        .keys()
        .seal_issuer(&what(id), &rows::encode(row), entropy)
}

/// The stored row of certificate `id`, if there is one.
pub fn load(store: &TenantStore, id: &str) -> StoreResult<Option<CertificateRow>> {
    let txn = store.db().begin_read()?;
    let table = match txn.open_table(CERTIFICATES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(sealed) = table.get(id)? else {
        return Ok(None);
    };
    let plain = store
        .keys()
        .open_issuer(&what(id), sealed.value())
        .map_err(|_| StoreError::Damaged("a certificate row does not open".into()))?;
    Ok(Some(rows::decode(&plain)?))
}

/// The revocation list entry of a row.
pub fn entry(row: &CertificateRow) -> String {
    format!("{}.{}", row.rid, row.nbf + 1)
}

fn entries(store: &TenantStore, kid: &str) -> StoreResult<Vec<String>> {
    let txn = store.db().begin_read()?;
    let table = match txn.open_table(REVOCATIONS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in table.range((kid, "")..)? {
        let (k, v) = row?;
        if k.value().0 != kid {
            break;
        }
        out.push(v.value().to_owned());
    }
    Ok(out)
}

/// How many certificates of `kid` are revoked (the list's version).
pub fn count(store: &TenantStore, kid: &str) -> StoreResult<u64> {
    Ok(entries(store, kid)?.len() as u64)
}

/// The revocation list of `kid`.
pub fn crl(store: &TenantStore, kid: &str) -> StoreResult<Crl> {
    let mut rids = entries(store, kid)?;
    rids.sort();
    rids.dedup();
    Ok(Crl {
        kid: kid.to_owned(),
        method: "rid".into(),
        ctr: rids.len() as u64,
        rids,
    })
}
