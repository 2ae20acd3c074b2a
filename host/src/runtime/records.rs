//! The host side of `kiroku:records`: every function spends host-call fuel,
//! asks `policy` before touching data (fence b), projects records to the
//! requested and granted fields, and leaves an audit event.

use super::bindings::kiroku::records::{context, log, my_number, my_number_intake, types};
use super::bindings::types::{Error as WitError, PersonId};
use super::bindings::{
    Fields, campaign_ticket_from_values, campaign_ticket_into_values, campaign_tickets, cohort,
    dose_from_values, dose_into_values, doses, jobs, passport, residents, tickets,
};
use super::invocation::{Invocation, Scope};
use crate::audit::Outcome;
use crate::clock::format_timestamp;
use crate::crypto::IndexKind;
use crate::fields::{Class, FieldValues, dose, ticket};
use crate::limits::MAX_LOG_MESSAGE_BYTES;
use crate::policy::{Access, Interface};
use crate::store::draft::DraftError;

pub(super) type HostResult<T> = wasmtime::Result<Result<T, WitError>>;

pub(super) fn indexes<T: Copy>(fields: &[T], to_index: impl Fn(T) -> usize) -> Vec<usize> {
    let mut out: Vec<usize> = fields.iter().map(|f| to_index(*f)).collect();
    out.sort_unstable();
    out.dedup();
    out
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
fn within_rows<T>(scope: &Scope, rows: Vec<T>) -> Result<Vec<T>, DraftError> {
    let limit = scope.policy.limits.rows as usize;
    if rows.len() > limit {
        return Err(DraftError::Invalid(format!(
            "more than {limit} rows (the policy's row limit); narrow the request"
        )));
    }
    Ok(rows)
}

impl Invocation {
    /// A read of `fields` of one class, projected to those fields.
    fn read_fields(
        &mut self,
        iface: Interface,
        action: &str,
        subject: u64,
        fields: &[usize],
        read: impl FnOnce(&mut Scope) -> Result<FieldValues, DraftError>,
    ) -> HostResult<FieldValues> {
        let scope = self.enter()?;
        if let Err(e) = scope.check_fields(iface, Access::Read, action, Some(subject), fields) {
            return Ok(Err(e));
        }
        let result = read(scope).map(|v| v.project(fields));
        scope.finish(action, Some(subject), iface, fields, result)
    }

    /// A write of the present fields of `values`.
    fn write_fields<T>(
        &mut self,
        iface: Interface,
        action: &str,
        subject: Option<u64>,
        values: &FieldValues,
        write: impl FnOnce(&mut Scope) -> Result<T, DraftError>,
    ) -> HostResult<T> {
        let scope = self.enter()?;
        let fields: Vec<usize> = values.present().collect();
        if let Err(e) = scope.check_fields(iface, Access::Write, action, subject, &fields) {
            return Ok(Err(e));
        }
        let result = write(scope);
        scope.finish(action, subject, iface, &fields, result)
    }

    /// A read of a person's records of one class (tickets, doses), each
    /// projected to `fields`, within the row limit.
    fn list_for_person<T>(
        &mut self,
        iface: Interface,
        action: &str,
        person: u64,
        fields: &[usize],
        load: impl FnOnce(&mut Scope, &[usize]) -> Result<Vec<T>, DraftError>,
    ) -> HostResult<Vec<T>> {
        let scope = self.enter()?;
        if let Err(e) = scope.check_fields(iface, Access::Read, action, Some(person), fields) {
            return Ok(Err(e));
        }
        let result = load(scope, fields).and_then(|rows| within_rows(scope, rows));
        scope.finish(action, Some(person), iface, fields, result)
    }

    /// A lookup by an identifier; the subject is the person found.
    fn search(
        &mut self,
        iface: Interface,
        action: &str,
        search: &str,
        find: impl FnOnce(&mut Scope) -> Result<Option<PersonId>, DraftError>,
    ) -> HostResult<Option<PersonId>> {
        let scope = self.enter()?;
        if let Err(e) = scope.check_search(iface, action, search) {
            return Ok(Err(e));
        }
        let result = find(scope);
        let subject = result.as_ref().ok().copied().flatten();
        scope.finish(action, subject, iface, &[], result)
    }
}

impl types::Host for Invocation {}

impl context::Host for Invocation {
    fn today(&mut self) -> wasmtime::Result<String> {
        Ok(self.enter()?.request.today.to_string())
    }

    fn actor(&mut self) -> wasmtime::Result<String> {
        Ok(self.enter()?.request.actor.clone())
    }

    fn request_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.enter()?.request.request_id.clone())
    }
}

