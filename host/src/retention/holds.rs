//! Legal holds: a person on hold is left out of every purge. Setting and
//! lifting one is a supervisor's audited operation; the reason is sealed
//! with the person's key (it may say why, about them).

use serde::{Deserialize, Serialize};

use crate::store::commit::Op;
use crate::store::draft::{Draft, DraftError};
use crate::store::rows;
use crate::store::tables::HOLDS;

/// Longest reason, in bytes.
pub const MAX_REASON_BYTES: usize = 500;

/// A person's legal hold.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HoldRow {
    /// Since when (ms since epoch).
    pub since_ms: i64,
    /// Who set it.
    pub by: String,
    /// Why, sealed with the person's key.
    pub reason: Vec<u8>,
}

/// Checks a staff-given reason: present and bounded; the error quotes no value.
pub fn check_reason(reason: &str) -> Result<(), DraftError> {
    if reason.trim().is_empty() || reason.len() > MAX_REASON_BYTES {
        return Err(DraftError::Invalid(format!(
            "reason is required, at most {MAX_REASON_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Puts `person` on hold (`set`) or lifts their hold, in the draft.
pub fn change(
    draft: &mut Draft,
    person: u64,
    set: bool,
    reason: &str,
    by: &str,
    now_ms: i64,
) -> Result<(), DraftError> {
    check_reason(reason)?;
    let held = draft.person_row(HOLDS, person)?.is_some();
    if !draft.person_exists(person)? {
        return Err(DraftError::NotFound(
            crate::store::draft::NO_SUCH_PERSON.into(),
        ));
    }
    match (set, held) {
        (true, true) => {
            return Err(DraftError::Conflict(
                "the person is already on legal hold".into(),
            ));
        }
        (false, false) => {
            return Err(DraftError::Conflict(
                "the person is not on legal hold".into(),
            ));
        }
        _ => {}
    }
    let row = if set {
        let sealed = draft.seal_note(person, "legal-hold", 0, reason.as_bytes())?;
        Some(rows::encode(&HoldRow {
            since_ms: now_ms,
            by: by.to_owned(),
            reason: sealed,
        }))
    } else {
        None
    };
    draft.push_host_op(Op::SetHold(person, row));
    Ok(())
}
