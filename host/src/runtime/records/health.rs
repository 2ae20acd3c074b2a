//! `kiroku:health`: campaign tickets (issue, find, void), the population
//! scan (`cohort`, which needs the population grant and reaches everyone)
//! and job progress.

use super::tickets_doses::person_tickets;
use super::{HostResult, bounded, guest_try, indexes, within_limit};
use crate::audit::Outcome;
use crate::fields::{Class, FieldValues, ticket};
use crate::limits::MAX_KEY_BYTES;
use crate::policy::{Access, Interface};
use crate::runtime::bindings::types::PersonId;
use crate::runtime::bindings::{
    Fields, campaign_ticket_from_values, campaign_ticket_into_values, campaign_tickets, cohort,
    dose_from_values, doses, jobs, residents,
};
use crate::runtime::invocation::Invocation;
use crate::runtime::sched::blocking_section;
use crate::store::draft::DraftError;

/// A new ticket's values without the fields only the host sets: the host
/// alone says whether a ticket is valid.
pub(in crate::runtime) fn new_ticket_values(mut values: FieldValues) -> FieldValues {
    for i in [ticket::STATUS, ticket::VOID_REASON, ticket::VOIDED_ON] {
        values.set(i, None);
    }
    values
}

/// Checks what a new campaign ticket must carry for its OCR line.
pub(in crate::runtime) fn check_new_ticket(values: &FieldValues) -> Result<(), DraftError> {
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
    let campaign = values.get(ticket::CAMPAIGN).unwrap_or_default();
    if !is_campaign_id(campaign) {
        return Err(DraftError::Invalid(
            "campaign must be a campaign id: 1-40 lowercase letters, digits or '-', with a letter"
                .into(),
        ));
    }
    if !digit(ticket::TICKET_TYPE, 0) || !digit(ticket::DOSE_NUMBER, 1) {
        return Err(DraftError::Invalid(
            "ticket-type must be 0-9 and dose-number 1-9 (one digit each in the OCR line)".into(),
        ));
    }
    Ok(())
}

/// A campaign id as extraction defines them (`covid-2024-autumn`).
fn is_campaign_id(id: &str) -> bool {
    kiroku_rules::ticket::is_campaign_id(id)
}

