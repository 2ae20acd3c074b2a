//! Reading the log back: by person through the subject indexes, or in
//! order, filtered by actor, session, outcome and time.

use redb::ReadableDatabase;

use super::Event;
use super::{MAC_LEN, Outcome, block_has, decode_event, open_optional};
use crate::store::tables::{
    AUDIT, AUDIT_BY_SUBJECT, AUDIT_BY_SUBJECT_BLOCK, SUBJECT_BLOCK_PERSONS,
};
use crate::store::{StoreError, StoreResult};

/// Filters for [`query`].
#[derive(Debug, Default, Clone)]
pub struct Query {
    /// Only events about this person.
    pub subject: Option<u64>,
    /// Only events by this actor (as the account, or as a shared
    /// terminal's operator).
    pub actor: Option<String>,
    /// Only events of this staff session (login to logout).
    pub session: Option<String>,
    /// Only events at or after this time (ms).
    pub from_ms: Option<i64>,
    /// Only events before this time (ms).
    pub to_ms: Option<i64>,
    /// Only events that ended this way.
    pub outcome: Option<Outcome>,
    /// Only events after this sequence (paging).
    pub after: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// Sequences of the events about `subject` from `first` on, in order: its
/// own entries, and the bulk events whose block bitmap has it.
fn subject_seqs(txn: &redb::ReadTransaction, subject: u64, first: u64) -> StoreResult<Vec<u64>> {
    let mut seqs = Vec::new();
    if let Some(index) = open_optional(txn, AUDIT_BY_SUBJECT)? {
        for entry in index.range((subject, first)..=(subject, u64::MAX))? {
            seqs.push(entry?.0.value().1);
        }
    }
    if let Some(blocks) = open_optional(txn, AUDIT_BY_SUBJECT_BLOCK)? {
        let block = subject / SUBJECT_BLOCK_PERSONS;
        for entry in blocks.range((block, first)..=(block, u64::MAX))? {
            let (key, bits) = entry?;
            if block_has(&bits.value(), subject) {
                seqs.push(key.value().1);
            }
        }
    }
    seqs.sort_unstable();
    seqs.dedup();
    Ok(seqs)
}

/// Reads events matching `q`, oldest first.
pub fn query(db: &impl ReadableDatabase, q: &Query) -> StoreResult<Vec<Event>> {
    let txn = db.begin_read()?;
    let Some(table) = open_optional(&txn, AUDIT)? else {
        return Ok(Vec::new());
    };
    let first = q.after.unwrap_or(0) + 1;
    // "Who looked at this person" goes through the subject index; other
    // queries scan the log in order.
    let seqs: Box<dyn Iterator<Item = StoreResult<u64>>> = match q.subject {
        Some(subject) => Box::new(subject_seqs(&txn, subject, first)?.into_iter().map(Ok)),
        None => Box::new(
            table
                .range(first..)?
                .map(|e| e.map(|(k, _)| k.value()).map_err(StoreError::from)),
        ),
    };
    let mut out = Vec::new();
    for seq in seqs {
        let Some(value) = table.get(seq?)? else {
            continue;
        };
        let value = value.value();
        let event = decode_event(&value[..value.len().saturating_sub(MAC_LEN)])?;
        let outside = q.from_ms.is_some_and(|from| event.time_ms < from)
            || q.to_ms.is_some_and(|to| event.time_ms >= to)
            || q.subject
                .is_some_and(|s| event.subject != Some(s) && !event.subjects.contains(&s))
            || q.actor
                .as_ref()
                .is_some_and(|a| &event.actor != a && event.operator.as_ref() != Some(a))
            || q.session
                .as_ref()
                .is_some_and(|id| event.session.as_ref() != Some(id))
            || q.outcome.is_some_and(|o| event.outcome != o);
        if !outside {
            out.push(event);
            if out.len() >= q.limit {
                break;
            }
        }
    }
    Ok(out)
}
