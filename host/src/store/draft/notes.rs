//! A person's notes beside their records (a legal hold's reason, a
//! suspension's reason, a correction with the value it replaced), sealed
//! with the person's data key so that a purge shreds them with the rest,
//! copies in free pages included.

use super::*;

impl Draft {
    /// Seals `plain` as the person's note `what` number `item`.
    pub fn seal_note(
        &mut self,
        person: u64,
        what: &str,
        item: u64,
        plain: &[u8],
    ) -> DraftResult<Vec<u8>> {
        let context = SealContext::new(self.store.code().as_str(), what, person, item);
        let entropy = self.entropy.clone();
        let key = &self.person(person)?.key;
        Ok(key.seal(&context, plain, entropy.as_ref()))
    }

    /// Opens what [`Draft::seal_note`] sealed.
    pub fn open_note(
        &mut self,
        person: u64,
        what: &str,
        item: u64,
        sealed: &[u8],
    ) -> DraftResult<Vec<u8>> {
        let context = SealContext::new(self.store.code().as_str(), what, person, item);
        let key = &self.person(person)?.key;
        Ok(key.open(&context, sealed).map_err(StoreError::from)?)
    }

    /// The person's version as the draft read it (for a host check).
    pub fn person_version(&mut self, person: u64) -> DraftResult<Option<u64>> {
        Ok(self.person(person)?.version)
    }

    /// Reads a person-keyed table of the snapshot (holds, suspensions).
    pub fn person_row(
        &mut self,
        def: redb::TableDefinition<u64, &'static [u8]>,
        person: u64,
    ) -> DraftResult<Option<Vec<u8>>> {
        match self.open(def)? {
            Some(t) => Ok(t
                .get(person)
                .map_err(StoreError::from)?
                .map(|v| v.value().to_vec())),
            None => Ok(None),
        }
    }

    /// The person's history entries (sealed), in order.
    pub fn person_history(&mut self, person: u64) -> DraftResult<Vec<(u64, Vec<u8>)>> {
        let Some(t) = self.open(super::super::tables::PERSON_HISTORY)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in t
            .range((person, 0)..=(person, u64::MAX))
            .map_err(StoreError::from)?
        {
            let (k, v) = entry?;
            out.push((k.value().1, v.value().to_vec()));
        }
        Ok(out)
    }
}