impl log::Host for Invocation {
    fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let scope = self.enter()?;
        let mut end = message.len().min(MAX_LOG_MESSAGE_BYTES);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = crate::redact::digits(&message[..end]);
        let plugin = scope.plugin.name.as_str();
        match level {
            log::Level::Debug => tracing::debug!(plugin, "{text}"),
            log::Level::Info => tracing::info!(plugin, "{text}"),
            log::Level::Warn => tracing::warn!(plugin, "{text}"),
            log::Level::Error => tracing::error!(plugin, "{text}"),
        }
        Ok(())
    }
}

impl residents::Host for Invocation {
    fn find_by_address_number(&mut self, address_number: String) -> HostResult<Option<PersonId>> {
        self.search(
            Interface::Residents,
            "residents.find-by-address-number",
            "address-number",
            |s| {
                s.draft
                    .find_unique(IndexKind::AddressNumber, &address_number)
            },
        )
    }

    fn find_by_name(&mut self, name: String, birth_date: String) -> HostResult<Vec<PersonId>> {
        let action = "residents.find-by-name";
        let scope = self.enter()?;
        if let Err(e) = scope.check_search(Interface::Residents, action, "name-and-birth-date") {
            return Ok(Err(e));
        }
        let limit = scope.policy.limits.rows as usize;
        let result = scope
            .draft
            .find_by_name(&name, &birth_date, limit + 1)
            .and_then(|rows| within_rows(scope, rows));
        let subject = match &result {
            Ok(found) if found.len() == 1 => Some(found[0]),
            _ => None,
        };
        let result = scope.finish(action, subject, Interface::Residents, &[], result)?;
        // One event per person found, so "who looked at whom" is complete.
        if let Ok(found) = &result
            && found.len() > 1
        {
            for &p in found {
                let event = scope.event(action, Some(p), Vec::new(), crate::audit::Outcome::Ok);
                scope.events.record(event);
            }
        }
        Ok(result)
    }

    fn get(
        &mut self,
        id: PersonId,
        fields: Vec<residents::ResidentField>,
    ) -> HostResult<residents::Resident> {
        let fields = indexes(&fields, |f| f as usize);
        let values = self.read_fields(Interface::Residents, "residents.get", id, &fields, |s| {
            s.draft.resident(id)
        })?;
        Ok(values.map(residents::Resident::from_values))
    }

    fn create(&mut self, data: residents::Resident) -> HostResult<PersonId> {
        let values = data.into_values();
        let action = "residents.create";
        let scope = self.enter()?;
        let fields: Vec<usize> = values.present().collect();
        if let Err(e) =
            scope.check_fields(Interface::Residents, Access::Write, action, None, &fields)
        {
            return Ok(Err(e));
        }
        let result = scope.draft.create_person(&values);
        let subject = result.as_ref().ok().copied();
        scope.finish(action, subject, Interface::Residents, &fields, result)
    }

    fn update(&mut self, id: PersonId, changes: residents::Resident) -> HostResult<bool> {
        let values = changes.into_values();
        self.write_fields(
            Interface::Residents,
            "residents.update",
            Some(id),
            &values,
            |s| s.draft.update_person(id, &values),
        )
    }
}

