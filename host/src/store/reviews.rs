//! The review queue (invariant 12): a conflict on data the plugin may not
//! read is not answered to the plugin. Today that is a My Number from the
//! registry feed (`my-number-intake`) that another person holds: the
//! number is not stored; it waits here, sealed under the claimant's data
//! key, for a supervisor to assign it to the claimant (taking it from the
//! holder) or dismiss it. Both the raising and the resolution are audited;
//! nobody ever sees the number.

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::tables::REVIEWS;
use super::{StoreError, StoreResult, rows};

/// A review's id: 16 random bytes (an unguessable hex string in the API).
pub type ReviewId = [u8; 16];

/// The kind of the only conflict reviewed today.
pub const MY_NUMBER_HELD: &str = "my-number-held-by-another";

/// The invocation that met the conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Raised {
    /// The plugin.
    pub plugin: String,
    /// The staff user it served.
    pub actor: String,
    /// The request.
    pub request_id: String,
    /// When.
    pub time_ms: i64,
}

/// What a supervisor decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// The number goes to the claimant; the holder loses it.
    Assign,
    /// The number is discarded; the holder keeps it.
    Dismiss,
}

impl Decision {
    /// Parses `assign` or `dismiss`.
    pub fn parse(text: &str) -> Option<Decision> {
        match text {
            "assign" => Some(Decision::Assign),
            "dismiss" => Some(Decision::Dismiss),
            _ => None,
        }
    }

    /// Its name in the API and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Assign => "assign",
            Decision::Dismiss => "dismiss",
        }
    }
}

/// How a review ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The supervisor.
    pub by: String,
    /// When.
    pub time_ms: i64,
    /// What they decided.
    pub decision: Decision,
}

/// One review: the registry feed gave `claimant` a My Number `holder` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRow {
    /// Who the feed gave the number to (person serial).
    pub claimant: u64,
    /// Who holds it (person serial).
    pub holder: u64,
    /// Where it came from.
    pub raised: Raised,
    /// The number, sealed under the claimant's data key; emptied once
    /// resolved.
    pub sealed: Vec<u8>,
    /// Set once resolved.
    pub resolution: Option<Resolution>,
}

/// The seal context's item for a review (the id's first 8 bytes).
pub fn seal_item(id: &ReviewId) -> u64 {
    u64::from_be_bytes(id[..8].try_into().expect("16 bytes"))
}

/// Every review still open, oldest first.
pub fn open_reviews(db: &redb::Database) -> StoreResult<Vec<(ReviewId, ReviewRow)>> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(REVIEWS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (id, row) = entry?;
        let row: ReviewRow = rows::decode(row.value()).map_err(StoreError::from)?;
        if row.resolution.is_none() {
            out.push((id.value(), row));
        }
    }
    out.sort_by_key(|(_, r)| r.raised.time_ms);
    Ok(out)
}

/// One review, open or not.
pub fn review(db: &redb::Database, id: &ReviewId) -> StoreResult<Option<ReviewRow>> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(REVIEWS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match table.get(id)? {
        Some(row) => Ok(Some(rows::decode(row.value()).map_err(StoreError::from)?)),
        None => Ok(None),
    }
}
