//! The data directory, reached only through cap-std `Dir` handles
//! (invariant 11): nothing a request or a plugin names can resolve outside
//! it, and every path below is built from validated codes and digests.
//!
//! ```text
//! DATA/system.redb             tenant registry and the system audit chain
//! DATA/tenants/<code>.redb     one file per municipality
//! DATA/components/<sha256>.wasm  installed plugin components, by digest
//! KEYS/<code>.key              the tenant's root key (0600), outside redb
//! KEYS/<code>.persons          the tenant's person keyring (`store::keyring`)
//! KEYS/system.key              the system file's key
//! ```
//!
//! With a PKCS#11 token configured (`crate::hsm`), the `.key` files hold
//! the root keys sealed by the token, not the keys.
//!
//! KEYS is `DATA/keys` unless `--keys DIR` names another directory (another
//! disk, another mount): then a copy of the data directory, or a backup,
//! holds no key at all.

mod keys;

use std::io;
use std::path::Path;
use std::sync::Arc;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

use crate::crypto::KEY_LEN;
use crate::hsm::{Hsm, HsmError};
use crate::ids::{Digest, TenantCode};

pub use keys::{KeyFile, KeyOwner, KeyProtection};

/// Errors reaching files in the data directory.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The directory or a file in it could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// No such tenant in this data directory.
    #[error("tenant {0} does not exist in this data directory")]
    UnknownTenant(String),
    /// The tenant already exists.
    #[error("tenant {0} already exists")]
    TenantExists(String),
    /// The keys directory has no person keyring for the tenant.
    #[error("tenant {0} has no person keyring in the keys directory (is --keys right?)")]
    NoKeyring(String),
    /// A key file is not a key.
    #[error("the key file of tenant {0} is damaged (expected {KEY_LEN} bytes)")]
    BadKey(String),
    /// The key is sealed by a PKCS#11 token and none is configured.
    #[error(
        "the key of {0} is sealed by a PKCS#11 token: pass --pkcs11-module (or KIROKU_PKCS11_MODULE) and KIROKU_PKCS11_PIN"
    )]
    NeedsToken(String),
    /// The token refused.
    #[error(transparent)]
    Hsm(#[from] HsmError),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> DataDirError {
    let what = what.into();
    move |source| DataDirError::Io { what, source }
}

/// Capability handle on a data directory.
#[derive(Debug)]
pub struct DataDir {
    /// Where it is, to name its files in errors.
    path: std::path::PathBuf,
    root: Dir,
    tenants: Dir,
    keys: Dir,
    components: Arc<Dir>,
    /// The PKCS#11 token sealing the root keys, when one is configured.
    hsm: Option<Arc<Hsm>>,
}

impl DataDir {
    /// Opens the data directory at `path` with its keys in `path/keys`.
    pub fn open(path: &Path) -> Result<DataDir, DataDirError> {
        DataDir::open_with_keys(path, None)
    }

    /// Opens the data directory at `path`, creating it and its folders,
    /// with its keys in `keys` (default `path/keys`).
    pub fn open_with_keys(path: &Path, keys: Option<&Path>) -> Result<DataDir, DataDirError> {
        std::fs::create_dir_all(path).map_err(io_err(format!(
            "creating data directory {}",
            path.display()
        )))?;
        let root = Dir::open_ambient_dir(path, ambient_authority())
            .map_err(io_err(format!("opening data directory {}", path.display())))?;
        let sub = |name: &str| -> Result<Dir, DataDirError> {
            root.create_dir_all(name)
                .map_err(io_err(format!("creating {name}/")))?;
            root.open_dir(name)
                .map_err(io_err(format!("opening {name}/")))
        };
        let (tenants, components) = (sub("tenants")?, sub("components")?);
        let keys = match keys {
            None => {
                let keys = sub("keys")?;
                keys::restrict(&root, "keys")?;
                keys
            }
            Some(at) => {
                std::fs::create_dir_all(at)
                    .map_err(io_err(format!("creating keys directory {}", at.display())))?;
                let parent = Dir::open_ambient_dir(at, ambient_authority())
                    .map_err(io_err(format!("opening keys directory {}", at.display())))?;
                keys::restrict(&parent, ".")?;
                parent
            }
        };
        Ok(DataDir {
            path: path.to_path_buf(),
            root,
            tenants,
            keys,
            components: Arc::new(components),
            hsm: None,
        })
    }

    /// Seals and unseals root keys with `hsm` (`--pkcs11-module`).
    pub fn with_hsm(mut self, hsm: Option<Arc<Hsm>>) -> DataDir {
        self.hsm = hsm;
        self
    }

