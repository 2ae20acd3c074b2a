//! Building the projection from the tenant file: every person's records
//! opened with their keys, a step of persons at a time on every core.

use redb::{Database, ReadableDatabase, ReadableTable};

use super::{BUILD_CHUNK, DoseText, FactChange, Facts, TicketText, data_generation};
use crate::crypto::{SealContext, TenantKeys};
use crate::fields::{Class, FieldValues, resident};
use crate::store::keyring::{Keyring, KeyringSnapshot, Slot};
use crate::store::rows::{self, PersonRow};
use crate::store::tables::{DOSES, PERSON_TICKETS, PERSONS, SUSPENSIONS, TICKETS};
use crate::store::{StoreError, StoreResult, in_parallel};

/// A person's records as stored (sealed), for a build step.
struct Sealed {
    id: u64,
    row: Vec<u8>,
    doses: Vec<(u64, Vec<u8>)>,
    /// (seq, ticket id): the tickets are read on the worker.
    tickets: Vec<(u64, u64)>,
}

/// A person's kept fields in text, opened from [`Sealed`].
struct Opened {
    id: u64,
    birth_date: Option<String>,
    status: Option<String>,
    status_date: Option<String>,
    doses: Vec<(u64, DoseText)>,
    tickets: Vec<(u64, TicketText)>,
}

fn open_person(
    keys: &TenantKeys,
    ring: &KeyringSnapshot,
    tickets: Option<&redb::ReadOnlyTable<u64, &'static [u8]>>,
    sealed: &Sealed,
) -> StoreResult<Option<Opened>> {
    let tenant = keys.tenant();
    let row: PersonRow = rows::decode(&sealed.row)?;
    let secret = match ring.slot(sealed.id) {
        Slot::Live(secret) => secret,
        Slot::Shredded => return Ok(None),
        Slot::Empty => {
            let message = format!("person {} has no key in the keyring", sealed.id);
            return Err(StoreError::Damaged(message));
        }
    };
    let key = keys.unwrap(sealed.id, &row.wrapped_key, &secret)?;
    let context = |class: Class, item| SealContext::new(tenant, class.name(), sealed.id, item);
    let plain = key.open(&context(Class::Resident, 0), &row.resident)?;
    let resident: FieldValues = rows::decode(&plain)?;
    let mut opened = Opened {
        id: sealed.id,
        birth_date: resident.get(resident::BIRTH_DATE).map(str::to_owned),
        status: resident.get(resident::STATUS).map(str::to_owned),
        status_date: resident.get(resident::STATUS_DATE).map(str::to_owned),
        doses: Vec::with_capacity(sealed.doses.len()),
        tickets: Vec::with_capacity(sealed.tickets.len()),
    };
    for (seq, bytes) in &sealed.doses {
        let plain = key.open(&context(Class::Dose, *seq), bytes)?;
        let values: FieldValues = rows::decode(&plain)?;
        opened
            .doses
            .push((*seq, DoseText::of(&values.fit(Class::Dose))));
    }
    for &(seq, id) in &sealed.tickets {
        let Some(bytes) = tickets.map(|t| t.get(id)).transpose()?.flatten() else {
            let message = format!("ticket {id} of person {} is missing", sealed.id);
            return Err(StoreError::Damaged(message));
        };
        let plain = key.open(&context(Class::Ticket, seq), bytes.value())?;
        let values: FieldValues = rows::decode(&plain)?;
        opened
            .tickets
            .push((seq, TicketText::of(&values.fit(Class::Ticket))));
    }
    Ok(Some(opened))
}

/// Walks a (person, seq)-keyed table alongside the persons table, so a
/// build reads each table once, in order.
struct ItemCursor<'t, V: redb::Value + 'static, T> {
    rows: Option<redb::Range<'t, (u64, u64), V>>,
    pending: Option<((u64, u64), T)>,
    /// Takes a value out of its page.
    own: fn(redb::AccessGuard<'_, V>) -> T,
}

impl<'t, V: redb::Value + 'static, T> ItemCursor<'t, V, T> {
    fn new(
        txn: &'t redb::ReadTransaction,
        def: redb::TableDefinition<(u64, u64), V>,
        own: fn(redb::AccessGuard<'_, V>) -> T,
    ) -> StoreResult<ItemCursor<'t, V, T>> {
        let rows = match txn.open_table(def) {
            Ok(t) => Some(t.range::<(u64, u64)>(..)?),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(ItemCursor {
            rows,
            pending: None,
            own,
        })
    }

    /// The items of `person` (ids come in ascending order).
    fn take(&mut self, person: u64) -> StoreResult<Vec<(u64, T)>> {
        let mut out = Vec::new();
        loop {
            if self.pending.is_none() {
                let Some(rows) = self.rows.as_mut() else {
                    break;
                };
                let Some(entry) = rows.next() else {
                    self.rows = None;
                    break;
                };
                let (k, v) = entry?;
                self.pending = Some((k.value(), (self.own)(v)));
            }
            let Some(((p, _), _)) = &self.pending else {
                break;
            };
            if *p > person {
                break;
            }
            let ((p, seq), value) = self.pending.take().expect("checked above");
            if p == person {
                out.push((seq, value));
            }
        }
        Ok(out)
    }
}

impl Facts {
    fn absorb(&mut self, o: Opened) {
        self.apply(FactChange::Resident {
            person: o.id,
            birth_date: o.birth_date,
            status: o.status,
            status_date: o.status_date,
        });
        for (seq, text) in o.doses {
            self.apply(FactChange::Dose {
                person: o.id,
                seq,
                text: Box::new(text),
            });
        }
        for (seq, text) in o.tickets {
            self.apply(FactChange::Ticket {
                person: o.id,
                seq,
                text,
            });
        }
    }
}

/// Builds the projection from the database as it is now, a step of
/// persons at a time, opening each step on every core.
pub(super) fn build(db: &Database, keys: &TenantKeys, ring: &Keyring) -> StoreResult<Facts> {
    let txn = db.begin_read()?;
    // Read after the snapshot: a person in it has their secret written.
    let ring = ring.snapshot()?;
    let mut facts = Facts {
        generation: data_generation(&txn)?,
        ..Facts::default()
    };
    let persons = match txn.open_table(PERSONS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(facts),
        Err(e) => return Err(e.into()),
    };
    let mut doses = ItemCursor::new(&txn, DOSES, |v| v.value().to_vec())?;
    let mut ticket_ids = ItemCursor::new(&txn, PERSON_TICKETS, |v| v.value())?;
    let tickets = match txn.open_table(TICKETS) {
        Ok(t) => Some(t),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if let Ok(suspended) = txn.open_table(SUSPENSIONS) {
        for entry in suspended.iter()? {
            let person = entry?.0.value();
            facts.apply(FactChange::Suspension {
                person,
                suspended: true,
            });
        }
    }
    let mut step = Vec::with_capacity(BUILD_CHUNK);
    let mut rows = persons.range::<u64>(..)?.peekable();
    while let Some(entry) = rows.next() {
        let (k, v) = entry?;
        let id = k.value();
        step.push(Sealed {
            id,
            row: v.value().to_vec(),
            doses: doses.take(id)?,
            tickets: ticket_ids.take(id)?,
        });
        if step.len() == BUILD_CHUNK || rows.peek().is_none() {
            for opened in in_parallel(&step, |s| open_person(keys, &ring, tickets.as_ref(), s)) {
                if let Some(opened) = opened? {
                    facts.absorb(opened);
                }
            }
            step.clear();
        }
    }
    Ok(facts)
}
