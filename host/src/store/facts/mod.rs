//! Cohort facts: an in-memory projection of the few fields campaign-wide
//! functions decide on (birth date, status; each dose's number, date,
//! vaccine, maker, lot and facility; each ticket's campaign, dose and
//! status), so a campaign over a million residents does not open a million
//! sealed records.
//!
//! **Invariant: the projection never reaches the disk.** It is built in
//! memory by opening every person's records with their data keys, and kept
//! current by the committer from the plaintext of the write sets it
//! commits. At rest everything stays sealed per person (invariant 6), so
//! crypto-shredding a person still leaves nothing behind.
//!
//! A tenant's `data-generation` (meta) counts commits that touched persons.
//! The projection knows the generation it reflects; one older than a
//! reader's snapshot (another process wrote) is rebuilt.

use std::collections::HashMap;
use std::sync::RwLock;

use redb::Database;

use super::StoreResult;
use super::keyring::Keyring;
use super::tables::meta;
use crate::crypto::TenantKeys;
use crate::fields::{Class, FieldValues, dose, ticket};

/// Most persons one read looks at (matching or not): a call stays in the
/// tens of milliseconds whatever its condition, and the plugin resumes
/// after `next_after`.
pub const MAX_LOOKED_AT_PER_READ: usize = 1 << 20;
/// Persons opened per step of a build; each step's records are held in
/// memory at once (about 1 KiB per person).
const BUILD_CHUNK: usize = 16_384;

/// An absent string or day in the projection.
const NONE: u32 = u32::MAX;
const NO_DAY: i32 = i32::MIN;

/// Resident statuses, by code (`status - 1` indexes this).
pub const STATUS_NAMES: [&str; 3] = ["resident", "moved-out", "deceased"];
/// Ticket statuses, by code (`status - 1` indexes this).
const TICKET_STATUSES: [&str; 2] = [ticket::VALID, ticket::VOIDED];

fn code_of(names: &[&str], value: Option<&str>) -> u8 {
    value
        .and_then(|v| names.iter().position(|n| *n == v))
        .map_or(0, |i| i as u8 + 1)
}

fn day_of(value: Option<&str>) -> i32 {
    value
        .and_then(|v| kiroku_rules::Date::parse(v).ok())
        .map_or(NO_DAY, |d| d.days_since_epoch() as i32)
}

fn opt_day(day: i32) -> Option<i32> {
    (day != NO_DAY).then_some(day)
}

/// Text values by id, each stored once.
#[derive(Debug, Default)]
struct Interner {
    values: Vec<Box<str>>,
    ids: HashMap<Box<str>, u32>,
}

impl Interner {
    fn id(&mut self, value: Option<&str>) -> u32 {
        let Some(value) = value else { return NONE };
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.into());
        self.ids.insert(value.into(), id);
        id
    }

    fn find(&self, value: &str) -> Option<u32> {
        self.ids.get(value).copied()
    }
}

#[derive(Debug, Clone, Copy)]
struct DoseFact {
    seq: u64,
    number: u32,
    date: i32,
    vaccine: u32,
    maker: u32,
    lot: u32,
    facility: u32,
}

#[derive(Debug, Clone, Copy)]
struct TicketFact {
    seq: u64,
    campaign: u32,
    dose_number: u32,
    status: u8,
}

#[derive(Debug, Clone)]
struct PersonFacts {
    birth: i32,
    status: u8,
    status_date: i32,
    /// Use suspended (subject rights): left out of every population read.
    suspended: bool,
    doses: Vec<DoseFact>,
    tickets: Vec<TicketFact>,
}

impl Default for PersonFacts {
    fn default() -> PersonFacts {
        PersonFacts {
            birth: NO_DAY,
            status: 0,
            status_date: NO_DAY,
            suspended: false,
            doses: Vec::new(),
            tickets: Vec::new(),
        }
    }
}

