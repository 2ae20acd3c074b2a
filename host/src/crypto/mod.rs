//! Sealing at rest (invariant 6). Each person's data is sealed with that
//! person's data key (XChaCha20-Poly1305, random 192-bit nonces); data keys
//! are wrapped by a key derived from the tenant key, which lives in a key
//! file outside redb. Lookup indexes and the audit chain use HMAC-SHA256
//! under further derived keys. Nothing here is hand-rolled: RustCrypto's
//! audited AEAD, HKDF and HMAC do the work.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::clock::Entropy;

/// Length of every key the host handles.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Length of a keyed lookup hash: 128 bits keeps collisions out of reach
/// for any municipality while halving index size.
pub const INDEX_HASH_LEN: usize = 16;

/// A keyed lookup hash, stored in indexes instead of the clear value.
pub type IndexHash = [u8; INDEX_HASH_LEN];

type HmacSha256 = Hmac<Sha256>;

/// Sealed data did not open: wrong key, wrong context or altered bytes.
#[derive(Debug, thiserror::Error)]
#[error("sealed data failed authentication (wrong key, wrong record, or altered on disk)")]
pub struct CryptoError;

/// A tenant's root key, as read from its key file.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TenantKey([u8; KEY_LEN]);

impl std::fmt::Debug for TenantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TenantKey(..)")
    }
}

impl TenantKey {
    /// A fresh random key.
    pub fn generate(entropy: &dyn Entropy) -> TenantKey {
        let mut key = [0u8; KEY_LEN];
        entropy.fill(&mut key);
        TenantKey(key)
    }

    /// The key from its stored bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> TenantKey {
        TenantKey(bytes)
    }

    /// The stored form.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// What an index hash is of; keeps hashes of different kinds apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// Address number (宛名番号).
    AddressNumber,
    /// Normalised name + birth date.
    NameAndBirthDate,
    /// Ticket number.
    Ticket,
    /// My Number.
    MyNumber,
}

impl IndexKind {
    fn label(self) -> &'static [u8] {
        match self {
            IndexKind::AddressNumber => b"address-number",
            IndexKind::NameAndBirthDate => b"name+birth-date",
            IndexKind::Ticket => b"ticket",
            IndexKind::MyNumber => b"my-number",
        }
    }
}

/// The first byte of a ticket number's index key (see
/// [`TenantKeys::index_hash`]).
pub const TICKET_KEY_TAG: u8 = b'T';

/// The keys a tenant's host code works with, derived from its [`TenantKey`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct TenantKeys {
    wrap: [u8; KEY_LEN],
    index: [u8; KEY_LEN],
    audit: [u8; KEY_LEN],
    handles: [u8; KEY_LEN],
    staff: [u8; KEY_LEN],
    issuer: [u8; KEY_LEN],
    federation: [u8; KEY_LEN],
    backup: [u8; KEY_LEN],
    #[zeroize(skip)]
    tenant: String,
}

impl std::fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TenantKeys({})", self.tenant)
    }
}

fn derive(root: &TenantKey, tenant: &str, purpose: &str) -> [u8; KEY_LEN] {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(b"kiroku tenant keys v1"), &root.0);
    let mut out = [0u8; KEY_LEN];
    let info = format!("{purpose}/{tenant}");
    hk.expand(info.as_bytes(), &mut out)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

/// The key of the host's compile cache, from the system root key.
pub fn compile_cache_key(system_root: &TenantKey) -> [u8; KEY_LEN] {
    derive(system_root, "system", "compile-cache")
}

impl TenantKeys {
    /// Derives the wrap, index and audit keys of `tenant`.
    pub fn derive(root: &TenantKey, tenant: &str) -> TenantKeys {
        TenantKeys {
            wrap: derive(root, tenant, "wrap"),
            index: derive(root, tenant, "index"),
            audit: derive(root, tenant, "audit"),
            handles: derive(root, tenant, "person-handles"),
            staff: derive(root, tenant, "staff-secrets"),
            issuer: derive(root, tenant, "certificate-issuer"),
            federation: derive(root, tenant, "federation"),
            backup: derive(root, tenant, "backup"),
            tenant: tenant.to_owned(),
        }
    }

    /// Seals a staff account's secret (its TOTP seed) for storage; `what`
    /// names the account and the secret, so a sealed seed cannot be moved
    /// to another account.
    pub fn seal_staff(&self, what: &str, plain: &[u8], entropy: &dyn Entropy) -> Vec<u8> {
        let aad = format!("kiroku/v1/{}/staff/{what}", self.tenant);
        seal_with(&self.staff, aad.as_bytes(), plain, entropy)
    }

    /// Opens what [`TenantKeys::seal_staff`] sealed.
    pub fn open_staff(&self, what: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let aad = format!("kiroku/v1/{}/staff/{what}", self.tenant);
        open_with(&self.staff, aad.as_bytes(), sealed)
    }