    /// A tenant's person keyring file (0600); `create` makes it, and
    /// refuses when one exists.
    pub fn keyring_file(
        &self,
        code: &TenantCode,
        create: bool,
    ) -> Result<std::fs::File, DataDirError> {
        let name = format!("{code}.persons");
        let mut options = OpenOptions::new();
        options.read(true).write(true).mode(0o600);
        if create {
            options.create_new(true);
        }
        self.keys
            .open_with(&name, &options)
            .map(|f| f.into_std())
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => DataDirError::NoKeyring(code.to_string()),
                _ => DataDirError::Io {
                    what: format!("opening the person keyring of tenant {code}"),
                    source: e,
                },
            })
    }

    /// Whether the tenant has a person keyring here.
    pub fn keyring_exists(&self, code: &TenantCode) -> bool {
        self.keys.exists(format!("{code}.persons"))
    }

    fn open_rw(dir: &Dir, name: &str, create: bool) -> io::Result<std::fs::File> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(create).mode(0o600);
        Ok(dir.open_with(name, &options)?.into_std())
    }

    /// The system database file.
    pub fn system_db_file(&self) -> Result<std::fs::File, DataDirError> {
        Self::open_rw(&self.root, "system.redb", true).map_err(io_err("opening system.redb"))
    }

    /// The system database file, read-only.
    pub fn system_db_file_read_only(&self) -> Result<std::fs::File, DataDirError> {
        Ok(self
            .root
            .open("system.redb")
            .map_err(io_err("opening system.redb"))?
            .into_std())
    }

    fn tenant_file_name(code: &TenantCode) -> String {
        format!("{code}.redb")
    }

    /// The path of a tenant's database file, for messages.
    pub fn tenant_file_path(&self, code: &TenantCode) -> std::path::PathBuf {
        self.path.join("tenants").join(Self::tenant_file_name(code))
    }

    /// Whether the tenant's database exists.
    pub fn tenant_exists(&self, code: &TenantCode) -> bool {
        self.tenants.exists(Self::tenant_file_name(code))
    }

    /// A tenant's database file for writing; `create` makes it if missing.
    pub fn tenant_db_file(
        &self,
        code: &TenantCode,
        create: bool,
    ) -> Result<std::fs::File, DataDirError> {
        if !create && !self.tenant_exists(code) {
            return Err(DataDirError::UnknownTenant(code.to_string()));
        }
        Self::open_rw(&self.tenants, &Self::tenant_file_name(code), create)
            .map_err(io_err(format!("opening the database of tenant {code}")))
    }

    /// A tenant's database file, read-only.
    pub fn tenant_db_file_read_only(
        &self,
        code: &TenantCode,
    ) -> Result<std::fs::File, DataDirError> {
        if !self.tenant_exists(code) {
            return Err(DataDirError::UnknownTenant(code.to_string()));
        }
        Ok(self
            .tenants
            .open(Self::tenant_file_name(code))
            .map_err(io_err(format!("opening the database of tenant {code}")))?
            .into_std())
    }

    /// A new, empty file to restore a tenant into (`<code>.restore`),
    /// replacing one left by an interrupted restore.
    pub fn restore_file(&self, code: &TenantCode) -> Result<std::fs::File, DataDirError> {
        let name = format!("{code}.restore");
        let _ = self.tenants.remove_file(&name);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create_new(true).mode(0o600);
        self.tenants
            .open_with(&name, &options)
            .map(|f| f.into_std())
            .map_err(io_err(format!(
                "creating the restore file of tenant {code}"
            )))
    }

    /// Puts a finished restore file in place of the tenant's database.
    pub fn install_restore(&self, code: &TenantCode) -> Result<(), DataDirError> {
        self.tenants
            .rename(
                format!("{code}.restore"),
                &self.tenants,
                Self::tenant_file_name(code),
            )
            .map_err(io_err(format!(
                "installing the restored database of tenant {code}"
            )))
    }

    /// Every tenant with a database here, in code order.
    pub fn tenant_codes(&self) -> Result<Vec<TenantCode>, DataDirError> {
        let mut codes = Vec::new();
        for entry in self.tenants.entries().map_err(io_err("listing tenants/"))? {
            let name = entry.map_err(io_err("listing tenants/"))?.file_name();
            if let Some(Ok(code)) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".redb"))
                .map(TenantCode::parse)
            {
                codes.push(code);
            }
        }
        codes.sort();
        Ok(codes)
    }

    /// Stores a component under its digest (idempotent).
    pub fn store_component(&self, digest: &Digest, bytes: &[u8]) -> Result<(), DataDirError> {
        let name = format!("{digest}.wasm");
        if self.components.exists(&name) {
            return Ok(());
        }
        let tmp = format!("{digest}.tmp");
        self.components
            .write(&tmp, bytes)
            .map_err(io_err("storing a component"))?;
        self.components
            .rename(&tmp, &self.components, &name)
            .map_err(io_err("storing a component"))
    }

    /// Reads the component stored under `digest`.
    pub fn read_component(&self, digest: &Digest) -> Result<Vec<u8>, DataDirError> {
        self.components().read(digest)
    }

    /// The installed components, to read later (a plugin loaded on first
    /// use).
    pub fn components(&self) -> Components {
        Components(self.components.clone())
    }
}

/// The folder of installed components.
#[derive(Debug, Clone)]
pub struct Components(Arc<Dir>);

impl Components {
    /// Reads an installed component by its digest.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, DataDirError> {
        self.0
            .read(format!("{digest}.wasm"))
            .map_err(io_err(format!("reading component {}", digest.short())))
    }
}
