//! Accounts: issued by an administrator ("enrolment pending" with a
//! one-time code), enrolled by their holder (password + TOTP), disabled on
//! transfer or retirement, enabled again, re-roled; every change audited.

use redb::ReadableDatabase;
use serde::{Deserialize, Serialize};

use super::{password, read_table, totp};
use crate::admin::{AdminActor, AdminError};
use crate::audit::{Event, Outcome};
use crate::clock::Entropy;
use crate::crypto::{TenantKeys, token_hash};
use crate::ids::is_valid_user_name;
use crate::store::commit::{Op, WriteSet};
use crate::store::rows;
use crate::store::tables::ACCOUNTS;
use crate::store::{StoreError, TenantStore};

/// How long an enrolment code stays usable.
pub const ENROLMENT_VALID_MS: i64 = 7 * 24 * 3_600_000;

/// What an account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// One person's account.
    Staff,
    /// A terminal used by several persons (a venue's counter): it logs in
    /// only together with a named operator.
    Shared,
    /// Automated work with a service token (feeds, imports, channels).
    Service,
}

impl Kind {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Staff => "staff",
            Kind::Shared => "shared",
            Kind::Service => "service",
        }
    }
}

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Issued, not yet enrolled.
    Pending,
    /// Can log in (or, for a service, call).
    Active,
    /// Disabled by an administrator.
    Disabled,
    /// Past its valid-until date.
    Expired,
}

impl State {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "enrolment-pending",
            State::Active => "active",
            State::Disabled => "disabled",
            State::Expired => "expired",
        }
    }
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountRow {
    /// Login name, unique within the tenant.
    pub name: String,
    /// Role name from the roles file.
    pub role: String,
    /// Staff, shared or service.
    pub kind: Kind,
    /// When issued (ms since epoch).
    pub created_ms: i64,
    /// Last day of use (ms since epoch), if limited.
    pub valid_until_ms: Option<i64>,
    /// SHA-256 of the enrolment code and when it was issued, while pending.
    pub enrolment: Option<([u8; 32], i64)>,
    /// argon2id PHC string, once enrolled.
    pub password: Option<String>,
    /// The TOTP secret sealed with the tenant's staff key, once enrolled.
    pub totp: Option<Vec<u8>>,
    /// Last TOTP step accepted: a code works once.
    pub totp_step: i64,
    /// Consecutive failed logins.
    pub failures: u32,
    /// No login is tried before this moment (lockout after failures).
    pub locked_until_ms: i64,
    /// Last successful login (or, for a service, token issue).
    pub last_login_ms: Option<i64>,
    /// When and why disabled.
    pub disabled: Option<(i64, String)>,
    /// A service account's token hash.
    pub token: Option<[u8; 32]>,
    /// A service account's allowed source address, if limited.
    pub source: Option<std::net::IpAddr>,
    /// WebAuthn passkeys as JSON (see `passkeys::of`), empty for none.
    pub passkeys: Vec<u8>,
}

impl AccountRow {
    /// The account's state at `now_ms`.
    pub fn state(&self, now_ms: i64) -> State {
        if self.disabled.is_some() {
            State::Disabled
        } else if self.valid_until_ms.is_some_and(|t| now_ms > t) {
            State::Expired
        } else if self.kind != Kind::Service && self.password.is_none() {
            State::Pending
        } else {
            State::Active
        }
    }

    /// The account's TOTP secret.
    pub fn totp_secret(&self, keys: &TenantKeys) -> Option<Vec<u8>> {
        let sealed = self.totp.as_ref()?;
        keys.open_staff(&format!("totp/{}", self.name), sealed).ok()
    }
}

/// One account by name.
pub fn get(store: &TenantStore, name: &str) -> Result<Option<AccountRow>, StoreError> {
    let txn = store.db().begin_read()?;
    get_in(&txn, name)
}

/// One account by name, in a read transaction.
pub fn get_in(txn: &redb::ReadTransaction, name: &str) -> Result<Option<AccountRow>, StoreError> {
    let Some(t) = read_table(txn, ACCOUNTS)? else {
        return Ok(None);
    };
    match t.get(name)? {
        Some(v) => Ok(Some(rows::decode(v.value())?)),
        None => Ok(None),
    }
}

