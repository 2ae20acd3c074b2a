//! The redb tables of a tenant file and of the system file. Only `store`
//! and `audit` touch these; plugins never see redb types.
//!
//! Personal values only ever appear here sealed (see `crypto`); indexes hold
//! keyed hashes.

use redb::{MultimapTableDefinition, TableDefinition};

use crate::crypto::INDEX_HASH_LEN;

/// Tenant facts and counters: `code`, `name`, `schema`, `audit-head`,
/// `registry-generation`, `roles`.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// person id -> [`super::rows::PersonRow`] (wrapped data key + sealed resident).
pub const PERSONS: TableDefinition<u64, &[u8]> = TableDefinition::new("persons");
/// person id -> version, bumped by every change to any of the person's data
/// (optimistic concurrency for the group committer).
pub const PERSON_VERSIONS: TableDefinition<u64, u64> = TableDefinition::new("person-versions");
/// person id -> sealed My Number.
pub const MY_NUMBERS: TableDefinition<u64, &[u8]> = TableDefinition::new("my-numbers");
/// person id -> sealed passport data.
pub const PASSPORTS: TableDefinition<u64, &[u8]> = TableDefinition::new("passports");
/// ticket id, in order of issue -> sealed ticket. A campaign's tickets
/// are appended at the end of this tree instead of being spread over one
/// keyed by person, which a campaign would rewrite almost whole.
pub const TICKETS: TableDefinition<u64, &[u8]> = TableDefinition::new("tickets-by-issue");
/// (person id, ticket seq) -> ticket id: a person's tickets.
pub const PERSON_TICKETS: TableDefinition<(u64, u64), u64> = TableDefinition::new("person-tickets");
/// Schema 1: (person id, ticket seq) -> sealed ticket; moved to [`TICKETS`]
/// and [`PERSON_TICKETS`] when a tenant file of schema 1 is opened.
pub const TICKETS_V1: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("tickets");
/// (person id, dose id) -> sealed dose.
pub const DOSES: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("doses");
/// keyed hash of a unique identifier (address number, ticket, My Number) -> person id.
pub const UNIQUE_INDEX: TableDefinition<[u8; INDEX_HASH_LEN], u64> =
    TableDefinition::new("unique-index");
/// keyed hash of normalised name + birth date -> person ids.
pub const NAME_INDEX: MultimapTableDefinition<[u8; INDEX_HASH_LEN], u64> =
    MultimapTableDefinition::new("name-index");
/// sequence -> audit event body + chain MAC.
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// (subject person id, sequence) -> (): which events concern a person.
pub const AUDIT_BY_SUBJECT: TableDefinition<(u64, u64), ()> =
    TableDefinition::new("audit-by-subject");
/// Persons per block of [`AUDIT_BY_SUBJECT_BLOCK`].
pub const SUBJECT_BLOCK_PERSONS: u64 = 1024;
/// (person id / [`SUBJECT_BLOCK_PERSONS`], sequence) -> a bitmap of the
/// block's persons the event concerns: "who looked at this person" for
/// population-wide events (one entry per block instead of one per person).
pub const AUDIT_BY_SUBJECT_BLOCK: TableDefinition<
    (u64, u64),
    [u8; SUBJECT_BLOCK_PERSONS as usize / 8],
> = TableDefinition::new("audit-by-subject-block");
/// account name -> `identity::AccountRow`: staff, shared and service
/// accounts. (The `users` table of earlier versions, with long-lived
/// bearer tokens, is no longer read.)
pub const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");
/// SHA-256 of a service token -> account name.
pub const SERVICE_TOKENS: TableDefinition<[u8; 32], &str> = TableDefinition::new("service-tokens");
/// SHA-256 of a session token -> `identity::SessionRow`.
pub const SESSIONS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("sessions");
/// plugin name -> [`super::rows::InstalledPlugin`].
pub const PLUGINS: TableDefinition<&str, &[u8]> = TableDefinition::new("plugins");