    /// Seals a certificate issuer's secret (a signing key) or an issued
    /// certificate's row; `what` names it, so a sealed value cannot be
    /// moved to another name.
    pub fn seal_issuer(&self, what: &str, plain: &[u8], entropy: &dyn Entropy) -> Vec<u8> {
        let aad = format!("kiroku/v1/{}/issuer/{what}", self.tenant);
        seal_with(&self.issuer, aad.as_bytes(), plain, entropy)
    }

    /// Opens what [`TenantKeys::seal_issuer`] sealed.
    pub fn open_issuer(&self, what: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let aad = format!("kiroku/v1/{}/issuer/{what}", self.tenant);
        open_with(&self.issuer, aad.as_bytes(), sealed)
    }

    /// Seals a federation entry (a held answer, a queued query) under its
    /// key, so an entry cannot be moved to another id.
    pub fn seal_federation(&self, what: &str, plain: &[u8], entropy: &dyn Entropy) -> Vec<u8> {
        let aad = format!("kiroku/v1/{}/federation/{what}", self.tenant);
        seal_with(&self.federation, aad.as_bytes(), plain, entropy)
    }

    /// Opens what [`TenantKeys::seal_federation`] sealed.
    pub fn open_federation(&self, what: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let aad = format!("kiroku/v1/{}/federation/{what}", self.tenant);
        open_with(&self.federation, aad.as_bytes(), sealed)
    }

    /// What an audit event records of a My Number another municipality
    /// asked about: a keyed hash (16 hex digits) under a key of its own,
    /// so the event shows two queries were for the same number without
    /// naming it, and matches no index entry.
    pub fn queried_number_hash(&self, number: &str) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.federation)
            .expect("HMAC takes any key length");
        mac.update(b"queried-my-number\0");
        mac.update(number.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    /// The keyed hash behind a person's certificate revocation id: the same
    /// for every card of the person, meaningless outside the tenant.
    pub fn revocation_mac(&self, person: u64) -> [u8; 32] {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.issuer).expect("HMAC takes any key length");
        mac.update(b"revocation-id\0");
        mac.update(&person.to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Wraps a person's data key for storage next to their record. What
    /// is sealed is the key masked with the person's secret (kept in the
    /// keyring, outside redb): once that secret is shredded, no key left
    /// anywhere recovers the data key, not even from a copy of the row.
    pub fn wrap(
        &self,
        person: u64,
        key: &DataKey,
        secret: &PersonSecret,
        entropy: &dyn Entropy,
    ) -> Vec<u8> {
        let aad = format!("kiroku/v2/{}/data-key/{person}", self.tenant);
        let mut masked = xor(&key.0, &secret.0);
        let out = seal_with(&self.wrap, aad.as_bytes(), &masked, entropy);
        masked.zeroize();
        out
    }

    /// Unwraps a person's data key with their secret.
    pub fn unwrap(
        &self,
        person: u64,
        wrapped: &[u8],
        secret: &PersonSecret,
    ) -> Result<DataKey, CryptoError> {
        let aad = format!("kiroku/v2/{}/data-key/{person}", self.tenant);
        let mut plain = open_with(&self.wrap, aad.as_bytes(), wrapped)?;
        let masked: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| CryptoError)?;
        plain.zeroize();
        Ok(DataKey(xor(&masked, &secret.0)))
    }

    /// Wraps a data key as storage schema 2 did (tests of the upgrade
    /// write such files).
    #[doc(hidden)]
    pub fn wrap_v2(&self, person: u64, key: &DataKey, entropy: &dyn Entropy) -> Vec<u8> {
        let aad = format!("kiroku/v1/{}/data-key/{person}", self.tenant);
        seal_with(&self.wrap, aad.as_bytes(), &key.0, entropy)
    }

    /// Unwraps a data key as storage schema 2 wrapped it (no person
    /// secret), for upgrading files.
    pub fn unwrap_v2(&self, person: u64, wrapped: &[u8]) -> Result<DataKey, CryptoError> {
        let aad = format!("kiroku/v1/{}/data-key/{person}", self.tenant);
        let mut plain = open_with(&self.wrap, aad.as_bytes(), wrapped)?;
        let key: [u8; KEY_LEN] = plain.as_slice().try_into().map_err(|_| CryptoError)?;
        plain.zeroize();
        Ok(DataKey(key))
    }

    /// Seals a tenant backup's chunk `index` (`last`: the final one, so a
    /// truncated backup is refused) under a key of its own.
    pub fn seal_backup(
        &self,
        id: &[u8; 16],
        index: u64,
        last: bool,
        plain: &[u8],
        entropy: &dyn Entropy,
    ) -> Vec<u8> {
        let aad = backup_aad(&self.tenant, id, index, last);
        seal_with(&self.backup, &aad, plain, entropy)
    }

    /// Opens what [`TenantKeys::seal_backup`] sealed.
    pub fn open_backup(
        &self,
        id: &[u8; 16],
        index: u64,
        last: bool,
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let aad = backup_aad(&self.tenant, id, index, last);
        open_with(&self.backup, &aad, sealed)
    }

    /// The keyed hash under which `value` is indexed. A ticket number's
    /// starts with [`TICKET_KEY_TAG`], so a campaign's new tickets land in
    /// one region of the unique index instead of all over it (rewriting
    /// half as much of it at commit). Other kinds are the plain keyed hash;
    /// the few of those that start with the same byte sit among the
    /// tickets, which lookups (exact keys) do not notice.
    pub fn index_hash(&self, kind: IndexKind, value: &str) -> IndexHash {
        let full = self.index_mac(kind, value);
        let mut key = [0u8; INDEX_HASH_LEN];
        if kind == IndexKind::Ticket {
            key[0] = TICKET_KEY_TAG;
            key[1..].copy_from_slice(&full[..INDEX_HASH_LEN - 1]);
        } else {
            key.copy_from_slice(&full[..INDEX_HASH_LEN]);
        }
        key
    }

    /// The key schema 1 indexed `value` under (the plain keyed hash, for
    /// every kind); for upgrading files.
    pub fn index_hash_v1(&self, kind: IndexKind, value: &str) -> IndexHash {
        let full = self.index_mac(kind, value);
        full[..INDEX_HASH_LEN]
            .try_into()
            .expect("HMAC-SHA256 output is 32 bytes")
    }

    fn index_mac(&self, kind: IndexKind, value: &str) -> [u8; 32] {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.index).expect("HMAC takes any key length");
        mac.update(kind.label());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The MAC chaining an audit event to its predecessor.
    pub fn audit_mac(&self, prev: &[u8; 32], body: &[u8]) -> [u8; 32] {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.audit).expect("HMAC takes any key length");
        mac.update(prev);
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The tenant's person handles (the person ids that leave the host).
    pub fn person_handles(&self) -> crate::handles::PersonHandles {
        let key: [u8; 16] = self.handles[..16].try_into().expect("32 bytes");
        crate::handles::PersonHandles::new(key)
    }

    /// The tenant these keys belong to.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }
}

