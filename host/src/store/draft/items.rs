//! A person's items keyed by sequence: doses and tickets, read sealed
//! and opened when asked, issued one by one or a campaign at a time.

use super::*;

/// A new ticket's cleaned values (status valid) and its number.
pub(super) fn new_ticket(values: &FieldValues) -> DraftResult<(FieldValues, String)> {
    let mut values = clean_values(Class::Ticket, values)?;
    let number = values.get(ticket::NUMBER).unwrap_or_default().to_owned();
    if number.is_empty() {
        return Err(DraftError::Invalid("number is required".into()));
    }
    kiroku_rules::ticket::validate(&number).map_err(|e| DraftError::Invalid(e.to_string()))?;
    values.set(ticket::STATUS, Some(ticket::VALID.into()));
    values.set(ticket::VOID_REASON, None);
    values.set(ticket::VOIDED_ON, None);
    Ok((values, number))
}

impl Draft {
    /// Loads many persons at once, on every core, to add items of `class`
    /// to them: each person's data key is unwrapped and the last sequence
    /// of their items read; their resident fields and items stay unread or
    /// sealed until asked for (a batch of tickets would otherwise open its
    /// holders one by one).
    pub(super) fn preload(&mut self, persons: &[u64], class: Class) -> DraftResult<()> {
        let mut wanted: Vec<u64> = persons
            .iter()
            .copied()
            .filter(|p| !self.persons.contains_key(p))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        // Open the snapshot tables once; the workers share them.
        table!(self.persons, PERSONS);
        table!(self.versions, PERSON_VERSIONS);
        self.open_item_tables(class)?;
        let persons_table = opened(&self.tables.persons);
        let versions = opened(&self.tables.versions);
        let item_tables = self.tables.items(class);
        let store = self.store.as_ref();
        let load = |&id: &u64| -> DraftResult<Option<(Person, Items)>> {
            let Some(person) = read_person(store, persons_table, versions, id)? else {
                return Ok(None); // `person` reports it when asked.
            };
            let items = Items {
                last_stored: item_tables.last_seq(id)?,
                ..Items::default()
            };
            Ok(Some((person, items)))
        };
        let loaded = in_parallel(&wanted, load);
        for (id, loaded) in wanted.into_iter().zip(loaded) {
            let Some((person, items)) = loaded? else {
                continue;
            };
            self.persons.insert(id, person);
            match class {
                Class::Dose => self.doses.insert(id, items),
                _ => self.tickets.insert(id, items),
            };
        }
        Ok(())
    }

    /// Opens the snapshot tables a class's items are read from.
    pub(super) fn open_item_tables(&mut self, class: Class) -> DraftResult<()> {
        if class == Class::Dose {
            table!(self.doses, DOSES);
        } else {
            table!(self.person_tickets, PERSON_TICKETS);
            table!(self.tickets, TICKETS);
        }
        Ok(())
    }

    /// A person's items of `class`, their stored ones read but not opened
    /// (or, if preloaded to add items, only their last sequence known).
    pub(super) fn items_sealed(&mut self, class: Class, person: u64) -> DraftResult<&mut Items> {
        self.person(person)?;
        let loaded = match class {
            Class::Dose => self.doses.contains_key(&person),
            _ => self.tickets.contains_key(&person),
        };
        if !loaded {
            self.read_stored_items(class, person)?;
        }
        Ok(self.items_of(class, person))
    }

    /// Reads a person's stored items of `class` into the draft, sealed.
    pub(super) fn read_stored_items(&mut self, class: Class, person: u64) -> DraftResult<()> {
        self.open_item_tables(class)?;
        let sealed = self.tables.items(class).read(person)?;
        let items = match class {
            Class::Dose => self.doses.entry(person),
            _ => self.tickets.entry(person),
        }
        .or_default();
        items.sealed = sealed;
        items.read = true;
        Ok(())
    }

    /// A person's items of `class`, already loaded.
    pub(super) fn items_of(&mut self, class: Class, person: u64) -> &mut Items {
        match class {
            Class::Dose => self.doses.get_mut(&person),
            _ => self.tickets.get_mut(&person),
        }
        .expect("loaded before")
    }

