//! Write sets and the per-tenant group committer.
//!
//! An invocation never writes redb itself: it hands over a [`WriteSet`]
//! (checks, operations, audit events) and waits. The committer thread takes
//! every write set waiting in the queue, validates each against the state
//! left by the ones before it, applies the valid ones, appends all their
//! audit events, and makes the lot durable with one commit. Each request is
//! acknowledged only after that commit (no change without its record, no
//! record without its change).

mod tables;

use std::collections::BTreeSet;
use std::sync::Arc;

use redb::{Database, ReadableTable};
use tokio::sync::{mpsc, oneshot};

use super::facts::{FactChange, FactsCache};
use super::keyring::Keyring;
use super::tables::{META, meta};
use super::{StoreError, StoreResult};
use crate::audit;
use crate::crypto::{IndexHash, TenantKeys};
use crate::limits::{COMMIT_QUEUE_DEPTH, MAX_COMMIT_BATCH};
use tables::Tables;

pub use super::writeset::{Check, CommitError, Conflict, Op, WriteSet};

/// Each write set's audit sequence numbers, or the conflict that refused it.
type Outcomes = Vec<Result<Vec<u64>, Conflict>>;

/// Applies write sets in one durable transaction. Each gets the sequence
/// numbers of its audit events, or the conflict that refused it (then
/// neither its changes nor its events are written). A batch that changes
/// persons holds the cohort facts while it commits and then updates them.
pub fn apply_batch(
    db: &Database,
    keys: &TenantKeys,
    ring: &Keyring,
    facts: &FactsCache,
    sets: Vec<WriteSet>,
) -> StoreResult<Outcomes> {
    let touches_persons = sets
        .iter()
        .any(|s| s.ops.iter().any(|op| op.person().is_some()));
    if touches_persons {
        facts.commit(|| commit_sets(db, keys, ring, sets))
    } else {
        commit_sets(db, keys, ring, sets).map(|(_, _, _, outcomes)| outcomes)
    }
}

/// What a commit hands back: the data generation before and after, the
/// accepted fact changes, and each set's outcome.
type Committed = (u64, u64, Vec<FactChange>, Outcomes);

/// How a batch verifies its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Every check is read before the set's writes.
    Careful,
    /// A check on a person or index key the set writes is verified by the
    /// write itself (redb hands back the value it replaced): a campaign's
    /// batch of tickets does half the lookups. A mismatch has already
    /// changed the transaction, so the batch is dropped and redone
    /// carefully; conflicts are rare.
    Fused,
}

/// The persons and unique-index keys a set writes.
pub(super) struct Written {
    pub(super) persons: BTreeSet<u64>,
    pub(super) keys: BTreeSet<IndexHash>,
}

impl Written {
    fn of(ops: &[Op]) -> Written {
        // A removed person's version is checked, not bumped: it is gone.
        let removed: BTreeSet<u64> = ops
            .iter()
            .filter_map(|op| match op {
                Op::RemovePerson(p) => Some(*p),
                _ => None,
            })
            .collect();
        let persons = ops
            .iter()
            .filter_map(Op::person)
            .filter(|p| !removed.contains(p))
            .collect();
        let keys = ops
            .iter()
            .filter_map(|op| match op {
                Op::SetUnique(k, _) | Op::RemoveUnique(k) => Some(*k),
                _ => None,
            })
            .collect();
        Written { persons, keys }
    }
}

/// Commits, fused first and carefully if that met a changed value.
fn commit_sets(
    db: &Database,
    keys: &TenantKeys,
    ring: &Keyring,
    sets: Vec<WriteSet>,
) -> StoreResult<Committed> {
    match commit_in(db, keys, ring, sets, Mode::Fused)? {
        Ok(committed) => Ok(committed),
        Err(sets) => match commit_in(db, keys, ring, sets, Mode::Careful)? {
            Ok(committed) => Ok(committed),
            Err(_) => unreachable!("a careful commit verifies before it writes"),
        },
    }
}

/// One attempt; gives the sets back when a fused check failed (nothing
/// of the attempt is committed).
fn commit_in(
    db: &Database,
    keys: &TenantKeys,
    ring: &Keyring,
    sets: Vec<WriteSet>,
    mode: Mode,
) -> StoreResult<Result<Committed, Vec<WriteSet>>> {
    let txn = db.begin_write()?;
    let mut verdicts = Vec::with_capacity(sets.len());
    let mut generation = false;
    let mut persons_changed = false;
    let mut metas = Vec::new();
    let (secrets, removed);
    {
        let mut tables = Tables::open(&txn)?;
        for set in &sets {
            let written = Written::of(&set.ops);
            match tables.validate(set, &written, mode)? {
                Ok(()) => match tables.apply(set, &written, mode, &mut generation, &mut metas)? {
                    Some(changed) => {
                        persons_changed |= changed;
                        verdicts.push(Ok(()));
                    }
                    None => {
                        drop(tables);
                        txn.abort()?;
                        return Ok(Err(sets));
                    }
                },
                Err(conflict) => verdicts.push(Err(conflict)),
            }
        }
        tables.prune_requests()?;
        secrets = std::mem::take(&mut tables.new_secrets);
        removed = std::mem::take(&mut tables.removed);
    }
    let mut data_generation = (0, 0);
    if generation || persons_changed || !metas.is_empty() {
        let mut meta_table = txn.open_table(META)?;
        for (k, v) in metas {
            meta_table.insert(k.as_str(), v.as_slice())?;
        }
        let counter = |t: &redb::Table<&str, &[u8]>, key| -> StoreResult<u64> {
            Ok(t.get(key)?
                .and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
                .map_or(0, u64::from_be_bytes))
        };
        if generation {
            let next = counter(&meta_table, meta::REGISTRY_GENERATION)? + 1;
            meta_table.insert(meta::REGISTRY_GENERATION, next.to_be_bytes().as_slice())?;
        }
        if persons_changed {
            let before = counter(&meta_table, meta::DATA_GENERATION)?;
            meta_table.insert(meta::DATA_GENERATION, (before + 1).to_be_bytes().as_slice())?;
            data_generation = (before, before + 1);
        }
    }
    let mut outcomes = Vec::with_capacity(sets.len());
    let mut accepted_events = Vec::new();
    let mut accepted_facts = Vec::new();
    for (set, verdict) in sets.into_iter().zip(verdicts) {
        match verdict {
            Ok(()) => {
                outcomes.push(Ok(set.events.len()));
                accepted_events.extend(set.events);
                accepted_facts.extend(set.facts);
            }
            Err(conflict) => outcomes.push(Err(conflict)),
        }
    }
    let mut seqs = audit::append(&txn, keys, accepted_events)?.into_iter();
    // New persons' secrets are on disk before the rows that need them; a
    // purged person's secret is destroyed once their removal is durable
    // (if this process dies in between, `finish_shredding` does it).
    ring.put(&secrets)?;
    txn.commit()?;
    if let Err(e) = ring.shred(&removed) {
        tracing::error!(error = %e, persons = removed.len(), "shredding purged persons' secrets failed; retried at the next purge or open");
    }
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.map(|n| seqs.by_ref().take(n).collect()))
        .collect();
    Ok(Ok((
        data_generation.0,
        data_generation.1,
        accepted_facts,
        outcomes,
    )))
}