impl tickets::Host for Invocation {
    fn find(&mut self, number: String) -> HostResult<Option<PersonId>> {
        self.search(Interface::Tickets, "tickets.find", "ticket-number", |s| {
            s.draft.find_valid_ticket(&number)
        })
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
            &fields,
            |s, f| {
                Ok(s.draft
                    .tickets(person)?
                    .into_values()
                    .map(|v| tickets::Ticket::from_values(v.project(f)))
                    .collect())
            },
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
            Some(person),
            &values,
            |s| s.draft.issue_ticket(person, &values).map(|_| ()),
        )
    }
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
            &fields,
            |s, f| {
                Ok(s.draft
                    .doses(person)?
                    .into_iter()
                    .map(|(id, v)| dose_from_values(id, v.project(f)))
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
            Some(s) => (s.request.actor.clone(), s.request.now_ms),
            None => return Err(super::invocation::NoRequestScope.into()),
        };
        self.write_fields(
            Interface::Doses,
            "doses.add",
            Some(person),
            &values.clone(),
            |s| {
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
                s.draft.add_dose(person, &values)
            },
        )
    }

    fn verify(&mut self, person: PersonId, id: doses::DoseId) -> HostResult<()> {
        let mut marker = FieldValues::empty(Class::Dose);
        marker.set(dose::VERIFIED_BY, Some(String::new()));
        self.write_fields(Interface::Doses, "doses.verify", Some(person), &marker, |s| {
            let doses = s.draft.doses(person)?;
            let Some(existing) = doses.get(&id) else {
                return Err(DraftError::NotFound(format!("person {person} has no dose {id}")));
            };
            if existing.get(dose::VERIFIED_BY).is_some() {
                return Err(DraftError::Conflict(format!("dose {id} is already verified")));
            }
            if existing.get(dose::ENTERED_BY) == Some(s.request.actor.as_str()) {
                return Err(DraftError::Conflict(
                    "the staff user who entered a dose cannot verify it; a second person must re-check it".into(),
                ));
            }
            let mut changes = FieldValues::empty(Class::Dose);
            changes.set(dose::VERIFIED_BY, Some(s.request.actor.clone()));
            changes.set(dose::VERIFIED_AT, Some(format_timestamp(s.request.now_ms)));
            s.draft.update_dose(person, id, &changes)
        })
    }
}

const MY_NUMBER_FIELD: [usize; 1] = [0];

impl my_number::Host for Invocation {
    fn get(&mut self, person: PersonId) -> HostResult<Option<String>> {
        let values = self.read_fields(
            Interface::MyNumber,
            "my-number.get",
            person,
            &MY_NUMBER_FIELD,
            |s| {
                let mut v = FieldValues::empty(Class::MyNumber);
                v.set(0, s.draft.my_number(person)?);
                Ok(v)
            },
        )?;
        Ok(values.map(|v| v.get(0).map(str::to_owned)))
    }

    fn find(&mut self, number: String) -> HostResult<Option<PersonId>> {
        self.search(Interface::MyNumber, "my-number.find", "my-number", |s| {
            s.draft.find_unique(IndexKind::MyNumber, &number)
        })
    }
}

impl my_number_intake::Host for Invocation {
    fn register(&mut self, person: PersonId, number: String) -> HostResult<bool> {
        let mut values = FieldValues::empty(Class::MyNumber);
        values.set(0, Some(number.clone()));
        self.write_fields(
            Interface::MyNumberIntake,
            "my-number.register",
            Some(person),
            &values,
            |s| s.draft.set_my_number(person, &number),
        )
    }
}

impl passport::Host for Invocation {
    fn get(
        &mut self,
        person: PersonId,
        fields: Vec<passport::PassportField>,
    ) -> HostResult<passport::PassportData> {
        let fields = indexes(&fields, |f| f as usize);
        let values =
            self.read_fields(Interface::Passport, "passport.get", person, &fields, |s| {
                s.draft.passport(person)
            })?;
        Ok(values.map(passport::PassportData::from_values))
    }

