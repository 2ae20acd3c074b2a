//! What happens to a session after login: unlock with the second factor
//! again, a shared terminal's operator switch, logout, and the demo's own
//! sessions. Each change is audited under the session's id.

use super::accounts;
use super::login::{At, CRITICAL, check_factor, check_operator, identity_of};
use super::sessions::{self, Limits, NewSession, SessionRow};
use crate::audit::{Event, Outcome};
use crate::store::commit::{Op, WriteSet};
use crate::store::{StoreError, TenantStore};

/// The person whose second factor re-opens a session: its operator, or
/// its account's holder.
fn factor_holder(row: &SessionRow) -> &str {
    row.operator.as_deref().unwrap_or(&row.account)
}

/// Unlocks a locked (or idle) session with the second factor again.
/// Refusals are audited and count towards the holder's lockout.
pub fn unlock(
    store: &TenantStore,
    hash: [u8; 32],
    code: &str,
    at: At<'_>,
) -> Result<Result<SessionRow, ()>, StoreError> {
    let _critical = CRITICAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(mut session) = sessions::get(store, &hash)? else {
        return Ok(Err(()));
    };
    let who = identity_of(&session, false);
    if session.expires_ms <= at.now_ms {
        return Ok(Err(()));
    }
    let Some(mut holder) = accounts::get(store, factor_holder(&session))? else {
        return Ok(Err(()));
    };
    let checked = check_factor(store, &mut holder, code, at.now_ms);
    let mut ops = vec![accounts::put(&holder)];
    let event = match checked {
        Ok(()) => {
            session.locked = false;
            session.last_seen_ms = at.now_ms;
            ops.push(sessions::put(hash, &session));
            Event::by(
                at.now_ms,
                at.request_id,
                &who,
                "session.unlock",
                Outcome::Ok,
            )
        }
        Err(reason) => Event::by(
            at.now_ms,
            at.request_id,
            &who,
            "session.unlock",
            Outcome::Deny,
        )
        .with_reason(reason),
    };
    store.commit_now(WriteSet {
        ops,
        events: vec![event],
        ..WriteSet::default()
    })?;
    Ok(checked.map(|()| session).map_err(|_| ()))
}

/// Hands a shared account's session to another operator, who confirms
/// with their own code.
pub fn switch_operator(
    store: &TenantStore,
    hash: [u8; 32],
    operator: &str,
    code: &str,
    at: At<'_>,
) -> Result<Result<SessionRow, ()>, StoreError> {
    let _critical = CRITICAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(mut session) = sessions::get(store, &hash)? else {
        return Ok(Err(()));
    };
    let who = identity_of(&session, false);
    if session.operator.is_none() || session.locked || session.expires_ms <= at.now_ms {
        let e = Event::by(
            at.now_ms,
            at.request_id,
            &who,
            "session.operator",
            Outcome::Deny,
        )
        .with_reason("not a live shared-account session");
        store.commit_now(WriteSet::events(vec![e]))?;
        return Ok(Err(()));
    }
    let (row, refusal) = check_operator(store, operator, code, at.now_ms)?;
    let mut ops: Vec<Op> = row.iter().map(accounts::put).collect();
    let event = match refusal {
        None => {
            let before = session.operator.replace(operator.to_owned());
            session.last_seen_ms = at.now_ms;
            ops.push(sessions::put(hash, &session));
            Event::by(
                at.now_ms,
                at.request_id,
                &who,
                "session.operator",
                Outcome::Ok,
            )
            .with_reason(format!(
                "operator {} -> {operator}",
                before.unwrap_or_default()
            ))
        }
        Some(reason) => Event::by(
            at.now_ms,
            at.request_id,
            &who,
            "session.operator",
            Outcome::Deny,
        )
        .with_reason(reason),
    };
    store.commit_now(WriteSet {
        ops,
        events: vec![event],
        ..WriteSet::default()
    })?;
    Ok(match refusal {
        None => Ok(session),
        Some(_) => Err(()),
    })
}

/// Ends a session at once (locked ones too).
pub fn logout(store: &TenantStore, hash: [u8; 32], at: At<'_>) -> Result<bool, StoreError> {
    let Some(session) = sessions::get(store, &hash)? else {
        return Ok(false);
    };
    let who = identity_of(&session, false);
    store.commit_now(WriteSet {
        ops: vec![Op::RemoveSession(hash)],
        events: vec![Event::by(
            at.now_ms,
            at.request_id,
            &who,
            "logout",
            Outcome::Ok,
        )],
        ..WriteSet::default()
    })?;
    Ok(true)
}

/// Opens a session for `name` without a login (the demo's own set-up, so
/// the reader's first login with the current code is not a replay);
/// audited as such.
pub fn open_without_login(
    store: &TenantStore,
    name: &str,
    at: At<'_>,
    limits: Limits,
) -> Result<NewSession, StoreError> {
    let session = sessions::open(name, None, at.now_ms, limits, at.entropy);
    let who = identity_of(&session.row, false);
    let event = Event::by(at.now_ms, at.request_id, &who, "login", Outcome::Ok).with_reason(
        format!("session {} opened by the demo set-up", session.row.id),
    );
    store.commit_now(WriteSet {
        ops: vec![sessions::put(session.hash, &session.row)],
        events: vec![event],
        ..WriteSet::default()
    })?;
    Ok(session)
}
