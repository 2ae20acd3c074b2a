//! Service accounts: automated work (the nightly resident feed, imports,
//! the kiosk and app channels) with a token bound to a role, an expiry and
//! optionally one source address. Their audit events are marked automated.

use std::net::IpAddr;

use super::accounts::{self, AccountRow, Kind, NewAccount};
use crate::admin::{AdminActor, AdminError};
use crate::clock::Entropy;
use crate::crypto::token_hash;
use crate::store::TenantStore;
use crate::store::commit::{Op, WriteSet};

/// Prefix of service tokens.
pub const SERVICE_PREFIX: &str = "krk_";

/// Whether `account` may be used from `source` (in-process callers, with
/// no address, are the host's own tests and tools).
pub fn source_allowed(account: &AccountRow, source: Option<IpAddr>) -> bool {
    match (account.source, source) {
        (None, _) => true,
        (Some(allowed), Some(from)) => allowed == from,
        (Some(_), None) => false,
    }
}

/// Adds a service account, or gives an existing one a new token (the old
/// one stops working); returns the token (stored only as a hash).
pub fn add(
    store: &TenantStore,
    name: &str,
    role: &str,
    expires_ms: i64,
    source: Option<IpAddr>,
    actor: &AdminActor,
    entropy: &dyn Entropy,
) -> Result<String, AdminError> {
    if expires_ms <= actor.now_ms {
        return Err(AdminError::Invalid(
            "the expiry must be in the future".into(),
        ));
    }
    let mut ops = Vec::new();
    let mut row = match accounts::get(store, name)? {
        Some(row) if row.kind != Kind::Service => {
            return Err(AdminError::Conflict(format!(
                "{name} is a staff account, not a service"
            )));
        }
        Some(row) if row.disabled.is_some() => {
            return Err(AdminError::Conflict(format!(
                "service {name} is disabled; enable it first"
            )));
        }
        Some(mut row) => {
            if row.role != role {
                return Err(AdminError::Conflict(format!(
                    "service {name} has role {}; change it with `kiroku user role`",
                    row.role
                )));
            }
            if let Some(old) = row.token.take() {
                ops.push(Op::RemoveServiceToken(old));
            }
            row
        }
        None => {
            let new = NewAccount {
                name: name.to_owned(),
                role: role.to_owned(),
                kind: Kind::Service,
                valid_until_ms: None,
            };
            accounts::fresh_row(store, &new, actor.now_ms)?
        }
    };
    let mut bytes = [0u8; 32];
    entropy.fill(&mut bytes);
    let token = format!("{SERVICE_PREFIX}{}", hex::encode(bytes));
    let hash = token_hash(&token);
    row.token = Some(hash);
    row.valid_until_ms = Some(expires_ms);
    row.source = source;
    row.last_login_ms = Some(actor.now_ms);
    ops.push(Op::PutServiceToken(hash, name.to_owned()));
    ops.push(accounts::put(&row));
    let from = source.map_or(String::new(), |s| format!(", only from {s}"));
    store.commit_now(WriteSet {
        ops,
        events: vec![actor.event(
            "token.add",
            format!(
                "service {name} ({role}) token until {}{from}",
                crate::clock::format_timestamp(expires_ms)
            ),
        )],
        ..WriteSet::default()
    })?;
    Ok(token)
}
