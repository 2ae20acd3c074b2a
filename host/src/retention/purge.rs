//! Who is past retention (`survey`, the dry run and the purge share it)
//! and purging a batch of them: each batch one durable commit that removes
//! the persons' rows and index entries, writes a deletion record per
//! person and the audit event naming them; their secrets are shredded
//! once it is durable (`store::keyring`). A purge killed midway resumes
//! where it stopped: purged persons are gone from the survey, and a
//! secret left unshredded by a crash is shredded at the next open or
//! purge (`TenantStore::finish_shredding`).

use std::collections::HashSet;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable};

use super::rules::Rules;
use crate::audit::Event;
use crate::clock::Entropy;
use crate::federation::entries;
use crate::store::commit::Op;
use crate::store::draft::{Draft, DraftError};
use crate::store::facts;
use crate::store::tables::{DELETIONS, HOLDS};
use crate::store::{StoreError, StoreResult, TenantStore, rows};

/// Most persons one purge call removes (one commit).
pub const MAX_PURGE_BATCH: u32 = 5_000;

/// A person past retention.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// Person id.
    pub person: u64,
    /// Index of the rule that applies.
    pub rule: usize,
    /// Doses held.
    pub doses: u32,
    /// Tickets held.
    pub tickets: u32,
}

/// Who a purge today would remove.
#[derive(Debug, Default)]
pub struct Survey {
    /// In person-id order.
    pub candidates: Vec<Candidate>,
    /// Persons past retention but on legal hold.
    pub held: u64,
}

pub use crate::store::rows::DeletionRow;

/// The persons past retention on `today`, legal holds left out.
pub fn survey(
    store: &TenantStore,
    rules: &Rules,
    today: kiroku_rules::Date,
) -> StoreResult<Survey> {
    let txn = store.db().begin_read()?;
    let generation = facts::data_generation(&txn)?;
    let holds: HashSet<u64> = match txn.open_table(HOLDS) {
        Ok(t) => t
            .iter()?
            .map(|e| e.map(|(k, _)| k.value()))
            .collect::<Result<_, _>>()?,
        Err(redb::TableError::TableDoesNotExist(_)) => HashSet::new(),
        Err(e) => return Err(e.into()),
    };
    let mut survey = Survey::default();
    store
        .facts()
        .read(store.db(), store.keys(), store.keyring(), generation, |f| {
            f.each_anchor(|a| {
                let Some(rule) = rules.applies(&a, today) else {
                    return;
                };
                if holds.contains(&a.person) {
                    survey.held += 1;
                } else {
                    survey.candidates.push(Candidate {
                        person: a.person,
                        rule,
                        doses: a.doses,
                        tickets: a.tickets,
                    });
                }
            })
        })?;
    Ok(survey)
}

/// Who purges, for the deletion records and the audit event.
pub struct Purger<'a> {
    /// The audit event the batch's event starts from (actor, request,
    /// plugin); its action, subjects and reason are set here.
    pub event: Event,
    /// When.
    pub now_ms: i64,
    /// The request (job) id.
    pub request_id: &'a str,
}

/// Purges `batch` in one durable commit; returns how many were purged.
/// A person changed meanwhile makes the commit a conflict: the batch is
/// surveyed and tried again, at most three times.
pub fn purge_batch(
    store: &Arc<TenantStore>,
    entropy: &Arc<dyn Entropy>,
    rules: &Rules,
    batch: &[Candidate],
    who: &Purger<'_>,
) -> Result<u64, DraftError> {
    if batch.is_empty() {
        return Ok(0);
    }
    store.finish_shredding()?;
    // Answers another municipality gave about them (sealed with the
    // tenant's federation key, not theirs) go with them.
    let in_batch: HashSet<u64> = batch.iter().map(|c| c.person).collect();
    for _ in 0..3 {
        let held: Vec<_> = entries::list::<entries::HeldRow>(store, "held/", usize::MAX)?
            .into_iter()
            .filter(|e| in_batch.contains(&e.row.person))
            .collect();
        let mut draft = Draft::new(store.clone(), entropy.clone());
        // Deleting past retention is lawful whatever the person asked.
        draft.exempt_from_suspension();
        let mut subjects = Vec::with_capacity(batch.len());
        for c in batch {
            if !draft.person_exists(c.person)? {
                continue; // purged meanwhile (another run)
            }
            if draft.person_row(HOLDS, c.person)?.is_some() {
                continue; // put on hold since the survey
            }
            let removed = draft.remove_person(c.person)?;
            let row = DeletionRow {
                rule: rules.0[c.rule].name.clone(),
                purged_ms: who.now_ms,
                doses: removed.doses,
                tickets: removed.tickets,
                my_number: removed.my_number,
                request_id: who.request_id.to_owned(),
            };
            draft.push_host_op(Op::PutDeletion(c.person, rows::encode(&row)));
            subjects.push(c.person);
        }
        for e in held.iter().filter(|e| subjects.contains(&e.row.person)) {
            let key = entries::held_key(&e.id);
            draft.push_host_check(e.unchanged(key.clone()));
            draft.push_host_op(Op::RemoveFederation(key));
        }
        let n = subjects.len() as u64;
        if n == 0 {
            return Ok(0);
        }
        let mut event = who.event.clone();
        event.action = "retention.purge".into();
        event.reason = Some(format!(
            "{n} persons past retention: records removed, keys shredded"
        ));
        event.subjects = subjects;
        event.count = 1;
        let set = draft.into_write_set(vec![event]);
        match crate::runtime::sched::blocking_section(|| store.commit_direct(set))? {
            Ok(_) => return Ok(n),
            Err(conflict) => {
                tracing::info!(tenant = %store.code(), %conflict, "purge batch met a concurrent change; retried");
            }
        }
    }
    Err(DraftError::Conflict(
        "persons of the batch kept changing; run the purge again".into(),
    ))
}

/// Every deletion record, in person-id order.
pub fn deletions(store: &TenantStore) -> StoreResult<Vec<(u64, DeletionRow)>> {
    let txn = store.db().begin_read()?;
    let table = match txn.open_table(DELETIONS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        out.push((
            k.value(),
            rows::decode(v.value()).map_err(StoreError::from)?,
        ));
    }
    Ok(out)
}
