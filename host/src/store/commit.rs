//! Write sets and the per-tenant group committer.
//!
//! An invocation never writes redb itself: it hands over a [`WriteSet`]
//! (checks, operations, audit events) and waits. The committer thread takes
//! every write set waiting in the queue, validates each against the state
//! left by the ones before it, applies the valid ones, appends all their
//! audit events, and makes the lot durable with one commit. Each request is
//! acknowledged only after that commit (no change without its record, no
//! record without its change).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use redb::{Database, ReadableTable, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use super::facts::{FactChange, FactsCache};
use super::reviews::{ReviewId, ReviewRow};
use super::tables::{
    ACCOUNTS, CERTIFICATES, DOSES, FEDERATION, ISSUER_KEYS, META, MY_NUMBERS, NAME_INDEX,
    PASSPORTS, PERSON_TICKETS, PERSON_VERSIONS, PERSONS, PLUGINS, REQUESTS, REQUESTS_BY_TIME,
    REVIEWS, REVOCATIONS, SERVICE_TOKENS, SESSIONS, TICKETS, UNIQUE_INDEX, meta,
};
use super::{StoreError, StoreResult, rows};
use crate::audit;
use crate::crypto::{IndexHash, TenantKeys};
use crate::limits::{
    COMMIT_QUEUE_DEPTH, MAX_COMMIT_BATCH, MAX_PRUNED_PER_COMMIT, REPLAY_WINDOW_MS,
};

pub use super::writeset::{Check, CommitError, Conflict, Op, WriteSet};

struct Tables<'t> {
    versions: redb::Table<'t, u64, u64>,
    persons: redb::Table<'t, u64, &'static [u8]>,
    my_numbers: redb::Table<'t, u64, &'static [u8]>,
    passports: redb::Table<'t, u64, &'static [u8]>,
    tickets: redb::Table<'t, u64, &'static [u8]>,
    person_tickets: redb::Table<'t, (u64, u64), u64>,
    /// The id the next new ticket gets.
    next_ticket: u64,
    doses: redb::Table<'t, (u64, u64), &'static [u8]>,
    unique: redb::Table<'t, [u8; 16], u64>,
    names: redb::MultimapTable<'t, [u8; 16], u64>,
    accounts: redb::Table<'t, &'static str, &'static [u8]>,
    service_tokens: redb::Table<'t, [u8; 32], &'static str>,
    sessions: redb::Table<'t, [u8; 32], &'static [u8]>,
    plugins: redb::Table<'t, &'static str, &'static [u8]>,
    requests: redb::Table<'t, &'static str, &'static [u8]>,
    requests_by_time: redb::Table<'t, (i64, &'static str), ()>,
    reviews: redb::Table<'t, ReviewId, &'static [u8]>,
    issuer_keys: redb::Table<'t, u32, &'static [u8]>,
    certificates: redb::Table<'t, &'static str, &'static [u8]>,
    revocations: redb::Table<'t, (&'static str, &'static str), &'static str>,
    federation: redb::Table<'t, &'static str, &'static [u8]>,
    /// Latest request time applied in this batch, for pruning.
    latest_request_ms: Option<i64>,
}

