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

/// Sets the tenant's rules from TOML (checked first), audited as done by
/// `actor`; returns how many rules are in force.
pub fn set_rules(
    store: &TenantStore,
    text: &str,
    actor: &str,
    request_id: &str,
    now_ms: i64,
) -> anyhow::Result<usize> {
    let rules = rules::Rules::parse(text).map_err(|e| anyhow::anyhow!("retention rules: {e}"))?;
    let event = crate::audit::Event::new(
        now_ms,
        request_id,
        actor,
        "retention.rules",
        crate::audit::Outcome::Ok,
    )
    .with_reason(format!("{} retention rules set", rules.0.len()));
    store.commit_now(crate::store::commit::WriteSet {
        ops: vec![crate::store::commit::Op::SetMeta(
            rules::META_KEY.into(),
            text.as_bytes().to_vec(),
        )],
        events: vec![event],
        ..Default::default()
    })?;
    Ok(rules.0.len())
}
