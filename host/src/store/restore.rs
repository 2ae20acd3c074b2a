//! Restoring a backup (see `backup.rs` for the format): every record
//! into a new file, then the persons purged since the backup left out.

use std::collections::{BTreeSet, HashSet};
use std::io::Read;

use redb::{Database, Key, ReadableMultimapTable, ReadableTable, TableDefinition, Value};

use super::backup::{MAX_CHUNK_BYTES, NAME_TAG, Record, RestoreReport, tables};
use super::keyring::{Keyring, Slot};
use super::tables::*;
use super::{StoreError, StoreResult, rows};
use crate::audit::Event;
use crate::clock::Entropy;
use crate::crypto::TenantKeys;
use crate::datadir::{DataDir, KeyOwner};
use crate::ids::TenantCode;

fn put<K: Key + 'static, V: Value + 'static>(
    txn: &redb::WriteTransaction,
    def: TableDefinition<K, V>,
    k: &[u8],
    v: &[u8],
) -> StoreResult<()> {
    txn.open_table(def)?
        .insert(K::from_bytes(k), V::from_bytes(v))?;
    Ok(())
}

/// Restores a backup read from `input` (after its header) into the empty
/// database `db`, then drops the persons the keyring says were purged
/// since, and appends a `tenant.restore` event to the restored chain.
pub fn restore(
    db: &Database,
    keys: &TenantKeys,
    ring: &Keyring,
    backup_id: [u8; 16],
    input: &mut dyn Read,
    event: Event,
) -> StoreResult<RestoreReport> {
    let mut report = RestoreReport::default();
    let txn = db.begin_write()?;
    let mut index = 0u64;
    loop {
        let mut len = [0u8; 4];
        input
            .read_exact(&mut len)
            .map_err(|_| StoreError::Damaged("the backup is cut short (no final chunk)".into()))?;
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_CHUNK_BYTES {
            return Err(StoreError::Damaged(
                "the backup has an oversized chunk".into(),
            ));
        }
        let mut sealed = vec![0u8; len];
        input
            .read_exact(&mut sealed)
            .map_err(|_| StoreError::Damaged("the backup is cut short".into()))?;
        let (plain, last) = match keys.open_backup(&backup_id, index, false, &sealed) {
            Ok(p) => (p, false),
            Err(_) => (
                keys.open_backup(&backup_id, index, true, &sealed).map_err(|_| {
                    StoreError::Damaged("the backup does not open with this tenant's key (another tenant's, or altered)".into())
                })?,
                true,
            ),
        };
        let records: Vec<Record> = postcard::from_bytes(&plain)?;
        for (tag, k, v) in records {
            report.records += 1;
            macro_rules! one {
                ($tag:expr, $def:ident) => {
                    if tag == $tag {
                        put(&txn, $def, &k, &v)?;
                        continue;
                    }
                };
            }
            tables!(one);
            if tag == NAME_TAG {
                let holder = u64::from_be_bytes(
                    v.as_slice()
                        .try_into()
                        .map_err(|_| StoreError::Damaged("name index entry".into()))?,
                );
                let key: [u8; 16] = k
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Damaged("name index key".into()))?;
                txn.open_multimap_table(NAME_INDEX)?.insert(key, holder)?;
                continue;
            }
            return Err(StoreError::Damaged(format!(
                "the backup has an unknown table tag {tag}"
            )));
        }
        index += 1;
        if last {
            break;
        }
    }
    let (persons, purged) = drop_purged(&txn, ring, event.time_ms, &event.request_id)?;
    report.persons = persons;
    report.purged_since = purged;
    let mut event = event;
    event.reason = Some(format!(
        "restored {persons} persons from a backup; {purged} purged since were left out"
    ));
    crate::audit::append(&txn, keys, vec![event])?;
    txn.commit()?;
    Ok(report)
}

