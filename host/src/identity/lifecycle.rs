//! What an administrator does to an account after issuing it: reset its
//! enrolment, disable it on transfer or retirement, enable it again, change
//! its role or its last day. Each ends the sessions it must, audited.

use super::accounts::{Kind, check_role, code_hash, day, enrolment_code, existing, put};
use super::sessions;
use crate::admin::{AdminActor, AdminError};
use crate::clock::Entropy;
use crate::store::TenantStore;
use crate::store::commit::{Op, WriteSet};

/// Issues a new enrolment code for an account (a lost authenticator, a
/// forgotten password): its credentials and live sessions end at once.
pub fn reset(
    store: &TenantStore,
    name: &str,
    actor: &AdminActor,
    entropy: &dyn Entropy,
) -> Result<String, AdminError> {
    let mut row = existing(store, name)?;
    if row.kind == Kind::Service {
        return Err(AdminError::Invalid(
            "a service account gets a new token with `kiroku token add`".into(),
        ));
    }
    let code = enrolment_code(entropy);
    row.password = None;
    row.totp = None;
    row.passkeys = Vec::new();
    row.enrolment = Some((code_hash(&code), actor.now_ms));
    let mut ops = sessions::end_all_of(store, name)?;
    ops.push(put(&row));
    store.commit_now(WriteSet {
        ops,
        events: vec![actor.event(
            "user.reset",
            format!("{name} must enrol again; their sessions ended"),
        )],
        ..WriteSet::default()
    })?;
    Ok(code)
}

/// Disables an account (transfer, retirement): every live session of it,
/// and every session it operates, ends at once.
pub fn disable(
    store: &TenantStore,
    name: &str,
    reason: &str,
    actor: &AdminActor,
) -> Result<usize, AdminError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(AdminError::Invalid(
            "give a reason of 1-200 characters (transfer, retirement, ...)".into(),
        ));
    }
    let mut row = existing(store, name)?;
    if row.disabled.is_some() {
        return Err(AdminError::Conflict(format!("{name} is already disabled")));
    }
    row.disabled = Some((actor.now_ms, reason.to_owned()));
    let mut ops = sessions::end_all_of(store, name)?;
    let ended = ops.len();
    if let Some(token) = row.token {
        ops.push(Op::RemoveServiceToken(token));
    }
    ops.push(put(&row));
    store.commit_now(WriteSet {
        ops,
        events: vec![actor.event(
            "user.disable",
            format!("{name} disabled ({reason}); {ended} live session(s) ended"),
        )],
        ..WriteSet::default()
    })?;
    Ok(ended)
}

/// Enables a disabled account (a service account needs a new token).
pub fn enable(store: &TenantStore, name: &str, actor: &AdminActor) -> Result<(), AdminError> {
    let mut row = existing(store, name)?;
    if row.disabled.is_none() {
        return Err(AdminError::Conflict(format!("{name} is not disabled")));
    }
    row.disabled = None;
    row.failures = 0;
    row.locked_until_ms = 0;
    if row.kind == Kind::Service {
        row.token = None;
    }
    store.commit_now(WriteSet {
        ops: vec![put(&row)],
        events: vec![actor.event("user.enable", format!("{name} enabled"))],
        ..WriteSet::default()
    })?;
    Ok(())
}

/// Gives an account another role; its live sessions end, so the new role
/// applies from the next login.
pub fn set_role(
    store: &TenantStore,
    name: &str,
    role: &str,
    actor: &AdminActor,
) -> Result<(), AdminError> {
    check_role(store, role)?;
    let mut row = existing(store, name)?;
    let old = std::mem::replace(&mut row.role, role.to_owned());
    let mut ops = sessions::end_all_of(store, name)?;
    ops.push(put(&row));
    store.commit_now(WriteSet {
        ops,
        events: vec![actor.event(
            "user.role",
            format!("{name}: role {old} -> {role}; their sessions ended"),
        )],
        ..WriteSet::default()
    })?;
    Ok(())
}

/// Sets or clears an account's valid-until date.
pub fn set_valid_until(
    store: &TenantStore,
    name: &str,
    until_ms: Option<i64>,
    actor: &AdminActor,
) -> Result<(), AdminError> {
    let mut row = existing(store, name)?;
    row.valid_until_ms = until_ms;
    let what = until_ms.map_or("no end date".to_owned(), |t| {
        format!("valid until {}", day(t))
    });
    store.commit_now(WriteSet {
        ops: vec![put(&row)],
        events: vec![actor.event("user.valid-until", format!("{name}: {what}"))],
        ..WriteSet::default()
    })?;
    Ok(())
}