impl<'t> Tables<'t> {
    fn open(txn: &'t WriteTransaction) -> StoreResult<Tables<'t>> {
        let tickets = txn.open_table(TICKETS)?;
        let next_ticket = tickets.last()?.map_or(1, |(id, _)| id.value() + 1);
        Ok(Tables {
            versions: txn.open_table(PERSON_VERSIONS)?,
            persons: txn.open_table(PERSONS)?,
            my_numbers: txn.open_table(MY_NUMBERS)?,
            passports: txn.open_table(PASSPORTS)?,
            tickets,
            person_tickets: txn.open_table(PERSON_TICKETS)?,
            next_ticket,
            doses: txn.open_table(DOSES)?,
            unique: txn.open_table(UNIQUE_INDEX)?,
            names: txn.open_multimap_table(NAME_INDEX)?,
            accounts: txn.open_table(ACCOUNTS)?,
            service_tokens: txn.open_table(SERVICE_TOKENS)?,
            sessions: txn.open_table(SESSIONS)?,
            plugins: txn.open_table(PLUGINS)?,
            requests: txn.open_table(REQUESTS)?,
            requests_by_time: txn.open_table(REQUESTS_BY_TIME)?,
            reviews: txn.open_table(REVIEWS)?,
            issuer_keys: txn.open_table(ISSUER_KEYS)?,
            certificates: txn.open_table(CERTIFICATES)?,
            revocations: txn.open_table(REVOCATIONS)?,
            federation: txn.open_table(FEDERATION)?,
            latest_request_ms: None,
        })
    }

    /// Reads every check, except (fused) those the set's own writes verify.
    fn validate(
        &self,
        set: &WriteSet,
        written: &Written,
        mode: Mode,
    ) -> StoreResult<Result<(), Conflict>> {
        let fused = mode == Mode::Fused;
        for check in &set.checks {
            match check {
                Check::PersonVersion { person, .. }
                    if fused && written.persons.contains(person) => {}
                Check::Unique { key, .. } if fused && written.keys.contains(key) => {}
                Check::PersonVersion { person, version } => {
                    let now = self.versions.get(*person)?.map(|v| v.value());
                    if now != *version {
                        let message = format!("person {person} changed concurrently");
                        return Ok(Err(Conflict::changed(message)));
                    }
                }
                Check::RequestUnused(id) => {
                    if self.requests.get(id.as_str())?.is_some() {
                        let message =
                            format!("request {id} was already applied; it is not applied twice");
                        return Ok(Err(Conflict {
                            message,
                            replay: true,
                        }));
                    }
                }
                Check::Unique { key, holder } => {
                    let now = self.unique.get(*key)?.map(|v| v.value());
                    if now != *holder {
                        let message = "an identifier was claimed concurrently";
                        return Ok(Err(Conflict::changed(message)));
                    }
                }
                Check::FederationEntry { key, digest } => {
                    let now = self
                        .federation
                        .get(key.as_str())?
                        .map(|v| crate::crypto::sha256(v.value()));
                    if now != *digest {
                        return Ok(Err(Conflict {
                            message: "the exchange was answered or changed meanwhile".into(),
                            replay: true,
                        }));
                    }
                }
                Check::ReviewOpen(id) => {
                    let open = match self.reviews.get(id)? {
                        Some(row) => rows::decode::<ReviewRow>(row.value())
                            .map_err(StoreError::from)?
                            .resolution
                            .is_none(),
                        None => false,
                    };
                    if !open {
                        return Ok(Err(Conflict {
                            message: "the review was resolved meanwhile".into(),
                            replay: true,
                        }));
                    }
                }
            }
        }
        Ok(Ok(()))
    }

    /// Applies a set's ops; returns whether they changed a person, or
    /// (fused) `None` when a value they replaced was not the one its check
    /// expected: the transaction is then spoilt and the batch redone.
    fn apply(
        &mut self,
        set: &WriteSet,
        written: &Written,
        mode: Mode,
        generation: &mut bool,
        metas: &mut Vec<(String, Vec<u8>)>,
    ) -> StoreResult<Option<bool>> {
        let touched = &written.persons;
        let mut expected_holders: HashMap<IndexHash, Option<u64>> = HashMap::new();
        let mut versions: HashMap<u64, Option<u64>> = HashMap::new();
        for check in &set.checks {
            match check {
                Check::Unique { key, holder } => {
                    expected_holders.insert(*key, *holder);
                }
                Check::PersonVersion { person, version } => {
                    versions.insert(*person, *version);
                }
                Check::RequestUnused(_) | Check::ReviewOpen(_) | Check::FederationEntry { .. } => {}
            }
        }
        // Fused: the first write of a checked key must replace what the
        // check saw (later writes replace this set's own).
        let mut replaced_as_seen = |key: &IndexHash, old: Option<u64>| match mode {
            Mode::Careful => true,
            Mode::Fused => expected_holders
                .remove(key)
                .is_none_or(|expected| expected == old),
        };
        for op in &set.ops {
            match op {
                Op::PutPerson(p, row) => {
                    self.persons.insert(*p, row.as_slice())?;
                }
                Op::PutMyNumber(p, v) => {
                    self.my_numbers.insert(*p, v.as_slice())?;
                }
                Op::RemoveMyNumber(p) => {
                    self.my_numbers.remove(*p)?;
                }
                Op::PutReview(id, v) => {
                    self.reviews.insert(id, v.as_slice())?;
                }
                Op::PutPassport(p, v) => {
                    self.passports.insert(*p, v.as_slice())?;
                }
                Op::PutTicket(p, t, v) => {
                    let id = self.ticket_id(*p, *t)?;
                    self.tickets.insert(id, v.as_slice())?;
                }
                Op::PutDose(p, d, v) => {
                    self.doses.insert((*p, *d), v.as_slice())?;
                }
                Op::SetUnique(k, p) => {
                    let old = self.unique.insert(*k, *p)?.map(|v| v.value());
                    if !replaced_as_seen(k, old) {
                        return Ok(None);
                    }
                }
                Op::RemoveUnique(k) => {
                    let old = self.unique.remove(*k)?.map(|v| v.value());
                    if !replaced_as_seen(k, old) {
                        return Ok(None);
                    }
                }
                Op::AddName(k, p) => {
                    self.names.insert(*k, *p)?;
                }
                Op::RemoveName(k, p) => {
                    self.names.remove(*k, *p)?;
                }
                Op::PutAccount(name, v) => {
                    self.accounts.insert(name.as_str(), v.as_slice())?;
                }
                Op::PutServiceToken(h, name) => {
                    self.service_tokens.insert(*h, name.as_str())?;
                }
                Op::RemoveServiceToken(h) => {
                    self.service_tokens.remove(*h)?;
                }
                Op::PutSession(h, v) => {
                    self.sessions.insert(*h, v.as_slice())?;
                }
                Op::RemoveSession(h) => {
                    self.sessions.remove(*h)?;
                }
                Op::PutPlugin(name, v) => {
                    self.plugins.insert(name.as_str(), v.as_slice())?;
                }
                Op::PutIssuerKey(generation, v) => {
                    self.issuer_keys.insert(*generation, v.as_slice())?;
                }
                Op::PutCertificate(id, v) => {
                    self.certificates.insert(id.as_str(), v.as_slice())?;
                }
                Op::PutRevocation(kid, id, entry) => {
                    self.revocations
                        .insert((kid.as_str(), id.as_str()), entry.as_str())?;
                }
                Op::PutRequest(id, at, v) => {
                    self.requests.insert(id.as_str(), v.as_slice())?;
                    self.requests_by_time.insert((*at, id.as_str()), ())?;
                    self.latest_request_ms = self.latest_request_ms.max(Some(*at));
                }
                Op::PutFederation(key, v) => {
                    self.federation.insert(key.as_str(), v.as_slice())?;
                }
                Op::RemoveFederation(key) => {
                    self.federation.remove(key.as_str())?;
                }
                Op::SetMeta(k, v) => metas.push((k.clone(), v.clone())),
                Op::BumpGeneration => *generation = true,
            }
        }
        for &p in touched {
            // A checked person's version is known; bumping it says (fused)
            // whether it still was.
            let next = |v: Option<u64>| v.map_or(1, |v| v + 1);
            match versions.get(&p) {
                Some(&seen) => {
                    let old = self.versions.insert(p, next(seen))?.map(|v| v.value());
                    if mode == Mode::Fused && old != seen {
                        return Ok(None);
                    }
                }
                None => {
                    let now = self.versions.get(p)?.map(|v| v.value());
                    self.versions.insert(p, next(now))?;
                }
            }
        }
        Ok(Some(!touched.is_empty()))
    }
}

impl Tables<'_> {
    /// The id of a person's ticket, given the next id when it is new.
    fn ticket_id(&mut self, person: u64, seq: u64) -> StoreResult<u64> {
        // Written as new first: one walk of the tree for a new ticket (a
        // campaign's), two for a change to a stored one (rare).
        let new = self.next_ticket;
        let stored = self
            .person_tickets
            .insert((person, seq), new)?
            .map(|id| id.value());
        match stored {
            None => {
                self.next_ticket += 1;
                Ok(new)
            }
            Some(id) => {
                self.person_tickets.insert((person, seq), id)?;
                Ok(id)
            }
        }
    }

