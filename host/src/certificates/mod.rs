//! Vaccination certificates (the `kiroku:certificates` capability): the
//! tenant's signing keys and test CSCA (`keys`), signing (`sign`), what is
//! kept of an issued certificate and the revocation lists (`revocation`),
//! verification (`verify`), card applications from the app and kiosk
//! (`application`), and the host functions with their grant glue
//! (`host_fns`). Adding to this capability touches this module and the
//! policy only.

pub mod application;
mod host_fns;
pub mod keys;
pub mod revocation;
pub mod sign;
pub mod verify;

pub use crate::runtime::bindings::kiroku::certificates::certificates as bindings;

/// The issuer of tenant `code` behind `public_url`: `{public-url}/issuers/{code}`.
pub fn issuer_url(public_url: &str, code: &str) -> String {
    format!("{}/issuers/{code}", public_url.trim_end_matches('/'))
}
