//! A tenant file's storage schema: a file written by an older Kiroku is
//! brought up to date when it is opened for writing, in one transaction;
//! a file written by a newer one is refused.

use redb::{Database, ReadableDatabase, ReadableTable, WriteTransaction};

use super::keyring::Keyring;
use super::rows::{self, PersonRow};
use super::tables::{
    META, PERSON_TICKETS, PERSONS, SCHEMA_VERSION, TICKETS, TICKETS_V1, UNIQUE_INDEX, meta,
};
use super::{StoreError, StoreResult, in_parallel};
use crate::crypto::{IndexHash, IndexKind, PersonSecret, SealContext, TenantKeys};
use crate::fields::{Class, FieldValues, ticket};

/// Holders opened at once while re-keying ticket numbers.
const REKEY_CHUNK: usize = 65_536;

/// Brings the file to [`SCHEMA_VERSION`]. A file not created yet (no
/// schema in its meta) gets the current schema with its first commit.
pub fn upgrade(db: &Database, keys: &TenantKeys, ring: &Keyring) -> StoreResult<()> {
    let current = match db.begin_read()?.open_table(META) {
        Ok(t) => schema(&t)? == Some(SCHEMA_VERSION),
        Err(redb::TableError::TableDoesNotExist(_)) => true, // not created yet
        Err(e) => return Err(e.into()),
    };
    if current {
        return Ok(());
    }
    // Again in the write transaction: another process may have upgraded it.
    let txn = db.begin_write()?;
    let found = schema(&txn.open_table(META)?)?;
    let Some(found) = found.filter(|&v| v != SCHEMA_VERSION) else {
        txn.abort()?;
        return Ok(());
    };
    if found > SCHEMA_VERSION {
        txn.abort()?;
        return Err(StoreError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // Schema 1 -> 2: tickets in order of issue, ticket numbers' index
    // keys tagged.
    let (mut moved, mut rekeyed) = (0, 0);
    if found < 2 {
        moved = tickets_in_issue_order(&txn)?;
        rekeyed = ticket_keys_tagged(&txn, keys)?;
    }
    // Schema 2 -> 3: data keys masked with person secrets in the keyring,
    // written (and synced) before the rows that need them are committed.
    let secrets = persons_rewrapped(&txn, keys)?;
    ring.put(&secrets)?;
    txn.open_table(META)?
        .insert(meta::SCHEMA, SCHEMA_VERSION.to_be_bytes().as_slice())?;
    txn.commit()?;
    tracing::info!(
        tenant = keys.tenant(),
        from = found,
        to = SCHEMA_VERSION,
        tickets = moved,
        index_keys = rekeyed,
        "storage schema upgraded"
    );
    Ok(())
}

/// The schema stored in a file (`None`: not created yet).
pub fn stored(db: &Database) -> StoreResult<Option<u64>> {
    match db.begin_read()?.open_table(META) {
        Ok(t) => schema(&t),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Re-wraps every person's data key (schema 2 wrapped it with the tenant
/// key alone) masked with a new person secret; returns the secrets.
fn persons_rewrapped(
    txn: &WriteTransaction,
    keys: &TenantKeys,
) -> StoreResult<Vec<(u64, PersonSecret)>> {
    let entropy = crate::clock::OsEntropy;
    let mut persons = txn.open_table(PERSONS)?;
    let mut rows_now = Vec::new();
    for entry in persons.iter()? {
        let (k, v) = entry?;
        rows_now.push((k.value(), v.value().to_vec()));
    }
    let mut secrets = Vec::with_capacity(rows_now.len());
    for (id, bytes) in rows_now {
        let mut row: PersonRow = rows::decode(&bytes)?;
        let key = keys.unwrap_v2(id, &row.wrapped_key)?;
        let secret = PersonSecret::generate(&entropy);
        row.wrapped_key = keys.wrap(id, &key, &secret, &entropy);
        persons.insert(id, rows::encode(&row).as_slice())?;
        secrets.push((id, secret));
    }
    Ok(secrets)
}

/// The schema a file's meta names (`None`: not written yet).
fn schema(
    meta_table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> StoreResult<Option<u64>> {
    Ok(meta_table
        .get(meta::SCHEMA)?
        .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
        .map(u64::from_be_bytes))
}

/// Moves schema 1's person-keyed tickets to [`TICKETS`] and
/// [`PERSON_TICKETS`], sealed as they are (a ticket's seal names its
/// holder and sequence, which do not change). Returns how many moved.
fn tickets_in_issue_order(txn: &WriteTransaction) -> StoreResult<u64> {
    let old = match txn.open_table(TICKETS_V1) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut tickets = txn.open_table(TICKETS)?;
    let mut person_tickets = txn.open_table(PERSON_TICKETS)?;
    let mut next = tickets.last()?.map_or(1, |(id, _)| id.value() + 1);
    let first = next;
    for entry in old.iter()? {
        let (key, sealed) = entry?;
        tickets.insert(next, sealed.value())?;
        person_tickets.insert(key.value(), next)?;
        next += 1;
    }
    drop(old);
    txn.delete_table(TICKETS_V1)?;
    Ok(next - first)
}

/// A ticket holder's records as stored, for re-keying.
struct Holder {
    id: u64,
    row: Vec<u8>,
    tickets: Vec<(u64, Vec<u8>)>,
}

/// Re-keys the unique index's ticket numbers from schema 1's keys to
/// [`TenantKeys::index_hash`]'s. Only keyed hashes are indexed, so each
/// number is read from its ticket, opened with its holder's key (on every
/// core). Returns how many moved. A ticket whose number is not indexed
/// means the file is damaged: the upgrade fails and changes nothing.
fn ticket_keys_tagged(txn: &WriteTransaction, keys: &TenantKeys) -> StoreResult<u64> {
    let mut moves: Vec<(IndexHash, IndexHash)> = Vec::new();
    {
        let persons = txn.open_table(PERSONS)?;
        let person_tickets = txn.open_table(PERSON_TICKETS)?;
        let tickets = txn.open_table(TICKETS)?;
        let mut chunk: Vec<Holder> = Vec::new();
        for entry in person_tickets.iter()? {
            let (key, id) = entry?;
            let ((person, seq), id) = (key.value(), id.value());
            if chunk.last().is_none_or(|h| h.id != person) {
                if chunk.len() == REKEY_CHUNK {
                    moves.extend(ticket_key_moves(keys, &std::mem::take(&mut chunk))?);
                }
                let Some(row) = persons.get(person)? else {
                    return Err(StoreError::Damaged(format!(
                        "person {person} holds tickets but is not stored"
                    )));
                };
                chunk.push(Holder {
                    id: person,
                    row: row.value().to_vec(),
                    tickets: Vec::new(),
                });
            }
            let Some(sealed) = tickets.get(id)? else {
                return Err(StoreError::Damaged(format!("ticket {id} is missing")));
            };
            let holder = chunk.last_mut().expect("pushed above");
            holder.tickets.push((seq, sealed.value().to_vec()));
        }
        moves.extend(ticket_key_moves(keys, &chunk)?);
    }
    let mut unique = txn.open_table(UNIQUE_INDEX)?;
    for (old, new) in &moves {
        let Some(holder) = unique.remove(*old)?.map(|v| v.value()) else {
            return Err(StoreError::Damaged(
                "a ticket's number is missing from the unique index".into(),
            ));
        };
        unique.insert(*new, holder)?;
    }
    Ok(moves.len() as u64)
}

/// Each ticket's (schema 1 key, current key), opening the holders on
/// every core.
fn ticket_key_moves(
    keys: &TenantKeys,
    holders: &[Holder],
) -> StoreResult<Vec<(IndexHash, IndexHash)>> {
    let opened = in_parallel(holders, |h| -> StoreResult<Vec<(IndexHash, IndexHash)>> {
        let row: PersonRow = rows::decode(&h.row)?;
        let key = keys.unwrap_v2(h.id, &row.wrapped_key)?;
        let mut out = Vec::with_capacity(h.tickets.len());
        for (seq, sealed) in &h.tickets {
            let context = SealContext::new(keys.tenant(), Class::Ticket.name(), h.id, *seq);
            let values: FieldValues = rows::decode(&key.open(&context, sealed)?)?;
            let values = values.fit(Class::Ticket);
            let number = values.get(ticket::NUMBER).unwrap_or_default();
            out.push((
                keys.index_hash_v1(IndexKind::Ticket, number),
                keys.index_hash(IndexKind::Ticket, number),
            ));
        }
        Ok(out)
    });
    let mut moves = Vec::new();
    for part in opened {
        moves.extend(part?);
    }
    Ok(moves)
}