    /// A person's items of `class`, every one opened.
    pub(super) fn items(&mut self, class: Class, person: u64) -> DraftResult<&mut Items> {
        if !self.items_sealed(class, person)?.read {
            self.read_stored_items(class, person)?;
        }
        let key = &self.persons[&person].key;
        let items = match class {
            Class::Dose => self.doses.get_mut(&person),
            _ => self.tickets.get_mut(&person),
        }
        .expect("loaded above");
        for (seq, sealed) in std::mem::take(&mut items.sealed) {
            let plain = key
                .open(&seal_context(&self.store, class, person, seq), &sealed)
                .map_err(StoreError::from)?;
            let values: FieldValues = rows::decode(&plain).map_err(StoreError::from)?;
            items.items.insert(seq, values.fit(class));
        }
        Ok(items)
    }

    /// A person's doses by dose id.
    pub fn doses(&mut self, person: u64) -> DraftResult<BTreeMap<u64, FieldValues>> {
        Ok(self.items(Class::Dose, person)?.items.clone())
    }

    /// Adds a dose; returns its id (next in the person's sequence).
    pub fn add_dose(&mut self, person: u64, values: &FieldValues) -> DraftResult<u64> {
        let values = clean_values(Class::Dose, values)?;
        let items = self.items(Class::Dose, person)?;
        let id = items.next_seq();
        items.items.insert(id, values);
        items.dirty.push(id);
        Ok(id)
    }

    /// Overwrites fields of a dose.
    pub fn update_dose(
        &mut self,
        person: u64,
        dose: u64,
        changes: &FieldValues,
    ) -> DraftResult<()> {
        let changes = clean_values(Class::Dose, changes)?;
        let items = self.items(Class::Dose, person)?;
        let Some(values) = items.items.get_mut(&dose) else {
            return Err(DraftError::NotFound(format!(
                "the person has no dose {dose}"
            )));
        };
        values.apply(&changes);
        items.dirty.push(dose);
        Ok(())
    }

    /// A person's tickets by sequence.
    pub fn tickets(&mut self, person: u64) -> DraftResult<BTreeMap<u64, FieldValues>> {
        Ok(self.items(Class::Ticket, person)?.items.clone())
    }

    /// Issues a ticket; its number must be unique in the tenant. A ticket
    /// starts valid.
    pub fn issue_ticket(&mut self, person: u64, values: &FieldValues) -> DraftResult<u64> {
        let (values, key) = self.prepare_ticket(person, values)?;
        self.add_ticket(person, values, key)
    }

    /// Issues many tickets, all or none: each is checked (number, holder,
    /// uniqueness in the tenant and in the batch) before any is added.
    /// Errors name the position in the batch, never a value.
    pub fn issue_tickets(&mut self, batch: Vec<(u64, FieldValues)>) -> DraftResult<()> {
        let holders: Vec<u64> = batch.iter().map(|(p, _)| *p).collect();
        self.preload(&holders, Class::Ticket)?;
        table!(self.unique, UNIQUE_INDEX);
        let unique = opened(&self.tables.unique);
        let store = self.store.as_ref();
        // Cleaning, hashing and the snapshot lookups on every core.
        let checked = in_parallel(&batch, |(_, values)| {
            let (values, number) = new_ticket(values)?;
            let key = store.keys().index_hash(IndexKind::Ticket, &number);
            let holder = match unique {
                Some(t) => t.get(key)?.map(|v| v.value()),
                None => None,
            };
            Ok::<_, DraftError>((values, key, holder))
        });
        let mut prepared = Vec::with_capacity(batch.len());
        let mut numbers = HashSet::with_capacity(batch.len());
        for (i, ((person, _), checked)) in batch.iter().zip(checked).enumerate() {
            let (values, key, snapshot_holder) = checked.map_err(|e| at_position(i, e))?;
            self.person(*person).map_err(|e| at_position(i, e))?;
            let holder = match self.unique_own.get(&key).or(self.unique_seen.get(&key)) {
                Some(h) => *h,
                None => {
                    self.unique_seen.insert(key, snapshot_holder);
                    snapshot_holder
                }
            };
            if holder.is_some() || !numbers.insert(key) {
                let e = DraftError::Conflict("the ticket number is already registered".into());
                return Err(at_position(i, e));
            }
            prepared.push((*person, values, key));
        }
        for (person, values, key) in prepared {
            self.add_ticket(person, values, key)?;
        }
        Ok(())
    }

