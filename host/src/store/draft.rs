//! An invocation's view of a tenant: a read snapshot (MVCC) plus the
//! invocation's own pending changes, which it reads back. Nothing here
//! decides what a plugin may do (that is `policy`); this is the storage
//! semantics of each data class: sealing, indexes, uniqueness, and the
//! checks the committer re-validates.
//!
//! At the end, [`Draft::into_write_set`] seals every change and lists the
//! versions it was computed on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use redb::{ReadOnlyTable, ReadTransaction, ReadableDatabase};

use super::commit::{Check, Op, WriteSet};
use super::facts::{self, DoseText, FactChange, TicketText};
use super::rows::{self, PersonRow};
use super::tables::{
    DOSES, MY_NUMBERS, NAME_INDEX, PASSPORTS, PERSON_TICKETS, PERSON_VERSIONS, PERSONS, TICKETS,
    UNIQUE_INDEX,
};
use super::{PARALLEL_MIN, StoreError, TenantStore, in_parallel};
use crate::audit::Event;
use crate::clock::Entropy;
use crate::crypto::{DataKey, INDEX_HASH_LEN, IndexHash, IndexKind, SealContext};
use crate::fields::{Class, FieldValues, resident, ticket};
use crate::limits::MAX_FIELD_BYTES;
use crate::normalize;

/// Why a draft operation was refused. Messages name fields, never values.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No such record.
    #[error("{0}")]
    NotFound(String),
    /// Malformed value.
    #[error("{0}")]
    Invalid(String),
    /// Contradicts stored data.
    #[error("{0}")]
    Conflict(String),
}

type DraftResult<T> = Result<T, DraftError>;

/// Says which item of a batch an error concerns (by position: messages
/// carry no values).
pub fn at_position(i: usize, e: DraftError) -> DraftError {
    match e {
        DraftError::Invalid(m) => DraftError::Invalid(format!("item {i}: {m}")),
        DraftError::NotFound(m) => DraftError::NotFound(format!("item {i}: {m}")),
        DraftError::Conflict(m) => DraftError::Conflict(format!("item {i}: {m}")),
        DraftError::Store(e) => DraftError::Store(e),
    }
}

impl From<redb::StorageError> for DraftError {
    fn from(e: redb::StorageError) -> DraftError {
        DraftError::Store(e.into())
    }
}

/// Resident statuses the host stores.
pub const STATUSES: &[&str] = &["resident", "moved-out", "deceased"];

struct Person {
    version: Option<u64>,
    key: DataKey,
    wrapped: Vec<u8>,
    resident: Resident,
    dirty: bool,
}

/// A person's resident fields, opened when first read: issuing a ticket
/// or adding a dose needs only the person's data key.
enum Resident {
    Sealed(Vec<u8>),
    Open(FieldValues),
}

/// Records of one class keyed by a per-person sequence (doses, tickets).
#[derive(Default)]
struct Items {
    items: BTreeMap<u64, FieldValues>,
    /// Stored items read but not opened yet.
    sealed: BTreeMap<u64, Vec<u8>>,
    /// Whether the stored items were read. Until they are, only the last
    /// stored sequence is known: adding an item needs no more (a campaign
    /// issues a ticket to each holder without reading their old ones).
    read: bool,
    last_stored: u64,
    dirty: Vec<u64>,
}

impl Items {
    /// The sequence of the next item.
    fn next_seq(&self) -> u64 {
        let last = |m: Option<&u64>| m.copied().unwrap_or(0);
        let known = last(self.items.keys().next_back()).max(last(self.sealed.keys().next_back()));
        known.max(self.last_stored) + 1
    }
}

/// A single sealed value per person (My Number, passport).
struct Single<T> {
    value: Option<T>,
    dirty: bool,
}

/// Snapshot tables, opened once per draft: opening one is a lookup in
/// redb's table directory, which a population scan would otherwise pay
/// several times per person. `None` inside: the table does not exist yet.
#[derive(Default)]
struct OpenTables {
    persons: Lazy<u64, &'static [u8]>,
    versions: Lazy<u64, u64>,
    doses: Lazy<(u64, u64), &'static [u8]>,
    person_tickets: Lazy<(u64, u64), u64>,
    tickets: Lazy<u64, &'static [u8]>,
    unique: Lazy<[u8; INDEX_HASH_LEN], u64>,
}

impl OpenTables {
    /// The opened tables a class's items are read from.
    fn items(&self, class: Class) -> ItemTables<'_> {
        match class {
            Class::Dose => ItemTables::Doses(opened(&self.doses)),
            _ => ItemTables::Tickets(opened(&self.person_tickets), opened(&self.tickets)),
        }
    }
}

/// Where a class's stored items are (`None`: the table does not exist).
#[derive(Clone, Copy)]
enum ItemTables<'a> {
    Doses(Option<&'a ReadOnlyTable<(u64, u64), &'static [u8]>>),
    /// Each person's ticket ids, and the tickets by id.
    Tickets(
        Option<&'a ReadOnlyTable<(u64, u64), u64>>,
        Option<&'a ReadOnlyTable<u64, &'static [u8]>>,
    ),
}

