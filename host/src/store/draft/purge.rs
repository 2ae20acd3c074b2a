//! Removing a person for good (a retention purge): their rows and every
//! index entry that points at them, computed from their opened values
//! while their key still exists. The committer removes the rows and then
//! shreds the person's secret in the keyring.

use super::*;

/// What a removed person held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Doses removed.
    pub doses: u64,
    /// Tickets removed.
    pub tickets: u64,
    /// Whether a My Number was held.
    pub my_number: bool,
}

impl Draft {
    /// Removes `id` and their index entries. The person must exist.
    pub fn remove_person(&mut self, id: u64) -> DraftResult<Removed> {
        let resident = self.resident(id)?;
        let my_number = self.my_number(id)?;
        let tickets = self.tickets(id)?;
        let doses = self.doses(id)?.len() as u64;
        let mut unique: Vec<(IndexKind, String)> = Vec::new();
        if let Some(number) = resident.get(resident::ADDRESS_NUMBER) {
            unique.push((IndexKind::AddressNumber, number.to_owned()));
        }
        if let Some(number) = &my_number {
            unique.push((IndexKind::MyNumber, number.clone()));
        }
        for values in tickets.values() {
            if let Some(number) = values.get(ticket::NUMBER) {
                unique.push((IndexKind::Ticket, number.to_owned()));
            }
        }
        for (kind, value) in &unique {
            let key = self.store.keys().index_hash(*kind, value);
            // Only entries that point at this person: a number reassigned
            // to someone else stays theirs.
            if self.unique_holder(key)? == Some(id) {
                self.set_unique(key, None);
            }
        }
        for key in self.name_keys(&resident) {
            self.names_own.push((key, id, false));
            self.index_ops.push(Op::RemoveName(key, id));
        }
        self.host_ops.push(Op::RemovePerson(id));
        Ok(Removed {
            doses,
            tickets: tickets.len() as u64,
            my_number: my_number.is_some(),
        })
    }
}