    /// Forgets request ids older than the replay window (a bounded number
    /// per commit).
    fn prune_requests(&mut self) -> StoreResult<()> {
        let Some(latest) = self.latest_request_ms else {
            return Ok(());
        };
        let cutoff = latest - REPLAY_WINDOW_MS;
        let mut expired = Vec::new();
        for entry in self.requests_by_time.range::<(i64, &str)>(..(cutoff, ""))? {
            let (key, _) = entry?;
            let (at, id) = key.value();
            expired.push((at, id.to_owned()));
            if expired.len() == MAX_PRUNED_PER_COMMIT {
                break;
            }
        }
        for (at, id) in expired {
            self.requests_by_time.remove((at, id.as_str()))?;
            self.requests.remove(id.as_str())?;
        }
        Ok(())
    }
}

/// Each write set's audit sequence numbers, or the conflict that refused it.
type Outcomes = Vec<Result<Vec<u64>, Conflict>>;

/// Applies write sets in one durable transaction. Each gets the sequence
/// numbers of its audit events, or the conflict that refused it (then
/// neither its changes nor its events are written). A batch that changes
/// persons holds the cohort facts while it commits and then updates them.
pub fn apply_batch(
    db: &Database,
    keys: &TenantKeys,
    facts: &FactsCache,
    sets: Vec<WriteSet>,
) -> StoreResult<Outcomes> {
    let touches_persons = sets
        .iter()
        .any(|s| s.ops.iter().any(|op| op.person().is_some()));
    if touches_persons {
        facts.commit(|| commit_sets(db, keys, sets))
    } else {
        commit_sets(db, keys, sets).map(|(_, _, _, outcomes)| outcomes)
    }
}

