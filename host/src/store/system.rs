//! The system file: the tenant registry and the system audit chain, which
//! also records what is done to the node's keys.

use redb::{Database, ReadableDatabase};

use super::tables::TENANTS;
use super::{
    SYSTEM_ACTOR, StoreResult, VerifyHandle, open_db, open_for_verify, rows, tenant_created,
};
use crate::audit::{self, Event, Outcome};
use crate::clock::Entropy;
use crate::crypto::TenantKeys;
use crate::datadir::{DataDir, KeyOwner};
use crate::ids::TenantCode;
use rows::TenantRow;

/// Cache bound of the system file: a registry and its own audit chain.
const SYSTEM_CACHE_BYTES: usize = 64 << 20;

/// The system file: the tenant registry and the system audit chain.
#[derive(Debug)]
pub struct SystemStore {
    db: Database,
    keys: TenantKeys,
}

impl SystemStore {
    /// Opens (creating if needed) the system file and its key.
    pub fn open(dir: &DataDir, entropy: &dyn Entropy) -> StoreResult<SystemStore> {
        let root = match dir.read_key(KeyOwner::System) {
            Ok(k) => k,
            Err(crate::datadir::DataDirError::UnknownTenant(_)) => {
                dir.create_key(KeyOwner::System, entropy)?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(SystemStore {
            db: open_db(dir.system_db_file()?, SYSTEM_CACHE_BYTES)?,
            keys: TenantKeys::derive(&root, "system"),
        })
    }

    /// Opens the system file for `audit verify` with its keys.
    pub fn open_for_verify(dir: &DataDir) -> StoreResult<(VerifyHandle, TenantKeys)> {
        let root = dir.read_key(KeyOwner::System)?;
        let handle = open_for_verify(
            || Ok(dir.system_db_file_read_only()?),
            || Ok(dir.system_db_file()?),
        )?;
        Ok((handle, TenantKeys::derive(&root, "system")))
    }

    pub(super) fn register_tenant(
        &self,
        code: &TenantCode,
        name: &str,
        now: i64,
    ) -> StoreResult<()> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(TENANTS)?;
            let row = rows::encode(&TenantRow {
                name: name.to_owned(),
                created_ms: now,
            });
            t.insert(code.as_str(), row.as_slice())?;
        }
        let event = tenant_created(code, now, "registered");
        audit::append(&txn, &self.keys, vec![event])?;
        txn.commit()?;
        Ok(())
    }

    /// Records that root keys were sealed by the PKCS#11 token (`kiroku
    /// keys protect`): which owners, never a key.
    pub fn record_keys_sealed(&self, owners: &[String], token: &str, now: i64) -> StoreResult<()> {
        let txn = self.db.begin_write()?;
        let event = Event::new(
            now,
            "keys-protect",
            SYSTEM_ACTOR,
            "keys.protect",
            Outcome::Ok,
        )
        .with_reason(format!(
            "root keys of {} sealed by PKCS#11 token {token:?}",
            owners.join(", ")
        ));
        audit::append(&txn, &self.keys, vec![event])?;
        txn.commit()?;
        Ok(())
    }

    /// Every registered tenant with its row.
    pub fn tenants(&self) -> StoreResult<Vec<(String, TenantRow)>> {
        let txn = self.db.begin_read()?;
        let table = match txn.open_table(TENANTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for entry in table.range::<&str>(..)? {
            let (k, v) = entry?;
            out.push((k.value().to_owned(), rows::decode(v.value())?));
        }
        Ok(out)
    }
}