    /// Checks a new ticket without changing anything; returns its cleaned
    /// values (status valid) and the keyed hash of its number.
    pub(super) fn prepare_ticket(
        &mut self,
        person: u64,
        values: &FieldValues,
    ) -> DraftResult<(FieldValues, IndexHash)> {
        let (values, number) = new_ticket(values)?;
        self.person(person)?;
        let key = self.store.keys().index_hash(IndexKind::Ticket, &number);
        if self.unique_holder(key)?.is_some() {
            return Err(DraftError::Conflict(
                "the ticket number is already registered".into(),
            ));
        }
        Ok((values, key))
    }

    pub(super) fn add_ticket(
        &mut self,
        person: u64,
        values: FieldValues,
        key: IndexHash,
    ) -> DraftResult<u64> {
        self.set_unique(key, Some(person));
        let items = self.items_sealed(Class::Ticket, person)?;
        let seq = items.next_seq();
        items.items.insert(seq, values);
        items.dirty.push(seq);
        Ok(seq)
    }

    /// The holder of a ticket and the ticket's sequence, voided or not.
    pub(super) fn ticket_by_number(&mut self, number: &str) -> DraftResult<Option<(u64, u64)>> {
        let number = normalize::clean(number);
        let Some(holder) = self.find_unique(IndexKind::Ticket, &number)? else {
            return Ok(None);
        };
        let items = self.items(Class::Ticket, holder)?;
        let seq = items
            .items
            .iter()
            .find(|(_, v)| v.get(ticket::NUMBER) == Some(number.as_str()))
            .map(|(&seq, _)| seq);
        Ok(seq.map(|seq| (holder, seq)))
    }

    /// The holder of a valid ticket; a voided ticket is refused, so it can
    /// no longer find its holder or record a dose.
    pub fn find_valid_ticket(&mut self, number: &str) -> DraftResult<Option<u64>> {
        let Some((holder, seq)) = self.ticket_by_number(number)? else {
            return Ok(None);
        };
        let items = self.items(Class::Ticket, holder)?;
        if items.items[&seq].get(ticket::STATUS) == Some(ticket::VOIDED) {
            return Err(DraftError::Invalid(
                "this ticket was voided (lost or reissued); use the ticket issued in its place"
                    .into(),
            ));
        }
        Ok(Some(holder))
    }

    /// Voids a valid ticket with a reason; returns its holder.
    pub fn void_ticket(&mut self, number: &str, reason: &str, today: &str) -> DraftResult<u64> {
        let Some((holder, seq)) = self.ticket_by_number(number)? else {
            return Err(DraftError::NotFound("no ticket has this number".into()));
        };
        let mut changes = FieldValues::empty(Class::Ticket);
        changes.set(ticket::VOID_REASON, Some(reason.to_owned()));
        changes.set(ticket::VOIDED_ON, Some(today.to_owned()));
        let changes = clean_values(Class::Ticket, &changes)?;
        if changes.get(ticket::VOID_REASON).is_none() {
            return Err(DraftError::Invalid(
                "a reason is required to void a ticket".into(),
            ));
        }
        let items = self.items(Class::Ticket, holder)?;
        let values = items.items.get_mut(&seq).expect("found above");
        if values.get(ticket::STATUS) == Some(ticket::VOIDED) {
            return Err(DraftError::Conflict("the ticket is already voided".into()));
        }
        values.apply(&changes);
        values.set(ticket::STATUS, Some(ticket::VOIDED.into()));
        items.dirty.push(seq);
        Ok(holder)
    }
}
