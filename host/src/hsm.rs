//! Root keys sealed by a PKCS#11 token (a hardware security module; tested
//! with SoftHSM2).
//!
//! With a token configured, a root key file (`KEYS/<code>.key`,
//! `KEYS/system.key`) holds the root key encrypted (AES-256-GCM) under a
//! wrapping key that lives in the token, was generated there, and is
//! `CKA_SENSITIVE` and not `CKA_EXTRACTABLE`: its value never leaves the
//! token. Every other key (data keys, index keys, the audit and backup
//! keys) is derived from or wrapped by the root key, so the data directory,
//! the keys directory and every backup together still open nothing without
//! the token and its PIN. The host unseals a root key into memory when it
//! opens a tenant (envelope encryption: the token is asked once per open,
//! not once per record).
//!
//! A sealed key file is one line:
//! `kiroku-pkcs11-v1 <wrap-key label> <iv hex> <ciphertext+tag hex>`, its
//! AAD naming the key's owner, so one tenant's sealed key cannot be passed
//! off as another's.

use std::path::PathBuf;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{AuthPin, Ulong};

use crate::clock::Entropy;
use crate::crypto::{KEY_LEN, TenantKey};

/// The first word of a sealed key file.
const SEALED_MAGIC: &str = "kiroku-pkcs11-v1";
/// The label of the token's wrapping key.
pub const WRAP_KEY_LABEL: &str = "kiroku-root-wrap";
const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;

/// Where the token is and how to log in to it.
#[derive(Debug, Clone)]
pub struct HsmConfig {
    /// The PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The user PIN.
    pub pin: String,
}

/// What went wrong with the token. Messages never quote the PIN or a key.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The module could not be loaded or initialised.
    #[error("cannot load the PKCS#11 module {0}")]
    Module(String),
    /// No token carries the label.
    #[error("no PKCS#11 token labelled {0:?}")]
    NoToken(String),
    /// The token refused the PIN.
    #[error("the PKCS#11 token refused the PIN (is KIROKU_PKCS11_PIN right?)")]
    Pin,
    /// The token holds no wrapping key.
    #[error(
        "the PKCS#11 token has no key {WRAP_KEY_LABEL:?} (were the keys sealed by another token?)"
    )]
    NoWrapKey,
    /// A sealed key file is malformed.
    #[error("the sealed key file of {0} is damaged")]
    Damaged(String),
    /// No wrapping key in the token opens the sealed key.
    #[error("the sealed key of {0} does not open with this token's key")]
    Unseal(String),
    /// Any other refusal by the token (its return value's name).
    #[error("the PKCS#11 token failed: {0}")]
    Token(String),
}

fn token_error(e: CkError) -> HsmError {
    match e {
        CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _) => {
            HsmError::Pin
        }
        CkError::Pkcs11(rv, function) => HsmError::Token(format!("{function:?}: {rv:?}")),
        other => HsmError::Token(format!("{other:?}")),
    }
}

/// What `kiroku keys status` reports about the wrapping key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapKeyInfo {
    /// Wrapping keys with the label in the token.
    pub count: usize,
    /// Whether every one is sensitive (its value is never revealed).
    pub sensitive: bool,
    /// Whether any one could be exported.
    pub extractable: bool,
}

/// A logged-in connection to the token.
#[derive(Debug)]
pub struct Hsm {
    context: Pkcs11,
    slot: Slot,
    pin: AuthPin,
    token_label: String,
}

