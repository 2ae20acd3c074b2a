//! Staff identity: accounts (staff, shared terminals, services), login
//! with a password and a TOTP second factor, sessions that lock when idle
//! and end at their lifetime, lockout and a per-source limit against
//! guessing, and the quarterly account review. Every change is audited.

pub mod accounts;
pub mod authn;
pub mod lifecycle;
pub mod login;
pub mod passkeys;
pub mod password;
pub mod qr;
pub mod review;
pub mod service;
pub mod session_changes;
pub mod sessions;
pub mod throttle;
pub mod totp;

pub use authn::{Caller, Refusal};

/// A table of `txn`, or `None` before anything was written to it.
pub(crate) fn read_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: redb::TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, crate::store::StoreError> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
