//! Online backup and restore of one tenant.
//!
//! A backup is taken from one read snapshot (the server keeps serving:
//! redb's multi-writer mode lets another process read) and holds every
//! table of the tenant file, audit chain included, except sessions and
//! applied request ids (a restore makes everyone log in again). It is
//! sealed under the tenant's backup key in chunks bound to the backup's id
//! and position, the last one marked, so a reordered, cut or altered file
//! is refused. The header names the tenant, the backup and the keyring it
//! needs; nothing in it is personal.
//!
//! **A restore never resurrects a purged person.** Person secrets live in
//! the keyring in the keys directory, never in a backup. A purge shreds a
//! person's slot there, so an older backup's rows of that person open with
//! no key that exists; the restore then drops those rows and every index
//! entry pointing at them, and writes their deletion records.
//!
//! ```text
//! "KIROKU-BACKUP-1\n" | tenant (6) | backup id (16) | keyring id (16) | created ms (8)
//! then chunks: length (4, big-endian) | sealed postcard Vec<(table, key, value)>
//! ```

use std::collections::{BTreeSet, HashSet};
use std::io::{Read, Write};

use redb::{
    Database, Key, MultimapTableDefinition, ReadableDatabase, ReadableMultimapTable, ReadableTable,
    TableDefinition, Value,
};

use super::keyring::{Keyring, Slot};
use super::tables::*;
use super::{StoreError, StoreResult, rows};
use crate::audit::{Event, Outcome};
use crate::clock::Entropy;
use crate::crypto::TenantKeys;

const MAGIC: &[u8; 16] = b"KIROKU-BACKUP-1\n";
/// Records per sealed chunk.
const CHUNK_RECORDS: usize = 8_192;
/// Largest chunk a restore accepts.
const MAX_CHUNK_BYTES: usize = 256 << 20;

