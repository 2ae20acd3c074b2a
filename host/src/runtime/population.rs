//! The host side of `kiroku:population`: cohort facts (many persons per
//! call, from the in-memory projection in `store::facts`) and ticket
//! batches. Like `records`, every function spends fuel, asks `policy`
//! first (a condition reads the fields it names) and leaves one audit
//! event naming every person it returned or wrote.

use super::bindings::campaign_tickets::{CampaignTicket, CampaignTicketField};
use super::bindings::cohort_facts::{self, Condition, FactBlock, Status};
use super::bindings::doses::DoseField;
use super::bindings::residents::ResidentField;
use super::bindings::types::PersonId;
use super::bindings::{campaign_ticket_into_values, ticket_batches};
use super::invocation::Invocation;
use super::reach::Reach;
use super::records::{
    HostResult, bounded, check_new_ticket, guest_try, indexes, new_ticket_values,
    prefixed_field_names, within_limit,
};
use super::sched::blocking_section;
use crate::audit::Outcome;
use crate::fields::{Class, FieldValues, resident, ticket};
use crate::limits::MAX_KEY_BYTES;
use crate::policy::{Access, Interface};
use crate::store::draft::{DraftError, STATUSES, at_position};
use crate::store::facts::{self, Block, Want};

/// Resident fields the facts carry.
const FACT_RESIDENT_FIELDS: [usize; 2] = [resident::BIRTH_DATE, resident::STATUS];
/// Dose fields the facts carry, in [`Want::dose`] order.
const FACT_DOSE_FIELDS: [&str; 6] = [
    "dose-number",
    "date",
    "vaccine",
    "maker",
    "lot",
    "facility-code",
];
/// Ticket fields the facts carry, in [`Want::ticket`] order.
const FACT_TICKET_FIELDS: [usize; 3] = [ticket::CAMPAIGN, ticket::DOSE_NUMBER, ticket::STATUS];

fn dose_field(name: &str) -> usize {
    Class::Dose.field_index(name).expect("a dose field")
}

/// Refuses fields the facts do not carry.
fn carried(class: Class, fields: &[usize], carried: &[usize]) -> Result<(), DraftError> {
    match fields.iter().find(|f| !carried.contains(f)) {
        Some(&f) => Err(DraftError::Invalid(format!(
            "cohort-facts carries no {} field {}; read it per person",
            class.name(),
            class.fields()[f]
        ))),
        None => Ok(()),
    }
}

/// The fields a condition reads, per interface.
fn condition_fields(c: &Condition) -> [Vec<usize>; 3] {
    let mut res = Vec::new();
    if c.born_from.is_some() || c.born_to.is_some() {
        res.push(resident::BIRTH_DATE);
    }
    if !c.statuses.is_empty() {
        res.push(resident::STATUS);
    }
    let mut doses = Vec::new();
    if let Some(d) = &c.dose {
        let named = [
            (d.vaccine.is_some(), "vaccine"),
            (d.maker.is_some(), "maker"),
            (d.lot.is_some(), "lot"),
            (d.facility_code.is_some(), "facility-code"),
            (d.dose_number.is_some(), "dose-number"),
            (d.date_from.is_some() || d.date_to.is_some(), "date"),
        ];
        doses.extend(
            named
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, n)| dose_field(n)),
        );
    }
    let mut tickets = Vec::new();
    if c.ticket.is_some() {
        tickets.extend(FACT_TICKET_FIELDS);
    }
    [res, doses, tickets]
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Resident => STATUSES[0],
        Status::MovedOut => STATUSES[1],
        Status::Deceased => STATUSES[2],
    }
}

fn to_condition(c: Condition) -> facts::Condition {
    facts::Condition {
        born_from: c.born_from,
        born_to: c.born_to,
        statuses: c
            .statuses
            .into_iter()
            .map(|s| status_name(s).into())
            .collect(),
        dose: c.dose.map(|d| facts::DoseCondition {
            vaccine: d.vaccine,
            maker: d.maker,
            lot: d.lot,
            facility: d.facility_code,
            dose_number: d.dose_number,
            date_from: d.date_from,
            date_to: d.date_to,
        }),
        ticket: c.ticket,
    }
}

