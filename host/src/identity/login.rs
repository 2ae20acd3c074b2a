//! Login (password + TOTP, and a shared account's operator), unlock,
//! operator switch and logout. A refusal never says which part was wrong;
//! the audit event does, for the auditor.

use std::sync::Mutex;

use super::accounts::{self, AccountRow, Kind, State};
use super::passkeys::Passkeys;
use super::sessions::{self, Limits, NewSession, SessionRow};
use super::{password, totp};
use crate::audit::{Event, Identity, Outcome};
use crate::clock::Entropy;
use crate::store::commit::WriteSet;
use crate::store::{StoreError, TenantStore};
use webauthn_rs::prelude::PublicKeyCredential;

/// Consecutive failures after which an account is locked out for a while:
/// five tries cover typing slips, and with the backoff below a guesser
/// gets about 30 tries a day against a 10^6 code space and a password.
pub const LOCKOUT_AFTER_FAILURES: u32 = 5;
/// The first lockout; each further failure doubles it.
pub const LOCKOUT_BASE_MS: i64 = 60_000;
/// The longest lockout (an administrator can lift it with `user enable`
/// after a disable, or it ends by itself).
pub const LOCKOUT_MAX_MS: i64 = 3_600_000;

/// Sessions past their lifetime removed (and audited) per login, at most:
/// the table holds live sessions and the cost of a login stays bounded.
const PRUNE_PER_LOGIN: usize = 256;

/// What every refusal answers.
pub const LOGIN_REFUSED: &str =
    "name, password or code not accepted (or the account is locked for a while after failures)";

/// Login and session changes of one process run one at a time, so a TOTP
/// code is accepted once even by two concurrent logins; the slow password
/// check runs before, outside this lock.
pub(super) static CRITICAL: Mutex<()> = Mutex::new(());

pub use super::session_changes::{logout, open_without_login, switch_operator, unlock};

/// What a login presents.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// Account name.
    pub name: &'a str,
    /// Password.
    pub password: &'a str,
    /// TOTP code (ignored when a passkey assertion is given).
    pub totp: &'a str,
    /// A passkey assertion instead of the code.
    pub passkey: Option<PasskeyAssertion<'a>>,
    /// For a shared account: the operator's name and TOTP code.
    pub operator: Option<(&'a str, &'a str)>,
}

/// Where and when a login happens.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    /// Request id for the audit events.
    pub request_id: &'a str,
    /// Now (ms since epoch).
    pub now_ms: i64,
    /// Randomness for tokens.
    pub entropy: &'a dyn Entropy,
}

fn backoff_ms(failures: u32) -> i64 {
    let doublings = failures.saturating_sub(LOCKOUT_AFTER_FAILURES).min(16);
    (LOCKOUT_BASE_MS << doublings).min(LOCKOUT_MAX_MS)
}

/// Counts a failure against `row`, locking it out past the threshold.
fn fail(row: &mut AccountRow, now_ms: i64) {
    row.failures = row.failures.saturating_add(1);
    if row.failures >= LOCKOUT_AFTER_FAILURES {
        row.locked_until_ms = now_ms + backoff_ms(row.failures);
    }
}

/// Why a second factor was not accepted (for the audit event only).
pub(super) fn check_factor(
    store: &TenantStore,
    row: &mut AccountRow,
    code: &str,
    now_ms: i64,
) -> Result<(), &'static str> {
    if row.state(now_ms) != State::Active {
        return Err("account not active");
    }
    if row.locked_until_ms > now_ms {
        return Err("account locked out after repeated failures");
    }
    let Some(secret) = row.totp_secret(store.keys()) else {
        return Err("no second factor enrolled");
    };
    match totp::accept(&secret, code, now_ms, row.totp_step) {
        Some(step) => {
            row.totp_step = step;
            succeed(row);
            Ok(())
        }
        None => {
            fail(row, now_ms);
            Err("wrong or already used code")
        }
    }
}

fn succeed(row: &mut AccountRow) {
    row.failures = 0;
    row.locked_until_ms = 0;
}

/// A passkey assertion presented instead of a TOTP code.
#[derive(Debug, Clone, Copy)]
pub struct PasskeyAssertion<'a> {
    /// The node's relying party.
    pub passkeys: &'a Passkeys,
    /// The ceremony `login/passkey` started.
    pub ceremony: &'a str,
    /// The authenticator's answer.
    pub credential: &'a PublicKeyCredential,
}

/// The account's second factor: a passkey assertion if given, else the code.
fn check_second(
    store: &TenantStore,
    row: &mut AccountRow,
    creds: Credentials<'_>,
    now_ms: i64,
) -> Result<(), &'static str> {
    let Some(assertion) = creds.passkey else {
        return check_factor(store, row, creds.totp, now_ms);
    };
    if row.state(now_ms) != State::Active {
        return Err("account not active");
    }
    if row.locked_until_ms > now_ms {
        return Err("account locked out after repeated failures");
    }
    if assertion
        .passkeys
        .check_login(row, assertion.ceremony, assertion.credential, now_ms)
    {
        succeed(row);
        Ok(())
    } else {
        fail(row, now_ms);
        Err("passkey assertion not accepted")
    }
}

