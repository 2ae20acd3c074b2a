//! The end of a draft: every change sealed into a write set.

use super::*;

impl Draft {
    /// Whether the draft changes anything.
    pub fn has_changes(&self) -> bool {
        !self.index_ops.is_empty()
            || self.persons.values().any(|p| p.dirty)
            || self
                .doses
                .values()
                .chain(self.tickets.values())
                .any(|i| !i.dirty.is_empty())
            || self.my_numbers.values().any(|s| s.dirty)
            || !self.reviews.is_empty()
            || self.passports.values().any(|s| s.dirty)
            || !self.host_ops.is_empty()
    }

    /// Seals every change into a write set with `events`. A draft without
    /// changes yields events only: reads need no validation.
    pub fn into_write_set(self, events: Vec<Event>) -> WriteSet {
        if !self.has_changes() {
            return WriteSet {
                events,
                ..WriteSet::default()
            };
        }
        let entropy = self.entropy.as_ref();
        let store = self.store.as_ref();
        let mut checks: Vec<Check> = self
            .persons
            .iter()
            .map(|(&person, p)| Check::PersonVersion {
                person,
                version: p.version,
            })
            .collect();
        checks.extend(
            self.unique_seen
                .iter()
                .map(|(&key, &holder)| Check::Unique { key, holder }),
        );
        // In key order, the committer's lookups walk each table once instead
        // of jumping around it (a population-wide draft checks a million).
        checks.sort_unstable_by_key(|c| match c {
            Check::PersonVersion { person, .. } => (0, *person, [0; INDEX_HASH_LEN]),
            Check::Unique { key, .. } => (1, 0, *key),
            Check::RequestUnused(_) | Check::ReviewOpen(_) | Check::FederationEntry { .. } => {
                (2, 0, [0; INDEX_HASH_LEN])
            }
        });
        checks.extend(self.host_checks);
        let mut ops = Vec::new();
        let mut fact_changes = Vec::new();
        let mut dirty_persons: Vec<(&u64, &Person)> =
            self.persons.iter().filter(|(_, p)| p.dirty).collect();
        dirty_persons.sort_unstable_by_key(|(id, _)| **id);
        for (&id, p) in dirty_persons {
            let Resident::Open(values) = &p.resident else {
                unreachable!("a changed resident was opened to change it");
            };
            let sealed = p.key.seal(
                &seal_context(store, Class::Resident, id, 0),
                &rows::encode(values),
                entropy,
            );
            let row = PersonRow {
                wrapped_key: p.wrapped.clone(),
                resident: sealed,
            };
            if let Some(secret) = &p.new_secret {
                ops.push(Op::PutPersonSecret(id, secret.clone()));
            }
            ops.push(Op::PutPerson(id, rows::encode(&row)));
            fact_changes.push(FactChange::Resident {
                person: id,
                birth_date: values.get(resident::BIRTH_DATE).map(str::to_owned),
                status: values.get(resident::STATUS).map(str::to_owned),
                status_date: values.get(resident::STATUS_DATE).map(str::to_owned),
            });
        }
        let mut items_to_seal = Vec::new();
        for (class, map) in [(Class::Dose, &self.doses), (Class::Ticket, &self.tickets)] {
            let mut persons: Vec<(&u64, &Items)> = map.iter().collect();
            persons.sort_unstable_by_key(|(p, _)| **p);
            for (&person, items) in persons {
                let key = &self.persons[&person].key;
                let mut dirty = items.dirty.clone();
                dirty.sort_unstable();
                dirty.dedup();
                for seq in dirty {
                    items_to_seal.push((class, person, seq, key, &items.items[&seq]));
                }
            }
        }
        let seal =
            |&(class, person, seq, key, values): &(Class, u64, u64, &DataKey, &FieldValues)| {
                let sealed = key.seal(
                    &seal_context(store, class, person, seq),
                    &rows::encode(values),
                    entropy,
                );
                match class {
                    Class::Dose => Op::PutDose(person, seq, sealed),
                    _ => Op::PutTicket(person, seq, sealed),
                }
            };
        ops.extend(in_parallel(&items_to_seal, seal));
        for &(class, person, seq, _, values) in &items_to_seal {
            fact_changes.push(match class {
                Class::Dose => FactChange::Dose {
                    person,
                    seq,
                    text: Box::new(DoseText::of(values)),
                },
                _ => FactChange::Ticket {
                    person,
                    seq,
                    text: TicketText::of(values),
                },
            });
        }
        for (&person, single) in self.my_numbers.iter().filter(|(_, s)| s.dirty) {
            let Some(plain) = &single.value else {
                ops.push(Op::RemoveMyNumber(person));
                continue;
            };
            let sealed = self.persons[&person].key.seal(
                &seal_context(store, Class::MyNumber, person, 0),
                plain.as_bytes(),
                entropy,
            );
            ops.push(Op::PutMyNumber(person, sealed));
        }
        for (id, row) in &self.reviews {
            ops.push(Op::PutReview(*id, rows::encode(row)));
        }
        for (&person, single) in self.passports.iter().filter(|(_, s)| s.dirty) {
            let plain = rows::encode(&single.value.clone().unwrap_or_default());
            let sealed = self.persons[&person].key.seal(
                &seal_context(store, Class::Passport, person, 0),
                &plain,
                entropy,
            );
            ops.push(Op::PutPassport(person, sealed));
        }
        for op in &self.host_ops {
            match op {
                Op::RemovePerson(person) => {
                    fact_changes.push(FactChange::Removed { person: *person });
                }
                Op::SetSuspension(person, row) => fact_changes.push(FactChange::Suspension {
                    person: *person,
                    suspended: row.is_some(),
                }),
                _ => {}
            }
        }
        ops.extend(self.host_ops);
        // In key order the committer walks each index once instead of
        // jumping around it; a stable sort keeps each key's ops in order.
        let mut index_ops = self.index_ops;
        index_ops.sort_by_key(|op| match op {
            Op::SetUnique(k, _) | Op::RemoveUnique(k) => (0, *k),
            Op::AddName(k, _) | Op::RemoveName(k, _) => (1, *k),
            _ => (2, [0; INDEX_HASH_LEN]),
        });
        ops.extend(index_ops);
        if self.persons.len() >= PARALLEL_MIN {
            // Free a campaign-sized draft off the request's path.
            let records = (self.persons, self.doses, self.tickets);
            let _ = std::thread::Builder::new()
                .name("draft-drop".into())
                .spawn(move || drop(records));
        }
        WriteSet {
            checks,
            ops,
            events,
            facts: fact_changes,
        }
    }
}
