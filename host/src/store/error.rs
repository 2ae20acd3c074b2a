//! Storage errors.

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb reported an error.
    #[error("storage: {0}")]
    Redb(#[from] redb::Error),
    /// A stored value did not decode or open: the file was damaged or altered.
    #[error("stored data is damaged: {0}")]
    Damaged(String),
    /// The data directory failed.
    #[error(transparent)]
    DataDir(#[from] crate::datadir::DataDirError),
    /// The person keyring failed.
    #[error(transparent)]
    Keyring(#[from] super::keyring::KeyringError),
    /// A tenant file that exists cannot be opened (torn, truncated,
    /// unreadable). It is never repaired into lost data.
    #[error(
        "the tenant file {file} cannot be opened: {reason}; it is left as it is: restore the tenant from a backup (kiroku restore)"
    )]
    UnusableFile {
        /// The file's path.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The storage cannot be written now (the disk is full, or an I/O
    /// error poisoned the open file until it is re-opened); nothing was
    /// applied, and writing resumes once the cause is gone.
    #[error("the storage cannot be written now: {0}")]
    Unavailable(String),
    /// The file was written by a newer Kiroku.
    #[error(
        "the tenant file has storage schema {found}, and this Kiroku reads up to schema {supported}: open it with a newer Kiroku"
    )]
    NewerSchema {
        /// The file's schema.
        found: u64,
        /// The newest this build reads.
        supported: u64,
    },
}

impl StoreError {
    /// Whether this is an I/O failure of the file (a full disk, a failed
    /// write, or a handle that a failed write poisoned) rather than bad
    /// data: the tenant is re-opened and the request may be retried.
    pub fn is_io_failure(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_)
                | StoreError::Redb(redb::Error::Io(_) | redb::Error::PreviousIo)
        )
    }

    /// Whether the disk (or the user's quota) is full.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            StoreError::Redb(redb::Error::Io(e)) => {
                e.kind() == std::io::ErrorKind::StorageFull
                    || e.kind() == std::io::ErrorKind::QuotaExceeded
                    || e.raw_os_error() == Some(28)
            }
            _ => false,
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> StoreError {
                StoreError::Redb(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<postcard::Error> for StoreError {
    fn from(e: postcard::Error) -> StoreError {
        StoreError::Damaged(format!("undecodable row ({e})"))
    }
}

impl From<crate::crypto::CryptoError> for StoreError {
    fn from(e: crate::crypto::CryptoError) -> StoreError {
        StoreError::Damaged(e.to_string())
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> StoreError {
        StoreError::Keyring(e.into())
    }
}

/// Result of storage operations.
pub type StoreResult<T> = Result<T, StoreError>;
