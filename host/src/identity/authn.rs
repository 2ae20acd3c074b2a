//! Who a request's token belongs to: a live session (locking it when idle,
//! ending it when past its lifetime) or a service token (expiry, source).

use std::net::IpAddr;

use super::accounts::{self, Kind, State};
use super::login::identity_of;
use super::sessions::{self, Activity, SESSION_PREFIX, SessionRow};
use super::{read_table, service};
use crate::audit::{Event, Identity, Outcome};
use crate::crypto::token_hash;
use crate::store::StoreError;
use crate::store::commit::Op;
use crate::store::tables::SERVICE_TOKENS;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Account name.
    pub name: String,
    /// Its role.
    pub role: String,
    /// Who the audit log names.
    pub identity: Identity,
    /// The session (token hash and row), for staff.
    pub session: Option<([u8; 32], SessionRow)>,
}

impl Caller {
    /// The person answerable (a shared session's operator).
    pub fn person(&self) -> &str {
        self.identity.person()
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown, ended or revoked, or its account cannot be used.
    Unknown,
    /// The session is locked: unlock with the second factor.
    Locked,
    /// The session reached its lifetime: log in again.
    Expired,
    /// A service token used from another address than allowed.
    WrongSource,
}

impl Refusal {
    /// Code and message for the client.
    pub fn answer(self) -> (&'static str, &'static str) {
        match self {
            Refusal::Unknown => (
                "unauthorized",
                "unknown, ended or revoked token; log in (POST /v1/{tenant}/login)",
            ),
            Refusal::Locked => (
                "session-locked",
                "the session is locked after being idle; unlock it with your code (POST /v1/{tenant}/unlock)",
            ),
            Refusal::Expired => (
                "session-expired",
                "the session reached its lifetime; log in again",
            ),
            Refusal::WrongSource => (
                "unauthorized",
                "this service token is not allowed from this address",
            ),
        }
    }
}

/// The answer, plus what to write (a lock, an expiry) and audit.
#[derive(Debug)]
pub struct Checked {
    /// The caller or the refusal.
    pub outcome: Result<Caller, Refusal>,
    /// Session changes to commit.
    pub ops: Vec<Op>,
    /// Their audit events.
    pub events: Vec<Event>,
}

impl Checked {
    fn refused(refusal: Refusal) -> Checked {
        Checked {
            outcome: Err(refusal),
            ops: Vec::new(),
            events: Vec::new(),
        }
    }
}

/// Checks `token` at `now_ms` from `source`.
pub fn authenticate(
    txn: &redb::ReadTransaction,
    token: &str,
    now_ms: i64,
    activity: &Activity,
    source: Option<IpAddr>,
    request_id: &str,
) -> Result<Checked, StoreError> {
    let hash = token_hash(token);
    if !token.starts_with(SESSION_PREFIX) {
        return service_token(txn, hash, now_ms, source);
    }
    let Some(mut row) = sessions::get_in(txn, &hash)? else {
        return Ok(Checked::refused(Refusal::Unknown));
    };
    let who = identity_of(&row, false);
    if row.expires_ms <= now_ms {
        activity.forget(&hash);
        return Ok(Checked {
            outcome: Err(Refusal::Expired),
            ops: vec![Op::RemoveSession(hash)],
            events: vec![
                Event::by(now_ms, request_id, &who, "session.expire", Outcome::Ok)
                    .with_reason("lifetime reached"),
            ],
        });
    }
    let Some(account) = accounts::get_in(txn, &row.account)? else {
        return Ok(Checked::refused(Refusal::Unknown));
    };
    let operator_ok = match &row.operator {
        None => true,
        Some(op) => accounts::get_in(txn, op)?.is_some_and(|o| o.state(now_ms) == State::Active),
    };
    if account.state(now_ms) != State::Active || !operator_ok {
        return Ok(Checked::refused(Refusal::Unknown));
    }
    if row.locked {
        return Ok(Checked::refused(Refusal::Locked));
    }
    if now_ms - activity.last(&hash, &row) > row.idle_ms {
        activity.forget(&hash);
        row.locked = true;
        return Ok(Checked {
            outcome: Err(Refusal::Locked),
            ops: vec![sessions::put(hash, &row)],
            events: vec![
                Event::by(now_ms, request_id, &who, "session.lock", Outcome::Ok)
                    .with_reason(format!("idle for more than {} s", row.idle_ms / 1000)),
            ],
        });
    }
    activity.seen(hash, now_ms);
    let who = Identity {
        role: Some(account.role.clone()),
        ..who
    };
    Ok(Checked {
        outcome: Ok(Caller {
            name: account.name,
            role: account.role,
            identity: who,
            session: Some((hash, row)),
        }),
        ops: Vec::new(),
        events: Vec::new(),
    })
}

fn service_token(
    txn: &redb::ReadTransaction,
    hash: [u8; 32],
    now_ms: i64,
    source: Option<IpAddr>,
) -> Result<Checked, StoreError> {
    let Some(tokens) = read_table(txn, SERVICE_TOKENS)? else {
        return Ok(Checked::refused(Refusal::Unknown));
    };
    let Some(name) = tokens.get(hash)?.map(|v| v.value().to_owned()) else {
        return Ok(Checked::refused(Refusal::Unknown));
    };
    let Some(account) = accounts::get_in(txn, &name)? else {
        return Ok(Checked::refused(Refusal::Unknown));
    };
    let usable = account.kind == Kind::Service
        && account.token == Some(hash)
        && account.state(now_ms) == State::Active;
    if !usable {
        return Ok(Checked::refused(Refusal::Unknown));
    }
    if !service::source_allowed(&account, source) {
        return Ok(Checked::refused(Refusal::WrongSource));
    }
    Ok(Checked {
        outcome: Ok(Caller {
            identity: Identity {
                name: account.name.clone(),
                session: None,
                operator: None,
                automated: true,
                role: Some(account.role.clone()),
            },
            name: account.name,
            role: account.role,
            session: None,
        }),
        ops: Vec::new(),
        events: Vec::new(),
    })
}
