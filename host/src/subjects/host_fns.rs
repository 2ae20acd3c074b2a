//! The `kiroku:subjects/subject-rights` functions: each names a person
//! the plugin reaches, spends host-call fuel and is audited with the
//! person as subject (never a value).

use super::bindings::Host;
use super::{HISTORY_NOTE, HistoryEntry, SUSPENSION_NOTE, SuspensionRow};
use crate::fields::{Class, FieldValues, resident};
use crate::policy::Interface;
use crate::retention::holds::check_reason;
use crate::runtime::bindings::types::Error as WitError;
use crate::runtime::invocation::{Invocation, Scope};
use crate::store::commit::Op;
use crate::store::draft::DraftError;
use crate::store::rows;
use crate::store::tables::SUSPENSIONS;

type HostResult<T> = wasmtime::Result<Result<T, WitError>>;

/// Resident fields a correction may change: the registry feed keeps the
/// status and its date and destination.
const NOT_CORRECTABLE: &[usize] = &[
    resident::STATUS,
    resident::STATUS_DATE,
    resident::DESTINATION,
];

/// Appends an entry to the person's sealed history.
pub(super) fn add_history(
    scope: &mut Scope,
    person: u64,
    entry: &HistoryEntry,
) -> Result<(), DraftError> {
    let next = scope
        .draft
        .person_history(person)?
        .last()
        .map_or(1, |(seq, _)| seq + 1);
    let sealed = scope
        .draft
        .seal_note(person, HISTORY_NOTE, next, &rows::encode(entry))?;
    scope
        .draft
        .push_host_op(Op::PutHistory(person, next, sealed));
    Ok(())
}

fn entry(scope: &Scope, kind: &str, note: &str) -> HistoryEntry {
    HistoryEntry {
        kind: kind.into(),
        at_ms: scope.request.now_ms,
        by: scope.request.who.name.clone(),
        field: None,
        previous: None,
        value: None,
        note: note.into(),
    }
}

fn correct(
    scope: &mut Scope,
    person: u64,
    field: &str,
    value: &str,
    reason: &str,
) -> Result<(), DraftError> {
    check_reason(reason)?;
    let index = Class::Resident
        .field_index(field)
        .filter(|i| !NOT_CORRECTABLE.contains(i))
        .ok_or_else(|| DraftError::Invalid("field is not a correctable resident field".into()))?;
    let previous = scope.draft.resident(person)?.get(index).map(str::to_owned);
    let mut changes = FieldValues::empty(Class::Resident);
    changes.set(index, Some(value.to_owned()));
    if scope.draft.update_person(person, &changes)?.is_empty() {
        return Err(DraftError::Conflict(
            "the field already has this value".into(),
        ));
    }
    let mut e = entry(scope, "correction", reason);
    e.field = Some(field.to_owned());
    e.previous = previous;
    e.value = Some(value.to_owned());
    add_history(scope, person, &e)
}

fn suspend(scope: &mut Scope, person: u64, set: bool, reason: &str) -> Result<(), DraftError> {
    check_reason(reason)?;
    let suspended = scope.draft.person_row(SUSPENSIONS, person)?.is_some();
    match (set, suspended) {
        (true, true) => {
            return Err(DraftError::Conflict(
                "the use of this person's data is already suspended".into(),
            ));
        }
        (false, false) => {
            return Err(DraftError::Conflict(
                "the use of this person's data is not suspended".into(),
            ));
        }
        _ => {}
    }
    let row = if set {
        let sealed = scope
            .draft
            .seal_note(person, SUSPENSION_NOTE, 0, reason.as_bytes())?;
        Some(rows::encode(&SuspensionRow {
            since_ms: scope.request.now_ms,
            by: scope.request.who.name.clone(),
            reason: sealed,
        }))
    } else {
        None
    };
    scope.draft.push_host_op(Op::SetSuspension(person, row));
    let kind = if set {
        "suspension"
    } else {
        "suspension-lifted"
    };
    let e = entry(scope, kind, reason);
    add_history(scope, person, &e)
}

impl Invocation {
    fn subject(
        &mut self,
        action: &str,
        person: u64,
    ) -> wasmtime::Result<Result<(&mut Scope, u64), WitError>> {
        let scope = self.enter()?;
        Ok(scope
            .person(action, Interface::SubjectRights, person)
            .map(|serial| (scope, serial)))
    }
}

impl Host for Invocation {
    fn disclose(&mut self, person: u64, enquirer: String) -> HostResult<String> {
        let action = "subject-rights.disclose";
        let (scope, serial) = match self.subject(action, person)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        scope.served([enquirer.as_str()]);
        let result = check_reason(&enquirer)
            .map_err(|_| {
                DraftError::Invalid("enquirer is required (who asked), at most 500 bytes".into())
            })
            .and_then(|()| super::disclosure::disclose(scope, serial, person, &enquirer));
        let result = result.and_then(|text| {
            let e = entry(scope, "enquiry", &enquirer);
            add_history(scope, serial, &e)?;
            Ok(text)
        });
        scope.finish(action, Some(serial), Interface::SubjectRights, &[], result)
    }

    fn correct(
        &mut self,
        person: u64,
        field: String,
        value: String,
        reason: String,
    ) -> HostResult<()> {
        let action = "subject-rights.correct";
        let (scope, serial) = match self.subject(action, person)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        scope.served([value.as_str(), reason.as_str()]);
        let result = correct(scope, serial, &field, &value, &reason);
        let fields: Vec<usize> = Class::Resident.field_index(&field).into_iter().collect();
        scope.finish(action, Some(serial), Interface::Residents, &fields, result)
    }

    fn suspend(&mut self, person: u64, reason: String) -> HostResult<()> {
        let action = "subject-rights.suspend";
        let (scope, serial) = match self.subject(action, person)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        scope.served([reason.as_str()]);
        let result = suspend(scope, serial, true, &reason);
        scope.finish(action, Some(serial), Interface::SubjectRights, &[], result)
    }

    fn lift_suspension(&mut self, person: u64, reason: String) -> HostResult<()> {
        let action = "subject-rights.lift-suspension";
        let (scope, serial) = match self.subject(action, person)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        scope.served([reason.as_str()]);
        let result = suspend(scope, serial, false, &reason);
        scope.finish(action, Some(serial), Interface::SubjectRights, &[], result)
    }
}
