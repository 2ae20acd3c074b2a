//! The host's compile cache: machine code wasmtime made from a component,
//! kept on disk so a restart does not compile every plugin again.
//!
//! Loading machine code skips every check wasmtime makes on a component,
//! so an entry must be one this host wrote: each file carries an
//! HMAC-SHA256 tag under a key derived from the system root key (held in
//! the keys directory or sealed by the token, never in the data
//! directory), over the engine's configuration, the component's digest and
//! the code. A file that fails the check (planted, damaged, from another
//! host or another engine build) is deleted and the component is compiled
//! afresh; it is never run.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::Engine;
use wasmtime::component::Component;
use zeroize::Zeroizing;

use crate::ids::Digest;

const DOMAIN: &[u8] = b"kiroku compile cache v1\0";
const TAG_LEN: usize = 32;

/// A folder of authenticated compiled components.
pub struct CompileCache {
    dir: PathBuf,
    key: Zeroizing<[u8; 32]>,
    engine_hash: String,
}

impl std::fmt::Debug for CompileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CompileCache({})", self.dir.display())
    }
}

/// What happened when the cache was asked for a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Loaded from the cache.
    Hit,
    /// Not in the cache.
    Miss,
    /// An entry was there but failed its check, and was deleted.
    Rejected,
}

impl CompileCache {
    /// A cache in `dir` (made 0700 if missing) with `key`, for `engine`.
    pub fn open(dir: &Path, key: [u8; 32], engine: &Engine) -> std::io::Result<CompileCache> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(CompileCache {
            dir: dir.to_owned(),
            key: Zeroizing::new(key),
            engine_hash: engine_hash(engine),
        })
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join(format!("{}-{}.cwasm", digest.hex(), self.engine_hash))
    }

    fn tag(&self, digest: &Digest, code: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&*self.key).expect("HMAC takes any key length");
        mac.update(DOMAIN);
        mac.update(self.engine_hash.as_bytes());
        mac.update(b"\0");
        mac.update(digest.hex().as_bytes());
        mac.update(b"\0");
        mac.update(code);
        mac
    }

    /// The compiled component of `digest`, if this host cached it.
    // The one unsafe block of the host: loading machine code, which the
    // tag check above it makes this host's own.
    #[allow(unsafe_code)]
    pub fn load(&self, engine: &Engine, digest: &Digest) -> (Option<Component>, Lookup) {
        let path = self.path(digest);
        let Ok(file) = std::fs::read(&path) else {
            return (None, Lookup::Miss);
        };
        let rejected = |why: &str| {
            tracing::warn!(
                component = %digest.short(),
                "compile cache entry refused ({why}); deleted, compiling afresh"
            );
            let _ = std::fs::remove_file(&path);
            (None, Lookup::Rejected)
        };
        if file.len() < TAG_LEN {
            return rejected("too short");
        }
        let (tag, code) = file.split_at(TAG_LEN);
        if self.tag(digest, code).verify_slice(tag).is_err() {
            return rejected("its tag does not verify");
        }
        // SAFETY: the bytes are wasmtime's own serialisation, written by
        // this host (the tag proves it) for this engine configuration.
        match unsafe { Component::deserialize(engine, code) } {
            Ok(c) => (Some(c), Lookup::Hit),
            Err(_) => rejected("the engine does not accept it"),
        }
    }

    /// Keeps `component` (compiled from `digest`) for the next start.
    /// Failing to write is not an error: the next start compiles again.
    pub fn store(&self, digest: &Digest, component: &Component) {
        let code = match component.serialize() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("not caching a compiled component: {e}");
                return;
            }
        };
        let tag = self.tag(digest, &code).finalize().into_bytes();
        let path = self.path(digest);
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = (|| {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&tag)?;
            f.write_all(&code)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            tracing::warn!("not caching a compiled component: {e}");
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// A stable name for the engine's configuration and wasmtime's version:
/// code compiled under another one is never looked up.
fn engine_hash(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0, 0);
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
}