fn backup_aad(tenant: &str, id: &[u8; 16], index: u64, last: bool) -> Vec<u8> {
    let mut aad = format!("kiroku/v1/{tenant}/backup/").into_bytes();
    aad.extend_from_slice(id);
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(u8::from(last));
    aad
}

fn xor(a: &[u8; KEY_LEN], b: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// A person's secret in the keyring: the mask of their wrapped data key.
/// Overwriting it (crypto-shredding) makes every sealed value of the
/// person unrecoverable, wherever copies of the sealed bytes survive.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PersonSecret([u8; KEY_LEN]);

impl std::fmt::Debug for PersonSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonSecret(..)")
    }
}

impl PersonSecret {
    /// A fresh random secret, never all zeros or all ones (the keyring's
    /// marks for an empty and a shredded slot).
    pub fn generate(entropy: &dyn Entropy) -> PersonSecret {
        loop {
            let mut s = [0u8; KEY_LEN];
            entropy.fill(&mut s);
            if s != [0; KEY_LEN] && s != [0xff; KEY_LEN] {
                return PersonSecret(s);
            }
        }
    }

    /// The secret from its stored bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> PersonSecret {
        PersonSecret(bytes)
    }

    /// The stored form.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// One person's data key. Shredding the person's [`PersonSecret`] makes
/// every sealed value of the person unrecoverable (crypto-shredding).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; KEY_LEN]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// A fresh random data key.
    pub fn generate(entropy: &dyn Entropy) -> DataKey {
        let mut key = [0u8; KEY_LEN];
        entropy.fill(&mut key);
        DataKey(key)
    }

    /// Seals `plain`, binding it to `context` (tenant, class, record).
    pub fn seal(&self, context: &SealContext, plain: &[u8], entropy: &dyn Entropy) -> Vec<u8> {
        seal_with(&self.0, context.0.as_bytes(), plain, entropy)
    }

    /// Opens what [`DataKey::seal`] sealed with the same context.
    pub fn open(&self, context: &SealContext, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.0, context.0.as_bytes(), sealed)
    }
}

/// The associated data that binds a sealed value to where it is stored, so
/// a value copied to another tenant, person, class or record fails to open.
#[derive(Debug, Clone)]
pub struct SealContext(String);

impl SealContext {
    /// Context for `class` data (e.g. `resident`, `dose`) of `person`,
    /// `item` telling records of one class apart (e.g. the dose id).
    pub fn new(tenant: &str, class: &str, person: u64, item: u64) -> SealContext {
        SealContext(format!("kiroku/v1/{tenant}/{class}/{person}/{item}"))
    }
}

fn seal_with(key: &[u8; KEY_LEN], aad: &[u8], plain: &[u8], entropy: &dyn Entropy) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    entropy.fill(&mut nonce);
    let sealed = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
        .expect("XChaCha20-Poly1305 encrypts any length the host stores");
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

fn open_with(key: &[u8; KEY_LEN], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(key.into())
        .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
        .map_err(|_| CryptoError)
}

/// SHA-256 of bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// SHA-256 of bytes, hex-encoded (component digests).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of a bearer token: tokens carry 256 random bits, so a plain hash
/// is as strong as a slow one and keeps authentication cheap.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests;
