//! The keyed-hash indexes a draft reads and changes: unique identifiers
//! (address, ticket and My Numbers) and names with birth dates.

use super::*;

impl Draft {
    /// Looks up a unique identifier.
    pub fn find_unique(&mut self, kind: IndexKind, value: &str) -> DraftResult<Option<u64>> {
        let key = self.store.keys().index_hash(kind, &normalize::clean(value));
        self.unique_holder(key)
    }

    pub(super) fn unique_holder(&mut self, key: IndexHash) -> DraftResult<Option<u64>> {
        if let Some(own) = self.unique_own.get(&key) {
            return Ok(*own);
        }
        if let Some(seen) = self.unique_seen.get(&key) {
            return Ok(*seen);
        }
        let holder = match table!(self.unique, UNIQUE_INDEX) {
            Some(t) => t.get(key)?.map(|v| v.value()),
            None => None,
        };
        self.unique_seen.insert(key, holder);
        Ok(holder)
    }

    pub(super) fn set_unique(&mut self, key: IndexHash, holder: Option<u64>) {
        self.unique_own.insert(key, holder);
        self.index_ops.push(match holder {
            Some(p) => Op::SetUnique(key, p),
            None => Op::RemoveUnique(key),
        });
    }

    /// Claims a unique identifier for `person`, releasing `old` if given.
    pub(super) fn claim_unique(
        &mut self,
        kind: IndexKind,
        old: Option<&str>,
        new: &str,
        person: u64,
        what: &str,
    ) -> DraftResult<()> {
        let new_key = self.store.keys().index_hash(kind, new);
        match self.unique_holder(new_key)? {
            Some(holder) if holder == person => return Ok(()),
            Some(_) => {
                return Err(DraftError::Conflict(format!(
                    "{what} is already registered to another person"
                )));
            }
            None => {}
        }
        if let Some(old) = old {
            let old_key = self.store.keys().index_hash(kind, old);
            self.unique_holder(old_key)?;
            self.set_unique(old_key, None);
        }
        self.set_unique(new_key, Some(person));
        Ok(())
    }

    /// Persons with this name (kana or kanji, normalised) and birth date.
    pub fn find_by_name(
        &mut self,
        name: &str,
        birth_date: &str,
        limit: usize,
    ) -> DraftResult<Vec<u64>> {
        let key = self
            .store
            .keys()
            .index_hash(IndexKind::NameAndBirthDate, &name_key(name, birth_date));
        let mut found: Vec<u64> = Vec::new();
        if let Some(t) = match self.snapshot()?.open_multimap_table(NAME_INDEX) {
            Ok(t) => Some(t),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(StoreError::from(e).into()),
        } {
            for v in t.get(key)? {
                found.push(v?.value());
            }
        }
        for (k, p, added) in &self.names_own {
            if *k == key {
                found.retain(|f| f != p);
                if *added {
                    found.push(*p);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found.truncate(limit);
        Ok(found)
    }

    pub(super) fn name_keys(&self, values: &FieldValues) -> Vec<IndexHash> {
        let birth = values.get(resident::BIRTH_DATE).unwrap_or_default();
        let mut keys: Vec<IndexHash> = [resident::KANA_NAME, resident::KANJI_NAME]
            .iter()
            .filter_map(|&i| values.get(i))
            .map(|n| {
                self.store
                    .keys()
                    .index_hash(IndexKind::NameAndBirthDate, &name_key(n, birth))
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    pub(super) fn reindex_names(
        &mut self,
        person: u64,
        old: Option<&FieldValues>,
        new: &FieldValues,
    ) {
        let old_keys = old.map(|o| self.name_keys(o)).unwrap_or_default();
        let new_keys = self.name_keys(new);
        for k in old_keys.iter().filter(|k| !new_keys.contains(k)) {
            self.names_own.push((*k, person, false));
            self.index_ops.push(Op::RemoveName(*k, person));
        }
        for k in new_keys.iter().filter(|k| !old_keys.contains(k)) {
            self.names_own.push((*k, person, true));
            self.index_ops.push(Op::AddName(*k, person));
        }
    }
}