    fn set(&mut self, person: PersonId, data: passport::PassportData) -> HostResult<()> {
        let values = data.into_values();
        self.write_fields(
            Interface::Passport,
            "passport.set",
            Some(person),
            &values,
            |s| s.draft.set_passport(person, &values).map(|_| ()),
        )
    }
}

/// A new ticket's values without the fields only the host sets: the host
/// alone says whether a ticket is valid.
pub(super) fn new_ticket_values(mut values: FieldValues) -> FieldValues {
    for i in [ticket::STATUS, ticket::VOID_REASON, ticket::VOIDED_ON] {
        values.set(i, None);
    }
    values
}

/// Checks what a new campaign ticket must carry for its OCR line.
pub(super) fn check_new_ticket(values: &FieldValues) -> Result<(), DraftError> {
    let required = [
        ticket::NUMBER,
        ticket::ISSUED_ON,
        ticket::CAMPAIGN,
        ticket::TICKET_TYPE,
        ticket::DOSE_NUMBER,
    ];
    if let Some(&missing) = required.iter().find(|&&i| values.get(i).is_none()) {
        return Err(DraftError::Invalid(format!(
            "{} is required",
            Class::Ticket.fields()[missing]
        )));
    }
    let digit = |i: usize, low: u32| {
        values
            .get(i)
            .and_then(|v| v.parse::<u32>().ok())
            .is_some_and(|n| (low..=9).contains(&n))
    };
    if !digit(ticket::TICKET_TYPE, 0) || !digit(ticket::DOSE_NUMBER, 1) {
        return Err(DraftError::Invalid(
            "ticket-type must be 0-9 and dose-number 1-9 (one digit each in the OCR line)".into(),
        ));
    }
    Ok(())
}

impl campaign_tickets::Host for Invocation {
    fn municipality_code(&mut self) -> wasmtime::Result<String> {
        Ok(self.enter()?.draft.tenant_code().to_owned())
    }

    fn find(&mut self, number: String) -> HostResult<Option<PersonId>> {
        self.search(
            Interface::CampaignTickets,
            "campaign-tickets.find",
            "ticket-number",
            |s| s.draft.find_valid_ticket(&number),
        )
    }

    fn for_person(
        &mut self,
        person: PersonId,
        fields: Vec<campaign_tickets::CampaignTicketField>,
    ) -> HostResult<Vec<campaign_tickets::CampaignTicket>> {
        let fields = indexes(&fields, |f| f as usize);
        let action = "campaign-tickets.for-person";
        self.list_for_person(
            Interface::CampaignTickets,
            action,
            person,
            &fields,
            |s, f| {
                Ok(s.draft
                    .tickets(person)?
                    .into_values()
                    .map(|v| campaign_ticket_from_values(v.project(f)))
                    .collect())
            },
        )
    }

    fn issue(&mut self, person: PersonId, new: campaign_tickets::CampaignTicket) -> HostResult<()> {
        let values = new_ticket_values(campaign_ticket_into_values(new));
        self.write_fields(
            Interface::CampaignTickets,
            "campaign-tickets.issue",
            Some(person),
            &values.clone(),
            |s| {
                check_new_ticket(&values)?;
                s.draft.issue_ticket(person, &values).map(|_| ())
            },
        )
    }

    fn void(&mut self, number: String, reason: String) -> HostResult<PersonId> {
        let action = "campaign-tickets.void";
        let fields = [ticket::STATUS, ticket::VOID_REASON];
        let scope = self.enter()?;
        if let Err(e) = scope.check_fields(
            Interface::CampaignTickets,
            Access::Write,
            action,
            None,
            &fields,
        ) {
            return Ok(Err(e));
        }
        let today = scope.request.today.to_string();
        let result = scope.draft.void_ticket(&number, &reason, &today);
        let subject = result.as_ref().ok().copied();
        scope.finish(action, subject, Interface::CampaignTickets, &fields, result)
    }
}