/// What a backup holds, as a report.
#[derive(Debug, Default, Clone, Copy)]
pub struct BackupReport {
    /// Records written.
    pub records: u64,
    /// Persons in it.
    pub persons: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// What a restore did.
#[derive(Debug, Default, Clone, Copy)]
pub struct RestoreReport {
    /// Records read.
    pub records: u64,
    /// Persons restored.
    pub persons: u64,
    /// Persons left out because they were purged after the backup.
    pub purged_since: u64,
}

type Record = (u8, Vec<u8>, Vec<u8>);

/// The tables a backup holds, by tag. Sessions and request ids are left
/// out on purpose.
macro_rules! tables {
    ($m:ident) => {
        $m!(0, META);
        $m!(1, PERSONS);
        $m!(2, PERSON_VERSIONS);
        $m!(3, MY_NUMBERS);
        $m!(4, PASSPORTS);
        $m!(5, TICKETS);
        $m!(6, PERSON_TICKETS);
        $m!(7, DOSES);
        $m!(8, UNIQUE_INDEX);
        $m!(10, AUDIT);
        $m!(11, AUDIT_BY_SUBJECT);
        $m!(12, AUDIT_BY_SUBJECT_BLOCK);
        $m!(13, ACCOUNTS);
        $m!(14, SERVICE_TOKENS);
        $m!(15, PLUGINS);
        $m!(16, REVIEWS);
        $m!(17, FEDERATION);
        $m!(18, ISSUER_KEYS);
        $m!(19, CERTIFICATES);
        $m!(20, REVOCATIONS);
        $m!(21, DELETIONS);
        $m!(22, HOLDS);
        $m!(23, SUSPENSIONS);
        $m!(24, PERSON_HISTORY);
    };
}
/// The name index (a multimap) has its own tag.
const NAME_TAG: u8 = 9;

fn dump<K: Key + 'static, V: Value + 'static>(
    txn: &redb::ReadTransaction,
    tag: u8,
    def: TableDefinition<K, V>,
    out: &mut dyn FnMut(Record) -> StoreResult<()>,
) -> StoreResult<()> {
    let table = match txn.open_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for entry in table.iter()? {
        let (k, v) = entry?;
        out((
            tag,
            K::as_bytes(&k.value()).as_ref().to_vec(),
            V::as_bytes(&v.value()).as_ref().to_vec(),
        ))?;
    }
    Ok(())
}

fn dump_names(
    txn: &redb::ReadTransaction,
    def: MultimapTableDefinition<[u8; 16], u64>,
    out: &mut dyn FnMut(Record) -> StoreResult<()>,
) -> StoreResult<()> {
    let table = match txn.open_multimap_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for entry in table.iter()? {
        let (k, values) = entry?;
        for v in values {
            out((
                NAME_TAG,
                k.value().to_vec(),
                v?.value().to_be_bytes().to_vec(),
            ))?;
        }
    }
    Ok(())
}

/// Writes a backup of `db` (one read snapshot) to `out`.
pub fn backup(
    db: &impl ReadableDatabase,
    keys: &TenantKeys,
    ring: &Keyring,
    now_ms: i64,
    entropy: &dyn Entropy,
    out: &mut dyn Write,
) -> StoreResult<BackupReport> {
    let txn = db.begin_read()?;
    let mut id = [0u8; 16];
    entropy.fill(&mut id);
    let mut header = MAGIC.to_vec();
    header.extend_from_slice(keys.tenant().as_bytes());
    header.extend_from_slice(&id);
    header.extend_from_slice(&ring.id());
    header.extend_from_slice(&now_ms.to_be_bytes());
    out.write_all(&header)?;
    let mut report = BackupReport {
        bytes: header.len() as u64,
        ..Default::default()
    };
    let mut chunk: Vec<Record> = Vec::with_capacity(CHUNK_RECORDS);
    let mut index = 0u64;
    let mut flush =
        |chunk: &mut Vec<Record>, last: bool, report: &mut BackupReport| -> StoreResult<()> {
            let sealed = keys.seal_backup(
                &id,
                index,
                last,
                &postcard::to_allocvec(&*chunk).map_err(StoreError::from)?,
                entropy,
            );
            out.write_all(&(sealed.len() as u32).to_be_bytes())?;
            out.write_all(&sealed)?;
            report.bytes += 4 + sealed.len() as u64;
            index += 1;
            chunk.clear();
            Ok(())
        };
    {
        let mut sink = |r: Record| -> StoreResult<()> {
            if r.0 == 1 {
                report.persons += 1;
            }
            report.records += 1;
            chunk.push(r);
            if chunk.len() == CHUNK_RECORDS {
                flush(&mut chunk, false, &mut report)?;
            }
            Ok(())
        };
        macro_rules! one {
            ($tag:expr, $def:ident) => {
                dump(&txn, $tag, $def, &mut sink)?;
            };
        }
        tables!(one);
        dump_names(&txn, NAME_INDEX, &mut sink)?;
    }
    flush(&mut chunk, true, &mut report)?;
    out.flush()?;
    Ok(report)
}

/// The header of a backup: (tenant, backup id, keyring id, created ms).
pub fn read_header(input: &mut dyn Read) -> StoreResult<(String, [u8; 16], [u8; 16], i64)> {
    let mut header = [0u8; 16 + 6 + 16 + 16 + 8];
    input
        .read_exact(&mut header)
        .map_err(|_| StoreError::Damaged("not a Kiroku backup (too short)".into()))?;
    if &header[..16] != MAGIC {
        return Err(StoreError::Damaged("not a Kiroku backup".into()));
    }
    let tenant = String::from_utf8_lossy(&header[16..22]).into_owned();
    let id = header[22..38].try_into().expect("16");
    let ring = header[38..54].try_into().expect("16");
    let created = i64::from_be_bytes(header[54..62].try_into().expect("8"));
    Ok((tenant, id, ring, created))
}

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

/// The restore's audit event.
pub fn restore_event(now_ms: i64, request_id: &str) -> Event {
    Event::new(
        now_ms,
        request_id,
        super::SYSTEM_ACTOR,
        "tenant.restore",
        Outcome::Ok,
    )
}
