//! Storage: one redb file per tenant plus a system file (invariant 4).
//!
//! **Boundary:** plugins never see redb types. The runtime reads through a
//! [`draft::Draft`] (a snapshot plus the invocation's own pending changes)
//! and writes by handing a [`commit::WriteSet`] to the tenant's
//! [`commit::Committer`], which applies many write sets in one durable
//! commit together with their audit events.
//!
//! Files are opened in redb's multi-writer mode so the CLI can administer a
//! tenant (add or revoke a user, install a plugin) while the server runs.

pub mod backup;
pub mod commit;
pub mod draft;
mod error;
pub mod facts;
pub mod keyring;
mod open;
mod restore;
pub mod reviews;
pub mod rows;
mod schema;
pub mod stats;
mod system;
pub mod tables;
mod writeset;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata};

pub use backup::backup_tenant;
pub use error::{StoreError, StoreResult};
pub use open::{DEFAULT_CACHE_BYTES, VerifyHandle, open_tenant_for_verify, unusable_file};
use open::{open_db, open_existing, open_for_verify};
pub use restore::restore_tenant;
pub use system::SystemStore;

use crate::audit::{Event, Outcome};
use crate::clock::{Clock, Entropy};
use crate::crypto::{TenantKey, TenantKeys};
use crate::datadir::{DataDir, KeyOwner};
use crate::ids::TenantCode;
use commit::{Op, WriteSet};
use tables::{META, PERSONS, meta};

/// Fewest items worth spreading over threads; smaller batches (every
/// counter request) stay on the caller's thread.
pub(crate) const PARALLEL_MIN: usize = 4_096;

/// `f` over `items` in order, on every core when there are many, on a
/// standing pool of workers (rayon's, which wasmtime builds anyway)
/// instead of threads spawned per call.
pub(crate) fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use rayon::prelude::*;
    if items.len() < PARALLEL_MIN || rayon::current_num_threads() == 1 {
        return items.iter().map(f).collect();
    }
    // One piece per worker: rayon halves a piece while each half keeps
    // at least this many.
    let per = items.len() / rayon::current_num_threads();
    let f = &f;
    items.par_iter().with_min_len(per).map(f).collect()
}

/// Actor name of the host itself (tenant creation, jobs, demo seeding).
pub const SYSTEM_ACTOR: &str = "system";

/// The audit event of a tenant's creation (in its own file and the system file).
fn tenant_created(code: &TenantCode, now: i64, what: &str) -> Event {
    Event::new(
        now,
        &format!("tenant-create-{code}"),
        SYSTEM_ACTOR,
        "tenant.create",
        Outcome::Ok,
    )
    .with_reason(format!("tenant {code} {what}"))
}

/// A tenant's database with its keys and id counter.
#[derive(Debug)]
pub struct TenantStore {
    code: TenantCode,
    db: Arc<Database>,
    keys: Arc<TenantKeys>,
    keyring: Arc<keyring::Keyring>,
    next_person: AtomicU64,
    facts: Arc<facts::FactsCache>,
}

impl TenantStore {
    /// Creates a tenant: key file, database, meta, roles, and its first
    /// audit event; registers it in the system file.
    pub fn create(
        dir: &DataDir,
        code: &TenantCode,
        name: &str,
        roles_toml: &str,
        clock: &dyn Clock,
        entropy: &dyn Entropy,
    ) -> StoreResult<TenantStore> {
        if dir.tenant_exists(code) {
            return Err(crate::datadir::DataDirError::TenantExists(code.to_string()).into());
        }
        let root = dir.create_key(KeyOwner::Tenant(code), entropy)?;
        let ring = keyring::Keyring::create(dir.keyring_file(code, true)?, code.as_str(), entropy)?;
        let store = TenantStore::open_with_key(dir, code, &root, Some(ring), DEFAULT_CACHE_BYTES)?;
        let now = clock.now_ms();
        let event = tenant_created(code, now, "created");
        store.commit_now(WriteSet {
            ops: vec![
                Op::SetMeta(meta::CODE.into(), code.as_str().as_bytes().to_vec()),
                Op::SetMeta(meta::NAME.into(), name.as_bytes().to_vec()),
                Op::SetMeta(
                    meta::SCHEMA.into(),
                    tables::SCHEMA_VERSION.to_be_bytes().to_vec(),
                ),
                Op::SetMeta(meta::ROLES.into(), roles_toml.as_bytes().to_vec()),
                Op::BumpGeneration,
            ],
            events: vec![event],
            ..WriteSet::default()
        })?;
        SystemStore::open(dir, entropy)?.register_tenant(code, name, now)?;
        Ok(store)
    }