/// What a retention rule is anchored on, for one person.
#[derive(Debug, Clone, Copy)]
pub struct Anchors {
    /// Person id.
    pub person: u64,
    /// Status code (`status - 1` indexes [`STATUS_NAMES`]; 0: none).
    pub status: u8,
    /// Day (days since 1970-01-01) the status took effect.
    pub status_day: Option<i32>,
    /// Day of the latest dose.
    pub last_dose_day: Option<i32>,
    /// Doses held.
    pub doses: u32,
    /// Tickets held.
    pub tickets: u32,
}

/// The text of the dose fields the projection keeps.
#[derive(Clone, Default)]
pub struct DoseText {
    number: Option<u32>,
    date: Option<String>,
    vaccine: Option<String>,
    maker: Option<String>,
    lot: Option<String>,
    facility: Option<String>,
}

impl DoseText {
    /// The kept fields of a dose's values.
    pub fn of(v: &FieldValues) -> DoseText {
        let text = |name: &str| {
            Class::Dose
                .field_index(name)
                .and_then(|i| v.get(i))
                .map(str::to_owned)
        };
        DoseText {
            number: v.get(dose::DOSE_NUMBER).and_then(|n| n.parse().ok()),
            date: v.get(dose::DATE).map(str::to_owned),
            vaccine: text("vaccine"),
            maker: text("maker"),
            lot: text("lot"),
            facility: text("facility-code"),
        }
    }
}

/// The text of the ticket fields the projection keeps.
#[derive(Clone, Default)]
pub struct TicketText {
    campaign: Option<String>,
    dose_number: Option<u32>,
    status: Option<String>,
}

impl TicketText {
    /// The kept fields of a ticket's values.
    pub fn of(v: &FieldValues) -> TicketText {
        TicketText {
            campaign: v.get(ticket::CAMPAIGN).map(str::to_owned),
            dose_number: v.get(ticket::DOSE_NUMBER).and_then(|n| n.parse().ok()),
            status: v.get(ticket::STATUS).map(str::to_owned),
        }
    }
}

/// A change a write set makes to the projection, in plaintext: it lives in
/// memory only, from the draft to the committer.
#[derive(Clone)]
pub enum FactChange {
    /// A person's birth date and status (also: a new person).
    Resident {
        /// Person id.
        person: u64,
        /// Birth date.
        birth_date: Option<String>,
        /// Status.
        status: Option<String>,
        /// Since when the status holds.
        status_date: Option<String>,
    },
    /// A person's use suspended or no longer.
    Suspension {
        /// Person id.
        person: u64,
        /// Suspended.
        suspended: bool,
    },
    /// A person purged: gone from the projection.
    Removed {
        /// Person id.
        person: u64,
    },
    /// A dose stored or changed.
    Dose {
        /// Person id.
        person: u64,
        /// Dose id.
        seq: u64,
        /// Its kept fields.
        text: Box<DoseText>,
    },
    /// A ticket stored or changed.
    Ticket {
        /// Person id.
        person: u64,
        /// Ticket sequence.
        seq: u64,
        /// Its kept fields.
        text: TicketText,
    },
}

// Ids only: the values are personal data.
impl std::fmt::Debug for FactChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FactChange::Resident { person, .. } => write!(f, "Resident({person})"),
            FactChange::Removed { person } => write!(f, "Removed({person})"),
            FactChange::Suspension { person, .. } => write!(f, "Suspension({person})"),
            FactChange::Dose { person, seq, .. } => write!(f, "Dose({person}, {seq})"),
            FactChange::Ticket { person, seq, .. } => write!(f, "Ticket({person}, {seq})"),
        }
    }
}

/// Which fields a read returns (requested and granted).
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    /// Birth date.
    pub birth_date: bool,
    /// Status.
    pub status: bool,
    /// Dose number, date, vaccine, maker, lot, facility code.
    pub dose: [bool; 6],
    /// Ticket campaign, dose number, status.
    pub ticket: [bool; 3],
}

