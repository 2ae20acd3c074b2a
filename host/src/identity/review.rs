//! The account review a supervisor signs off each quarter: every account
//! with its role, state, dates and the flags that call for a decision.

use serde::Serialize;

use super::accounts::{self, Kind, State};
use super::sessions;
use crate::clock::format_timestamp;
use crate::store::{StoreError, TenantStore};

/// An account unused this long is flagged.
pub const UNUSED_DAYS: i64 = 90;
/// An account ending within this many days is flagged.
pub const EXPIRING_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

/// One account in the review.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// Account name.
    pub name: String,
    /// staff, shared or service.
    pub kind: &'static str,
    /// Role.
    pub role: String,
    /// State.
    pub state: &'static str,
    /// Issued.
    pub created: String,
    /// Last login (service: last token issued).
    pub last_login: Option<String>,
    /// Valid until.
    pub valid_until: Option<String>,
    /// Why disabled.
    pub disabled_reason: Option<String>,
    /// Live sessions now.
    pub live_sessions: usize,
    /// `not-used-90-days`, `expires-within-30-days`, `shared`, `never-enrolled`.
    pub flags: Vec<&'static str>,
}

/// The review at `now_ms`, in name order.
pub fn review(store: &TenantStore, now_ms: i64) -> Result<Vec<Line>, StoreError> {
    let live = sessions::all(store)?;
    let lines = accounts::all(store)?
        .into_iter()
        .map(|a| {
            let state = a.state(now_ms);
            let mut flags = Vec::new();
            let used = a.last_login_ms.unwrap_or(a.created_ms);
            if state != State::Disabled && now_ms - used > UNUSED_DAYS * DAY_MS {
                flags.push("not-used-90-days");
            }
            if let Some(until) = a.valid_until_ms
                && until >= now_ms
                && until - now_ms <= EXPIRING_DAYS * DAY_MS
            {
                flags.push("expires-within-30-days");
            }
            if a.kind == Kind::Shared {
                flags.push("shared");
            }
            if state == State::Pending {
                flags.push("never-enrolled");
            }
            Line {
                live_sessions: live
                    .iter()
                    .filter(|s| s.account == a.name && s.expires_ms > now_ms)
                    .count(),
                kind: a.kind.as_str(),
                role: a.role.clone(),
                state: state.as_str(),
                created: format_timestamp(a.created_ms),
                last_login: a.last_login_ms.map(format_timestamp),
                valid_until: a.valid_until_ms.map(format_timestamp),
                disabled_reason: a.disabled.as_ref().map(|d| d.1.clone()),
                name: a.name,
                flags,
            }
        })
        .collect();
    Ok(lines)
}

/// The review as CSV (one account per line, flags joined by `;`).
pub fn to_csv(lines: &[Line]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "name",
        "kind",
        "role",
        "state",
        "created",
        "last_login",
        "valid_until",
        "disabled_reason",
        "live_sessions",
        "flags",
    ]);
    for l in lines {
        let _ = w.write_record([
            l.name.as_str(),
            l.kind,
            &l.role,
            l.state,
            &l.created,
            l.last_login.as_deref().unwrap_or(""),
            l.valid_until.as_deref().unwrap_or(""),
            l.disabled_reason.as_deref().unwrap_or(""),
            &l.live_sessions.to_string(),
            &l.flags.join(";"),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