    /// Opens an existing tenant with the default cache bound.
    pub fn open(dir: &DataDir, code: &TenantCode) -> StoreResult<TenantStore> {
        TenantStore::open_with_cache(dir, code, DEFAULT_CACHE_BYTES)
    }

    /// Opens an existing tenant whose redb cache holds at most
    /// `cache_bytes` (its share of a server's memory budget).
    pub fn open_with_cache(
        dir: &DataDir,
        code: &TenantCode,
        cache_bytes: usize,
    ) -> StoreResult<TenantStore> {
        let root = dir.read_key(KeyOwner::Tenant(code))?;
        TenantStore::open_with_key(dir, code, &root, None, cache_bytes)
    }

    /// Opens the tenant file; `created` is the keyring of a tenant being
    /// created, else the keys directory's is opened (and made for a file
    /// written before keyrings, which the schema upgrade then fills).
    fn open_with_key(
        dir: &DataDir,
        code: &TenantCode,
        root: &TenantKey,
        created: Option<keyring::Keyring>,
        cache_bytes: usize,
    ) -> StoreResult<TenantStore> {
        let create = created.is_some();
        let db = if create {
            open_db(dir.tenant_db_file(code, true)?, cache_bytes)?
        } else {
            open_existing(dir, code, cache_bytes)?
        };
        let keys = TenantKeys::derive(root, code.as_str());
        let ring = match created {
            Some(ring) => ring,
            None => match dir.keyring_file(code, false) {
                Ok(file) => keyring::Keyring::open(file, code.as_str())?,
                Err(crate::datadir::DataDirError::NoKeyring(_))
                    if schema::stored(&db)?.is_some_and(|v| v < 3) =>
                {
                    let file = dir.keyring_file(code, true)?;
                    keyring::Keyring::create(file, code.as_str(), &crate::clock::OsEntropy)?
                }
                Err(e) => return Err(e.into()),
            },
        };
        if !create {
            schema::upgrade(&db, &keys, &ring)?;
        }
        let next_person = last_person_id(&db)? + 1;
        let store = TenantStore {
            code: code.clone(),
            db: Arc::new(db),
            keys: Arc::new(keys),
            keyring: Arc::new(ring),
            next_person: AtomicU64::new(next_person),
            facts: Arc::default(),
        };
        if !create {
            store.finish_shredding()?;
        }
        Ok(store)
    }

    /// The person keyring.
    pub fn keyring(&self) -> &Arc<keyring::Keyring> {
        &self.keyring
    }

    /// Shreds the secrets of deleted persons whose purge committed but
    /// whose secrets were not yet overwritten (the process died between the
    /// two): run at every open and before every purge.
    pub fn finish_shredding(&self) -> StoreResult<usize> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(tables::DELETIONS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let snapshot = self.keyring.snapshot()?;
        let mut left = Vec::new();
        for entry in table.range::<u64>(..)? {
            let person = entry?.0.value();
            if !matches!(snapshot.slot(person), keyring::Slot::Shredded) {
                left.push(person);
            }
        }
        self.keyring.shred(&left)?;
        if !left.is_empty() {
            tracing::warn!(tenant = %self.code, persons = left.len(), "finished shredding an interrupted purge");
        }
        Ok(left.len())
    }

    /// The tenant's code.
    pub fn code(&self) -> &TenantCode {
        &self.code
    }

