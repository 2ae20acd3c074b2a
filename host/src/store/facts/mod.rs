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
pub use read::{Block, BlockDose, BlockPerson, BlockTicket, Condition, DoseCondition, Want};

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

    /// Whether any person holds a ticket of `campaign` (issued by its
    /// extraction, valid or voided since).
    pub fn knows_campaign(&self, campaign: &str) -> bool {
        let Some(id) = self.strings.find(campaign) else {
            return false;
        };
        self.persons
            .iter()
            .any(|(_, p)| p.tickets.iter().any(|t| t.campaign == id))
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
mod read;
#[cfg(test)]
mod tests;
