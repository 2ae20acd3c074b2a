//! A tenant's person keyring: one 32-byte secret per person, in a file in
//! the keys directory (beside the tenant's root key, outside redb and
//! outside every backup). A person's data key is wrapped masked with their
//! secret (`crypto::TenantKeys::wrap`), so the tenant file, a backup of it
//! or its free pages open nothing without the keyring, and overwriting a
//! person's slot (crypto-shredding) makes all their sealed values
//! unrecoverable wherever copies of them survive.
//!
//! ```text
//! header (64 bytes): magic, tenant code, keyring id (16 random bytes)
//! slot n (32 bytes at 64 + 32 n): the secret of person n;
//!   all zeros: never written; all 0xff: shredded
//! ```
//!
//! Slots are overwritten in place and synced. On a file system that
//! copies on write (btrfs, ZFS) or a disk that remaps blocks, an old copy
//! of a slot may survive below the file: keep the keys directory on a
//! plain file system, or in a PKCS#11 token.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::clock::Entropy;
use crate::crypto::{KEY_LEN, PersonSecret};

const MAGIC: &[u8; 24] = b"KIROKU-PERSON-KEYRING-1\0";
const HEADER: u64 = 64;
const SLOT: u64 = KEY_LEN as u64;
const SHREDDED: [u8; KEY_LEN] = [0xff; KEY_LEN];
const EMPTY: [u8; KEY_LEN] = [0; KEY_LEN];

/// What a person's slot holds.
#[derive(Debug)]
pub enum Slot {
    /// Never written: no such person, or a keyring that is not this file's.
    Empty,
    /// The person's secret.
    Live(PersonSecret),
    /// Destroyed by a purge.
    Shredded,
}

/// The keyring of one tenant.
#[derive(Debug)]
pub struct Keyring {
    file: File,
    id: [u8; 16],
}

/// The keyring could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// Reading or writing it failed.
    #[error("the person keyring: {0}")]
    Io(#[from] io::Error),
    /// It is not a keyring, or another tenant's.
    #[error("the person keyring is not tenant {0}'s (wrong file or damaged header)")]
    NotThisTenant(String),
}

impl Keyring {
    /// Makes a new, empty keyring in `file` (which must be empty).
    pub fn create(
        file: File,
        tenant: &str,
        entropy: &dyn Entropy,
    ) -> Result<Keyring, KeyringError> {
        let mut id = [0u8; 16];
        entropy.fill(&mut id);
        let mut header = [0u8; HEADER as usize];
        header[..24].copy_from_slice(MAGIC);
        header[24..24 + tenant.len().min(8)]
            .copy_from_slice(&tenant.as_bytes()[..tenant.len().min(8)]);
        header[32..48].copy_from_slice(&id);
        file.write_all_at(&header, 0)?;
        file.sync_all()?;
        Ok(Keyring { file, id })
    }

    /// Opens the keyring in `file`, checking it is `tenant`'s.
    pub fn open(file: File, tenant: &str) -> Result<Keyring, KeyringError> {
        let mut header = [0u8; HEADER as usize];
        file.read_exact_at(&mut header, 0)
            .map_err(|_| KeyringError::NotThisTenant(tenant.to_owned()))?;
        let mut code = [0u8; 8];
        code[..tenant.len().min(8)].copy_from_slice(&tenant.as_bytes()[..tenant.len().min(8)]);
        if &header[..24] != MAGIC || header[24..32] != code {
            return Err(KeyringError::NotThisTenant(tenant.to_owned()));
        }
        let id = header[32..48].try_into().expect("16 bytes");
        Ok(Keyring { file, id })
    }

    /// The keyring's id (a backup names the keyring it needs).
    pub fn id(&self) -> [u8; 16] {
        self.id
    }

    /// The slot of `person`, read from the file (so a shred by another
    /// process is seen at once).
    pub fn slot(&self, person: u64) -> io::Result<Slot> {
        let mut bytes = [0u8; KEY_LEN];
        match self.file.read_exact_at(&mut bytes, offset(person)) {
            Ok(()) => Ok(slot_of(bytes)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Slot::Empty),
            Err(e) => Err(e),
        }
    }

    /// Every slot as it is now, for reading many persons at once.
    pub fn snapshot(&self) -> io::Result<KeyringSnapshot> {
        let len = self.file.metadata()?.len();
        let mut bytes = vec![0u8; len.saturating_sub(HEADER) as usize];
        self.file.read_exact_at(&mut bytes, HEADER)?;
        Ok(KeyringSnapshot(bytes))
    }

    /// Writes new persons' secrets and syncs them: called before the
    /// commit that stores the persons, so no stored person lacks a key.
    pub fn put(&self, secrets: &[(u64, PersonSecret)]) -> io::Result<()> {
        if secrets.is_empty() {
            return Ok(());
        }
        let mut sorted: Vec<&(u64, PersonSecret)> = secrets.iter().collect();
        sorted.sort_unstable_by_key(|(p, _)| *p);
        for (person, secret) in sorted {
            self.file.write_all_at(secret.as_bytes(), offset(*person))?;
        }
        self.file.sync_data()
    }

    /// Overwrites the persons' secrets (crypto-shredding) and syncs.
    pub fn shred(&self, persons: &[u64]) -> io::Result<()> {
        if persons.is_empty() {
            return Ok(());
        }
        let mut sorted = persons.to_vec();
        sorted.sort_unstable();
        for person in sorted {
            self.file.write_all_at(&SHREDDED, offset(person))?;
        }
        self.file.sync_data()
    }
}

/// The keyring's slots read at one moment.
pub struct KeyringSnapshot(Vec<u8>);

impl KeyringSnapshot {
    /// The slot of `person` in the snapshot.
    pub fn slot(&self, person: u64) -> Slot {
        let at = (person * SLOT) as usize;
        match self.0.get(at..at + KEY_LEN) {
            Some(bytes) => slot_of(bytes.try_into().expect("32 bytes")),
            None => Slot::Empty,
        }
    }
}

fn offset(person: u64) -> u64 {
    HEADER + person * SLOT
}

fn slot_of(bytes: [u8; KEY_LEN]) -> Slot {
    match bytes {
        EMPTY => Slot::Empty,
        SHREDDED => Slot::Shredded,
        live => Slot::Live(PersonSecret::from_bytes(live)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededEntropy;

    fn temp_file() -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("k"))
            .unwrap();
        (dir, file)
    }

    #[test]
    fn slots_are_written_read_and_shredded_in_place() {
        let entropy = SeededEntropy::new(3);
        let (dir, file) = temp_file();
        let ring = Keyring::create(file, "142051", &entropy).unwrap();
        let a = PersonSecret::generate(&entropy);
        ring.put(&[(5, a.clone())]).unwrap();
        assert!(matches!(ring.slot(5).unwrap(), Slot::Live(s) if s.as_bytes() == a.as_bytes()));
        assert!(matches!(ring.slot(4).unwrap(), Slot::Empty));
        assert!(matches!(ring.slot(1 << 20).unwrap(), Slot::Empty));
        ring.shred(&[5]).unwrap();
        assert!(matches!(ring.slot(5).unwrap(), Slot::Shredded));
        let bytes = std::fs::read(dir.path().join("k")).unwrap();
        assert!(
            !bytes.windows(KEY_LEN).any(|w| w == a.as_bytes()),
            "the secret is gone from the file"
        );
        let reopened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.path().join("k"))
            .unwrap();
        assert!(
            Keyring::open(reopened, "131016").is_err(),
            "another tenant's keyring"
        );
    }
}