impl ItemTables<'_> {
    /// The highest sequence of a person's stored items (0: none).
    fn last_seq(self, person: u64) -> DraftResult<u64> {
        fn last<V: redb::Value + 'static>(
            t: &ReadOnlyTable<(u64, u64), V>,
            person: u64,
        ) -> DraftResult<u64> {
            let last = t.range((person, 0)..=(person, u64::MAX))?.next_back();
            Ok(last.transpose()?.map_or(0, |(k, _)| k.value().1))
        }
        match self {
            ItemTables::Doses(Some(doses)) => last(doses, person),
            ItemTables::Tickets(Some(ids), _) => last(ids, person),
            ItemTables::Doses(None) | ItemTables::Tickets(None, _) => Ok(0),
        }
    }

    /// A person's stored items, sealed, by sequence.
    fn read(self, person: u64) -> DraftResult<BTreeMap<u64, Vec<u8>>> {
        let mut out = BTreeMap::new();
        let range = (person, 0)..=(person, u64::MAX);
        match self {
            ItemTables::Doses(Some(doses)) => {
                for entry in doses.range(range)? {
                    let (k, v) = entry?;
                    out.insert(k.value().1, v.value().to_vec());
                }
            }
            ItemTables::Tickets(Some(ids), tickets) => {
                for entry in ids.range(range)? {
                    let (k, id) = entry?;
                    let Some(sealed) = tickets.map(|t| t.get(id.value())).transpose()?.flatten()
                    else {
                        let message =
                            format!("ticket {} of person {person} is missing", id.value());
                        return Err(StoreError::Damaged(message).into());
                    };
                    out.insert(k.value().1, sealed.value().to_vec());
                }
            }
            ItemTables::Doses(None) | ItemTables::Tickets(None, _) => {}
        }
        Ok(out)
    }
}

/// A table not opened yet (`None`), or opened (`Some`, itself `None` when
/// the table does not exist).
type Lazy<K, V> = Option<Option<ReadOnlyTable<K, V>>>;

fn open_cached<'s, K: redb::Key + 'static, V: redb::Value + 'static>(
    slot: &'s mut Lazy<K, V>,
    txn: &ReadTransaction,
    def: redb::TableDefinition<K, V>,
) -> DraftResult<Option<&'s ReadOnlyTable<K, V>>> {
    if slot.is_none() {
        *slot = Some(match txn.open_table(def) {
            Ok(t) => Some(t),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(StoreError::from(e).into()),
        });
    }
    Ok(slot.as_ref().expect("just set").as_ref())
}

/// A table already opened in the cache (`None`: not there).
fn opened<K: redb::Key + 'static, V: redb::Value + 'static>(
    slot: &Lazy<K, V>,
) -> Option<&ReadOnlyTable<K, V>> {
    slot.as_ref().and_then(Option::as_ref)
}

/// A snapshot table through the draft's cache of open tables.
macro_rules! table {
    ($draft:ident . $field:ident, $def:expr) => {{
        $draft.snapshot()?;
        open_cached(
            &mut $draft.tables.$field,
            $draft.snapshot.as_ref().expect("opened above"),
            $def,
        )?
    }};
}

/// See the module docs.
pub struct Draft {
    store: Arc<TenantStore>,
    entropy: Arc<dyn Entropy>,
    snapshot: Option<ReadTransaction>,
    tables: OpenTables,
    persons: HashMap<u64, Person>,
    doses: HashMap<u64, Items>,
    tickets: HashMap<u64, Items>,
    my_numbers: HashMap<u64, Single<String>>,
    passports: HashMap<u64, Single<FieldValues>>,
    /// Unique-index entries as first read from the snapshot.
    unique_seen: HashMap<IndexHash, Option<u64>>,
    /// Unique-index entries as this draft changed them.
    unique_own: HashMap<IndexHash, Option<u64>>,
    /// Name-index entries this draft added or removed.
    names_own: Vec<(IndexHash, u64, bool)>,
    index_ops: Vec<Op>,
}

impl std::fmt::Debug for Draft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Draft({} persons)", self.persons.len())
    }
}

fn seal_context(store: &TenantStore, class: Class, person: u64, item: u64) -> SealContext {
    SealContext::new(store.code().as_str(), class.name(), person, item)
}

fn name_key(name: &str, birth_date: &str) -> String {
    format!("{}|{birth_date}", normalize::name_key(name))
}