fn deny(at: At<'_>, who: &str, action: &str, reason: &str) -> Event {
    Event::new(at.now_ms, at.request_id, who, action, Outcome::Deny).with_reason(reason)
}

/// A login's result: a session, or a refusal already audited.
pub type LoginResult = Result<(NewSession, AccountRow), ()>;

/// Logs in: the password, then under the lock the account's state,
/// lockout and code (and a shared account's operator). Every attempt is
/// audited; failures count towards the lockout.
pub fn login(
    store: &TenantStore,
    creds: Credentials<'_>,
    at: At<'_>,
) -> Result<LoginResult, StoreError> {
    let before = accounts::get(store, creds.name)?;
    let password_ok = match before.as_ref().and_then(|r| r.password.as_deref()) {
        Some(phc) if before.as_ref().is_some_and(|r| r.kind != Kind::Service) => {
            password::verify(phc, creds.password)
        }
        _ => {
            password::verify_nothing(creds.password);
            false
        }
    };
    let _critical = CRITICAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(mut row) = accounts::get(store, creds.name)? else {
        // The typed name is not repeated: it may be anything.
        let e = deny(at, "anonymous", "login", "no such account");
        store.commit_now(WriteSet::events(vec![e]))?;
        return Ok(Err(()));
    };
    let mut ops = Vec::new();
    let refusal = if row.kind == Kind::Service {
        Some("service accounts do not log in")
    } else if before.as_ref().map(|r| &r.password) != Some(&row.password) {
        Some("password changed during the login")
    } else if row.state(at.now_ms) != State::Active {
        Some("account not active")
    } else if row.locked_until_ms > at.now_ms {
        Some("account locked out after repeated failures")
    } else if !password_ok {
        fail(&mut row, at.now_ms);
        Some("wrong password")
    } else {
        check_second(store, &mut row, creds, at.now_ms).err()
    };
    let mut operator: Option<AccountRow> = None;
    let refusal = match refusal {
        Some(r) => Some(r),
        None => match (row.kind, creds.operator) {
            (Kind::Shared, Some((name, code))) => {
                let checked = check_operator(store, name, code, at.now_ms)?;
                operator = checked.0;
                checked.1
            }
            (Kind::Shared, None) => Some("a shared account logs in only with an operator"),
            (_, Some(_)) => Some("only a shared account names an operator"),
            (_, None) => None,
        },
    };
    ops.extend(operator.iter().map(accounts::put));
    if let Some(reason) = refusal {
        ops.push(accounts::put(&row));
        let event = deny(at, &row.name, "login", reason);
        store.commit_now(WriteSet {
            ops,
            events: vec![event],
            ..WriteSet::default()
        })?;
        return Ok(Err(()));
    }
    row.last_login_ms = Some(at.now_ms);
    ops.push(accounts::put(&row));
    let limits = Limits::of(store)?;
    let session = sessions::open(
        &row.name,
        operator.as_ref().map(|o| o.name.as_str()),
        at.now_ms,
        limits,
        at.entropy,
    );
    ops.push(sessions::put(session.hash, &session.row));
    let (pruned, mut events) =
        sessions::prune_expired(store, at.now_ms, at.request_id, PRUNE_PER_LOGIN)?;
    ops.extend(pruned);
    let who = identity_of(&session.row, false);
    let event =
        Event::by(at.now_ms, at.request_id, &who, "login", Outcome::Ok).with_reason(format!(
            "session {} until {}, locks after {} s idle",
            session.row.id,
            crate::clock::format_timestamp(session.row.expires_ms),
            limits.idle_s
        ));
    events.push(event);
    store.commit_now(WriteSet {
        ops,
        events,
        ..WriteSet::default()
    })?;
    Ok(Ok((session, row)))
}

/// Checks a shared account's operator: a personal staff account whose own
/// code is accepted. Returns the operator's updated row (to store either
/// way: a failure counts on it) and the refusal, if any.
pub(super) fn check_operator(
    store: &TenantStore,
    name: &str,
    code: &str,
    now_ms: i64,
) -> Result<(Option<AccountRow>, Option<&'static str>), StoreError> {
    let Some(mut op) = accounts::get(store, name)? else {
        return Ok((None, Some("no such operator")));
    };
    if op.kind != Kind::Staff {
        return Ok((None, Some("an operator is a personal staff account")));
    }
    let refusal = check_factor(store, &mut op, code, now_ms).err();
    Ok((Some(op), refusal))
}

/// The audit identity of a session.
pub fn identity_of(row: &SessionRow, automated: bool) -> Identity {
    Identity {
        name: row.account.clone(),
        session: Some(row.id.clone()),
        operator: row.operator.clone(),
        automated,
        role: None,
    }
}
