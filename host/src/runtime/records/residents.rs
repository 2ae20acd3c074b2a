//! `kiroku:records/residents`: lookups by address number and by name,
//! reads, creation and updates. `update` answers only about fields the
//! plugin may read (see ARCHITECTURE.md, "What a plugin can observe").

use super::{HostResult, bounded, guest_try, indexes, within_rows};
use crate::crypto::IndexKind;
use crate::fields::FieldValues;
use crate::limits::{MAX_KEY_BYTES, MAX_NAME_BYTES};
use crate::policy::{Access, Interface};
use crate::runtime::bindings::Fields;
use crate::runtime::bindings::residents;
use crate::runtime::bindings::types::PersonId;
use crate::runtime::invocation::Invocation;
use crate::runtime::sched::blocking_section;

impl residents::Host for Invocation {
    fn find_by_address_number(&mut self, address_number: String) -> HostResult<Option<PersonId>> {
        self.search(
            Interface::Residents,
            "residents.find-by-address-number",
            "address-number",
            &address_number,
            |s| {
                s.draft
                    .find_unique(IndexKind::AddressNumber, &address_number)
            },
        )
    }

    fn find_by_name(&mut self, name: String, birth_date: String) -> HostResult<Vec<PersonId>> {
        let action = "residents.find-by-name";
        let iface = Interface::Residents;
        let scope = self.enter()?;
        guest_try!(scope.check_search(iface, action, "name-and-birth-date"));
        let limit = scope.policy.limits.rows as usize;
        let result = bounded("name", &name, MAX_NAME_BYTES)
            .and_then(|()| bounded("birth-date", &birth_date, MAX_KEY_BYTES))
            .and_then(|()| {
                blocking_section(|| scope.draft.find_by_name(&name, &birth_date, limit + 1))
            })
            .and_then(|rows| within_rows(scope, rows));
        let subject = match &result {
            Ok(found) if found.len() == 1 => Some(found[0]),
            _ => None,
        };
        let result = result.map(|found| {
            // One event per person found, so "who looked at whom" is complete.
            if found.len() > 1 {
                for &p in &found {
                    let event = scope.event(action, Some(p), Vec::new(), crate::audit::Outcome::Ok);
                    scope.events.record(event);
                }
            }
            found.into_iter().map(|p| scope.reach.found(p)).collect()
        });
        scope.finish(action, subject, iface, &[], result)
    }

    fn get(
        &mut self,
        id: PersonId,
        fields: Vec<residents::ResidentField>,
    ) -> HostResult<residents::Resident> {
        let fields = indexes(&fields, |f| f as usize);
        let values =
            self.read_fields(Interface::Residents, "residents.get", id, fields, |s, p| {
                s.draft.resident(p)
            })?;
        Ok(values.map(residents::Resident::from_values))
    }

    fn create(&mut self, data: residents::Resident) -> HostResult<PersonId> {
        let values = data.into_values();
        let action = "residents.create";
        let scope = self.enter()?;
        let fields: Vec<usize> = values.present().collect();
        guest_try!(scope.check_fields(Interface::Residents, Access::Write, action, None, &fields));
        let result = scope.draft.create_person(&values);
        let subject = result.as_ref().ok().copied();
        let result = result.map(|p| scope.reach.found(p));
        scope.finish(action, subject, Interface::Residents, &fields, result)
    }

    /// True when a field the plugin may read changed; fields it may only
    /// write never count, so their stored values cannot be guessed.
    fn update(&mut self, id: PersonId, changes: residents::Resident) -> HostResult<bool> {
        let values: FieldValues = changes.into_values();
        self.write_fields(
            Interface::Residents,
            "residents.update",
            id,
            &values,
            |s, p| {
                let changed = s.draft.update_person(p, &values)?;
                let readable = |f: &usize| {
                    s.policy
                        .check_fields(Interface::Residents, Access::Read, &[*f])
                        .is_ok()
                };
                Ok(changed.iter().any(readable))
            },
        )
    }
}
