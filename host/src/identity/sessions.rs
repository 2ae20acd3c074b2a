//! Staff sessions: a random token held by the client, its SHA-256 in the
//! tenant file with the account, operator, lifetime and idle limit. The
//! moment of last use lives in memory (a write per request would cost the
//! committer), so a restart counts idleness from the last persisted moment
//! (login or unlock): conservative, it can only lock sooner.

use std::collections::HashMap;
use std::sync::Mutex;

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::read_table;
use crate::clock::Entropy;
use crate::crypto::token_hash;
use crate::store::commit::Op;
use crate::store::rows;
use crate::store::tables::{SESSIONS, meta};
use crate::store::{StoreError, TenantStore};

/// Idle time after which a session locks, unless the tenant sets another.
pub const DEFAULT_IDLE_S: i64 = 15 * 60;
/// A session's absolute lifetime, unless the tenant sets another.
pub const DEFAULT_LIFETIME_S: i64 = 12 * 3_600;
/// Prefix of session tokens (service tokens are `krk_`).
pub const SESSION_PREFIX: &str = "krs_";
/// Sessions whose last use is remembered in memory before old entries are
/// dropped (an entry is only a shortcut over the stored row).
const MAX_REMEMBERED: usize = 100_000;

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    /// Public id, named by its audit events (never the token).
    pub id: String,
    /// The account logged in.
    pub account: String,
    /// For a shared account, the person operating it.
    pub operator: Option<String>,
    /// Login time (ms since epoch).
    pub created_ms: i64,
    /// The session ends at this moment whatever happens.
    pub expires_ms: i64,
    /// It locks after this long without a request.
    pub idle_ms: i64,
    /// Last use as persisted (login, unlock, operator switch).
    pub last_seen_ms: i64,
    /// Locked: only unlock (the second factor again) or logout work.
    pub locked: bool,
    /// The value a cookie-authenticated write must repeat in `X-CSRF-Token`.
    pub csrf: String,
}

/// A session's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Idle seconds before it locks.
    pub idle_s: i64,
    /// Seconds before it ends.
    pub lifetime_s: i64,
}

impl Limits {
    /// The tenant's session limits (meta keys, else the defaults).
    pub fn of(store: &TenantStore) -> Result<Limits, StoreError> {
        let read = |key: &str, default: i64| -> Result<i64, StoreError> {
            Ok(store
                .meta(key)?
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(default))
        };
        Ok(Limits {
            idle_s: read(meta::SESSION_IDLE_S, DEFAULT_IDLE_S)?,
            lifetime_s: read(meta::SESSION_LIFETIME_S, DEFAULT_LIFETIME_S)?,
        })
    }
}

/// A new session: the token for the client, the row for the file.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Bearer token (or cookie value).
    pub token: String,
    /// Its hash, the row's key.
    pub hash: [u8; 32],
    /// The row.
    pub row: SessionRow,
}

fn random_hex(entropy: &dyn Entropy, n: usize) -> String {
    let mut bytes = vec![0u8; n];
    entropy.fill(&mut bytes);
    hex::encode(bytes)
}

/// Opens a session for `account` (and `operator`) at `now_ms`.
pub fn open(
    account: &str,
    operator: Option<&str>,
    now_ms: i64,
    limits: Limits,
    entropy: &dyn Entropy,
) -> NewSession {
    let token = format!("{SESSION_PREFIX}{}", random_hex(entropy, 32));
    let hash = token_hash(&token);
    NewSession {
        row: SessionRow {
            id: format!("s-{}", random_hex(entropy, 8)),
            account: account.to_owned(),
            operator: operator.map(str::to_owned),
            created_ms: now_ms,
            expires_ms: now_ms + limits.lifetime_s * 1000,
            idle_ms: limits.idle_s * 1000,
            last_seen_ms: now_ms,
            locked: false,
            csrf: random_hex(entropy, 16),
        },
        token,
        hash,
    }
}

/// Stores a session row.
pub fn put(hash: [u8; 32], row: &SessionRow) -> Op {
    Op::PutSession(hash, rows::encode(row))
}

/// The session a token hash names, as stored now.
pub fn get(store: &TenantStore, hash: &[u8; 32]) -> Result<Option<SessionRow>, StoreError> {
    let txn = store.db().begin_read()?;
    get_in(&txn, hash)
}

/// The session a token hash names, in a read transaction.
pub fn get_in(
    txn: &redb::ReadTransaction,
    hash: &[u8; 32],
) -> Result<Option<SessionRow>, StoreError> {
    let Some(t) = read_table(txn, SESSIONS)? else {
        return Ok(None);
    };
    match t.get(hash)? {
        Some(v) => Ok(Some(rows::decode(v.value())?)),
        None => Ok(None),
    }
}