/// Removes every person whose keyring slot is shredded, and what points
/// at them; a person without a key means the wrong keys directory.
fn drop_purged(
    txn: &redb::WriteTransaction,
    ring: &Keyring,
    now_ms: i64,
    request_id: &str,
) -> StoreResult<(u64, u64)> {
    let snapshot = ring.snapshot()?;
    let mut purged = BTreeSet::new();
    let mut kept = 0;
    {
        let persons = txn.open_table(PERSONS)?;
        for entry in persons.iter()? {
            let id = entry?.0.value();
            match snapshot.slot(id) {
                Slot::Live(_) => kept += 1,
                Slot::Shredded => {
                    purged.insert(id);
                }
                Slot::Empty => {
                    return Err(StoreError::Damaged(format!(
                        "the keys directory has no key for person {id} of this backup (is --keys the tenant's?)"
                    )));
                }
            }
        }
    }
    if purged.is_empty() {
        return Ok((kept, 0));
    }
    let mut tickets = 0u64;
    let mut doses = 0u64;
    {
        let mut persons = txn.open_table(PERSONS)?;
        let mut versions = txn.open_table(PERSON_VERSIONS)?;
        for &p in &purged {
            persons.remove(p)?;
            versions.remove(p)?;
            for def in [MY_NUMBERS, PASSPORTS, HOLDS, SUSPENSIONS] {
                txn.open_table(def)?.remove(p)?;
            }
        }
        let mut person_tickets = txn.open_table(PERSON_TICKETS)?;
        let mut ticket_rows = txn.open_table(TICKETS)?;
        let gone: Vec<((u64, u64), u64)> = person_tickets
            .iter()?
            .filter_map(|e| e.ok().map(|(k, v)| (k.value(), v.value())))
            .filter(|((p, _), _)| purged.contains(p))
            .collect();
        for (k, id) in gone {
            person_tickets.remove(k)?;
            ticket_rows.remove(id)?;
            tickets += 1;
        }
        for (def, are_doses) in [(DOSES, true), (PERSON_HISTORY, false)] {
            let mut t = txn.open_table(def)?;
            let gone: Vec<(u64, u64)> = t
                .iter()?
                .filter_map(|e| e.ok().map(|(k, _)| k.value()))
                .filter(|(p, _)| purged.contains(p))
                .collect();
            if are_doses {
                doses += gone.len() as u64;
            }
            for k in gone {
                t.remove(k)?;
            }
        }
        let mut unique = txn.open_table(UNIQUE_INDEX)?;
        let gone: Vec<[u8; 16]> = unique
            .iter()?
            .filter_map(|e| e.ok().map(|(k, v)| (k.value(), v.value())))
            .filter(|(_, p)| purged.contains(p))
            .map(|(k, _)| k)
            .collect();
        for k in gone {
            unique.remove(k)?;
        }
        let mut names = txn.open_multimap_table(NAME_INDEX)?;
        let mut gone = Vec::new();
        for entry in names.iter()? {
            let (k, values) = entry?;
            for v in values {
                let v = v?.value();
                if purged.contains(&v) {
                    gone.push((k.value(), v));
                }
            }
        }
        for (k, v) in gone {
            names.remove(k, v)?;
        }
        let mut deletions = txn.open_table(DELETIONS)?;
        let recorded: HashSet<u64> = deletions
            .iter()?
            .filter_map(|e| e.ok().map(|(k, _)| k.value()))
            .collect();
        for &p in purged.iter().filter(|p| !recorded.contains(p)) {
            // Counts per person are not kept apart here: the purge that
            // shredded them wrote its own record in the file it ran on.
            let row = rows::DeletionRow {
                rule: "purged after this backup was taken".into(),
                purged_ms: now_ms,
                doses: 0,
                tickets: 0,
                my_number: false,
                request_id: request_id.to_owned(),
            };
            deletions.insert(p, rows::encode(&row).as_slice())?;
        }
    }
    tracing::info!(
        persons = purged.len(),
        tickets,
        doses,
        "restore left out persons purged since the backup"
    );
    Ok((kept, purged.len() as u64))
}

/// Restores tenant `code` from a backup into `dir` (the server stopped):
/// its keys (root key and keyring) must be in the keys directory; an
/// existing database of the tenant is replaced only with `replace`.
pub fn restore_tenant(
    dir: &DataDir,
    code: &TenantCode,
    input: &mut dyn std::io::Read,
    replace: bool,
    now_ms: i64,
    entropy: &dyn Entropy,
) -> StoreResult<RestoreReport> {
    let (tenant, id, ring_id, _created) = super::backup::read_header(input)?;
    if tenant != code.as_str() {
        return Err(StoreError::Damaged(format!(
            "the backup is of tenant {tenant}, not {code}"
        )));
    }
    if dir.tenant_exists(code) && !replace {
        return Err(crate::datadir::DataDirError::TenantExists(code.to_string()).into());
    }
    let root = dir.read_key(KeyOwner::Tenant(code))?;
    let keys = TenantKeys::derive(&root, code.as_str());
    let ring = Keyring::open(dir.keyring_file(code, false)?, code.as_str())?;
    if ring.id() != ring_id {
        return Err(StoreError::Damaged(
            "the keys directory holds another keyring than the one this backup needs".into(),
        ));
    }
    let db = super::open_db(dir.restore_file(code)?, super::DEFAULT_CACHE_BYTES)?;
    let event = super::backup::restore_event(now_ms, &format!("restore-{now_ms}"));
    let report = restore(&db, &keys, &ring, id, input, event)?;
    drop(db);
    dir.install_restore(code)?;
    let system = super::SystemStore::open(dir, entropy)?;
    if !system.tenants()?.iter().any(|(c, _)| c == code.as_str()) {
        let store = super::TenantStore::open(dir, code)?;
        system.register_tenant(code, &store.name()?, now_ms)?;
    }
    Ok(report)
}
