//! The audit log (invariant 5): every access, denial, admin change and job
//! run appends an event in the same redb transaction as what it records.
//! Events are chained with HMAC-SHA256 under a key derived from the tenant
//! key (held outside redb), so someone who can write the file but not read
//! the key file can neither alter, remove nor reorder events unnoticed; a
//! MAC'd head record catches a cut-off tail.
//!
//! Events carry ids, names and outcomes, never personal values.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};

use crate::crypto::TenantKeys;
use crate::store::tables::{
    AUDIT, AUDIT_BY_SUBJECT, AUDIT_BY_SUBJECT_BLOCK, META, SUBJECT_BLOCK_PERSONS, meta,
};
use crate::store::{StoreError, StoreResult};

mod event;
mod query;

pub use event::{Event, Identity, Outcome, decode_event};
pub use query::{Query, query};

const MAC_LEN: usize = 32;
const GENESIS: [u8; MAC_LEN] = [0; MAC_LEN];

/// The end of a chain: last sequence and its MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    seq: u64,
    mac: [u8; MAC_LEN],
}

fn head_mac(keys: &TenantKeys, head: Head) -> [u8; MAC_LEN] {
    let mut body = b"kiroku-audit-head".to_vec();
    body.extend_from_slice(&head.seq.to_be_bytes());
    keys.audit_mac(&head.mac, &body)
}

fn encode_head(keys: &TenantKeys, head: Head) -> Vec<u8> {
    let mut out = head.seq.to_be_bytes().to_vec();
    out.extend_from_slice(&head.mac);
    out.extend_from_slice(&head_mac(keys, head));
    out
}

fn decode_head(bytes: &[u8]) -> Option<(Head, [u8; MAC_LEN])> {
    if bytes.len() != 8 + 2 * MAC_LEN {
        return None;
    }
    let seq = u64::from_be_bytes(bytes[..8].try_into().ok()?);
    let mac = bytes[8..8 + MAC_LEN].try_into().ok()?;
    let check = bytes[8 + MAC_LEN..].try_into().ok()?;
    Some((Head { seq, mac }, check))
}

/// Appends events to the chain inside `txn`; returns their sequence numbers.
pub fn append(
    txn: &WriteTransaction,
    keys: &TenantKeys,
    events: Vec<Event>,
) -> StoreResult<Vec<u64>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut meta_table = txn.open_table(META)?;
    let mut head = match meta_table.get(meta::AUDIT_HEAD)? {
        Some(v) => {
            decode_head(v.value())
                .ok_or_else(|| StoreError::Damaged("audit head".into()))?
                .0
        }
        None => Head {
            seq: 0,
            mac: GENESIS,
        },
    };
    let mut audit = txn.open_table(AUDIT)?;
    let mut by_subject = txn.open_table(AUDIT_BY_SUBJECT)?;
    // Only population-wide events need the block index.
    let mut by_block = match events.iter().any(|e| !e.subjects.is_empty()) {
        true => Some(txn.open_table(AUDIT_BY_SUBJECT_BLOCK)?),
        false => None,
    };
    let mut seqs = Vec::with_capacity(events.len());
    let mut value = Vec::with_capacity(256);
    for mut event in events {
        event.seq = head.seq + 1;
        value.clear();
        value = postcard::to_extend(&event, value).expect("events always encode");
        let mac = keys.audit_mac(&head.mac, &value);
        value.extend_from_slice(&mac);
        audit.insert(event.seq, value.as_slice())?;
        if let Some(subject) = event.subject {
            by_subject.insert((subject, event.seq), ())?;
        }
        if let Some(by_block) = by_block.as_mut() {
            for (block, bits) in subject_blocks(&event.subjects) {
                by_block.insert((block, event.seq), bits)?;
            }
        }
        head = Head {
            seq: event.seq,
            mac,
        };
        seqs.push(event.seq);
    }
    meta_table.insert(meta::AUDIT_HEAD, encode_head(keys, head).as_slice())?;
    Ok(seqs)
}

/// A subject block's bitmap.
type BlockBits = [u8; SUBJECT_BLOCK_PERSONS as usize / 8];

