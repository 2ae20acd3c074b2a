//! What one request changes: its checks, operations and audit events
//! (the [`WriteSet`] an invocation hands the group committer), and why a
//! commit may not happen.

use super::StoreError;
use super::facts::FactChange;
use super::reviews::ReviewId;
use crate::audit::Event;
use crate::crypto::IndexHash;

/// A condition a write set was computed under; if it no longer holds at
/// commit, the write set is refused as a conflict and the invocation re-run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The person's version is still this (`None`: the person must not exist).
    PersonVersion {
        /// Person id.
        person: u64,
        /// Version seen.
        version: Option<u64>,
    },
    /// No writing request with this client-supplied id was applied.
    RequestUnused(String),
    /// The unique index still maps `key` to `holder` (`None`: absent).
    Unique {
        /// Keyed hash.
        key: IndexHash,
        /// Person id seen.
        holder: Option<u64>,
    },
    /// The review exists and is not resolved yet.
    ReviewOpen(ReviewId),
    /// The federation entry under this key is still the one seen: the
    /// SHA-256 of its bytes (`None`: absent).
    FederationEntry {
        /// Its key in [`super::tables::FEDERATION`].
        key: String,
        /// Digest of the value seen.
        digest: Option<[u8; 32]>,
    },
}

/// One change. Every op on a person bumps that person's version.
#[derive(Debug, Clone)]
pub enum Op {
    /// Stores a person row (wrapped key + sealed resident).
    PutPerson(u64, Vec<u8>),
    /// Writes a new person's secret to the keyring (synced before the
    /// commit that stores the person).
    PutPersonSecret(u64, crate::crypto::PersonSecret),
    /// Removes everything stored of a person (a purge): their row,
    /// version, My Number, passport, tickets, doses, holds, corrections;
    /// their secret is shredded once the commit is durable. Index entries
    /// are removed by their own ops.
    RemovePerson(u64),
    /// Stores a deletion record.
    PutDeletion(u64, Vec<u8>),
    /// Sets (Some) or lifts (None) a person's legal hold.
    SetHold(u64, Option<Vec<u8>>),
    /// Sets (Some) or lifts (None) a person's suspension of use.
    SetSuspension(u64, Option<Vec<u8>>),
    /// Stores a sealed entry of a person's history (correction, enquiry).
    PutHistory(u64, u64, Vec<u8>),
    /// Stores a sealed My Number.
    PutMyNumber(u64, Vec<u8>),
    /// Removes a person's My Number (a review gave it to another person).
    RemoveMyNumber(u64),
    /// Stores sealed passport data.
    PutPassport(u64, Vec<u8>),
    /// Stores a sealed ticket.
    PutTicket(u64, u64, Vec<u8>),
    /// Stores a sealed dose.
    PutDose(u64, u64, Vec<u8>),
    /// Points a unique index key at a person.
    SetUnique(IndexHash, u64),
    /// Removes a unique index key.
    RemoveUnique(IndexHash),
    /// Adds a person under a name key.
    AddName(IndexHash, u64),
    /// Removes a person from a name key.
    RemoveName(IndexHash, u64),
    /// Stores an account row.
    PutAccount(String, Vec<u8>),
    /// Maps a service token's hash to its account.
    PutServiceToken([u8; 32], String),
    /// Removes a service token's hash.
    RemoveServiceToken([u8; 32]),
    /// Stores a session row under its token's hash.
    PutSession([u8; 32], Vec<u8>),
    /// Ends a session.
    RemoveSession([u8; 32]),
    /// Stores an installed plugin row.
    PutPlugin(String, Vec<u8>),
    /// Stores a certificate signing key generation (sealed).
    PutIssuerKey(u32, Vec<u8>),
    /// Stores an issued certificate's row (sealed).
    PutCertificate(String, Vec<u8>),
    /// Adds a revocation list entry: (kid, certificate id, entry).
    PutRevocation(String, String, String),
    /// Records an applied writing request (id, when, row).
    PutRequest(String, i64, Vec<u8>),
    /// Stores a review row.
    PutReview(ReviewId, Vec<u8>),
    /// Stores a federation entry (sealed): a held answer or a queued query.
    PutFederation(String, Vec<u8>),
    /// Removes a federation entry.
    RemoveFederation(String),
    /// Sets a meta value.
    SetMeta(String, Vec<u8>),
    /// Tells running servers that users, roles or plugins changed.
    BumpGeneration,
}

impl Op {
    pub(super) fn person(&self) -> Option<u64> {
        match self {
            Op::PutPerson(p, _)
            | Op::PutPersonSecret(p, _)
            | Op::RemovePerson(p)
            | Op::SetHold(p, _)
            | Op::SetSuspension(p, _)
            | Op::PutHistory(p, _, _)
            | Op::PutMyNumber(p, _)
            | Op::RemoveMyNumber(p)
            | Op::PutPassport(p, _)
            | Op::PutTicket(p, _, _)
            | Op::PutDose(p, _, _) => Some(*p),
            _ => None,
        }
    }
}

/// Everything one request changes, with the audit events that record it.
#[derive(Debug, Default)]
pub struct WriteSet {
    /// Conditions that must still hold.
    pub checks: Vec<Check>,
    /// Changes, applied in order.
    pub ops: Vec<Op>,
    /// Audit events, appended in order.
    pub events: Vec<Event>,
    /// What the changes do to the cohort facts (memory only).
    pub facts: Vec<FactChange>,
}

impl WriteSet {
    /// A write set of audit events only.
    pub fn events(events: Vec<Event>) -> WriteSet {
        WriteSet {
            events,
            ..WriteSet::default()
        }
    }
}

/// A write set was computed on state that has changed since, or replays a
/// request that was already applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Conflict {
    /// What changed.
    pub message: String,
    /// The request id was already applied: re-running cannot help.
    pub replay: bool,
}

impl Conflict {
    pub(super) fn changed(message: impl Into<String>) -> Conflict {
        Conflict {
            message: message.into(),
            replay: false,
        }
    }
}

/// Why a commit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Re-run the invocation on fresh state.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// The queue is full; the node is overloaded.
    #[error("the tenant's commit queue is full")]
    Overloaded,
    /// Storage failed; nothing of the batch was committed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