impl Want {
    fn doses(&self) -> bool {
        self.dose.iter().any(|w| *w)
    }
    fn tickets(&self) -> bool {
        self.ticket.iter().any(|w| *w)
    }
}

/// Conditions on a dose; `None` does not restrict.
#[derive(Debug, Clone, Default)]
pub struct DoseCondition {
    /// Vaccine kind.
    pub vaccine: Option<String>,
    /// Maker.
    pub maker: Option<String>,
    /// Lot.
    pub lot: Option<String>,
    /// Facility code.
    pub facility: Option<String>,
    /// Dose number.
    pub dose_number: Option<u32>,
    /// On or after (days since epoch).
    pub date_from: Option<i32>,
    /// On or before.
    pub date_to: Option<i32>,
}

/// Which persons a read returns; `None` or empty does not restrict.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    /// Born on or after (days since epoch).
    pub born_from: Option<i32>,
    /// Born on or before.
    pub born_to: Option<i32>,
    /// Status names, any of.
    pub statuses: Vec<String>,
    /// Has a dose meeting all of this.
    pub dose: Option<DoseCondition>,
    /// Holds a valid ticket for (campaign, dose number).
    pub ticket: Option<(String, u32)>,
}

/// A condition with its text resolved to ids; `None` when it names a value
/// the tenant has never stored (nothing can match).
struct Resolved {
    born_from: Option<i32>,
    born_to: Option<i32>,
    statuses: Vec<u8>,
    dose: Option<ResolvedDose>,
    ticket: Option<(u32, u32)>,
}

struct ResolvedDose {
    /// Vaccine, maker, lot, facility.
    ids: [Option<u32>; 4],
    dose_number: Option<u32>,
    date_from: Option<i32>,
    date_to: Option<i32>,
}

impl ResolvedDose {
    fn matches(&self, d: &DoseFact) -> bool {
        let got = [d.vaccine, d.maker, d.lot, d.facility];
        let dated = d.date != NO_DAY;
        self.ids
            .iter()
            .zip(got)
            .all(|(want, got)| want.is_none_or(|w| w == got))
            && self.dose_number.is_none_or(|n| n == d.number)
            && self.date_from.is_none_or(|f| dated && d.date >= f)
            && self.date_to.is_none_or(|t| dated && d.date <= t)
    }
}

impl Resolved {
    fn matches(&self, p: &PersonFacts) -> bool {
        let born = p.birth != NO_DAY;
        if self.born_from.is_some_and(|f| !born || p.birth < f)
            || self.born_to.is_some_and(|t| !born || p.birth > t)
        {
            return false;
        }
        if !self.statuses.is_empty() && !self.statuses.contains(&p.status) {
            return false;
        }
        if let Some(d) = &self.dose
            && !p.doses.iter().any(|f| d.matches(f))
        {
            return false;
        }
        if let Some((campaign, dose)) = self.ticket
            && !p
                .tickets
                .iter()
                .any(|t| t.campaign == campaign && t.dose_number == dose && t.status == 1)
        {
            return false;
        }
        true
    }
}

/// One person of a block. Unwanted fields are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPerson {
    /// Person id.
    pub id: u64,
    /// Birth date (days since epoch).
    pub birth_date: Option<i32>,
    /// Status name index into [`STATUS_NAMES`].
    pub status: Option<u8>,
}

/// One dose of a block; texts index [`Block::strings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDose {
    /// Index of its person in [`Block::persons`].
    pub person: u32,
    /// Dose number.
    pub dose_number: Option<u32>,
    /// Date (days since epoch).
    pub date: Option<i32>,
    /// Vaccine.
    pub vaccine: Option<u32>,
    /// Maker.
    pub maker: Option<u32>,
    /// Lot.
    pub lot: Option<u32>,
    /// Facility code.
    pub facility: Option<u32>,
}

