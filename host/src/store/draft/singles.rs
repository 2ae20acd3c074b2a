//! One sealed value per person: My Number and passport data.

use super::*;
use crate::store::reviews::{self, Raised};

/// What the intake did with a number (the host never tells the plugin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// Stored (new, or replacing the person's old number).
    Stored,
    /// The person already had it.
    Unchanged,
    /// Another person holds it: queued for review.
    Queued {
        /// The holder (serial).
        holder: u64,
    },
}

/// The seal context of a number waiting in the review queue.
fn review_context(store: &TenantStore, claimant: u64, id: &ReviewId) -> SealContext {
    SealContext::new(
        store.code().as_str(),
        "review",
        claimant,
        reviews::seal_item(id),
    )
}

impl Draft {
    pub(super) fn load_single(
        &mut self,
        class: Class,
        person: u64,
    ) -> DraftResult<Option<Vec<u8>>> {
        self.person(person)?;
        let def = if class == Class::MyNumber {
            MY_NUMBERS
        } else {
            PASSPORTS
        };
        let Some(sealed) = (match self.open(def)? {
            Some(t) => t.get(person)?.map(|v| v.value().to_vec()),
            None => None,
        }) else {
            return Ok(None);
        };
        let key = &self.persons.get(&person).expect("loaded above").key;
        Ok(Some(
            key.open(&seal_context(&self.store, class, person, 0), &sealed)
                .map_err(StoreError::from)?,
        ))
    }

    /// A person's My Number, if registered.
    pub fn my_number(&mut self, person: u64) -> DraftResult<Option<String>> {
        if !self.my_numbers.contains_key(&person) {
            let value = self
                .load_single(Class::MyNumber, person)?
                .map(|p| String::from_utf8_lossy(&p).into_owned());
            self.my_numbers.insert(
                person,
                Single {
                    value,
                    dirty: false,
                },
            );
        }
        Ok(self.my_numbers[&person].value.clone())
    }

    /// Takes a My Number from the registry feed for `person` (check digit
    /// verified). A number another person holds is not stored: it is
    /// queued for review, sealed under `person`'s key.
    pub fn intake_my_number(
        &mut self,
        person: u64,
        number: &str,
        raised: &Raised,
    ) -> DraftResult<Intake> {
        let number = normalize::clean(number);
        kiroku_rules::my_number::validate(&number)
            .map_err(|e| DraftError::Invalid(e.to_string()))?;
        let old = self.my_number(person)?;
        if old.as_deref() == Some(number.as_str()) {
            return Ok(Intake::Unchanged);
        }
        let key = self.store.keys().index_hash(IndexKind::MyNumber, &number);
        match self.unique_holder(key)? {
            Some(holder) if holder != person => {
                let mut id = [0u8; 16];
                self.entropy.fill(&mut id);
                let context = review_context(&self.store, person, &id);
                let key = &self.persons[&person].key;
                let row = ReviewRow {
                    claimant: person,
                    holder,
                    raised: raised.clone(),
                    sealed: key.seal(&context, number.as_bytes(), self.entropy.as_ref()),
                    resolution: None,
                };
                self.reviews.push((id, row));
                Ok(Intake::Queued { holder })
            }
            _ => {
                self.set_my_number(person, old, number)?;
                Ok(Intake::Stored)
            }
        }
    }

    /// Gives `person` the number, releasing their old one.
    pub(super) fn set_my_number(
        &mut self,
        person: u64,
        old: Option<String>,
        number: String,
    ) -> DraftResult<()> {
        self.claim_unique(
            IndexKind::MyNumber,
            old.as_deref(),
            &number,
            person,
            "the My Number",
        )?;
        self.my_numbers.insert(
            person,
            Single {
                value: Some(number),
                dirty: true,
            },
        );
        Ok(())
    }

    /// Resolves an open review: `Assign` gives the claimant the number
    /// (taking it from the holder, who must still hold it), `Dismiss`
    /// discards it. Either way the sealed number leaves the queue.
    pub fn resolve_review(
        &mut self,
        id: ReviewId,
        mut row: ReviewRow,
        resolution: reviews::Resolution,
    ) -> DraftResult<()> {
        if resolution.decision == reviews::Decision::Assign {
            self.person(row.claimant)?;
            let context = review_context(&self.store, row.claimant, &id);
            let plain = self.persons[&row.claimant]
                .key
                .open(&context, &row.sealed)
                .map_err(StoreError::from)?;
            let number = String::from_utf8_lossy(&plain).into_owned();
            let key = self.store.keys().index_hash(IndexKind::MyNumber, &number);
            match self.unique_holder(key)? {
                Some(h) if h == row.holder => {
                    self.my_number(row.holder)?;
                    self.set_unique(key, None);
                    self.my_numbers.insert(
                        row.holder,
                        Single {
                            value: None,
                            dirty: true,
                        },
                    );
                }
                Some(h) if h == row.claimant => {}
                Some(_) => {
                    return Err(DraftError::Conflict(
                        "the number is now held by a third person; dismiss this review".into(),
                    ));
                }
                None => {}
            }
            let old = self.my_number(row.claimant)?;
            if old.as_deref() != Some(number.as_str()) {
                self.set_my_number(row.claimant, old, number)?;
            }
        }
        row.sealed.clear();
        row.resolution = Some(resolution);
        self.reviews.push((id, row));
        Ok(())
    }

    /// A person's passport data (all fields absent if none stored).
    pub fn passport(&mut self, person: u64) -> DraftResult<FieldValues> {
        if !self.passports.contains_key(&person) {
            let value = match self.load_single(Class::Passport, person)? {
                Some(plain) => Some(rows::decode(&plain).map_err(StoreError::from)?),
                None => None,
            };
            self.passports.insert(
                person,
                Single {
                    value,
                    dirty: false,
                },
            );
        }
        Ok(self.passports[&person]
            .value
            .clone()
            .unwrap_or_else(|| FieldValues::empty(Class::Passport)))
    }

    /// Overwrites passport fields; returns whether anything changed.
    pub fn set_passport(&mut self, person: u64, changes: &FieldValues) -> DraftResult<bool> {
        let changes = clean_values(Class::Passport, changes)?;
        let mut values = self.passport(person)?;
        if !values.apply(&changes) {
            return Ok(false);
        }
        self.passports.insert(
            person,
            Single {
                value: Some(values),
                dirty: true,
            },
        );
        Ok(true)
    }
}
