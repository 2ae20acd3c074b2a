//! The host side of `kiroku:records` and `kiroku:health`: every function
//! spends host-call fuel, bounds its arguments, reaches only the persons
//! the plugin may reach, asks `policy` before touching data (fence b),
//! projects records to the requested and granted fields, remembers the
//! personal values it hands out (so logs cannot repeat them), and leaves an
//! audit event. One module per data class; the shared shapes are here.

mod health;
mod residents;
mod sensitive;
mod tickets_doses;

pub(super) use health::{check_new_ticket, new_ticket_values, prefixed_field_names};

use super::bindings::kiroku::records::{context, log, types};
use super::bindings::types::{Error as WitError, PersonId};
use super::guest_log::Level;
use super::invocation::{Invocation, Scope};
use crate::fields::FieldValues;
use crate::limits::{MAX_FIELD_LIST, MAX_KEY_BYTES};
use crate::policy::{Access, Interface};
use crate::store::draft::DraftError;

pub(super) type HostResult<T> = wasmtime::Result<Result<T, WitError>>;

/// The sorted, distinct field indexes of a list of WIT field enums, if the
/// list is within [`MAX_FIELD_LIST`].
pub(super) fn indexes<T: Copy>(
    fields: &[T],
    to_index: impl Fn(T) -> usize,
) -> Result<Vec<usize>, DraftError> {
    if fields.len() > MAX_FIELD_LIST {
        return Err(DraftError::Invalid(format!(
            "a list of fields has at most {MAX_FIELD_LIST} entries"
        )));
    }
    let mut out: Vec<usize> = fields.iter().map(|f| to_index(*f)).collect();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Checks a string argument against its limit (the message names the
/// argument and the limit, never the value).
pub(super) fn bounded(name: &str, value: &str, max: usize) -> Result<(), DraftError> {
    if value.len() > max {
        return Err(DraftError::Invalid(format!(
            "{name} is longer than {max} bytes, the host's limit for it"
        )));
    }
    Ok(())
}

/// Checks that a call asks for at most the policy's row limit.
pub(super) fn within_limit(scope: &Scope, limit: u32) -> Result<(), DraftError> {
    let max = scope.policy.limits.rows;
    if limit > max {
        return Err(DraftError::Invalid(format!(
            "limit {limit} is above the policy's row limit of {max}"
        )));
    }
    Ok(())
}

/// Checks that a list is within the policy's row limit.
pub(super) fn within_rows<T>(scope: &Scope, rows: Vec<T>) -> Result<Vec<T>, DraftError> {
    let limit = scope.policy.limits.rows as usize;
    if rows.len() > limit {
        return Err(DraftError::Invalid(format!(
            "more than {limit} rows (the policy's row limit); narrow the request"
        )));
    }
    Ok(rows)
}

/// Returns early from a host function with the guest's error.
macro_rules! guest_try {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}
pub(super) use guest_try;

impl Invocation {
    /// A read of `fields` of one reachable person, projected to them.
    pub(super) fn read_fields(
        &mut self,
        iface: Interface,
        action: &str,
        person: PersonId,
        fields: Result<Vec<usize>, DraftError>,
        read: impl FnOnce(&mut Scope, u64) -> Result<FieldValues, DraftError>,
    ) -> HostResult<FieldValues> {
        let scope = self.enter()?;
        let fields = match fields {
            Ok(f) => f,
            Err(e) => return scope.finish(action, None, iface, &[], Err(e)),
        };
        let person = guest_try!(scope.person(action, iface, person));
        guest_try!(scope.check_fields(iface, Access::Read, action, Some(person), &fields));
        let result = read(scope, person).map(|v| v.project(&fields));
        if let (Ok(values), Some(class)) = (&result, iface.class()) {
            scope.served(values.personal(class));
        }
        scope.finish(action, Some(person), iface, &fields, result)
    }

    /// A write of the present fields of `values` to one reachable person.
    pub(super) fn write_fields<T>(
        &mut self,
        iface: Interface,
        action: &str,
        person: PersonId,
        values: &FieldValues,
        write: impl FnOnce(&mut Scope, u64) -> Result<T, DraftError>,
    ) -> HostResult<T> {
        let scope = self.enter()?;
        let person = guest_try!(scope.person(action, iface, person));
        let fields: Vec<usize> = values.present().collect();
        guest_try!(scope.check_fields(iface, Access::Write, action, Some(person), &fields));
        let result = write(scope, person);
        scope.finish(action, Some(person), iface, &fields, result)
    }

    /// A read of a reachable person's records of one class (tickets,
    /// doses), each projected to `fields`, within the row limit. Listing
    /// needs a read grant on the class even for no fields: the count of
    /// records is itself something read.
    pub(super) fn list_for_person<T>(
        &mut self,
        iface: Interface,
        action: &str,
        person: PersonId,
        fields: Result<Vec<usize>, DraftError>,
        load: impl FnOnce(&mut Scope, u64, &[usize]) -> Result<Vec<T>, DraftError>,
    ) -> HostResult<Vec<T>> {
        let scope = self.enter()?;
        let fields = match fields {
            Ok(f) => f,
            Err(e) => return scope.finish(action, None, iface, &[], Err(e)),
        };
        let person = guest_try!(scope.person(action, iface, person));
        guest_try!(scope.check_listing(iface, action, person));
        guest_try!(scope.check_fields(iface, Access::Read, action, Some(person), &fields));
        let result = load(scope, person, &fields).and_then(|rows| within_rows(scope, rows));
        scope.finish(action, Some(person), iface, &fields, result)
    }

    /// A lookup by an identifier of at most [`MAX_KEY_BYTES`]; the subject
    /// is the person found, who becomes reachable.
    pub(super) fn search(
        &mut self,
        iface: Interface,
        action: &str,
        search: &str,
        key: &str,
        find: impl FnOnce(&mut Scope) -> Result<Option<u64>, DraftError>,
    ) -> HostResult<Option<PersonId>> {
        let scope = self.enter()?;
        guest_try!(scope.check_search(iface, action, search));
        let result = bounded(search, key, MAX_KEY_BYTES).and_then(|()| find(scope));
        let subject = result.as_ref().ok().copied().flatten();
        let result = result.map(|found| found.map(|p| scope.reach.found(p)));
        scope.finish(action, subject, iface, &[], result)
    }
}

impl types::Host for Invocation {}

impl context::Host for Invocation {
    fn today(&mut self) -> wasmtime::Result<String> {
        Ok(self.enter()?.request.today.to_string())
    }

    fn actor(&mut self) -> wasmtime::Result<String> {
        Ok(self.enter()?.request.who.person().to_owned())
    }

    fn request_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.enter()?.request.request_id.clone())
    }
}

impl log::Host for Invocation {
    fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let scope = self.enter()?;
        let level = match level {
            log::Level::Debug => Level::Debug,
            log::Level::Info => Level::Info,
            log::Level::Warn => Level::Warn,
            log::Level::Error => Level::Error,
        };
        scope
            .log
            .lock()
            .expect("guest log lock")
            .plugin_line(level, "log", &message);
        Ok(())
    }
}