/// One ticket of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTicket {
    /// Index of its person in [`Block::persons`].
    pub person: u32,
    /// Campaign.
    pub campaign: Option<u32>,
    /// Dose number.
    pub dose_number: Option<u32>,
    /// Valid (not voided).
    pub valid: Option<bool>,
}

/// What a read returns.
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// Persons that met the condition.
    pub persons: Vec<BlockPerson>,
    /// Their doses.
    pub doses: Vec<BlockDose>,
    /// Their tickets.
    pub tickets: Vec<BlockTicket>,
    /// Text values referred to by index.
    pub strings: Vec<String>,
    /// Last person id looked at.
    pub next_after: u64,
    /// No person after `next_after`.
    pub end: bool,
}

/// The projection of one tenant at one generation.
#[derive(Debug, Default)]
pub struct Facts {
    generation: u64,
    /// By person id, ascending: a read is a linear walk of memory, and
    /// new persons (ids are handed out in order) go at the end.
    persons: Vec<(u64, PersonFacts)>,
    strings: Interner,
}

impl Facts {
    /// Persons held.
    pub fn person_count(&self) -> u64 {
        self.persons.len() as u64
    }

    /// About how much memory the projection holds (its allocations'
    /// payload; the allocator's own overhead comes on top).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let persons = self.persons.capacity() * size_of::<(u64, PersonFacts)>();
        let items: usize = self
            .persons
            .iter()
            .map(|(_, p)| {
                p.doses.capacity() * size_of::<DoseFact>()
                    + p.tickets.capacity() * size_of::<TicketFact>()
            })
            .sum();
        // Each text is held twice (by id and in the lookup), plus the slots.
        let strings: usize = self
            .strings
            .values
            .iter()
            .map(|v| 2 * v.len() + 3 * size_of::<Box<str>>())
            .sum();
        persons + items + strings
    }

    /// Each person's retention anchors, in person-id order.
    pub fn each_anchor(&self, mut f: impl FnMut(Anchors)) {
        for (id, p) in &self.persons {
            f(Anchors {
                person: *id,
                status: p.status,
                status_day: opt_day(p.status_date),
                last_dose_day: p
                    .doses
                    .iter()
                    .map(|d| d.date)
                    .filter(|&d| d != NO_DAY)
                    .max(),
                doses: p.doses.len() as u32,
                tickets: p.tickets.len() as u32,
            });
        }
    }

    /// The facts of `person`, added empty if missing.
    fn person_mut(&mut self, person: u64) -> &mut PersonFacts {
        let at = match self.persons.binary_search_by_key(&person, |(id, _)| *id) {
            Ok(at) => at,
            Err(at) => {
                self.persons.insert(at, (person, PersonFacts::default()));
                at
            }
        };
        &mut self.persons[at].1
    }

    /// The persons with an id above `after`.
    fn after(&self, after: u64) -> &[(u64, PersonFacts)] {
        let start = self.persons.partition_point(|(id, _)| *id <= after);
        &self.persons[start..]
    }

    /// Applies a commit's changes; its purged persons leave in one pass
    /// (one by one, a purge of 100,000 would move the whole vector each).
    fn apply_all(&mut self, changes: Vec<FactChange>) {
        let mut removed = std::collections::HashSet::new();
        for change in changes {
            match change {
                FactChange::Removed { person } => {
                    removed.insert(person);
                }
                other => self.apply(other),
            }
        }
        if !removed.is_empty() {
            self.persons.retain(|(id, _)| !removed.contains(id));
        }
    }

    fn apply(&mut self, change: FactChange) {
        match change {
            FactChange::Resident {
                person,
                birth_date,
                status,
                status_date,
            } => {
                let p = self.person_mut(person);
                p.birth = day_of(birth_date.as_deref());
                p.status = code_of(&STATUS_NAMES, status.as_deref());
                p.status_date = day_of(status_date.as_deref());
            }
            FactChange::Suspension { person, suspended } => {
                self.person_mut(person).suspended = suspended;
            }
            FactChange::Removed { person } => {
                if let Ok(at) = self.persons.binary_search_by_key(&person, |(id, _)| *id) {
                    self.persons.remove(at);
                }
            }
            FactChange::Dose { person, seq, text } => {
                let fact = DoseFact {
                    seq,
                    number: text.number.unwrap_or(0),
                    date: day_of(text.date.as_deref()),
                    vaccine: self.strings.id(text.vaccine.as_deref()),
                    maker: self.strings.id(text.maker.as_deref()),
                    lot: self.strings.id(text.lot.as_deref()),
                    facility: self.strings.id(text.facility.as_deref()),
                };
                let doses = &mut self.person_mut(person).doses;
                match doses.binary_search_by_key(&seq, |d| d.seq) {
                    Ok(i) => doses[i] = fact,
                    Err(i) => doses.insert(i, fact),
                }
            }
            FactChange::Ticket { person, seq, text } => {
                let fact = TicketFact {
                    seq,
                    campaign: self.strings.id(text.campaign.as_deref()),
                    dose_number: text.dose_number.unwrap_or(0),
                    status: code_of(&TICKET_STATUSES, text.status.as_deref()),
                };
                let tickets = &mut self.person_mut(person).tickets;
                match tickets.binary_search_by_key(&seq, |t| t.seq) {
                    Ok(i) => tickets[i] = fact,
                    Err(i) => tickets.insert(i, fact),
                }
            }
        }
    }

    fn resolve(&self, c: &Condition) -> Option<Resolved> {
        let text = |v: &Option<String>| -> Option<Option<u32>> {
            match v {
                None => Some(None),
                Some(v) => self.strings.find(v).map(Some),
            }
        };
        let dose = match &c.dose {
            None => None,
            Some(d) => Some(ResolvedDose {
                ids: [
                    text(&d.vaccine)?,
                    text(&d.maker)?,
                    text(&d.lot)?,
                    text(&d.facility)?,
                ],
                dose_number: d.dose_number,
                date_from: d.date_from,
                date_to: d.date_to,
            }),
        };
        let ticket = match &c.ticket {
            None => None,
            Some((campaign, n)) => Some((self.strings.find(campaign)?, *n)),
        };
        let mut statuses = Vec::new();
        for s in &c.statuses {
            statuses.push(code_of(&STATUS_NAMES, Some(s)));
        }
        Some(Resolved {
            born_from: c.born_from,
            born_to: c.born_to,
            statuses,
            dose,
            ticket,
        })
    }

    /// Up to `limit` persons with an id above `after` that meet `condition`,
    /// with the wanted fields; looks at most at [`MAX_LOOKED_AT_PER_READ`].
    pub fn read(&self, after: u64, limit: usize, condition: &Condition, want: Want) -> Block {
        let mut block = Block {
            next_after: after,
            ..Block::default()
        };
        let Some(resolved) = self.resolve(condition) else {
            block.next_after = self.persons.last().map_or(after, |(id, _)| *id);
            block.end = true;
            return block;
        };
        if after == u64::MAX {
            block.end = true;
            return block;
        }
        let mut local: HashMap<u32, u32> = HashMap::new();
        let mut strings = Vec::new();
        let mut text = |id: u32| -> Option<u32> {
            if id == NONE {
                return None;
            }
            Some(*local.entry(id).or_insert_with(|| {
                strings.push(self.strings.values[id as usize].to_string());
                strings.len() as u32 - 1
            }))
        };
        let candidates = self.after(after).iter().take(MAX_LOOKED_AT_PER_READ);
        for (id, p) in candidates {
            let id = *id;
            if block.persons.len() == limit {
                break;
            }
            block.next_after = id;
            if p.suspended || !resolved.matches(p) {
                continue;
            }
            let index = block.persons.len() as u32;
            block.persons.push(BlockPerson {
                id,
                birth_date: if want.birth_date {
                    opt_day(p.birth)
                } else {
                    None
                },
                status: if want.status && p.status > 0 {
                    Some(p.status - 1)
                } else {
                    None
                },
            });
            if want.doses() {
                let w = want.dose;
                for d in &p.doses {
                    block.doses.push(BlockDose {
                        person: index,
                        dose_number: (w[0] && d.number > 0).then_some(d.number),
                        date: if w[1] { opt_day(d.date) } else { None },
                        vaccine: if w[2] { text(d.vaccine) } else { None },
                        maker: if w[3] { text(d.maker) } else { None },
                        lot: if w[4] { text(d.lot) } else { None },
                        facility: if w[5] { text(d.facility) } else { None },
                    });
                }
            }
            if want.tickets() {
                let w = want.ticket;
                for t in &p.tickets {
                    block.tickets.push(BlockTicket {
                        person: index,
                        campaign: if w[0] { text(t.campaign) } else { None },
                        dose_number: (w[1] && t.dose_number > 0).then_some(t.dose_number),
                        valid: (w[2] && t.status > 0).then_some(t.status == 1),
                    });
                }
            }
        }
        block.strings = strings;
        block.end = self.after(block.next_after).is_empty();
        block
    }
}