/// Every account, in name order.
pub fn all(store: &TenantStore) -> Result<Vec<AccountRow>, StoreError> {
    let txn = store.db().begin_read()?;
    let mut out = Vec::new();
    if let Some(t) = read_table(&txn, ACCOUNTS)? {
        for entry in t.range::<&str>(..)? {
            out.push(rows::decode(entry?.1.value())?);
        }
    }
    Ok(out)
}

pub(super) fn put(row: &AccountRow) -> Op {
    Op::PutAccount(row.name.clone(), rows::encode(row))
}

/// The op storing `row` (for the API's own write sets).
pub fn put_op(row: &AccountRow) -> Op {
    put(row)
}

pub(super) fn existing(store: &TenantStore, name: &str) -> Result<AccountRow, AdminError> {
    get(store, name)?.ok_or_else(|| AdminError::NotFound(format!("no account {name}")))
}

pub(super) fn check_role(store: &TenantStore, role: &str) -> Result<(), AdminError> {
    let roles = crate::admin::roles(store)?;
    if roles.get(role).is_none() {
        let known: Vec<_> = roles.names().collect();
        return Err(AdminError::Invalid(format!(
            "no role {role:?} (roles: {})",
            known.join(", ")
        )));
    }
    Ok(())
}

/// What a new account is.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Staff or shared (services use [`super::service::add`]).
    pub kind: Kind,
    /// Last day of use.
    pub valid_until_ms: Option<i64>,
}

/// A fresh row for `new`, checked against the tenant's roles and names.
pub(super) fn fresh_row(
    store: &TenantStore,
    new: &NewAccount,
    now_ms: i64,
) -> Result<AccountRow, AdminError> {
    if !is_valid_user_name(&new.name) {
        return Err(AdminError::Invalid(
            "an account name is 1-64 letters, digits, '.', '-' or '_'".into(),
        ));
    }
    check_role(store, &new.role)?;
    if get(store, &new.name)?.is_some() {
        return Err(AdminError::Conflict(format!(
            "account {} already exists",
            new.name
        )));
    }
    Ok(AccountRow {
        name: new.name.clone(),
        role: new.role.clone(),
        kind: new.kind,
        created_ms: now_ms,
        valid_until_ms: new.valid_until_ms,
        enrolment: None,
        password: None,
        totp: None,
        totp_step: 0,
        failures: 0,
        locked_until_ms: 0,
        last_login_ms: None,
        disabled: None,
        token: None,
        source: None,
        passkeys: Vec::new(),
    })
}