impl Hsm {
    /// Loads the module, finds the token by label and checks the PIN.
    pub fn open(config: &HsmConfig) -> Result<Hsm, HsmError> {
        let module = config.module.display().to_string();
        let context = Pkcs11::new(&config.module).map_err(|_| HsmError::Module(module.clone()))?;
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(_) => return Err(HsmError::Module(module)),
        }
        let mut found = None;
        for slot in context.get_slots_with_token().map_err(token_error)? {
            let info = context.get_token_info(slot).map_err(token_error)?;
            if info.label().trim_end() == config.token_label {
                found = Some(slot);
                break;
            }
        }
        let slot = found.ok_or_else(|| HsmError::NoToken(config.token_label.clone()))?;
        let hsm = Hsm {
            context,
            slot,
            pin: AuthPin::from(config.pin.clone()),
            token_label: config.token_label.clone(),
        };
        hsm.session()?;
        Ok(hsm)
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    /// A read-write session, logged in as the user.
    fn session(&self) -> Result<Session, HsmError> {
        let session = self
            .context
            .open_rw_session(self.slot)
            .map_err(token_error)?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(token_error(e)),
        }
    }

    fn wrap_keys(session: &Session) -> Result<Vec<ObjectHandle>, HsmError> {
        session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Label(WRAP_KEY_LABEL.as_bytes().to_vec()),
            ])
            .map_err(token_error)
    }

    /// The wrapping key, generated in the token on first use: never
    /// extractable, never revealed, usable only to encrypt and decrypt.
    fn wrap_key_or_create(session: &Session) -> Result<ObjectHandle, HsmError> {
        if let Some(key) = Self::wrap_keys(session)?.first() {
            return Ok(*key);
        }
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(Ulong::from(32u64)),
            Attribute::Label(WRAP_KEY_LABEL.as_bytes().to_vec()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
        ];
        session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(token_error)
    }

    /// Seals `key` (the root key of `owner`) into a key file's text.
    pub fn seal_root(
        &self,
        owner: &str,
        key: &TenantKey,
        entropy: &dyn Entropy,
    ) -> Result<String, HsmError> {
        let session = self.session()?;
        let wrap = Self::wrap_key_or_create(&session)?;
        let mut iv = [0u8; IV_LEN];
        entropy.fill(&mut iv);
        let aad = aad(owner);
        let sealed = {
            let params =
                GcmParams::new(&mut iv, &aad, Ulong::from(TAG_BITS)).map_err(token_error)?;
            session
                .encrypt(&Mechanism::AesGcm(params), wrap, key.as_bytes())
                .map_err(token_error)?
        };
        Ok(format!(
            "{SEALED_MAGIC} {WRAP_KEY_LABEL} {} {}\n",
            hex::encode(iv),
            hex::encode(sealed)
        ))
    }

    /// Opens a key file's text sealed by [`Hsm::seal_root`].
    pub fn open_root(&self, owner: &str, text: &str) -> Result<TenantKey, HsmError> {
        let damaged = || HsmError::Damaged(owner.to_owned());
        let words: Vec<&str> = text.split_whitespace().collect();
        let [SEALED_MAGIC, WRAP_KEY_LABEL, iv, sealed] = words.as_slice() else {
            return Err(damaged());
        };
        let iv: [u8; IV_LEN] = hex::decode(iv)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(damaged)?;
        let sealed = hex::decode(sealed).map_err(|_| damaged())?;
        let session = self.session()?;
        let keys = Self::wrap_keys(&session)?;
        if keys.is_empty() {
            return Err(HsmError::NoWrapKey);
        }
        let aad = aad(owner);
        // Two processes sealing at once may each have made a wrapping key:
        // try them all.
        for wrap in keys {
            let mut iv = iv;
            let params =
                GcmParams::new(&mut iv, &aad, Ulong::from(TAG_BITS)).map_err(token_error)?;
            if let Ok(plain) = session.decrypt(&Mechanism::AesGcm(params), wrap, &sealed) {
                let bytes: [u8; KEY_LEN] = plain.try_into().map_err(|_| damaged())?;
                return Ok(TenantKey::from_bytes(bytes));
            }
        }
        Err(HsmError::Unseal(owner.to_owned()))
    }

    /// The wrapping key's protection, as the token reports it.
    pub fn wrap_key_info(&self) -> Result<WrapKeyInfo, HsmError> {
        let session = self.session()?;
        let keys = Self::wrap_keys(&session)?;
        let (mut sensitive, mut extractable) = (true, false);
        for key in &keys {
            let attributes = session
                .get_attributes(
                    *key,
                    &[AttributeType::Sensitive, AttributeType::Extractable],
                )
                .map_err(token_error)?;
            for attribute in attributes {
                match attribute {
                    Attribute::Sensitive(s) => sensitive &= s,
                    Attribute::Extractable(x) => extractable |= x,
                    _ => {}
                }
            }
        }
        Ok(WrapKeyInfo {
            count: keys.len(),
            sensitive,
            extractable,
        })
    }
}

/// Whether a key file's text is sealed by a token.
pub fn is_sealed(text: &str) -> bool {
    text.starts_with(SEALED_MAGIC)
}

fn aad(owner: &str) -> Vec<u8> {
    format!("kiroku root key v1 {owner}").into_bytes()
}
