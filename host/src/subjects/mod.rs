//! The data subject's rights: the `kiroku:subjects/subject-rights`
//! capability in one module. Disclosure (`disclosure.rs`: everything held
//! and every access, My Number masked), correction with the previous value
//! kept in the person's sealed history, suspension of use (enforced by the
//! draft: a person whose use is suspended is `suspended` to every plugin
//! but disclosure and a policy's named `suspension-exception`), and the
//! record of every enquiry (`host_fns.rs`).

pub mod disclosure;
mod host_fns;

pub use crate::runtime::bindings::kiroku::subjects::subject_rights as bindings;

use serde::{Deserialize, Serialize};

/// The label person notes of this module are sealed under.
pub const HISTORY_NOTE: &str = "person-history";
/// The label of a suspension's reason.
pub const SUSPENSION_NOTE: &str = "suspension";

/// A suspension of use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SuspensionRow {
    /// Since when (ms since epoch).
    pub since_ms: i64,
    /// Who set it.
    pub by: String,
    /// Why, sealed with the person's key.
    pub reason: Vec<u8>,
}

/// One entry of a person's history (sealed with their key).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryEntry {
    /// `correction`, `enquiry`, `suspension` or `suspension-lifted`.
    pub kind: String,
    /// When (ms since epoch).
    pub at_ms: i64,
    /// The staff account that acted.
    pub by: String,
    /// A correction's field (policy name).
    pub field: Option<String>,
    /// A correction's previous value.
    pub previous: Option<String>,
    /// A correction's new value.
    pub value: Option<String>,
    /// Why (a correction's or suspension's reason), or who enquired.
    pub note: String,
}
