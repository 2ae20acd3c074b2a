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
