//! Residents: creating and changing them, and walking the population.

use super::*;

impl Draft {
    /// Creates a person from cleaned resident values.
    pub fn create_person(&mut self, values: &FieldValues) -> DraftResult<u64> {
        let values = clean_values(Class::Resident, values)?;
        for &i in resident::REQUIRED {
            if values.get(i).is_none() {
                return Err(DraftError::Invalid(format!(
                    "{} is required",
                    Class::Resident.fields()[i]
                )));
            }
        }
        let mut values = values;
        if values.get(resident::STATUS).is_none() {
            values.set(resident::STATUS, Some("resident".into()));
        }
        let id = self.store.allocate_person_id();
        let address_number = values
            .get(resident::ADDRESS_NUMBER)
            .unwrap_or_default()
            .to_owned();
        self.claim_unique(
            IndexKind::AddressNumber,
            None,
            &address_number,
            id,
            "the address number",
        )?;
        let key = DataKey::generate(self.entropy.as_ref());
        let secret = crate::crypto::PersonSecret::generate(self.entropy.as_ref());
        let wrapped = self
            .store
            .keys()
            .wrap(id, &key, &secret, self.entropy.as_ref());
        self.reindex_names(id, None, &values);
        self.persons.insert(
            id,
            Person {
                version: None,
                key,
                wrapped,
                new_secret: Some(secret),
                resident: Resident::Open(values),
                dirty: true,
            },
        );
        Ok(id)
    }

    /// Changes a person's resident fields; returns the fields whose value
    /// changed (nothing is written when none did).
    pub fn update_person(&mut self, id: u64, changes: &FieldValues) -> DraftResult<Vec<usize>> {
        let changes = clean_values(Class::Resident, changes)?;
        let old = self.open_resident(id)?.clone();
        let mut new = old.clone();
        let changed = new.apply_fields(&changes);
        if changed.is_empty() {
            return Ok(changed);
        }
        if old.get(resident::ADDRESS_NUMBER) != new.get(resident::ADDRESS_NUMBER) {
            let address_number = new
                .get(resident::ADDRESS_NUMBER)
                .unwrap_or_default()
                .to_owned();
            self.claim_unique(
                IndexKind::AddressNumber,
                old.get(resident::ADDRESS_NUMBER),
                &address_number,
                id,
                "the address number",
            )?;
        }
        self.reindex_names(id, Some(&old), &new);
        let person = self.person(id)?;
        person.resident = Resident::Open(new);
        person.dirty = true;
        Ok(changed)
    }

    /// Up to `limit` person ids above `after`, in id order, as of the
    /// draft's snapshot (persons created by this draft are not included).
    pub fn person_ids_after(&mut self, after: u64, limit: usize) -> DraftResult<Vec<u64>> {
        let mut out = Vec::with_capacity(limit);
        let mut cursor = after;
        while out.len() < limit && cursor != u64::MAX {
            let Some(t) = table!(self.persons, PERSONS) else {
                return Ok(Vec::new());
            };
            let mut ids = Vec::with_capacity(limit);
            for entry in t.range(cursor + 1..)? {
                if ids.len() == limit - out.len() {
                    break;
                }
                ids.push(entry?.0.value());
            }
            let Some(&last) = ids.last() else { break };
            cursor = last;
            for id in ids {
                // A person whose use is suspended is left out of
                // population scans (a campaign goes on without them).
                if self.suspension_exempt || self.person_row(SUSPENSIONS, id)?.is_none() {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    /// Cohort facts of up to `limit` persons above `after` meeting
    /// `condition`, as of the last commit (at least the draft's snapshot);
    /// this draft's own changes are not included.
    pub fn read_facts(
        &mut self,
        after: u64,
        limit: usize,
        condition: &facts::Condition,
        want: facts::Want,
    ) -> DraftResult<facts::Block> {
        let generation = facts::data_generation(self.snapshot()?)?;
        let store = self.store.clone();
        Ok(store
            .facts()
            .read(store.db(), store.keys(), store.keyring(), generation, |f| {
                f.read(after, limit, condition, want)
            })?)
    }

    /// Whether the tenant has issued tickets of `campaign` (as of the last
    /// commit): a single ticket may only join a campaign that exists.
    pub fn knows_campaign(&mut self, campaign: &str) -> DraftResult<bool> {
        let generation = facts::data_generation(self.snapshot()?)?;
        let store = self.store.clone();
        Ok(store
            .facts()
            .read(store.db(), store.keys(), store.keyring(), generation, |f| {
                f.knows_campaign(campaign)
            })?)
    }

    /// How many persons the snapshot holds.
    pub fn person_count(&mut self) -> DraftResult<u64> {
        use redb::ReadableTableMetadata;
        Ok(match table!(self.persons, PERSONS) {
            Some(t) => t.len()?,
            None => 0,
        })
    }
}