    /// The tenant's derived keys.
    pub fn keys(&self) -> &Arc<TenantKeys> {
        &self.keys
    }

    /// The database (for the committer and read snapshots).
    pub fn db(&self) -> &Arc<Database> {
        &self.db
    }

    /// The cohort facts (built on first read, kept current by commits).
    pub fn facts(&self) -> &Arc<facts::FactsCache> {
        &self.facts
    }

    /// Builds the cohort facts now unless they are built.
    pub fn warm_facts(&self) -> StoreResult<()> {
        self.facts.warm(&self.db, &self.keys, &self.keyring)
    }

    /// A fresh person id. Ids are never reused; a conflict at commit (another
    /// process created persons) re-syncs the counter.
    pub fn allocate_person_id(&self) -> u64 {
        self.next_person.fetch_add(1, Ordering::Relaxed)
    }

    /// Moves the id counter past every stored person.
    pub fn resync_person_ids(&self) -> StoreResult<()> {
        let last = last_person_id(&self.db)?;
        self.next_person.fetch_max(last + 1, Ordering::Relaxed);
        Ok(())
    }

    /// Applies one write set now, in its own durable transaction (CLI paths).
    pub fn commit_now(&self, set: WriteSet) -> StoreResult<Vec<u64>> {
        match commit::apply_batch(&self.db, &self.keys, &self.keyring, &self.facts, vec![set])?
            .pop()
        {
            Some(Ok(seqs)) => Ok(seqs),
            Some(Err(conflict)) => Err(StoreError::Damaged(format!(
                "conflict on a direct commit: {conflict}"
            ))),
            None => Ok(Vec::new()),
        }
    }

    /// Applies one write set now, in its own durable transaction, beside
    /// the committer (a purge's batch: it must be durable before the call
    /// that made it returns); a conflict is handed back.
    pub fn commit_direct(&self, set: WriteSet) -> StoreResult<Result<Vec<u64>, commit::Conflict>> {
        let mut outcomes =
            commit::apply_batch(&self.db, &self.keys, &self.keyring, &self.facts, vec![set])?;
        Ok(outcomes.pop().unwrap_or(Ok(Vec::new())))
    }

    /// Reads a meta value.
    pub fn meta(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        read_meta(&txn, key)
    }

    /// The registry generation (changes with users, roles, plugins).
    pub fn registry_generation(&self) -> StoreResult<u64> {
        let txn = self.db.begin_read()?;
        registry_generation(&txn)
    }

    /// The tenant's name.
    pub fn name(&self) -> StoreResult<String> {
        Ok(self
            .meta(meta::NAME)?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default())
    }

    /// Whether a writing request with this client-supplied id was applied.
    pub fn request_applied(&self, id: &str) -> StoreResult<bool> {
        let txn = self.db.begin_read()?;
        match txn.open_table(tables::REQUESTS) {
            Ok(t) => Ok(t.get(id)?.is_some()),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Number of persons stored.
    pub fn person_count(&self) -> StoreResult<u64> {
        let txn = self.db.begin_read()?;
        match txn.open_table(PERSONS) {
            Ok(t) => Ok(t.len()?),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

/// Reads a meta value inside a read transaction.
pub fn read_meta(txn: &redb::ReadTransaction, key: &str) -> StoreResult<Option<Vec<u8>>> {
    match txn.open_table(META) {
        Ok(t) => Ok(t.get(key)?.map(|v| v.value().to_vec())),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The registry generation inside a read transaction.
pub fn registry_generation(txn: &redb::ReadTransaction) -> StoreResult<u64> {
    Ok(read_meta(txn, meta::REGISTRY_GENERATION)?
        .and_then(|v| v.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}

fn last_person_id(db: &Database) -> StoreResult<u64> {
    let txn = db.begin_read()?;
    match txn.open_table(PERSONS) {
        Ok(t) => Ok(t.last()?.map(|(k, _)| k.value()).unwrap_or(0)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}
