//! The snapshot tables a draft reads, each opened at most once.

use super::*;

/// Snapshot tables, opened once per draft: opening one is a lookup in
/// redb's table directory, which a population scan would otherwise pay
/// several times per person. `None` inside: the table does not exist yet.
#[derive(Default)]
pub(super) struct OpenTables {
    pub(super) persons: Lazy<u64, &'static [u8]>,
    pub(super) versions: Lazy<u64, u64>,
    pub(super) doses: Lazy<(u64, u64), &'static [u8]>,
    pub(super) person_tickets: Lazy<(u64, u64), u64>,
    pub(super) tickets: Lazy<u64, &'static [u8]>,
    pub(super) unique: Lazy<[u8; INDEX_HASH_LEN], u64>,
}

impl OpenTables {
    /// The opened tables a class's items are read from.
    pub(super) fn items(&self, class: Class) -> ItemTables<'_> {
        match class {
            Class::Dose => ItemTables::Doses(opened(&self.doses)),
            _ => ItemTables::Tickets(opened(&self.person_tickets), opened(&self.tickets)),
        }
    }
}

/// Where a class's stored items are (`None`: the table does not exist).
#[derive(Clone, Copy)]
pub(super) enum ItemTables<'a> {
    Doses(Option<&'a ReadOnlyTable<(u64, u64), &'static [u8]>>),
    /// Each person's ticket ids, and the tickets by id.
    Tickets(
        Option<&'a ReadOnlyTable<(u64, u64), u64>>,
        Option<&'a ReadOnlyTable<u64, &'static [u8]>>,
    ),
}

impl ItemTables<'_> {
    /// The highest sequence of a person's stored items (0: none).
    pub(super) fn last_seq(self, person: u64) -> DraftResult<u64> {
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
    pub(super) fn read(self, person: u64) -> DraftResult<BTreeMap<u64, Vec<u8>>> {
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