/// The blocks of a bulk event's subjects, each with the bitmap of its
/// persons.
fn subject_blocks(subjects: &[u64]) -> BTreeMap<u64, BlockBits> {
    let mut blocks: BTreeMap<u64, BlockBits> = BTreeMap::new();
    for &s in subjects {
        let bits = blocks
            .entry(s / SUBJECT_BLOCK_PERSONS)
            .or_insert([0; SUBJECT_BLOCK_PERSONS as usize / 8]);
        let offset = (s % SUBJECT_BLOCK_PERSONS) as usize;
        bits[offset / 8] |= 1 << (offset % 8);
    }
    blocks
}

fn block_has(bits: &BlockBits, person: u64) -> bool {
    let offset = (person % SUBJECT_BLOCK_PERSONS) as usize;
    bits[offset / 8] & (1 << (offset % 8)) != 0
}

/// Where and how a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit event {seq}: {problem}")]
pub struct ChainBreak {
    /// The first bad event (or the position where one is missing).
    pub seq: u64,
    /// What is wrong with it.
    pub problem: String,
}

/// What verification found.
#[derive(Debug)]
pub enum Verified {
    /// Every event is intact; this many were checked.
    Intact(u64),
    /// The chain is broken.
    Broken(ChainBreak),
}

/// Events verified per batch handed to a worker thread.
const VERIFY_BATCH: usize = 8_192;

/// Consecutive stored events, copied into one buffer (one allocation per
/// batch rather than per event), with the MAC of the event before them.
struct Batch {
    prev: [u8; MAC_LEN],
    first_seq: u64,
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    fn new(prev: [u8; MAC_LEN], first_seq: u64) -> Batch {
        Batch {
            prev,
            first_seq,
            bytes: Vec::with_capacity(VERIFY_BATCH * 256),
            ends: Vec::with_capacity(VERIFY_BATCH),
        }
    }

    fn push(&mut self, value: &[u8]) {
        self.bytes.extend_from_slice(value);
        self.ends.push(self.bytes.len());
    }

    /// Checks every MAC and place; returns how many subject-index entries
    /// the events need.
    fn check(&self, keys: &TenantKeys) -> Result<u64, ChainBreak> {
        let mut with_subject = 0;
        let mut prev = self.prev;
        let mut start = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            let seq = self.first_seq + i as u64;
            let value = &self.bytes[start..end];
            start = end;
            let broken = |problem: &str| ChainBreak {
                seq,
                problem: problem.to_owned(),
            };
            if value.len() < MAC_LEN {
                return Err(broken("the event is truncated (altered)"));
            }
            let (body, mac) = value.split_at(value.len() - MAC_LEN);
            if keys.audit_mac(&prev, body) != mac {
                return Err(broken(
                    "the event does not match its chain MAC: it was altered, or events before it were removed or reordered",
                ));
            }
            match decode_event(body) {
                Ok(event) if event.seq == seq => {
                    let mut subjects = event.subjects.clone();
                    subjects.sort_unstable();
                    subjects.dedup();
                    with_subject += u64::from(event.subject.is_some()) + subjects.len() as u64;
                }
                Ok(_) => return Err(broken("the event is stored out of its place (reordered)")),
                Err(_) => return Err(broken("the event does not decode (altered)")),
            }
            prev = mac.try_into().expect("split at MAC_LEN");
        }
        Ok(with_subject)
    }
}

