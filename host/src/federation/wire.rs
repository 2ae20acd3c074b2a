//! What travels between nodes inside a signed envelope, and the answer.
//!
//! ```text
//! POST /federation/v1/{answerer}/query    {"purpose", "my_number"}
//! POST /federation/v1/{answerer}/collect  {"query_id"}
//! -> {"outcome": "found"|"no-record"|"refused"|"pending",
//!     "query_id"?, "reason"?, "doses"?: [{item: value}]}
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A move-in query: only the purpose and the number leave the querier
/// (its code and the answerer's are in the envelope).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    /// Why (`move-in-query`).
    pub purpose: String,
    /// The moved-in person's My Number.
    pub my_number: String,
}

/// Asking again about a query that waited for a staff decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectBody {
    /// The answerer's id of the query.
    pub query_id: String,
}

/// One answered dose: item name -> value, only allowed items.
pub type DoseItems = BTreeMap<String, String>;

/// Most doses one answer carries.
pub const MAX_ANSWERED_DOSES: usize = 200;

/// The answering host's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// `found`, `no-record`, `refused` or `pending`.
    pub outcome: String,
    /// For `pending`: the id to collect with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<String>,
    /// For `refused`: a short code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `found`: the doses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub doses: Vec<DoseItems>,
}

impl Reply {
    /// No record of such a person.
    pub fn no_record() -> Reply {
        Reply::outcome("no-record")
    }

    /// Refused, with a code.
    pub fn refused(reason: &str) -> Reply {
        Reply {
            reason: Some(reason.to_owned()),
            ..Reply::outcome("refused")
        }
    }

    /// Waiting for a decision.
    pub fn pending(query_id: &str) -> Reply {
        Reply {
            query_id: Some(query_id.to_owned()),
            ..Reply::outcome("pending")
        }
    }

    /// Found these doses.
    pub fn found(doses: Vec<DoseItems>) -> Reply {
        Reply {
            doses,
            ..Reply::outcome("found")
        }
    }

    fn outcome(outcome: &str) -> Reply {
        Reply {
            outcome: outcome.to_owned(),
            query_id: None,
            reason: None,
            doses: Vec::new(),
        }
    }

    /// Whether a peer's reply is well-formed: a known outcome with what it
    /// needs, short codes, and bounded doses of short values.
    pub fn is_well_formed(&self) -> bool {
        let short = |s: &str| s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic());
        let fields_ok = match self.outcome.as_str() {
            "found" => self.query_id.is_none(),
            "no-record" => self.query_id.is_none() && self.doses.is_empty(),
            "refused" => self.reason.as_deref().is_some_and(short) && self.doses.is_empty(),
            "pending" => self.query_id.as_deref().is_some_and(is_query_id) && self.doses.is_empty(),
            _ => false,
        };
        fields_ok
            && self.doses.len() <= MAX_ANSWERED_DOSES
            && self.doses.iter().all(|d| {
                d.len() <= 16
                    && d.iter()
                        .all(|(k, v)| super::rules::item_index(k).is_some() && v.len() <= 256)
            })
    }
}

/// A query id: 32 hex digits.
pub fn is_query_id(text: &str) -> bool {
    text.len() == 32
        && text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// A fresh query id.
pub fn new_query_id(entropy: &dyn crate::clock::Entropy) -> String {
    let mut bytes = [0u8; 16];
    entropy.fill(&mut bytes);
    hex::encode(bytes)
}
