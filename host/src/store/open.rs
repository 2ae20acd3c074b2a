//! Opening redb files: the cache bound, refusing torn files with the
//! file's name, and read-only handles for verification beside a server.

use redb::backends::FileBackend;
use redb::{ConcurrencyMode, Database, ReadOnlyDatabase};

use super::{StoreError, StoreResult};
use crate::crypto::TenantKeys;
use crate::datadir::{DataDir, KeyOwner};
use crate::ids::TenantCode;

/// Most memory redb may cache of a tenant file opened outside a server's
/// memory budget (the CLI, tests): filled only as pages are read. A city
/// of a million residents works on about 2 GiB of persons, doses, tickets
/// and indexes during a campaign. redb holds its read cache and write
/// buffer together under this bound.
pub const DEFAULT_CACHE_BYTES: usize = 4 << 30;

/// Opens (or creates) a redb file for writing in multi-writer mode, with
/// at most `cache_bytes` of cache.
pub(super) fn open_db(file: std::fs::File, cache_bytes: usize) -> StoreResult<Database> {
    Ok(Database::builder()
        .set_concurrency_mode(ConcurrencyMode::MultiWriter)
        .set_cache_size(cache_bytes)
        .create_with_backend(FileBackend::new(file)?)?)
}

/// Opens an existing tenant file. redb would make an empty file a new,
/// empty database: for a tenant that exists, an empty file is a torn one.
pub(super) fn open_existing(
    dir: &DataDir,
    code: &TenantCode,
    cache_bytes: usize,
) -> StoreResult<Database> {
    let file = dir.tenant_db_file(code, false)?;
    refuse_empty(dir, code, &file)?;
    open_db(file, cache_bytes).map_err(|e| unusable_file(dir, code, e))
}

fn refuse_empty(dir: &DataDir, code: &TenantCode, file: &std::fs::File) -> StoreResult<()> {
    let unusable = |reason: String| StoreError::UnusableFile {
        file: dir.tenant_file_path(code).display().to_string(),
        reason,
    };
    let len = file
        .metadata()
        .map_err(|e| unusable(format!("its size cannot be read ({e})")))?
        .len();
    if len == 0 {
        return Err(unusable("it is empty (torn or truncated)".into()));
    }
    Ok(())
}

/// A storage error opening or reading through a tenant's file, naming
/// the file.
pub fn unusable_file(dir: &DataDir, code: &TenantCode, e: StoreError) -> StoreError {
    match e {
        // Not the file's fault: it opens once there is space again.
        e if e.is_out_of_space() || matches!(e, StoreError::Redb(redb::Error::PreviousIo)) => {
            StoreError::Unavailable(e.to_string())
        }
        StoreError::Redb(e) => StoreError::UnusableFile {
            file: dir.tenant_file_path(code).display().to_string(),
            reason: e.to_string(),
        },
        other => other,
    }
}

/// Opens a redb file read-only (audit verification beside a running server).
fn open_db_read_only(file: std::fs::File) -> StoreResult<ReadOnlyDatabase> {
    Ok(Database::builder()
        .set_concurrency_mode(ConcurrencyMode::MultiWriter)
        .open_read_only_with_backend(FileBackend::new(file)?)?)
}

/// A database opened for verification: read-only when it can be, writable
/// when it must first be repaired after a crash (redb repairs on a writable
/// open only).
pub enum VerifyHandle {
    /// Opened read-only.
    ReadOnly(ReadOnlyDatabase),
    /// Opened writable to repair it.
    Repaired(Database),
}

impl VerifyHandle {
    /// Verifies the audit chain.
    pub fn verify(&self, keys: &TenantKeys) -> StoreResult<crate::audit::Verified> {
        match self {
            VerifyHandle::ReadOnly(db) => crate::audit::verify(db, keys),
            VerifyHandle::Repaired(db) => crate::audit::verify(db, keys),
        }
    }
}

pub(crate) fn open_for_verify(
    read_only: impl Fn() -> StoreResult<std::fs::File>,
    writable: impl Fn() -> StoreResult<std::fs::File>,
) -> StoreResult<VerifyHandle> {
    match open_db_read_only(read_only()?) {
        Ok(db) => Ok(VerifyHandle::ReadOnly(db)),
        Err(StoreError::Redb(redb::Error::RepairAborted)) => Ok(VerifyHandle::Repaired(open_db(
            writable()?,
            DEFAULT_CACHE_BYTES,
        )?)),
        Err(e) => Err(e),
    }
}

/// Opens a tenant file for `audit verify` with its keys.
pub fn open_tenant_for_verify(
    dir: &DataDir,
    code: &TenantCode,
) -> StoreResult<(VerifyHandle, TenantKeys)> {
    let root = dir.read_key(KeyOwner::Tenant(code))?;
    let handle = open_for_verify(
        || {
            let file = dir.tenant_db_file_read_only(code)?;
            refuse_empty(dir, code, &file)?;
            Ok(file)
        },
        || Ok(dir.tenant_db_file(code, false)?),
    )
    .map_err(|e| unusable_file(dir, code, e))?;
    Ok((handle, TenantKeys::derive(&root, code.as_str())))
}