/// Cleans and bounds every present value; checks dates and status.
pub fn clean_values(class: Class, values: &FieldValues) -> DraftResult<FieldValues> {
    let mut out = FieldValues::empty(class);
    for i in values.present() {
        let name = class.fields()[i];
        let raw = values.get(i).unwrap_or_default();
        if raw.len() > MAX_FIELD_BYTES || raw.chars().any(char::is_control) {
            return Err(DraftError::Invalid(format!(
                "{name} must be at most {MAX_FIELD_BYTES} bytes without control characters"
            )));
        }
        let value = normalize::clean(raw);
        let is_date = matches!(name, "birth-date" | "status-date" | "date" | "issued-on");
        if is_date && kiroku_rules::Date::parse(&value).is_err() {
            return Err(DraftError::Invalid(format!(
                "{name}: {}",
                kiroku_rules::date::InvalidDate
            )));
        }
        if class == Class::Resident && i == resident::STATUS && !STATUSES.contains(&value.as_str())
        {
            return Err(DraftError::Invalid(format!(
                "status must be one of {}",
                STATUSES.join(", ")
            )));
        }
        if value.is_empty() {
            out.set(i, None);
        } else {
            out.set(i, Some(value));
        }
    }
    Ok(out)
}

/// A stored person with their data key unwrapped; the resident fields stay
/// sealed until read. `None`: no such person in the snapshot.
fn read_person(
    store: &TenantStore,
    persons: Option<&ReadOnlyTable<u64, &'static [u8]>>,
    versions: Option<&ReadOnlyTable<u64, u64>>,
    id: u64,
) -> DraftResult<Option<Person>> {
    let Some(row) = (match persons {
        Some(t) => t.get(id)?,
        None => None,
    }) else {
        return Ok(None);
    };
    let row: PersonRow = rows::decode(row.value()).map_err(StoreError::from)?;
    let version = match versions {
        Some(t) => t.get(id)?.map(|v| v.value()),
        None => None,
    };
    let key = store
        .keys()
        .unwrap(id, &row.wrapped_key)
        .map_err(StoreError::from)?;
    Ok(Some(Person {
        version,
        key,
        wrapped: row.wrapped_key,
        resident: Resident::Sealed(row.resident),
        dirty: false,
    }))
}

/// A new ticket's cleaned values (status valid) and its number.
fn new_ticket(values: &FieldValues) -> DraftResult<(FieldValues, String)> {
    let mut values = clean_values(Class::Ticket, values)?;
    let number = values.get(ticket::NUMBER).unwrap_or_default().to_owned();
    if number.is_empty() {
        return Err(DraftError::Invalid("number is required".into()));
    }
    kiroku_rules::ticket::validate(&number).map_err(|e| DraftError::Invalid(e.to_string()))?;
    values.set(ticket::STATUS, Some(ticket::VALID.into()));
    values.set(ticket::VOID_REASON, None);
    values.set(ticket::VOIDED_ON, None);
    Ok((values, number))
}

impl Draft {
    /// A draft over the current state of `store`.
    pub fn new(store: Arc<TenantStore>, entropy: Arc<dyn Entropy>) -> Draft {
        Draft {
            store,
            entropy,
            snapshot: None,
            tables: OpenTables::default(),
            persons: HashMap::new(),
            doses: HashMap::new(),
            tickets: HashMap::new(),
            my_numbers: HashMap::new(),
            passports: HashMap::new(),
            unique_seen: HashMap::new(),
            unique_own: HashMap::new(),
            names_own: Vec::new(),
            index_ops: Vec::new(),
        }
    }

    /// The tenant's local government code.
    pub fn tenant_code(&self) -> &str {
        self.store.code().as_str()
    }

    fn snapshot(&mut self) -> DraftResult<&ReadTransaction> {
        if self.snapshot.is_none() {
            self.snapshot = Some(self.store.db().begin_read().map_err(StoreError::from)?);
        }
        Ok(self.snapshot.as_ref().expect("just set"))
    }

    fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: redb::TableDefinition<K, V>,
    ) -> DraftResult<Option<redb::ReadOnlyTable<K, V>>> {
        match self.snapshot()?.open_table(def) {
            Ok(t) => Ok(Some(t)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(StoreError::from(e).into()),
        }
    }

    fn person(&mut self, id: u64) -> DraftResult<&mut Person> {
        if !self.persons.contains_key(&id) {
            table!(self.persons, PERSONS);
            table!(self.versions, PERSON_VERSIONS);
            let persons = opened(&self.tables.persons);
            let versions = opened(&self.tables.versions);
            let Some(person) = read_person(&self.store, persons, versions, id)? else {
                return Err(DraftError::NotFound(format!(
                    "no person {id} in this tenant"
                )));
            };
            self.persons.insert(id, person);
        }
        Ok(self.persons.get_mut(&id).expect("just loaded"))
    }

    /// Whether the person exists (in the snapshot or created here).
    pub fn person_exists(&mut self, id: u64) -> DraftResult<bool> {
        match self.person(id) {
            Ok(_) => Ok(true),
            Err(DraftError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A person's resident fields.
    pub fn resident(&mut self, id: u64) -> DraftResult<FieldValues> {
        Ok(self.open_resident(id)?.clone())
    }

    fn open_resident(&mut self, id: u64) -> DraftResult<&mut FieldValues> {
        let store = self.store.clone();
        let person = self.person(id)?;
        if let Resident::Sealed(sealed) = &person.resident {
            let context = seal_context(&store, Class::Resident, id, 0);
            let plain = person
                .key
                .open(&context, sealed)
                .map_err(StoreError::from)?;
            person.resident = Resident::Open(rows::decode(&plain).map_err(StoreError::from)?);
        }
        match &mut person.resident {
            Resident::Open(values) => Ok(values),
            Resident::Sealed(_) => unreachable!("opened above"),
        }
    }

    /// Looks up a unique identifier.
    pub fn find_unique(&mut self, kind: IndexKind, value: &str) -> DraftResult<Option<u64>> {
        let key = self.store.keys().index_hash(kind, &normalize::clean(value));
        self.unique_holder(key)
    }

    fn unique_holder(&mut self, key: IndexHash) -> DraftResult<Option<u64>> {
        if let Some(own) = self.unique_own.get(&key) {
            return Ok(*own);
        }
        if let Some(seen) = self.unique_seen.get(&key) {
            return Ok(*seen);
        }
        let holder = match table!(self.unique, UNIQUE_INDEX) {
            Some(t) => t.get(key)?.map(|v| v.value()),
            None => None,
        };
        self.unique_seen.insert(key, holder);
        Ok(holder)
    }

    fn set_unique(&mut self, key: IndexHash, holder: Option<u64>) {
        self.unique_own.insert(key, holder);
        self.index_ops.push(match holder {
            Some(p) => Op::SetUnique(key, p),
            None => Op::RemoveUnique(key),
        });
    }

    /// Claims a unique identifier for `person`, releasing `old` if given.
    fn claim_unique(
        &mut self,
        kind: IndexKind,
        old: Option<&str>,
        new: &str,
        person: u64,
        what: &str,
    ) -> DraftResult<()> {
        let new_key = self.store.keys().index_hash(kind, new);
        match self.unique_holder(new_key)? {
            Some(holder) if holder == person => return Ok(()),
            Some(_) => {
                return Err(DraftError::Conflict(format!(
                    "{what} is already registered to another person"
                )));
            }
            None => {}
        }
        if let Some(old) = old {
            let old_key = self.store.keys().index_hash(kind, old);
            self.unique_holder(old_key)?;
            self.set_unique(old_key, None);
        }
        self.set_unique(new_key, Some(person));
        Ok(())
    }

    /// Persons with this name (kana or kanji, normalised) and birth date.
    pub fn find_by_name(
        &mut self,
        name: &str,
        birth_date: &str,
        limit: usize,
    ) -> DraftResult<Vec<u64>> {
        let key = self
            .store
            .keys()
            .index_hash(IndexKind::NameAndBirthDate, &name_key(name, birth_date));
        let mut found: Vec<u64> = Vec::new();
        if let Some(t) = match self.snapshot()?.open_multimap_table(NAME_INDEX) {
            Ok(t) => Some(t),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(StoreError::from(e).into()),
        } {
            for v in t.get(key)? {
                found.push(v?.value());
            }
        }
        for (k, p, added) in &self.names_own {
            if *k == key {
                found.retain(|f| f != p);
                if *added {
                    found.push(*p);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found.truncate(limit);
        Ok(found)
    }

    fn name_keys(&self, values: &FieldValues) -> Vec<IndexHash> {
        let birth = values.get(resident::BIRTH_DATE).unwrap_or_default();
        let mut keys: Vec<IndexHash> = [resident::KANA_NAME, resident::KANJI_NAME]
            .iter()
            .filter_map(|&i| values.get(i))
            .map(|n| {
                self.store
                    .keys()
                    .index_hash(IndexKind::NameAndBirthDate, &name_key(n, birth))
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    fn reindex_names(&mut self, person: u64, old: Option<&FieldValues>, new: &FieldValues) {
        let old_keys = old.map(|o| self.name_keys(o)).unwrap_or_default();
        let new_keys = self.name_keys(new);
        for k in old_keys.iter().filter(|k| !new_keys.contains(k)) {
            self.names_own.push((*k, person, false));
            self.index_ops.push(Op::RemoveName(*k, person));
        }
        for k in new_keys.iter().filter(|k| !old_keys.contains(k)) {
            self.names_own.push((*k, person, true));
            self.index_ops.push(Op::AddName(*k, person));
        }
    }

    /// Creates a person from cleaned resident values.
    pub fn create_person(&mut self, values: &FieldValues) -> DraftResult<u64> {
        let values = clean_values(Class::Resident, values)?;
        for &i in resident::REQUIRED {
            if values.get(i).is_none() {
                return Err(DraftError::Invalid(format!(
                    "{} is required",
                    Class::Resident.fields()[i]
                )));
            }
        }
        let mut values = values;
        if values.get(resident::STATUS).is_none() {
            values.set(resident::STATUS, Some("resident".into()));
        }
        let id = self.store.allocate_person_id();
        let address_number = values
            .get(resident::ADDRESS_NUMBER)
            .unwrap_or_default()
            .to_owned();
        self.claim_unique(
            IndexKind::AddressNumber,
            None,
            &address_number,
            id,
            "the address number",
        )?;
        let key = DataKey::generate(self.entropy.as_ref());
        let wrapped = self.store.keys().wrap(id, &key, self.entropy.as_ref());
        self.reindex_names(id, None, &values);
        self.persons.insert(
            id,
            Person {
                version: None,
                key,
                wrapped,
                resident: Resident::Open(values),
                dirty: true,
            },
        );
        Ok(id)
    }

    /// Changes a person's resident fields; returns whether anything changed.
    pub fn update_person(&mut self, id: u64, changes: &FieldValues) -> DraftResult<bool> {
        let changes = clean_values(Class::Resident, changes)?;
        let old = self.open_resident(id)?.clone();
        let mut new = old.clone();
        if !new.apply(&changes) {
            return Ok(false);
        }
        if old.get(resident::ADDRESS_NUMBER) != new.get(resident::ADDRESS_NUMBER) {
            let address_number = new
                .get(resident::ADDRESS_NUMBER)
                .unwrap_or_default()
                .to_owned();
            self.claim_unique(
                IndexKind::AddressNumber,
                old.get(resident::ADDRESS_NUMBER),
                &address_number,
                id,
                "the address number",
            )?;
        }
        self.reindex_names(id, Some(&old), &new);
        let person = self.person(id)?;
        person.resident = Resident::Open(new);
        person.dirty = true;
        Ok(true)
    }

    /// Loads many persons at once, on every core, to add items of `class`
    /// to them: each person's data key is unwrapped and the last sequence
    /// of their items read; their resident fields and items stay unread or
    /// sealed until asked for (a batch of tickets would otherwise open its
    /// holders one by one).
    fn preload(&mut self, persons: &[u64], class: Class) -> DraftResult<()> {
        let mut wanted: Vec<u64> = persons
            .iter()
            .copied()
            .filter(|p| !self.persons.contains_key(p))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        // Open the snapshot tables once; the workers share them.
        table!(self.persons, PERSONS);
        table!(self.versions, PERSON_VERSIONS);
        self.open_item_tables(class)?;
        let persons_table = opened(&self.tables.persons);
        let versions = opened(&self.tables.versions);
        let item_tables = self.tables.items(class);
        let store = self.store.as_ref();
        let load = |&id: &u64| -> DraftResult<Option<(Person, Items)>> {
            let Some(person) = read_person(store, persons_table, versions, id)? else {
                return Ok(None); // `person` reports it when asked.
            };
            let items = Items {
                last_stored: item_tables.last_seq(id)?,
                ..Items::default()
            };
            Ok(Some((person, items)))
        };
        let loaded = in_parallel(&wanted, load);
        for (id, loaded) in wanted.into_iter().zip(loaded) {
            let Some((person, items)) = loaded? else {
                continue;
            };
            self.persons.insert(id, person);
            match class {
                Class::Dose => self.doses.insert(id, items),
                _ => self.tickets.insert(id, items),
            };
        }
        Ok(())
    }

    /// Opens the snapshot tables a class's items are read from.
    fn open_item_tables(&mut self, class: Class) -> DraftResult<()> {
        if class == Class::Dose {
            table!(self.doses, DOSES);
        } else {
            table!(self.person_tickets, PERSON_TICKETS);
            table!(self.tickets, TICKETS);
        }
        Ok(())
    }

    /// A person's items of `class`, their stored ones read but not opened
    /// (or, if preloaded to add items, only their last sequence known).
    fn items_sealed(&mut self, class: Class, person: u64) -> DraftResult<&mut Items> {
        self.person(person)?;
        let loaded = match class {
            Class::Dose => self.doses.contains_key(&person),
            _ => self.tickets.contains_key(&person),
        };
        if !loaded {
            self.read_stored_items(class, person)?;
        }
        Ok(self.items_of(class, person))
    }

    /// Reads a person's stored items of `class` into the draft, sealed.
    fn read_stored_items(&mut self, class: Class, person: u64) -> DraftResult<()> {
        self.open_item_tables(class)?;
        let sealed = self.tables.items(class).read(person)?;
        let items = match class {
            Class::Dose => self.doses.entry(person),
            _ => self.tickets.entry(person),
        }
        .or_default();
        items.sealed = sealed;
        items.read = true;
        Ok(())
    }

    /// A person's items of `class`, already loaded.
    fn items_of(&mut self, class: Class, person: u64) -> &mut Items {
        match class {
            Class::Dose => self.doses.get_mut(&person),
            _ => self.tickets.get_mut(&person),
        }
        .expect("loaded before")
    }

    /// A person's items of `class`, every one opened.
    fn items(&mut self, class: Class, person: u64) -> DraftResult<&mut Items> {
        if !self.items_sealed(class, person)?.read {
            self.read_stored_items(class, person)?;
        }
        let key = &self.persons[&person].key;
        let items = match class {
            Class::Dose => self.doses.get_mut(&person),
            _ => self.tickets.get_mut(&person),
        }
        .expect("loaded above");
        for (seq, sealed) in std::mem::take(&mut items.sealed) {
            let plain = key
                .open(&seal_context(&self.store, class, person, seq), &sealed)
                .map_err(StoreError::from)?;
            let values: FieldValues = rows::decode(&plain).map_err(StoreError::from)?;
            items.items.insert(seq, values.fit(class));
        }
        Ok(items)
    }

    /// A person's doses by dose id.
    pub fn doses(&mut self, person: u64) -> DraftResult<BTreeMap<u64, FieldValues>> {
        Ok(self.items(Class::Dose, person)?.items.clone())
    }

    /// Adds a dose; returns its id (next in the person's sequence).
    pub fn add_dose(&mut self, person: u64, values: &FieldValues) -> DraftResult<u64> {
        let values = clean_values(Class::Dose, values)?;
        let items = self.items(Class::Dose, person)?;
        let id = items.next_seq();
        items.items.insert(id, values);
        items.dirty.push(id);
        Ok(id)
    }

    /// Overwrites fields of a dose.
    pub fn update_dose(
        &mut self,
        person: u64,
        dose: u64,
        changes: &FieldValues,
    ) -> DraftResult<()> {
        let changes = clean_values(Class::Dose, changes)?;
        let items = self.items(Class::Dose, person)?;
        let Some(values) = items.items.get_mut(&dose) else {
            return Err(DraftError::NotFound(format!(
                "person {person} has no dose {dose}"
            )));
        };
        values.apply(&changes);
        items.dirty.push(dose);
        Ok(())
    }

    /// A person's tickets by sequence.
    pub fn tickets(&mut self, person: u64) -> DraftResult<BTreeMap<u64, FieldValues>> {
        Ok(self.items(Class::Ticket, person)?.items.clone())
    }

    /// Issues a ticket; its number must be unique in the tenant. A ticket
    /// starts valid.
    pub fn issue_ticket(&mut self, person: u64, values: &FieldValues) -> DraftResult<u64> {
        let (values, key) = self.prepare_ticket(person, values)?;
        self.add_ticket(person, values, key)
    }

    /// Issues many tickets, all or none: each is checked (number, holder,
    /// uniqueness in the tenant and in the batch) before any is added.
    /// Errors name the position in the batch, never a value.
    pub fn issue_tickets(&mut self, batch: Vec<(u64, FieldValues)>) -> DraftResult<()> {
        let holders: Vec<u64> = batch.iter().map(|(p, _)| *p).collect();
        self.preload(&holders, Class::Ticket)?;
        table!(self.unique, UNIQUE_INDEX);
        let unique = opened(&self.tables.unique);
        let store = self.store.as_ref();
        // Cleaning, hashing and the snapshot lookups on every core.
        let checked = in_parallel(&batch, |(_, values)| {
            let (values, number) = new_ticket(values)?;
            let key = store.keys().index_hash(IndexKind::Ticket, &number);
            let holder = match unique {
                Some(t) => t.get(key)?.map(|v| v.value()),
                None => None,
            };
            Ok::<_, DraftError>((values, key, holder))
        });
        let mut prepared = Vec::with_capacity(batch.len());
        let mut numbers = HashSet::with_capacity(batch.len());
        for (i, ((person, _), checked)) in batch.iter().zip(checked).enumerate() {
            let (values, key, snapshot_holder) = checked.map_err(|e| at_position(i, e))?;
            self.person(*person).map_err(|e| at_position(i, e))?;
            let holder = match self.unique_own.get(&key).or(self.unique_seen.get(&key)) {
                Some(h) => *h,
                None => {
                    self.unique_seen.insert(key, snapshot_holder);
                    snapshot_holder
                }
            };
            if holder.is_some() || !numbers.insert(key) {
                let e = DraftError::Conflict("the ticket number is already registered".into());
                return Err(at_position(i, e));
            }
            prepared.push((*person, values, key));
        }
        for (person, values, key) in prepared {
            self.add_ticket(person, values, key)?;
        }
        Ok(())
    }

    /// Checks a new ticket without changing anything; returns its cleaned
    /// values (status valid) and the keyed hash of its number.
    fn prepare_ticket(
        &mut self,
        person: u64,
        values: &FieldValues,
    ) -> DraftResult<(FieldValues, IndexHash)> {
        let (values, number) = new_ticket(values)?;
        self.person(person)?;
        let key = self.store.keys().index_hash(IndexKind::Ticket, &number);
        if self.unique_holder(key)?.is_some() {
            return Err(DraftError::Conflict(
                "the ticket number is already registered".into(),
            ));
        }
        Ok((values, key))
    }

    fn add_ticket(&mut self, person: u64, values: FieldValues, key: IndexHash) -> DraftResult<u64> {
        self.set_unique(key, Some(person));
        let items = self.items_sealed(Class::Ticket, person)?;
        let seq = items.next_seq();
        items.items.insert(seq, values);
        items.dirty.push(seq);
        Ok(seq)
    }

    /// The holder of a ticket and the ticket's sequence, voided or not.
    fn ticket_by_number(&mut self, number: &str) -> DraftResult<Option<(u64, u64)>> {
        let number = normalize::clean(number);
        let Some(holder) = self.find_unique(IndexKind::Ticket, &number)? else {
            return Ok(None);
        };
        let items = self.items(Class::Ticket, holder)?;
        let seq = items
            .items
            .iter()
            .find(|(_, v)| v.get(ticket::NUMBER) == Some(number.as_str()))
            .map(|(&seq, _)| seq);
        Ok(seq.map(|seq| (holder, seq)))
    }

    /// The holder of a valid ticket; a voided ticket is refused, so it can
    /// no longer find its holder or record a dose.
    pub fn find_valid_ticket(&mut self, number: &str) -> DraftResult<Option<u64>> {
        let Some((holder, seq)) = self.ticket_by_number(number)? else {
            return Ok(None);
        };
        let items = self.items(Class::Ticket, holder)?;
        if items.items[&seq].get(ticket::STATUS) == Some(ticket::VOIDED) {
            return Err(DraftError::Invalid(
                "this ticket was voided (lost or reissued); use the ticket issued in its place"
                    .into(),
            ));
        }
        Ok(Some(holder))
    }

    /// Voids a valid ticket with a reason; returns its holder.
    pub fn void_ticket(&mut self, number: &str, reason: &str, today: &str) -> DraftResult<u64> {
        let Some((holder, seq)) = self.ticket_by_number(number)? else {
            return Err(DraftError::NotFound("no ticket has this number".into()));
        };
        let mut changes = FieldValues::empty(Class::Ticket);
        changes.set(ticket::VOID_REASON, Some(reason.to_owned()));
        changes.set(ticket::VOIDED_ON, Some(today.to_owned()));
        let changes = clean_values(Class::Ticket, &changes)?;
        if changes.get(ticket::VOID_REASON).is_none() {
            return Err(DraftError::Invalid(
                "a reason is required to void a ticket".into(),
            ));
        }
        let items = self.items(Class::Ticket, holder)?;
        let values = items.items.get_mut(&seq).expect("found above");
        if values.get(ticket::STATUS) == Some(ticket::VOIDED) {
            return Err(DraftError::Conflict("the ticket is already voided".into()));
        }
        values.apply(&changes);
        values.set(ticket::STATUS, Some(ticket::VOIDED.into()));
        items.dirty.push(seq);
        Ok(holder)
    }

    /// Up to `limit` person ids above `after`, in id order, as of the
    /// draft's snapshot (persons created by this draft are not included).
    pub fn person_ids_after(&mut self, after: u64, limit: usize) -> DraftResult<Vec<u64>> {
        let Some(t) = table!(self.persons, PERSONS) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(limit);
        if after == u64::MAX {
            return Ok(out);
        }
        for entry in t.range(after + 1..)? {
            if out.len() == limit {
                break;
            }
            out.push(entry?.0.value());
        }
        Ok(out)
    }

    /// Cohort facts of up to `limit` persons above `after` meeting
    /// `condition`, as of the last commit (at least the draft's snapshot);
    /// this draft's own changes are not included.
    pub fn read_facts(
        &mut self,
        after: u64,
        limit: usize,
        condition: &facts::Condition,
        want: facts::Want,
    ) -> DraftResult<facts::Block> {
        let generation = facts::data_generation(self.snapshot()?)?;
        let store = self.store.clone();
        Ok(store
            .facts()
            .read(store.db(), store.keys(), generation, |f| {
                f.read(after, limit, condition, want)
            })?)
    }

    /// How many persons the snapshot holds.
    pub fn person_count(&mut self) -> DraftResult<u64> {
        use redb::ReadableTableMetadata;
        Ok(match table!(self.persons, PERSONS) {
            Some(t) => t.len()?,
            None => 0,
        })
    }

    fn load_single(&mut self, class: Class, person: u64) -> DraftResult<Option<Vec<u8>>> {
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

    /// Registers a person's My Number (check digit verified); returns
    /// whether it changed.
    pub fn set_my_number(&mut self, person: u64, number: &str) -> DraftResult<bool> {
        let number = normalize::clean(number);
        kiroku_rules::my_number::validate(&number)
            .map_err(|e| DraftError::Invalid(e.to_string()))?;
        let old = self.my_number(person)?;
        if old.as_deref() == Some(number.as_str()) {
            return Ok(false);
        }
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
        Ok(true)
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

    /// Whether the draft changes anything.
    pub fn has_changes(&self) -> bool {
        !self.index_ops.is_empty()
            || self.persons.values().any(|p| p.dirty)
            || self
                .doses
                .values()
                .chain(self.tickets.values())
                .any(|i| !i.dirty.is_empty())
            || self.my_numbers.values().any(|s| s.dirty)
            || self.passports.values().any(|s| s.dirty)
    }

    /// Seals every change into a write set with `events`. A draft without
    /// changes yields events only: reads need no validation.
    pub fn into_write_set(self, events: Vec<Event>) -> WriteSet {
        if !self.has_changes() {
            return WriteSet {
                events,
                ..WriteSet::default()
            };
        }
        let entropy = self.entropy.as_ref();
        let store = self.store.as_ref();
        let mut checks: Vec<Check> = self
            .persons
            .iter()
            .map(|(&person, p)| Check::PersonVersion {
                person,
                version: p.version,
            })
            .collect();
        checks.extend(
            self.unique_seen
                .iter()
                .map(|(&key, &holder)| Check::Unique { key, holder }),
        );
        // In key order, the committer's lookups walk each table once instead
        // of jumping around it (a population-wide draft checks a million).
        checks.sort_unstable_by_key(|c| match c {
            Check::PersonVersion { person, .. } => (0, *person, [0; INDEX_HASH_LEN]),
            Check::Unique { key, .. } => (1, 0, *key),
            Check::RequestUnused(_) => (2, 0, [0; INDEX_HASH_LEN]),
        });
        let mut ops = Vec::new();
        let mut fact_changes = Vec::new();
        let mut dirty_persons: Vec<(&u64, &Person)> =
            self.persons.iter().filter(|(_, p)| p.dirty).collect();
        dirty_persons.sort_unstable_by_key(|(id, _)| **id);
        for (&id, p) in dirty_persons {
            let Resident::Open(values) = &p.resident else {
                unreachable!("a changed resident was opened to change it");
            };
            let sealed = p.key.seal(
                &seal_context(store, Class::Resident, id, 0),
                &rows::encode(values),
                entropy,
            );
            let row = PersonRow {
                wrapped_key: p.wrapped.clone(),
                resident: sealed,
            };
            ops.push(Op::PutPerson(id, rows::encode(&row)));
            fact_changes.push(FactChange::Resident {
                person: id,
                birth_date: values.get(resident::BIRTH_DATE).map(str::to_owned),
                status: values.get(resident::STATUS).map(str::to_owned),
            });
        }
        let mut items_to_seal = Vec::new();
        for (class, map) in [(Class::Dose, &self.doses), (Class::Ticket, &self.tickets)] {
            let mut persons: Vec<(&u64, &Items)> = map.iter().collect();
            persons.sort_unstable_by_key(|(p, _)| **p);
            for (&person, items) in persons {
                let key = &self.persons[&person].key;
                let mut dirty = items.dirty.clone();
                dirty.sort_unstable();
                dirty.dedup();
                for seq in dirty {
                    items_to_seal.push((class, person, seq, key, &items.items[&seq]));
                }
            }
        }
        let seal =
            |&(class, person, seq, key, values): &(Class, u64, u64, &DataKey, &FieldValues)| {
                let sealed = key.seal(
                    &seal_context(store, class, person, seq),
                    &rows::encode(values),
                    entropy,
                );
                match class {
                    Class::Dose => Op::PutDose(person, seq, sealed),
                    _ => Op::PutTicket(person, seq, sealed),
                }
            };
        ops.extend(in_parallel(&items_to_seal, seal));
        for &(class, person, seq, _, values) in &items_to_seal {
            fact_changes.push(match class {
                Class::Dose => FactChange::Dose {
                    person,
                    seq,
                    text: Box::new(DoseText::of(values)),
                },
                _ => FactChange::Ticket {
                    person,
                    seq,
                    text: TicketText::of(values),
                },
            });
        }
        for (&person, single) in self.my_numbers.iter().filter(|(_, s)| s.dirty) {
            let plain = single.value.clone().unwrap_or_default();
            let sealed = self.persons[&person].key.seal(
                &seal_context(store, Class::MyNumber, person, 0),
                plain.as_bytes(),
                entropy,
            );
            ops.push(Op::PutMyNumber(person, sealed));
        }
        for (&person, single) in self.passports.iter().filter(|(_, s)| s.dirty) {
            let plain = rows::encode(&single.value.clone().unwrap_or_default());
            let sealed = self.persons[&person].key.seal(
                &seal_context(store, Class::Passport, person, 0),
                &plain,
                entropy,
            );
            ops.push(Op::PutPassport(person, sealed));
        }
        // In key order the committer walks each index once instead of
        // jumping around it; a stable sort keeps each key's ops in order.
        let mut index_ops = self.index_ops;
        index_ops.sort_by_key(|op| match op {
            Op::SetUnique(k, _) | Op::RemoveUnique(k) => (0, *k),
            Op::AddName(k, _) | Op::RemoveName(k, _) => (1, *k),
            _ => (2, [0; INDEX_HASH_LEN]),
        });
        ops.extend(index_ops);
        if self.persons.len() >= PARALLEL_MIN {
            // Free a campaign-sized draft off the request's path.
            let records = (self.persons, self.doses, self.tickets);
            let _ = std::thread::Builder::new()
                .name("draft-drop".into())
                .spawn(move || drop(records));
        }
        WriteSet {
            checks,
            ops,
            events,
            facts: fact_changes,
        }
    }
}
