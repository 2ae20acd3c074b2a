//! The tables a commit writes, how a write set's checks are read and how
//! its ops are applied.

use std::collections::HashMap;

use redb::{ReadableTable, WriteTransaction};

use super::{Mode, Written};
use crate::crypto::{IndexHash, PersonSecret};
use crate::limits::{MAX_PRUNED_PER_COMMIT, REPLAY_WINDOW_MS};
use crate::store::reviews::{ReviewId, ReviewRow};
use crate::store::tables::{
    ACCOUNTS, CERTIFICATES, DELETIONS, DOSES, FEDERATION, HOLDS, ISSUER_KEYS, MY_NUMBERS,
    NAME_INDEX, PASSPORTS, PERSON_HISTORY, PERSON_TICKETS, PERSON_VERSIONS, PERSONS, PLUGINS,
    REQUESTS, REQUESTS_BY_TIME, REVIEWS, REVOCATIONS, SERVICE_TOKENS, SESSIONS, SUSPENSIONS,
    TICKETS, UNIQUE_INDEX,
};
use crate::store::writeset::{Check, Conflict, Op, WriteSet};
use crate::store::{StoreError, StoreResult, rows};

pub(super) struct Tables<'t> {
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
    deletions: redb::Table<'t, u64, &'static [u8]>,
    holds: redb::Table<'t, u64, &'static [u8]>,
    suspensions: redb::Table<'t, u64, &'static [u8]>,
    history: redb::Table<'t, (u64, u64), &'static [u8]>,
    /// Latest request time applied in this batch, for pruning.
    latest_request_ms: Option<i64>,
    /// New persons' secrets, for the keyring before the commit.
    pub(super) new_secrets: Vec<(u64, PersonSecret)>,
    /// Removed persons, whose secrets are shredded after the commit.
    pub(super) removed: Vec<u64>,
}

impl<'t> Tables<'t> {
    pub(super) fn open(txn: &'t WriteTransaction) -> StoreResult<Tables<'t>> {
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
            deletions: txn.open_table(DELETIONS)?,
            holds: txn.open_table(HOLDS)?,
            suspensions: txn.open_table(SUSPENSIONS)?,
            history: txn.open_table(PERSON_HISTORY)?,
            latest_request_ms: None,
            new_secrets: Vec::new(),
            removed: Vec::new(),
        })
    }

    /// Reads every check, except (fused) those the set's own writes verify.
    pub(super) fn validate(
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
    pub(super) fn apply(
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
                Op::PutPersonSecret(p, secret) => {
                    self.new_secrets.push((*p, secret.clone()));
                }
                Op::RemovePerson(p) => self.remove_person(*p)?,
                Op::PutDeletion(p, v) => {
                    self.deletions.insert(*p, v.as_slice())?;
                }
                Op::SetHold(p, v) => match v {
                    Some(v) => {
                        self.holds.insert(*p, v.as_slice())?;
                    }
                    None => {
                        self.holds.remove(*p)?;
                    }
                },
                Op::SetSuspension(p, v) => match v {
                    Some(v) => {
                        self.suspensions.insert(*p, v.as_slice())?;
                    }
                    None => {
                        self.suspensions.remove(*p)?;
                    }
                },
                Op::PutHistory(p, seq, v) => {
                    self.history.insert((*p, *seq), v.as_slice())?;
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
        let removed = set.ops.iter().any(|op| matches!(op, Op::RemovePerson(_)));
        Ok(Some(!touched.is_empty() || removed))
    }
}

impl Tables<'_> {
    /// Removes every row of a person (a purge). Their version goes too, so
    /// a write set computed on the person before is refused as a conflict.
    fn remove_person(&mut self, person: u64) -> StoreResult<()> {
        self.persons.remove(person)?;
        self.versions.remove(person)?;
        self.my_numbers.remove(person)?;
        self.passports.remove(person)?;
        self.holds.remove(person)?;
        self.suspensions.remove(person)?;
        let mut tickets = Vec::new();
        for entry in self
            .person_tickets
            .range((person, 0)..=(person, u64::MAX))?
        {
            let (k, v) = entry?;
            tickets.push((k.value(), v.value()));
        }
        for (key, id) in tickets {
            self.person_tickets.remove(key)?;
            self.tickets.remove(id)?;
        }
        let doses: Vec<(u64, u64)> = self
            .doses
            .range((person, 0)..=(person, u64::MAX))?
            .map(|e| e.map(|(k, _)| k.value()))
            .collect::<Result<_, _>>()?;
        for key in doses {
            self.doses.remove(key)?;
        }
        let history: Vec<(u64, u64)> = self
            .history
            .range((person, 0)..=(person, u64::MAX))?
            .map(|e| e.map(|(k, _)| k.value()))
            .collect::<Result<_, _>>()?;
        for key in history {
            self.history.remove(key)?;
        }
        self.removed.push(person);
        Ok(())
    }

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
    pub(super) fn prune_requests(&mut self) -> StoreResult<()> {
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