/// The tenant's data generation as of `txn`.
pub fn data_generation(txn: &redb::ReadTransaction) -> StoreResult<u64> {
    Ok(super::read_meta(txn, meta::DATA_GENERATION)?
        .and_then(|v| v.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}

/// A tenant's projection: not built until first read, then kept current.
#[derive(Debug, Default)]
pub struct FactsCache {
    state: RwLock<Option<Facts>>,
}

impl FactsCache {
    /// Runs `f` on facts at least as new as `generation` (a reader's
    /// snapshot), building them first when they are missing or older.
    pub fn read<R>(
        &self,
        db: &Database,
        keys: &TenantKeys,
        ring: &Keyring,
        generation: u64,
        f: impl FnOnce(&Facts) -> R,
    ) -> StoreResult<R> {
        {
            let state = self.state.read().expect("facts lock");
            if let Some(facts) = state.as_ref()
                && facts.generation >= generation
            {
                return Ok(f(facts));
            }
        }
        let mut state = self.state.write().expect("facts lock");
        if state.as_ref().is_none_or(|s| s.generation < generation) {
            let started = std::time::Instant::now();
            let facts = build::build(db, keys, ring)?;
            tracing::info!(
                tenant = keys.tenant(),
                persons = facts.persons.len(),
                ms = started.elapsed().as_millis() as u64,
                "cohort facts built"
            );
            *state = Some(facts);
        }
        Ok(f(state.as_ref().expect("built above")))
    }

    /// Persons held and [`Facts::heap_bytes`], if built.
    pub fn stats(&self) -> Option<(u64, usize)> {
        let state = self.state.read().expect("facts lock");
        state.as_ref().map(|f| (f.person_count(), f.heap_bytes()))
    }

    /// Builds the projection now if it is not built (a server warms it up
    /// at start so the first campaign does not wait).
    pub fn warm(&self, db: &Database, keys: &TenantKeys, ring: &Keyring) -> StoreResult<()> {
        self.read(db, keys, ring, 0, |_| ())
    }

    /// Commits with the projection locked, then applies the committed
    /// changes: `commit` returns the generation before and after, and the
    /// changes of the write sets it accepted.
    pub fn commit<R>(
        &self,
        commit: impl FnOnce() -> StoreResult<(u64, u64, Vec<FactChange>, R)>,
    ) -> StoreResult<R> {
        let mut state = self.state.write().expect("facts lock");
        let (before, after, changes, out) = commit()?;
        if let Some(facts) = state.as_mut() {
            if before == after {
                return Ok(out);
            }
            if facts.generation == before {
                facts.apply_all(changes);
                facts.generation = after;
            } else {
                // Another process committed in between: rebuild when read.
                *state = None;
            }
        }
        Ok(out)
    }
}

mod build;
#[cfg(test)]
mod tests;
