//! Federation entries in the tenant file, sealed under the tenant's
//! federation key and their own key: answers the querying side holds
//! (`held/{id}`) until taken up or expired, and queries the answering side
//! keeps (`queue/{id}`) until a staff member decides. Neither holds a My
//! Number: a held answer names the querying tenant's own person, a queued
//! query the answering tenant's person who moved out.

use redb::ReadableDatabase;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::wire::DoseItems;
use crate::audit::{Event, Outcome};
use crate::clock::Entropy;
use crate::store::commit::{Check, Op, WriteSet};
use crate::store::tables::FEDERATION;
use crate::store::{StoreError, StoreResult, TenantStore, rows};

/// An answer (or a pending query) the querying tenant holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldRow {
    /// The person asked about (serial).
    pub person: u64,
    /// The previous municipality.
    pub previous: String,
    /// What for.
    pub purpose: String,
    /// `found` or `pending`.
    pub state: String,
    /// The answerer's id of a pending query.
    pub remote_id: Option<String>,
    /// The doses answered.
    pub doses: Vec<DoseItems>,
    /// When the answer arrived (ms).
    pub received_ms: i64,
    /// When it is deleted if not taken up (ms).
    pub expires_ms: i64,
}

/// A query waiting on the answering side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedRow {
    /// The person who moved out (serial).
    pub person: u64,
    /// The querying municipality.
    pub querier: String,
    /// What for.
    pub purpose: String,
    /// Dose fields to answer.
    pub items: Vec<usize>,
    /// When it arrived (ms).
    pub received_ms: i64,
    /// `pending`, `approved` or `refused`.
    pub state: String,
    /// Who decided.
    pub decided_by: Option<String>,
}

/// The key of a held answer.
pub fn held_key(id: &str) -> String {
    format!("held/{id}")
}

/// The key of a queued query.
pub fn queue_key(id: &str) -> String {
    format!("queue/{id}")
}

/// An entry as read: its row and the digest of its stored bytes, for the
/// commit's check that nobody changed it meanwhile.
pub struct Entry<T> {
    /// The entry's id (without the prefix).
    pub id: String,
    /// The row.
    pub row: T,
    /// SHA-256 of the sealed bytes.
    pub digest: [u8; 32],
}

impl<T> Entry<T> {
    /// The check that the entry is still as read.
    pub fn unchanged(&self, key: String) -> Check {
        Check::FederationEntry {
            key,
            digest: Some(self.digest),
        }
    }
}

fn open<T: DeserializeOwned>(store: &TenantStore, key: &str, sealed: &[u8]) -> StoreResult<T> {
    let plain = store
        .keys()
        .open_federation(key, sealed)
        .map_err(StoreError::from)?;
    rows::decode(&plain).map_err(StoreError::from)
}

/// Seals a row for `key`.
pub fn seal<T: Serialize>(
    store: &TenantStore,
    key: &str,
    row: &T,
    entropy: &dyn Entropy,
) -> Vec<u8> {
    store
        .keys()
        .seal_federation(key, &rows::encode(row), entropy)
}

/// Reads one entry.
pub fn read<T: DeserializeOwned>(store: &TenantStore, key: &str) -> StoreResult<Option<Entry<T>>> {
    let txn = store.db().begin_read()?;
    let table = match txn.open_table(FEDERATION) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(value) = table.get(key)? else {
        return Ok(None);
    };
    let sealed = value.value();
    let id = key.split_once('/').map_or(key, |(_, id)| id).to_owned();
    Ok(Some(Entry {
        id,
        row: open(store, key, sealed)?,
        digest: crate::crypto::sha256(sealed),
    }))
}

/// Every entry under `prefix` (`held/` or `queue/`), at most `limit`.
pub fn list<T: DeserializeOwned>(
    store: &TenantStore,
    prefix: &str,
    limit: usize,
) -> StoreResult<Vec<Entry<T>>> {
    let txn = store.db().begin_read()?;
    let table = match txn.open_table(FEDERATION) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for item in table.range(prefix..)? {
        let (key, value) = item?;
        let key = key.value();
        let Some(id) = key.strip_prefix(prefix) else {
            break;
        };
        out.push(Entry {
            id: id.to_owned(),
            row: open(store, key, value.value())?,
            digest: crate::crypto::sha256(value.value()),
        });
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// Most held answers deleted by one sweep.
pub const MAX_SWEPT: usize = 10_000;

/// Deletes held answers past their expiry, each with an audit event (the
/// host acting, automated); returns how many. An answer taken up
/// meanwhile is left to the take-up.
pub fn sweep_expired(store: &TenantStore, now_ms: i64, request_id: &str) -> StoreResult<usize> {
    let expired: Vec<Entry<HeldRow>> = list::<HeldRow>(store, "held/", usize::MAX)?
        .into_iter()
        .filter(|e| e.row.expires_ms <= now_ms)
        .take(MAX_SWEPT)
        .collect();
    let mut swept = 0;
    for entry in expired {
        let key = held_key(&entry.id);
        let mut event = Event::new(
            now_ms,
            request_id,
            crate::store::SYSTEM_ACTOR,
            format!("federation.expire from {}", entry.row.previous),
            Outcome::Ok,
        )
        .with_subject(entry.row.person)
        .with_reason(format!("{} not taken up", entry.row.state));
        event.count = entry.row.doses.len() as u64;
        event.automated = true;
        let set = WriteSet {
            checks: vec![entry.unchanged(key.clone())],
            ops: vec![Op::RemoveFederation(key)],
            events: vec![event],
            ..Default::default()
        };
        match store.commit_now(set) {
            Ok(_) => swept += 1,
            Err(StoreError::Damaged(m)) if m.starts_with("conflict") => {}
            Err(e) => return Err(e),
        }
    }
    Ok(swept)
}