/// A one-time enrolment code: 80 random bits in base32, grouped by four.
pub(super) fn enrolment_code(entropy: &dyn Entropy) -> String {
    let mut bytes = [0u8; 10];
    entropy.fill(&mut bytes);
    let text = totp::base32(&bytes);
    text.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

pub(super) fn code_hash(code: &str) -> [u8; 32] {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase();
    token_hash(&normal)
}

/// Issues an account in the "enrolment pending" state; returns its
/// one-time enrolment code (stored only as a hash).
pub fn add(
    store: &TenantStore,
    new: &NewAccount,
    actor: &AdminActor,
    entropy: &dyn Entropy,
) -> Result<String, AdminError> {
    if new.kind == Kind::Service {
        return Err(AdminError::Invalid(
            "service accounts are added with `kiroku token add`".into(),
        ));
    }
    let mut row = fresh_row(store, new, actor.now_ms)?;
    let code = enrolment_code(entropy);
    row.enrolment = Some((code_hash(&code), actor.now_ms));
    let valid = row
        .valid_until_ms
        .map_or(String::new(), |t| format!(", valid until {}", day(t)));
    store.commit_now(WriteSet {
        ops: vec![put(&row)],
        events: vec![actor.event(
            "user.add",
            format!(
                "{} account {} issued with role {}{valid}; enrolment pending",
                row.kind.as_str(),
                row.name,
                row.role
            ),
        )],
        ..WriteSet::default()
    })?;
    Ok(code)
}

pub(super) fn day(ms: i64) -> String {
    crate::clock::format_timestamp(ms)
        .chars()
        .take(10)
        .collect()
}

/// What enrolment gives the account's holder.
#[derive(Debug, Clone)]
pub struct Enrolled {
    /// The `otpauth://totp/...` URI for an authenticator app.
    pub otpauth_uri: String,
    /// The same secret in base32, to type in by hand.
    pub secret_base32: String,
}

/// Why enrolment failed (the same answer for a wrong code, a used one and
/// an unknown account, so a code cannot be probed).
pub const ENROLMENT_REFUSED: &str = "no pending enrolment matches this name and code";

/// Enrols a pending account with its code: sets the password and a fresh
/// TOTP secret. `request_id` and `now_ms` date the audit event.
pub fn enrol(
    store: &TenantStore,
    name: &str,
    code: &str,
    new_password: &str,
    request_id: &str,
    now_ms: i64,
    entropy: &dyn Entropy,
) -> Result<Enrolled, AdminError> {
    password::check_strength(new_password).map_err(AdminError::Invalid)?;
    let refused = || AdminError::Invalid(ENROLMENT_REFUSED.into());
    let Some(mut row) = get(store, name)? else {
        // The typed name is not repeated: it may be anything.
        store.commit_now(WriteSet::events(vec![
            Event::new(now_ms, request_id, "anonymous", "user.enrol", Outcome::Deny)
                .with_reason("no such account"),
        ]))?;
        return Err(refused());
    };
    let matches = row.enrolment.is_some_and(|(hash, issued)| {
        hash == code_hash(code) && now_ms - issued <= ENROLMENT_VALID_MS
    });
    if !matches || row.state(now_ms) != State::Pending {
        store.commit_now(WriteSet {
            events: vec![
                Event::new(now_ms, request_id, name, "user.enrol", Outcome::Deny)
                    .with_reason("wrong, used or expired enrolment code"),
            ],
            ..WriteSet::default()
        })?;
        return Err(refused());
    }
    let secret = set_credentials(store, &mut row, new_password, entropy);
    store.commit_now(WriteSet {
        ops: vec![put(&row)],
        events: vec![
            Event::new(now_ms, request_id, name, "user.enrol", Outcome::Ok)
                .with_reason("password and TOTP second factor set"),
        ],
        ..WriteSet::default()
    })?;
    let issuer = format!("Kiroku {}", store.keys().tenant());
    Ok(Enrolled {
        otpauth_uri: totp::otpauth_uri(&issuer, name, &secret),
        secret_base32: totp::base32(&secret),
    })
}

fn set_credentials(
    store: &TenantStore,
    row: &mut AccountRow,
    new_password: &str,
    entropy: &dyn Entropy,
) -> Vec<u8> {
    let mut secret = vec![0u8; totp::SECRET_BYTES];
    entropy.fill(&mut secret);
    row.password = Some(password::hash(new_password));
    row.totp = Some(
        store
            .keys()
            .seal_staff(&format!("totp/{}", row.name), &secret, entropy),
    );
    row.totp_step = 0;
    row.enrolment = None;
    row.failures = 0;
    row.locked_until_ms = 0;
    secret
}

/// Enrols with a password chosen by the administrator's script (the
/// non-interactive path of `kiroku user add --password-stdin`).
pub fn add_enrolled(
    store: &TenantStore,
    new: &NewAccount,
    new_password: &str,
    actor: &AdminActor,
    entropy: &dyn Entropy,
) -> Result<Enrolled, AdminError> {
    password::check_strength(new_password).map_err(AdminError::Invalid)?;
    let code = add(store, new, actor, entropy)?;
    enrol(
        store,
        &new.name,
        &code,
        new_password,
        &actor.request_id,
        actor.now_ms,
        entropy,
    )
}

/// The last moment of the day `text` (`YYYY-MM-DD`) in Japan (UTC+9), in
/// ms since the epoch: an account valid until a day works all that day.
pub fn parse_day_end(text: &str) -> Option<i64> {
    let date = kiroku_rules::Date::parse(text.trim()).ok()?;
    let next_day_utc = (date.days_since_epoch() + 1) * 86_400_000;
    Some(next_day_utc - 9 * 3_600_000 - 1)
}
