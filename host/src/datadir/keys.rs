//! Root key files in the keys directory: in clear (hex), or sealed by the
//! PKCS#11 token (`crate::hsm`) when one is configured.

use std::io::{self, Read, Write};

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

use super::{DataDir, DataDirError, io_err};
use crate::clock::Entropy;
use crate::crypto::{KEY_LEN, TenantKey};
use crate::hsm;
use crate::ids::TenantCode;

/// Keys are for the owner only.
pub(super) fn restrict(dir: &Dir, name: &str) -> Result<(), DataDirError> {
    use cap_std::fs::PermissionsExt;
    dir.set_permissions(name, cap_std::fs::Permissions::from_mode(0o700))
        .map_err(io_err("restricting the keys directory"))
}

/// Whose root key a key file holds.
#[derive(Debug, Clone, Copy)]
pub enum KeyOwner<'a> {
    /// A tenant's.
    Tenant(&'a TenantCode),
    /// The system file's.
    System,
}

impl KeyOwner<'_> {
    fn label(self) -> String {
        match self {
            KeyOwner::Tenant(code) => code.to_string(),
            KeyOwner::System => "system".to_owned(),
        }
    }
}

/// How a root key file is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProtection {
    /// The key itself, in hex.
    Clear,
    /// Sealed by the PKCS#11 token.
    Token,
}

/// One root key file, as `kiroku keys status` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    /// `system` or the tenant's code.
    pub owner: String,
    /// How it is kept.
    pub protection: KeyProtection,
}

fn key_name(owner: &str) -> String {
    format!("{owner}.key")
}

impl DataDir {
    /// The text a key file holds for `key`: sealed when a token is set.
    fn key_text(
        &self,
        owner: &str,
        key: &TenantKey,
        entropy: &dyn Entropy,
    ) -> Result<String, DataDirError> {
        Ok(match &self.hsm {
            Some(hsm) => hsm.seal_root(owner, key, entropy)?,
            None => hex::encode(key.as_bytes()),
        })
    }

    /// Creates a root key file (0600); refuses to overwrite one.
    pub fn create_key(
        &self,
        owner: KeyOwner<'_>,
        entropy: &dyn Entropy,
    ) -> Result<TenantKey, DataDirError> {
        let key = TenantKey::generate(entropy);
        let code = owner.label();
        let text = self.key_text(&code, &key, entropy)?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true).mode(0o600);
        let mut file = self
            .keys
            .open_with(key_name(&code), &options)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    DataDirError::TenantExists(code.to_string())
                } else {
                    DataDirError::Io {
                        what: format!("creating the key of tenant {code}"),
                        source: e,
                    }
                }
            })?;
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(io_err(format!("writing the key of tenant {code}")))?;
        Ok(key)
    }

    fn read_key_text(&self, code: &str) -> Result<String, DataDirError> {
        let mut text = String::new();
        self.keys
            .open(key_name(code))
            .and_then(|mut f| f.read_to_string(&mut text))
            .map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    DataDirError::UnknownTenant(code.to_string())
                } else {
                    DataDirError::Io {
                        what: format!("reading the key of tenant {code}"),
                        source: e,
                    }
                }
            })?;
        Ok(text)
    }

    /// Reads a root key, unsealing it with the token when it is sealed.
    pub fn read_key(&self, owner: KeyOwner<'_>) -> Result<TenantKey, DataDirError> {
        let code = owner.label();
        let text = self.read_key_text(&code)?;
        if hsm::is_sealed(&text) {
            let hsm = self
                .hsm
                .as_ref()
                .ok_or_else(|| DataDirError::NeedsToken(code.clone()))?;
            return Ok(hsm.open_root(&code, &text)?);
        }
        if self.hsm.is_some() {
            tracing::warn!(owner = %code, "root key kept in clear: run `kiroku keys protect`");
        }
        let bytes = hex::decode(text.trim()).map_err(|_| DataDirError::BadKey(code.to_string()))?;
        let bytes: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| DataDirError::BadKey(code.to_string()))?;
        Ok(TenantKey::from_bytes(bytes))
    }

    /// Every root key file in the keys directory, system first.
    pub fn key_files(&self) -> Result<Vec<KeyFile>, DataDirError> {
        let mut owners = Vec::new();
        for entry in self.keys.entries().map_err(io_err("listing the keys"))? {
            let name = entry.map_err(io_err("listing the keys"))?.file_name();
            if let Some(owner) = name.to_str().and_then(|n| n.strip_suffix(".key"))
                && (owner == "system" || TenantCode::parse(owner).is_ok())
            {
                owners.push(owner.to_owned());
            }
        }
        owners.sort_by_key(|o| (o != "system", o.clone()));
        owners
            .into_iter()
            .map(|owner| {
                let protection = match hsm::is_sealed(&self.read_key_text(&owner)?) {
                    true => KeyProtection::Token,
                    false => KeyProtection::Clear,
                };
                Ok(KeyFile { owner, protection })
            })
            .collect()
    }

    /// Seals every root key kept in clear with the configured token:
    /// the sealed text is written to a new file, synced, checked to open
    /// to the same key, and renamed over the clear one. Returns the owners
    /// sealed now.
    pub fn protect_keys(&self, entropy: &dyn Entropy) -> Result<Vec<String>, DataDirError> {
        let hsm = self
            .hsm
            .as_ref()
            .ok_or_else(|| DataDirError::NeedsToken("the keys directory".to_owned()))?;
        let mut sealed = Vec::new();
        for file in self.key_files()? {
            if file.protection == KeyProtection::Token {
                continue;
            }
            let owner = file.owner;
            let key = self.read_key_of(&owner)?;
            let text = hsm.seal_root(&owner, &key, entropy)?;
            if hsm.open_root(&owner, &text)?.as_bytes() != key.as_bytes() {
                return Err(DataDirError::Hsm(hsm::HsmError::Unseal(owner)));
            }
            let tmp = format!("{owner}.key.sealing");
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(true).mode(0o600);
            let what = format!("sealing the key of {owner}");
            let mut out = self
                .keys
                .open_with(&tmp, &options)
                .map_err(io_err(what.clone()))?;
            out.write_all(text.as_bytes())
                .and_then(|_| out.sync_all())
                .map_err(io_err(what.clone()))?;
            self.keys
                .rename(&tmp, &self.keys, key_name(&owner))
                .map_err(io_err(what.clone()))?;
            self.keys
                .open(".")
                .and_then(|d| d.sync_all())
                .map_err(io_err(what))?;
            sealed.push(owner);
        }
        Ok(sealed)
    }

    fn read_key_of(&self, owner: &str) -> Result<TenantKey, DataDirError> {
        match owner {
            "system" => self.read_key(KeyOwner::System),
            code => {
                let code =
                    TenantCode::parse(code).map_err(|_| DataDirError::BadKey(code.to_owned()))?;
                self.read_key(KeyOwner::Tenant(&code))
            }
        }
    }

    /// The configured token, if any.
    pub fn hsm(&self) -> Option<&hsm::Hsm> {
        self.hsm.as_deref()
    }
}
