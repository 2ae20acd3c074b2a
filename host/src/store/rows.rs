//! What the tables' values hold, encoded with postcard.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// A person: the wrapped data key and the sealed resident fields.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PersonRow {
    /// The person's data key, wrapped by the tenant's wrap key.
    pub wrapped_key: Vec<u8>,
    /// The resident [`crate::fields::FieldValues`], sealed with the data key.
    pub resident: Vec<u8>,
}

/// An installed plugin of a tenant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InstalledPlugin {
    /// Plugin name (also the key).
    pub name: String,
    /// Pinned SHA-256 of the component, hex.
    pub digest: String,
    /// The policy in force (TOML text as installed).
    pub policy: String,
    /// When installed (ms since epoch).
    pub installed_ms: i64,
}

/// A writing request that was applied, by its client-supplied id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AppliedRequest {
    /// Who sent it.
    pub actor: String,
    /// What it did (`plugin/operation`).
    pub action: String,
    /// When it was applied (ms since epoch).
    pub time_ms: i64,
}

/// A tenant in the system file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TenantRow {
    /// Municipality name.
    pub name: String,
    /// When created (ms since epoch).
    pub created_ms: i64,
}

/// Encodes a row.
pub fn encode<T: Serialize>(row: &T) -> Vec<u8> {
    postcard::to_allocvec(row).expect("rows always encode")
}

/// Decodes a row; a failure means the file was damaged or altered.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// The record of one purged person, kept after the purge: no value, only
/// what was removed, when and why. `person` (its key) is the serial the
/// audit events name, so an auditor can follow the person's history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeletionRow {
    /// The rule that applied.
    pub rule: String,
    /// When (ms since epoch).
    pub purged_ms: i64,
    /// Doses removed.
    pub doses: u64,
    /// Tickets removed.
    pub tickets: u64,
    /// Whether a My Number was removed.
    pub my_number: bool,
    /// The request (job) that purged.
    pub request_id: String,
}