struct Job {
    set: WriteSet,
    reply: oneshot::Sender<Result<Vec<u64>, CommitError>>,
}

/// Statistics of a committer, for the throughput benchmark.
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Durable commits made.
    pub commits: std::sync::atomic::AtomicU64,
    /// Write sets committed.
    pub write_sets: std::sync::atomic::AtomicU64,
    /// Set when a commit failed on I/O: redb refuses every later
    /// transaction of this handle, so the tenant must be re-opened.
    pub io_failed: std::sync::atomic::AtomicBool,
}

/// The group committer of one tenant: a thread that owns the write side.
#[derive(Debug, Clone)]
pub struct Committer {
    queue: mpsc::Sender<Job>,
    stats: Arc<CommitStats>,
}

impl Committer {
    /// Starts the committer thread of a tenant database.
    pub fn start(
        name: &str,
        db: Arc<Database>,
        keys: Arc<TenantKeys>,
        ring: Arc<Keyring>,
        facts: Arc<FactsCache>,
    ) -> Committer {
        let (queue, mut jobs) = mpsc::channel::<Job>(COMMIT_QUEUE_DEPTH);
        let stats = Arc::new(CommitStats::default());
        let thread_stats = stats.clone();
        let tenant = name.to_owned();
        std::thread::Builder::new()
            .name(format!("commit-{name}"))
            .spawn(move || {
                while let Some(first) = jobs.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_COMMIT_BATCH {
                        match jobs.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    let started = std::time::Instant::now();
                    let (n, events) = commit_jobs(&db, &keys, &ring, &facts, batch, &thread_stats);
                    if let Some(events) = events {
                        crate::metrics::get().commit(&tenant, n, events, started.elapsed());
                    } else {
                        crate::metrics::get()
                            .commit_failures
                            .get_or_create(&crate::metrics::TenantLabels {
                                tenant: tenant.clone(),
                            })
                            .inc();
                    }
                }
            })
            .expect("spawning a committer thread");
        Committer { queue, stats }
    }

    /// Commits a write set durably; resolves once it is on disk.
    pub async fn commit(&self, set: WriteSet) -> Result<Vec<u64>, CommitError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Job { set, reply })
            .map_err(|_| CommitError::Overloaded)?;
        answer
            .await
            .map_err(|_| CommitError::Store(StoreError::Damaged("the committer stopped".into())))?
    }

    /// Commit statistics.
    pub fn stats(&self) -> &CommitStats {
        &self.stats
    }

    /// Whether a commit failed on I/O (see [`CommitStats::io_failed`]).
    pub fn io_failed(&self) -> bool {
        self.stats
            .io_failed
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Commits a batch and answers each job; gives the batch's size and, when
/// it was committed, how many audit events it made durable.
fn commit_jobs(
    db: &Database,
    keys: &TenantKeys,
    ring: &Keyring,
    facts: &FactsCache,
    batch: Vec<Job>,
    stats: &CommitStats,
) -> (usize, Option<usize>) {
    use std::sync::atomic::Ordering::Relaxed;
    let (sets, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|j| (j.set, j.reply)).unzip();
    let size = sets.len();
    let n = size as u64;
    match apply_batch(db, keys, ring, facts, sets) {
        Ok(outcomes) => {
            stats.commits.fetch_add(1, Relaxed);
            stats.write_sets.fetch_add(n, Relaxed);
            let events = outcomes
                .iter()
                .map(|o| o.as_ref().map_or(0, Vec::len))
                .sum();
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome.map_err(CommitError::Conflict));
            }
            (size, Some(events))
        }
        Err(e) => {
            tracing::error!(error = %e, "group commit failed; {n} requests fail");
            let message = e.to_string();
            let io = e.is_io_failure();
            if io {
                stats
                    .io_failed
                    .store(true, std::sync::atomic::Ordering::SeqCst);
            }
            for reply in replies {
                let error = if io {
                    StoreError::Unavailable(message.clone())
                } else {
                    StoreError::Damaged(message.clone())
                };
                let _ = reply.send(Err(CommitError::Store(error)));
            }
            (size, None)
        }
    }
}
