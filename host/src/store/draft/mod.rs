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
use super::reviews::{ReviewId, ReviewRow};
use super::rows::{self, PersonRow};
use super::tables::{
    DOSES, MY_NUMBERS, NAME_INDEX, PASSPORTS, PERSON_TICKETS, PERSON_VERSIONS, PERSONS,
    SUSPENSIONS, TICKETS, UNIQUE_INDEX,
};
use super::{PARALLEL_MIN, StoreError, TenantStore, in_parallel};
use crate::audit::Event;
use crate::clock::Entropy;
use crate::crypto::{DataKey, INDEX_HASH_LEN, IndexHash, IndexKind, SealContext};
use crate::fields::{Class, FieldValues, resident, ticket};
use crate::limits::MAX_FIELD_BYTES;
use crate::normalize;

pub use purge::Removed;
pub use singles::Intake;
use tables::OpenTables;

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
    /// The person's use is suspended (subject rights).
    #[error("suspended: the use of this person's data is suspended at their request")]
    Suspended,
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
        DraftError::Suspended => DraftError::Suspended,
    }
}

impl From<redb::StorageError> for DraftError {
    fn from(e: redb::StorageError) -> DraftError {
        DraftError::Store(e.into())
    }
}

/// The one answer for a person who does not exist (or whom the plugin may
/// not reach: nothing tells the two apart).
pub const NO_SUCH_PERSON: &str = "no such person in this tenant";

/// Resident statuses the host stores.
pub const STATUSES: &[&str] = &["resident", "moved-out", "deceased"];

struct Person {
    version: Option<u64>,
    key: DataKey,
    wrapped: Vec<u8>,
    /// A new person's secret, for the keyring.
    new_secret: Option<crate::crypto::PersonSecret>,
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

mod index;
mod items;
mod notes;
mod purge;
mod residents;
mod seal;
mod singles;
mod tables;

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
    /// Review rows this draft raised or resolved.
    reviews: Vec<(ReviewId, ReviewRow)>,
    /// Changes host capabilities (certificates) make beside the records,
    /// already sealed: applied with the rest or not at all.
    host_ops: Vec<Op>,
    host_checks: Vec<Check>,
    /// Whether persons whose use is suspended may be read (disclosure,
    /// the legal exceptions a policy names, purges).
    suspension_exempt: bool,
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
    let secret = match store.keyring().slot(id).map_err(StoreError::from)? {
        super::keyring::Slot::Live(secret) => secret,
        // Purged (a restored backup keeps rows of persons purged since,
        // until the restore drops them): as if absent.
        super::keyring::Slot::Shredded => return Ok(None),
        super::keyring::Slot::Empty => {
            return Err(
                StoreError::Damaged(format!("person {id} has no key in the keyring")).into(),
            );
        }
    };
    let key = store
        .keys()
        .unwrap(id, &row.wrapped_key, &secret)
        .map_err(StoreError::from)?;
    Ok(Some(Person {
        version,
        key,
        wrapped: row.wrapped_key,
        new_secret: None,
        resident: Resident::Sealed(row.resident),
        dirty: false,
    }))
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
            reviews: Vec::new(),
            host_ops: Vec::new(),
            host_checks: Vec::new(),
            suspension_exempt: false,
        }
    }

    /// The draft's randomness (ids, nonces).
    pub fn entropy(&self) -> &Arc<dyn Entropy> {
        &self.entropy
    }

    /// Adds a change a host capability made (sealed already).
    pub fn push_host_op(&mut self, op: Op) {
        self.host_ops.push(op);
    }

    /// Adds a condition a host capability's change was computed under.
    pub fn push_host_check(&mut self, check: Check) {
        self.host_checks.push(check);
    }

    /// The tenant's store, for host capabilities that read their own tables.
    pub fn store(&self) -> &Arc<TenantStore> {
        &self.store
    }

    /// The person handles of the draft's tenant.
    pub fn person_handles(&self) -> crate::handles::PersonHandles {
        self.store.keys().person_handles()
    }

    /// Whether the draft holds enough persons that sealing it is worth
    /// moving off a request worker.
    pub fn is_large(&self) -> bool {
        self.persons.len() >= PARALLEL_MIN
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

    /// Lets this draft touch persons whose use is suspended.
    pub fn exempt_from_suspension(&mut self) {
        self.suspension_exempt = true;
    }

    fn person(&mut self, id: u64) -> DraftResult<&mut Person> {
        if !self.persons.contains_key(&id) {
            if !self.suspension_exempt && self.person_row(SUSPENSIONS, id)?.is_some() {
                return Err(DraftError::Suspended);
            }
            table!(self.persons, PERSONS);
            table!(self.versions, PERSON_VERSIONS);
            let persons = opened(&self.tables.persons);
            let versions = opened(&self.tables.versions);
            let Some(person) = read_person(&self.store, persons, versions, id)? else {
                return Err(DraftError::NotFound(NO_SUCH_PERSON.into()));
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
}