/// Field names prefixed by interface (`doses.lot`), for the audit event of
/// a call that reads or writes several interfaces' fields.
pub(super) fn prefixed_field_names(parts: &[(Interface, &[usize])]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|(iface, fields)| {
            let class = iface.class().expect("data interfaces");
            fields
                .iter()
                .map(move |&i| format!("{}.{}", iface.name(), class.fields()[i]))
        })
        .collect()
}

impl cohort::Host for Invocation {
    fn count(&mut self) -> HostResult<u64> {
        let scope = self.enter()?;
        if let Err(e) = scope.check_search(Interface::Cohort, "cohort.count", "population") {
            return Ok(Err(e));
        }
        match scope.draft.person_count() {
            Ok(n) => Ok(Ok(n)),
            Err(e) => scope.finish("cohort.count", None, Interface::Cohort, &[], Err(e)),
        }
    }

    fn scan(
        &mut self,
        after: PersonId,
        limit: u32,
        resident_fields: Vec<residents::ResidentField>,
        dose_fields: Vec<doses::DoseField>,
        ticket_fields: Vec<campaign_tickets::CampaignTicketField>,
    ) -> HostResult<Vec<cohort::Member>> {
        let action = "cohort.scan";
        let resident_fields = indexes(&resident_fields, |f| f as usize);
        let dose_fields = indexes(&dose_fields, |f| f as usize);
        let ticket_fields = indexes(&ticket_fields, |f| f as usize);
        let scope = self.enter()?;
        if let Err(e) = scope.check_search(Interface::Cohort, action, "population") {
            return Ok(Err(e));
        }
        let parts = [
            (Interface::Residents, resident_fields.as_slice()),
            (Interface::Doses, dose_fields.as_slice()),
            (Interface::CampaignTickets, ticket_fields.as_slice()),
        ];
        for (iface, fields) in parts {
            if !fields.is_empty()
                && let Err(e) = scope.check_fields(iface, Access::Read, action, None, fields)
            {
                return Ok(Err(e));
            }
        }
        if let Err(e) = within_limit(scope, limit) {
            return scope.finish(action, None, Interface::Cohort, &[], Err(e));
        }
        let ids = match scope.draft.person_ids_after(after, limit as usize) {
            Ok(ids) => ids,
            Err(e) => return scope.finish(action, None, Interface::Cohort, &[], Err(e)),
        };
        let names = prefixed_field_names(&parts);
        let mut members = Vec::with_capacity(ids.len());
        for &id in &ids {
            let member = (|| -> Result<cohort::Member, DraftError> {
                let resident = scope.draft.resident(id)?.project(&resident_fields);
                let doses = if dose_fields.is_empty() {
                    Vec::new()
                } else {
                    let all = scope.draft.doses(id)?;
                    all.into_iter()
                        .map(|(d, v)| dose_from_values(d, v.project(&dose_fields)))
                        .collect()
                };
                let tickets = if ticket_fields.is_empty() {
                    Vec::new()
                } else {
                    let all = scope.draft.tickets(id)?;
                    all.into_values()
                        .map(|v| campaign_ticket_from_values(v.project(&ticket_fields)))
                        .collect()
                };
                Ok(cohort::Member {
                    id,
                    resident: residents::Resident::from_values(resident),
                    doses,
                    tickets,
                })
            })();
            match member {
                Ok(m) => members.push(m),
                Err(e) => return scope.finish(action, Some(id), Interface::Cohort, &[], Err(e)),
            }
        }
        // One read event for the call, naming every person returned: "who
        // looked at whom" stays complete without an event per person.
        if !ids.is_empty() {
            let mut event = scope.event(action, None, names, Outcome::Ok);
            event.subjects = ids;
            scope.events.record(event);
        }
        Ok(Ok(members))
    }
}

impl jobs::Host for Invocation {
    fn progress(&mut self, done: u64, total: u64) -> wasmtime::Result<bool> {
        let scope = self.enter()?;
        Ok(match &scope.request.job {
            Some(job) => job.report(done, total),
            None => false,
        })
    }
}