/// client-supplied request id of an applied writing request ->
/// [`super::rows::AppliedRequest`]; a replay of the id is refused.
pub const REQUESTS: TableDefinition<&str, &[u8]> = TableDefinition::new("requests");
/// (applied at ms, request id) -> (): the order in which to forget them.
pub const REQUESTS_BY_TIME: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("requests-by-time");

/// review id -> [`super::reviews::ReviewRow`]: conflicts a plugin was not
/// told about, for a supervisor to resolve.
pub const REVIEWS: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("reviews");

/// Exchanges between municipalities, sealed: `held/{query id}` an answer
/// (or a pending query) held for the querying side until taken up or
/// expired; `queue/{query id}` a query waiting for a staff decision on the
/// answering side. Neither holds a My Number.
pub const FEDERATION: TableDefinition<&str, &[u8]> = TableDefinition::new("federation");

/// person id -> `retention::DeletionRow`: the record of a purged person
/// (rule, time, counts; no value), kept after everything else of theirs
/// is gone.
pub const DELETIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("deletions");
/// person id -> `retention::HoldRow`: a legal hold that exempts the person
/// from purges.
pub const HOLDS: TableDefinition<u64, &[u8]> = TableDefinition::new("legal-holds");
/// person id -> `subjects::SuspensionRow`: use of the person's data is
/// suspended (subject rights).
pub const SUSPENSIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("suspensions");
/// (person id, seq) -> `subjects::HistoryEntry`, sealed under the person's
/// data key: corrections (with the value replaced) and enquiries.
pub const PERSON_HISTORY: TableDefinition<(u64, u64), &[u8]> =
    TableDefinition::new("person-history");

/// System file: tenant code -> [`super::rows::TenantRow`].
pub const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");

/// Meta keys.
pub mod meta {
    /// The tenant's code.
    pub const CODE: &str = "code";
    /// The municipality's name.
    pub const NAME: &str = "name";
    /// Storage schema version.
    pub const SCHEMA: &str = "schema";
    /// Last audit sequence, its MAC, and a MAC over both.
    pub const AUDIT_HEAD: &str = "audit-head";
    /// Bumped by every change to users, roles or plugins, so a running
    /// server notices changes made by the CLI in another process.
    pub const REGISTRY_GENERATION: &str = "registry-generation";
    /// Bumped by every commit that changes a person's data, so the cohort
    /// facts of a running server notice changes made by another process.
    pub const DATA_GENERATION: &str = "data-generation";
    /// The roles file in force (TOML).
    pub const ROLES: &str = "roles";
    /// The certificate issuer's test CSCA (DER).
    pub const CSCA_CERT: &str = "csca-cert";
    /// The CSCA's private key (PKCS#8, sealed).
    pub const CSCA_KEY: &str = "csca-key";
    /// Trusted My Number card CAs (a list of DER certificates).
    pub const CARD_CAS: &str = "card-cas";
    /// Seconds of idleness after which a staff session locks.
    pub const SESSION_IDLE_S: &str = "session-idle-s";
    /// Seconds after login at which a staff session ends.
    pub const SESSION_LIFETIME_S: &str = "session-lifetime-s";
}

/// Current storage schema: 2 keeps tickets in order of issue and tags
/// ticket numbers' index keys; 3 masks data keys with the person secrets
/// of the keyring (see `schema.rs` for the upgrades).
pub const SCHEMA_VERSION: u64 = 3;

/// generation (1, 2, ...) -> `certificates::IssuerKeyRow`: the tenant's
/// certificate signing keys, sealed; the last is the one that signs, the
/// older ones stay published so the cards they signed keep verifying.
pub const ISSUER_KEYS: TableDefinition<u32, &[u8]> = TableDefinition::new("issuer-keys");
/// certificate id -> `certificates::CertificateRow`, sealed: what revoking
/// an issued certificate needs (never its content).
pub const CERTIFICATES: TableDefinition<&str, &[u8]> = TableDefinition::new("certificates");
/// (kid, certificate id) -> revocation list entry (`rid.T`): the published
/// revocation lists, one per signing key.
pub const REVOCATIONS: TableDefinition<(&str, &str), &str> = TableDefinition::new("revocations");