/// What a commit hands back: the data generation before and after, the
/// accepted fact changes, and each set's outcome.
type Committed = (u64, u64, Vec<FactChange>, Outcomes);

/// How a batch verifies its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
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
struct Written {
    persons: BTreeSet<u64>,
    keys: BTreeSet<IndexHash>,
}

impl Written {
    fn of(ops: &[Op]) -> Written {
        let persons = ops.iter().filter_map(Op::person).collect();
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
fn commit_sets(db: &Database, keys: &TenantKeys, sets: Vec<WriteSet>) -> StoreResult<Committed> {
    match commit_in(db, keys, sets, Mode::Fused)? {
        Ok(committed) => Ok(committed),
        Err(sets) => match commit_in(db, keys, sets, Mode::Careful)? {
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
    sets: Vec<WriteSet>,
    mode: Mode,
) -> StoreResult<Result<Committed, Vec<WriteSet>>> {
    let txn = db.begin_write()?;
    let mut verdicts = Vec::with_capacity(sets.len());
    let mut generation = false;
    let mut persons_changed = false;
    let mut metas = Vec::new();
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
    txn.commit()?;
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
        facts: Arc<FactsCache>,
    ) -> Committer {
        let (queue, mut jobs) = mpsc::channel::<Job>(COMMIT_QUEUE_DEPTH);
        let stats = Arc::new(CommitStats::default());
        let thread_stats = stats.clone();
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
                    commit_jobs(&db, &keys, &facts, batch, &thread_stats);
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
}

fn commit_jobs(
    db: &Database,
    keys: &TenantKeys,
    facts: &FactsCache,
    batch: Vec<Job>,
    stats: &CommitStats,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let (sets, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|j| (j.set, j.reply)).unzip();
    let n = sets.len() as u64;
    match apply_batch(db, keys, facts, sets) {
        Ok(outcomes) => {
            stats.commits.fetch_add(1, Relaxed);
            stats.write_sets.fetch_add(n, Relaxed);
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome.map_err(CommitError::Conflict));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "group commit failed; {n} requests fail");
            let message = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(CommitError::Store(StoreError::Damaged(
                    message.clone(),
                ))));
            }
        }
    }
}
