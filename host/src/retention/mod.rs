//! Retention: the `kiroku:subjects/retention` capability in one module.
//! The tenant's rules as data (`rules.rs`), who is past them and purging
//! them by crypto-shredding with a deletion record each (`purge.rs`),
//! legal holds (`holds.rs`), and the WIT functions (`host_fns.rs`).
//!
//! Only the tenant's own staff reach it: the `retention-purge` plugin's
//! `purge` is listed for the tenant's `admin` role only, and a session or
//! a service token belongs to one tenant; the host has no path that names
//! another tenant.

pub mod holds;
mod host_fns;
pub mod purge;
pub mod rules;

pub use crate::runtime::bindings::kiroku::subjects::retention as bindings;

use crate::store::{StoreResult, TenantStore};

/// The tenant's retention rules (none until set).
pub fn tenant_rules(store: &TenantStore) -> StoreResult<Result<rules::Rules, String>> {
    Ok(match store.meta(rules::META_KEY)? {
        None => Ok(rules::Rules::default()),
        Some(bytes) => rules::Rules::parse(&String::from_utf8_lossy(&bytes)),
    })
}
