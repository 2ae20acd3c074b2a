//! The public issuer documents (key sets, revocation lists) as last read,
//! for a minute: anyone may fetch them unauthenticated, so a flood of
//! fetches across tenants must not open (and close) tenant files at will.
//! A minute is what their `Cache-Control` already tells verifiers: a
//! revocation shows in the list within it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::ids::TenantCode;

/// How long a document is served as read.
pub const FRESH_MS: i64 = 60_000;
/// Documents held at once (a key set and a few lists per tenant); past it,
/// expired ones go first and new ones are not kept.
pub const MAX_DOCS: usize = 8192;

/// A document as read: when (node uptime, ms) and its text.
type Read = (i64, Arc<str>);

/// Documents by tenant and name.
#[derive(Debug, Default)]
pub struct PublicDocs(Mutex<HashMap<(TenantCode, String), Read>>);

impl PublicDocs {
    /// The document `name` of `code` read within the last minute, else
    /// `read()`'s answer (kept when it is one).
    pub fn get_or<E>(
        &self,
        code: &TenantCode,
        name: &str,
        now_ms: i64,
        read: impl FnOnce() -> Result<String, E>,
    ) -> Result<Arc<str>, E> {
        let key = (code.clone(), name.to_owned());
        if let Some((at, doc)) = self.0.lock().expect("docs lock").get(&key)
            && now_ms - at < FRESH_MS
        {
            return Ok(doc.clone());
        }
        let doc: Arc<str> = Arc::from(read()?);
        let mut docs = self.0.lock().expect("docs lock");
        if docs.len() >= MAX_DOCS {
            docs.retain(|_, (at, _)| now_ms - *at < FRESH_MS);
        }
        if docs.len() < MAX_DOCS || docs.contains_key(&key) {
            docs.insert(key, (now_ms, doc.clone()));
        }
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_read_once_a_minute_and_errors_are_not_kept() {
        let docs = PublicDocs::default();
        let code = TenantCode::parse("142051").unwrap();
        let reads = std::cell::Cell::new(0);
        let read = || -> Result<String, ()> {
            reads.set(reads.get() + 1);
            Ok(format!("v{}", reads.get()))
        };
        assert_eq!(&*docs.get_or(&code, "jwks", 0, read).unwrap(), "v1");
        assert_eq!(
            &*docs.get_or(&code, "jwks", FRESH_MS - 1, read).unwrap(),
            "v1"
        );
        assert_eq!(&*docs.get_or(&code, "jwks", FRESH_MS, read).unwrap(), "v2");
        assert!(
            docs.get_or(&code, "crl", 0, || Err::<String, _>(()))
                .is_err()
        );
        assert_eq!(&*docs.get_or(&code, "crl", 0, read).unwrap(), "v3");
    }
}