/// Checks a condition's strings against [`MAX_KEY_BYTES`].
fn bounded_condition(c: &Condition) -> Result<(), DraftError> {
    if let Some(d) = &c.dose {
        for (name, value) in [
            ("vaccine", &d.vaccine),
            ("maker", &d.maker),
            ("lot", &d.lot),
            ("facility-code", &d.facility_code),
        ] {
            if let Some(v) = value {
                bounded(name, v, MAX_KEY_BYTES)?;
            }
        }
    }
    if let Some((campaign, _)) = &c.ticket {
        bounded("campaign", campaign, MAX_KEY_BYTES)?;
    }
    if c.statuses.len() > STATUSES.len() * 4 {
        return Err(DraftError::Invalid(
            "a condition names at most a few statuses".into(),
        ));
    }
    Ok(())
}

fn to_wit(block: Block, reach: &Reach) -> FactBlock {
    use cohort_facts::{DoseFacts, PersonFacts, TicketFacts};
    let status = |s: u8| match s {
        0 => Status::Resident,
        1 => Status::MovedOut,
        _ => Status::Deceased,
    };
    FactBlock {
        persons: block
            .persons
            .into_iter()
            .map(|p| PersonFacts {
                id: reach.handle(p.id),
                birth_date: p.birth_date,
                status: p.status.map(status),
            })
            .collect(),
        doses: block
            .doses
            .into_iter()
            .map(|d| DoseFacts {
                person: d.person,
                dose_number: d.dose_number,
                date: d.date,
                vaccine: d.vaccine,
                maker: d.maker,
                lot: d.lot,
                facility_code: d.facility,
            })
            .collect(),
        tickets: block
            .tickets
            .into_iter()
            .map(|t| TicketFacts {
                person: t.person,
                campaign: t.campaign,
                dose_number: t.dose_number,
                valid: t.valid,
            })
            .collect(),
        strings: block.strings,
        next_after: match block.next_after {
            0 | u64::MAX => block.next_after,
            serial => reach.handle(serial),
        },
        end: block.end,
    }
}

/// `a ∪ b`, sorted.
fn union(a: &[usize], b: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = a.iter().chain(b).copied().collect();
    out.sort_unstable();
    out.dedup();
    out
}

impl cohort_facts::Host for Invocation {
    fn count(&mut self) -> HostResult<u64> {
        let action = "cohort-facts.count";
        let scope = self.enter()?;
        if let Err(e) = scope.check_search(Interface::CohortFacts, action, "population") {
            return Ok(Err(e));
        }
        match scope.draft.person_count() {
            Ok(n) => Ok(Ok(n)),
            Err(e) => scope.finish(action, None, Interface::CohortFacts, &[], Err(e)),
        }
    }

