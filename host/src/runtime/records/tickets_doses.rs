//! `kiroku:records/tickets` and `kiroku:records/doses`: a person's tickets
//! and doses, the lookup by ticket number, issuing, adding, and the
//! four-eyes verification of a dose.

use super::{HostResult, indexes};
use crate::clock::format_timestamp;
use crate::fields::{Class, FieldValues, dose};
use crate::policy::Interface;
use crate::runtime::bindings::types::PersonId;
use crate::runtime::bindings::{Fields, dose_from_values, dose_into_values, doses, tickets};
use crate::runtime::invocation::{Invocation, NoRequestScope, Scope};
use crate::store::draft::DraftError;

impl tickets::Host for Invocation {
    fn find(&mut self, number: String) -> HostResult<Option<PersonId>> {
        self.search(
            Interface::Tickets,
            "tickets.find",
            "ticket-number",
            &number,
            |s| s.draft.find_valid_ticket(&number),
        )
    }

    fn for_person(
        &mut self,
        person: PersonId,
        fields: Vec<tickets::TicketField>,
    ) -> HostResult<Vec<tickets::Ticket>> {
        let fields = indexes(&fields, |f| f as usize);
        self.list_for_person(
            Interface::Tickets,
            "tickets.for-person",
            person,
            fields,
            |s, p, f| person_tickets(s, p, f, tickets::Ticket::from_values),
        )
    }

    fn issue(&mut self, person: PersonId, number: String, issued_on: String) -> HostResult<()> {
        let values = tickets::Ticket {
            number: Some(number),
            issued_on: Some(issued_on),
        }
        .into_values();
        self.write_fields(
            Interface::Tickets,
            "tickets.issue",
            person,
            &values,
            |s, p| s.draft.issue_ticket(p, &values).map(|_| ()),
        )
    }
}

/// A person's tickets projected to `fields`, each made into a WIT record;
/// the values served are remembered for redaction.
pub(super) fn person_tickets<T>(
    s: &mut Scope,
    person: u64,
    fields: &[usize],
    to_wit: fn(FieldValues) -> T,
) -> Result<Vec<T>, DraftError> {
    let tickets = s.draft.tickets(person)?;
    Ok(tickets
        .into_values()
        .map(|v| {
            let v = v.project(fields);
            s.served(v.personal(Class::Ticket));
            to_wit(v)
        })
        .collect())
}

impl doses::Host for Invocation {
    fn for_person(
        &mut self,
        person: PersonId,
        fields: Vec<doses::DoseField>,
    ) -> HostResult<Vec<doses::Dose>> {
        let fields = indexes(&fields, |f| f as usize);
        self.list_for_person(
            Interface::Doses,
            "doses.for-person",
            person,
            fields,
            |s, p, f| {
                let doses = s.draft.doses(p)?;
                Ok(doses
                    .into_iter()
                    .map(|(id, v)| {
                        let v = v.project(f);
                        s.served(v.personal(Class::Dose));
                        dose_from_values(id, v)
                    })
                    .collect())
            },
        )
    }

    fn add(&mut self, person: PersonId, new: doses::Dose) -> HostResult<doses::DoseId> {
        let mut values = dose_into_values(new);
        // The host alone says who entered a dose and when.
        for &i in dose::HOST_SET {
            values.set(i, None);
        }
        let (actor, now) = match self.scope.as_ref() {
            Some(s) => (s.request.who.person().to_owned(), s.request.now_ms),
            None => return Err(NoRequestScope.into()),
        };
        self.write_fields(
            Interface::Doses,
            "doses.add",
            person,
            &values.clone(),
            |s, p| {
                for i in [dose::DOSE_NUMBER, dose::DATE] {
                    if values.get(i).is_none() {
                        return Err(DraftError::Invalid(format!(
                            "{} is required",
                            Class::Dose.fields()[i]
                        )));
                    }
                }
                if values
                    .get(dose::DOSE_NUMBER)
                    .and_then(|n| n.parse::<u32>().ok())
                    .is_none_or(|n| n == 0)
                {
                    return Err(DraftError::Invalid("dose-number must be 1 or more".into()));
                }
                values.set(dose::ENTERED_BY, Some(actor));
                values.set(dose::ENTERED_AT, Some(format_timestamp(now)));
                s.draft.add_dose(p, &values)
            },
        )
    }

    /// Its refusals (the current actor entered the dose; it is verified
    /// already) reveal `entered-by` and `verified-by`, which is why the
    /// policy grants `verified-by` for writing only with both for reading.
    fn verify(&mut self, person: PersonId, id: doses::DoseId) -> HostResult<()> {
        let mut marker = FieldValues::empty(Class::Dose);
        marker.set(dose::VERIFIED_BY, Some(String::new()));
        self.write_fields(Interface::Doses, "doses.verify", person, &marker, |s, p| {
            let doses = s.draft.doses(p)?;
            let Some(existing) = doses.get(&id) else {
                return Err(DraftError::NotFound(format!("the person has no dose {id}")));
            };
            if existing.get(dose::VERIFIED_BY).is_some() {
                return Err(DraftError::Conflict(format!("dose {id} is already verified")));
            }
            if existing.get(dose::ENTERED_BY) == Some(s.request.who.person()) {
                return Err(DraftError::Conflict(
                    "the staff user who entered a dose cannot verify it; a second person must re-check it".into(),
                ));
            }
            let mut changes = FieldValues::empty(Class::Dose);
            changes.set(dose::VERIFIED_BY, Some(s.request.who.person().to_owned()));
            changes.set(dose::VERIFIED_AT, Some(format_timestamp(s.request.now_ms)));
            s.draft.update_dose(p, id, &changes)
        })
    }
}