fn open_optional<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: redb::TableDefinition<K, V>,
) -> StoreResult<Option<redb::ReadOnlyTable<K, V>>> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Verifies a whole chain. One thread reads events in order and checks
/// that none is missing; worker threads check the MACs batch by batch,
/// since each batch carries the MAC of the event before it.
pub fn verify(db: &impl ReadableDatabase, keys: &TenantKeys) -> StoreResult<Verified> {
    let txn = db.begin_read()?;
    let head = match open_optional(&txn, META)? {
        Some(t) => t.get(meta::AUDIT_HEAD)?.map(|v| v.value().to_vec()),
        None => None,
    };
    let table = open_optional(&txn, AUDIT)?;
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(1);
    let mut expected = 1u64;
    let mut last_mac = GENESIS;
    let mut gap: Option<ChainBreak> = None;
    let mut breaks: Vec<ChainBreak> = Vec::new();
    let with_subject = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| -> StoreResult<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(workers * 2);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let (err_tx, err_rx) = std::sync::mpsc::channel::<ChainBreak>();
        // Checked batches come back to the reader for reuse: no allocator
        // traffic between threads.
        let (spare_tx, spare_rx) = std::sync::mpsc::channel::<Batch>();
        for _ in 0..workers {
            let (rx, err_tx, spare_tx) = (rx.clone(), err_tx.clone(), spare_tx.clone());
            let with_subject = &with_subject;
            scope.spawn(move || {
                while let Ok(Ok(batch)) = rx.lock().map(|r| r.recv()) {
                    match batch.check(keys) {
                        Ok(n) => {
                            with_subject.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(b) => {
                            let _ = err_tx.send(b);
                        }
                    }
                    let _ = spare_tx.send(batch);
                }
            });
        }
        drop((err_tx, spare_tx));
        let fresh = |prev, first_seq| match spare_rx.try_recv() {
            Ok(mut b) => {
                b.prev = prev;
                b.first_seq = first_seq;
                b.bytes.clear();
                b.ends.clear();
                b
            }
            Err(_) => Batch::new(prev, first_seq),
        };
        if let Some(table) = &table {
            let mut batch = fresh(GENESIS, 1);
            for entry in table.range(0u64..)? {
                let (k, v) = entry?;
                let (seq, value) = (k.value(), v.value());
                if seq != expected {
                    let problem = if seq > expected {
                        format!("missing (removed); the next stored event is {seq}")
                    } else {
                        "stored twice".to_owned()
                    };
                    gap = Some(ChainBreak {
                        seq: expected,
                        problem,
                    });
                    break;
                }
                batch.push(value);
                if let Some(mac) = value.len().checked_sub(MAC_LEN).map(|at| &value[at..]) {
                    last_mac = mac.try_into().expect("MAC_LEN bytes");
                }
                expected += 1;
                if batch.ends.len() == VERIFY_BATCH {
                    let _ = tx.send(std::mem::replace(&mut batch, fresh(last_mac, expected)));
                }
            }
            if !batch.ends.is_empty() {
                let _ = tx.send(batch);
            }
        }
        drop(tx);
        breaks = err_rx.iter().collect();
        Ok(())
    })?;
    breaks.extend(gap);
    if let Some(first) = breaks.into_iter().min_by_key(|b| b.seq) {
        return Ok(Verified::Broken(first));
    }
    let count = expected - 1;
    let stored = Head {
        seq: count,
        mac: last_mac,
    };
    let broken = |seq: u64, problem: String| Ok(Verified::Broken(ChainBreak { seq, problem }));
    match head.as_deref().map(decode_head) {
        None if count == 0 => Ok(Verified::Intact(0)),
        None => broken(count, "the chain's head record is missing".into()),
        Some(Some((h, check))) if check == head_mac(keys, h) => {
            if h == stored {
                subject_index_matches(&txn, with_subject.into_inner(), count)
            } else if h.seq > count {
                broken(
                    count + 1,
                    format!(
                        "missing: the chain ends at {count} but its head records {}",
                        h.seq
                    ),
                )
            } else {
                broken(
                    h.seq.max(1),
                    "the chain's end does not match its head record".into(),
                )
            }
        }
        Some(_) => broken(count.max(1), "the chain's head record was altered".into()),
    }
}

/// The last check of an intact chain: the subject indexes hold one entry
/// (or bit) per event subject (they are outside the MAC chain, so check
/// them against it).
fn subject_index_matches(
    txn: &redb::ReadTransaction,
    with_subject: u64,
    count: u64,
) -> StoreResult<Verified> {
    let mut indexed = match open_optional(txn, AUDIT_BY_SUBJECT)? {
        Some(index) => redb::ReadableTableMetadata::len(&index)?,
        None => 0,
    };
    if let Some(blocks) = open_optional(txn, AUDIT_BY_SUBJECT_BLOCK)? {
        for entry in blocks.range::<(u64, u64)>(..)? {
            let bits = entry?.1.value();
            indexed += bits.iter().map(|b| u64::from(b.count_ones())).sum::<u64>();
        }
    }
    if indexed == with_subject {
        return Ok(Verified::Intact(count));
    }
    Ok(Verified::Broken(ChainBreak {
        seq: count,
        problem: "the subject index disagrees with the log: queries by person would hide or invent events".into(),
    }))
}