/// Ops ending every session of `account`, as its holder or its operator.
pub fn end_all_of(store: &TenantStore, account: &str) -> Result<Vec<Op>, StoreError> {
    let txn = store.db().begin_read()?;
    let mut ops = Vec::new();
    if let Some(t) = read_table(&txn, SESSIONS)? {
        for entry in t.iter()? {
            let (k, v) = entry?;
            let row: SessionRow = rows::decode(v.value())?;
            if row.account == account || row.operator.as_deref() == Some(account) {
                ops.push(Op::RemoveSession(k.value()));
            }
        }
    }
    Ok(ops)
}

/// Ops and audit events removing sessions past their lifetime that no
/// request saw end (at most `max`), so the table holds live sessions only.
pub fn prune_expired(
    store: &TenantStore,
    now_ms: i64,
    request_id: &str,
    max: usize,
) -> Result<(Vec<Op>, Vec<crate::audit::Event>), StoreError> {
    let txn = store.db().begin_read()?;
    let (mut ops, mut events) = (Vec::new(), Vec::new());
    if let Some(t) = read_table(&txn, SESSIONS)? {
        for entry in t.iter()? {
            let (k, v) = entry?;
            let row: SessionRow = rows::decode(v.value())?;
            if row.expires_ms > now_ms {
                continue;
            }
            let who = super::login::identity_of(&row, false);
            events.push(
                crate::audit::Event::by(
                    now_ms,
                    request_id,
                    &who,
                    "session.expire",
                    crate::audit::Outcome::Ok,
                )
                .with_reason("lifetime reached (removed at a later login)"),
            );
            ops.push(Op::RemoveSession(k.value()));
            if ops.len() >= max {
                break;
            }
        }
    }
    Ok((ops, events))
}

/// Every stored session (for the review report's counts).
pub fn all(store: &TenantStore) -> Result<Vec<SessionRow>, StoreError> {
    let txn = store.db().begin_read()?;
    let mut out = Vec::new();
    if let Some(t) = read_table(&txn, SESSIONS)? {
        for entry in t.iter()? {
            out.push(rows::decode(entry?.1.value())?);
        }
    }
    Ok(out)
}

/// When each live session was last used, in memory.
#[derive(Debug, Default)]
pub struct Activity(Mutex<HashMap<[u8; 32], i64>>);

impl Activity {
    /// The session's last use: remembered, else as stored.
    pub fn last(&self, hash: &[u8; 32], row: &SessionRow) -> i64 {
        let remembered = self.lock().get(hash).copied().unwrap_or(0);
        remembered.max(row.last_seen_ms)
    }

    /// Remembers a use.
    pub fn seen(&self, hash: [u8; 32], now_ms: i64) {
        let mut map = self.lock();
        if map.len() >= MAX_REMEMBERED && !map.contains_key(&hash) {
            // Forget the oldest half: they fall back to their stored rows.
            let mut times: Vec<i64> = map.values().copied().collect();
            times.sort_unstable();
            let cut = times[times.len() / 2];
            map.retain(|_, t| *t > cut);
        }
        map.insert(hash, now_ms);
    }

    /// Forgets a session that ended or was locked.
    pub fn forget(&self, hash: &[u8; 32]) {
        self.lock().remove(hash);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], i64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Shortest and longest idle limit a tenant may set (seconds).
pub const IDLE_RANGE_S: std::ops::RangeInclusive<i64> = 60..=86_400;
/// Shortest and longest lifetime a tenant may set (seconds).
pub const LIFETIME_RANGE_S: std::ops::RangeInclusive<i64> = 600..=30 * 86_400;

/// Sets the tenant's session limits (new sessions get them).
pub fn set_limits(
    store: &TenantStore,
    limits: Limits,
    actor: &crate::admin::AdminActor,
) -> Result<(), crate::admin::AdminError> {
    if !IDLE_RANGE_S.contains(&limits.idle_s) || !LIFETIME_RANGE_S.contains(&limits.lifetime_s) {
        return Err(crate::admin::AdminError::Invalid(
            "idle 1 minute to 24 hours, lifetime 10 minutes to 30 days".into(),
        ));
    }
    store.commit_now(crate::store::commit::WriteSet {
        ops: vec![
            Op::SetMeta(
                meta::SESSION_IDLE_S.into(),
                limits.idle_s.to_string().into_bytes(),
            ),
            Op::SetMeta(
                meta::SESSION_LIFETIME_S.into(),
                limits.lifetime_s.to_string().into_bytes(),
            ),
        ],
        events: vec![actor.event(
            "sessions.set",
            format!(
                "sessions lock after {} s idle and end after {} s",
                limits.idle_s, limits.lifetime_s
            ),
        )],
        ..Default::default()
    })?;
    Ok(())
}
