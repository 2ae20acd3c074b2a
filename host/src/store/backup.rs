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

use std::io::{Read, Write};

use redb::{
    Key, MultimapTableDefinition, ReadableDatabase, ReadableMultimapTable, ReadableTable,
    TableDefinition, Value,
};

use super::keyring::Keyring;
use super::tables::*;
use super::{StoreError, StoreResult};
use crate::audit::{Event, Outcome};
use crate::clock::Entropy;
use crate::crypto::TenantKeys;
use crate::datadir::{DataDir, KeyOwner};
use crate::ids::TenantCode;

const MAGIC: &[u8; 16] = b"KIROKU-BACKUP-1\n";
/// Records per sealed chunk.
const CHUNK_RECORDS: usize = 8_192;
/// Largest chunk a restore accepts.
pub(super) const MAX_CHUNK_BYTES: usize = 256 << 20;

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

pub(super) type Record = (u8, Vec<u8>, Vec<u8>);

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
pub(super) use tables;

/// The name index (a multimap) has its own tag.
pub(super) const NAME_TAG: u8 = 9;

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

/// Backs up tenant `code` to `out`, online (another process may serve it).
pub fn backup_tenant(
    dir: &DataDir,
    code: &TenantCode,
    now_ms: i64,
    entropy: &dyn Entropy,
    out: &mut dyn std::io::Write,
) -> StoreResult<BackupReport> {
    let root = dir.read_key(KeyOwner::Tenant(code))?;
    let keys = TenantKeys::derive(&root, code.as_str());
    let ring = Keyring::open(dir.keyring_file(code, false)?, code.as_str())?;
    match super::open_for_verify(
        || Ok(dir.tenant_db_file_read_only(code)?),
        || Ok(dir.tenant_db_file(code, false)?),
    )? {
        super::VerifyHandle::ReadOnly(db) => backup(&db, &keys, &ring, now_ms, entropy, out),
        super::VerifyHandle::Repaired(db) => backup(&db, &keys, &ring, now_ms, entropy, out),
    }
}