    fn read(
        &mut self,
        after: PersonId,
        limit: u32,
        matching: Condition,
        resident_fields: Vec<ResidentField>,
        dose_fields: Vec<DoseField>,
        ticket_fields: Vec<CampaignTicketField>,
    ) -> HostResult<FactBlock> {
        let action = "cohort-facts.read";
        let iface = Interface::CohortFacts;
        let scope = self.enter()?;
        guest_try!(scope.check_search(iface, action, "population"));
        let lists = indexes(&resident_fields, |f| f as usize).and_then(|r| {
            let d = indexes(&dose_fields, |f| f as usize)?;
            let t = indexes(&ticket_fields, |f| f as usize)?;
            bounded_condition(&matching)?;
            Ok((r, d, t))
        });
        let (resident_fields, dose_fields, ticket_fields) = match lists {
            Ok(l) => l,
            Err(e) => return scope.finish(action, None, iface, &[], Err(e)),
        };
        let fact_doses: Vec<usize> = FACT_DOSE_FIELDS.iter().map(|n| dose_field(n)).collect();
        let shape = carried(Class::Resident, &resident_fields, &FACT_RESIDENT_FIELDS)
            .and_then(|()| carried(Class::Dose, &dose_fields, &fact_doses))
            .and_then(|()| carried(Class::Ticket, &ticket_fields, &FACT_TICKET_FIELDS))
            .and_then(|()| within_limit(scope, limit));
        let after = match shape.and_then(|()| scope.reach.cursor(after)) {
            Ok(a) => a,
            Err(e) => return scope.finish(action, None, iface, &[], Err(e)),
        };
        // What the call reads: the fields returned and the fields the
        // condition looks at; each needs its read grant.
        let [cond_res, cond_doses, cond_tickets] = condition_fields(&matching);
        let read_res = union(&resident_fields, &cond_res);
        let read_doses = union(&dose_fields, &cond_doses);
        let read_tickets = union(&ticket_fields, &cond_tickets);
        let parts = [
            (Interface::Residents, read_res.as_slice()),
            (Interface::Doses, read_doses.as_slice()),
            (Interface::CampaignTickets, read_tickets.as_slice()),
        ];
        for (iface, fields) in parts {
            if !fields.is_empty()
                && let Err(e) = scope.check_fields(iface, Access::Read, action, None, fields)
            {
                return Ok(Err(e));
            }
        }
        let want = Want {
            birth_date: resident_fields.contains(&resident::BIRTH_DATE),
            status: resident_fields.contains(&resident::STATUS),
            dose: std::array::from_fn(|i| dose_fields.contains(&fact_doses[i])),
            ticket: FACT_TICKET_FIELDS.map(|f| ticket_fields.contains(&f)),
        };
        let condition = to_condition(matching);
        let block = blocking_section(|| {
            scope
                .draft
                .read_facts(after, limit as usize, &condition, want)
        });
        let block = match block {
            Ok(b) => b,
            Err(e) => return scope.finish(action, None, iface, &[], Err(e)),
        };
        // One read event for the call, naming every person returned.
        if !block.persons.is_empty() {
            let mut event = scope.event(action, None, prefixed_field_names(&parts), Outcome::Ok);
            event.subjects = block.persons.iter().map(|p| p.id).collect();
            scope.events.record(event);
        }
        Ok(Ok(to_wit(block, &scope.reach)))
    }
}

impl ticket_batches::Host for Invocation {
    fn issue_many(&mut self, batch: Vec<(PersonId, CampaignTicket)>) -> HostResult<u32> {
        let action = "ticket-batches.issue-many";
        let iface = Interface::CampaignTickets;
        let scope = self.enter()?;
        if let Err(e) = within_limit(scope, u32::try_from(batch.len()).unwrap_or(u32::MAX)) {
            return scope.finish(action, None, iface, &[], Err(e));
        }
        let mut holders = Vec::with_capacity(batch.len());
        for (i, (p, _)) in batch.iter().enumerate() {
            match scope.reach.person(*p) {
                Ok(serial) => holders.push(serial),
                Err(e) => return scope.finish(action, None, iface, &[], Err(at_position(i, e))),
            }
        }
        let batch: Vec<(u64, FieldValues)> = batch
            .into_iter()
            .zip(holders)
            .map(|((_, t), p)| (p, new_ticket_values(campaign_ticket_into_values(t))))
            .collect();
        let mut written: Vec<usize> = batch.iter().flat_map(|(_, v)| v.present()).collect();
        written.sort_unstable();
        written.dedup();
        guest_try!(scope.check_fields(iface, Access::Write, action, None, &written));
        let checked = batch.iter().enumerate().try_for_each(|(i, (_, values))| {
            check_new_ticket(values).map_err(|e| at_position(i, e))
        });
        if let Err(e) = checked {
            return scope.finish(action, None, iface, &written, Err(e));
        }
        let persons: Vec<u64> = batch.iter().map(|(p, _)| *p).collect();
        let issued = persons.len() as u32;
        match blocking_section(|| scope.draft.issue_tickets(batch)) {
            Ok(()) => {
                // One write event for the call, naming every holder.
                if issued > 0 {
                    let names = prefixed_field_names(&[(iface, &written)]);
                    let mut event = scope.event(action, None, names, Outcome::Ok);
                    event.subjects = persons;
                    event.subjects.sort_unstable();
                    event.subjects.dedup();
                    scope.events.record(event);
                }
                Ok(Ok(issued))
            }
            Err(e) => scope.finish(action, None, iface, &written, Err(e)),
        }
    }
}