/// Field names prefixed by interface (`doses.lot`), for the audit event of
/// a call that reads or writes several interfaces' fields.
pub(in crate::runtime) fn prefixed_field_names(parts: &[(Interface, &[usize])]) -> Vec<String> {
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

impl campaign_tickets::Host for Invocation {
    fn municipality_code(&mut self) -> wasmtime::Result<String> {
        Ok(self.enter()?.draft.tenant_code().to_owned())
    }

    fn find(&mut self, number: String) -> HostResult<Option<PersonId>> {
        self.search(
            Interface::CampaignTickets,
            "campaign-tickets.find",
            "ticket-number",
            &number,
            |s| s.draft.find_valid_ticket(&number),
        )
    }

    fn for_person(
        &mut self,
        person: PersonId,
        fields: Vec<campaign_tickets::CampaignTicketField>,
    ) -> HostResult<Vec<campaign_tickets::CampaignTicket>> {
        let fields = indexes(&fields, |f| f as usize);
        self.list_for_person(
            Interface::CampaignTickets,
            "campaign-tickets.for-person",
            person,
            fields,
            |s, p, f| person_tickets(s, p, f, campaign_ticket_from_values),
        )
    }

    fn issue(&mut self, person: PersonId, new: campaign_tickets::CampaignTicket) -> HostResult<()> {
        let values = new_ticket_values(campaign_ticket_into_values(new));
        self.write_fields(
            Interface::CampaignTickets,
            "campaign-tickets.issue",
            person,
            &values.clone(),
            |s, p| {
                check_new_ticket(&values)?;
                let campaign = values.get(ticket::CAMPAIGN).unwrap_or_default();
                if !s.draft.knows_campaign(campaign)? {
                    return Err(DraftError::NotFound(
                        "no such campaign: its tickets are issued by its extraction first".into(),
                    ));
                }
                s.draft.issue_ticket(p, &values).map(|_| ())
            },
        )
    }

    fn void(&mut self, number: String, reason: String) -> HostResult<PersonId> {
        let action = "campaign-tickets.void";
        let iface = Interface::CampaignTickets;
        let fields = [ticket::STATUS, ticket::VOID_REASON];
        let scope = self.enter()?;
        guest_try!(scope.check_fields(iface, Access::Write, action, None, &fields));
        let today = scope.request.today.to_string();
        let result = bounded("number", &number, MAX_KEY_BYTES)
            .and_then(|()| bounded("reason", &reason, MAX_KEY_BYTES))
            .and_then(|()| scope.draft.void_ticket(&number, &reason, &today));
        let subject = result.as_ref().ok().copied();
        let result = result.map(|p| scope.reach.found(p));
        scope.finish(action, subject, iface, &fields, result)
    }
}

impl cohort::Host for Invocation {
    fn count(&mut self) -> HostResult<u64> {
        let scope = self.enter()?;
        guest_try!(scope.check_search(Interface::Cohort, "cohort.count", "population"));
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
        let iface = Interface::Cohort;
        let scope = self.enter()?;
        guest_try!(scope.check_search(iface, action, "population"));
        let lists = indexes(&resident_fields, |f| f as usize).and_then(|r| {
            let d = indexes(&dose_fields, |f| f as usize)?;
            let t = indexes(&ticket_fields, |f| f as usize)?;
            Ok((r, d, t))
        });
        let (resident_fields, dose_fields, ticket_fields) = match lists {
            Ok(l) => l,
            Err(e) => return scope.finish(action, None, iface, &[], Err(e)),
        };
        let parts = [
            (Interface::Residents, resident_fields.as_slice()),
            (Interface::Doses, dose_fields.as_slice()),
            (Interface::CampaignTickets, ticket_fields.as_slice()),
        ];
        for (part, fields) in parts {
            if !fields.is_empty() {
                guest_try!(scope.check_fields(part, Access::Read, action, None, fields));
            }
        }
        let start = within_limit(scope, limit).and_then(|()| scope.reach.cursor(after));
        let after = match start {
            Ok(a) => a,
            Err(e) => return scope.finish(action, None, iface, &[], Err(e)),
        };
        let ids = match scope.draft.person_ids_after(after, limit as usize) {
            Ok(ids) => ids,
            Err(e) => return scope.finish(action, None, iface, &[], Err(e)),
        };
        let names = prefixed_field_names(&parts);
        let mut members = Vec::with_capacity(ids.len());
        let read = blocking_section(|| {
            for &id in &ids {
                let resident = scope.draft.resident(id)?.project(&resident_fields);
                scope.served(resident.personal(Class::Resident));
                let doses = if dose_fields.is_empty() {
                    Vec::new()
                } else {
                    let all = scope.draft.doses(id)?;
                    all.into_iter()
                        .map(|(d, v)| {
                            let v = v.project(&dose_fields);
                            scope.served(v.personal(Class::Dose));
                            dose_from_values(d, v)
                        })
                        .collect()
                };
                let tickets = if ticket_fields.is_empty() {
                    Vec::new()
                } else {
                    let all = scope.draft.tickets(id)?;
                    all.into_values()
                        .map(|v| {
                            let v = v.project(&ticket_fields);
                            scope.served(v.personal(Class::Ticket));
                            campaign_ticket_from_values(v)
                        })
                        .collect()
                };
                members.push(cohort::Member {
                    id: scope.reach.handle(id),
                    resident: residents::Resident::from_values(resident),
                    doses,
                    tickets,
                });
            }
            Ok::<(), DraftError>(())
        });
        if let Err(e) = read {
            return scope.finish(action, None, iface, &[], Err(e));
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
