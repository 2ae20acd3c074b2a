//! Kiroku: a vaccination-records server whose business functions are
//! capability-fenced WebAssembly components. See ARCHITECTURE.md for the
//! bird's-eye view.

pub mod admin;
pub mod app;
pub mod audit;
pub mod certificates;
pub mod client;
pub mod clock;
pub mod crypto;
pub mod datadir;
pub mod demo;
pub mod federation;
pub mod fields;
pub mod handles;
pub mod hsm;
pub mod identity;
pub mod ids;
pub mod jobs;
pub mod json_shape;
pub mod limits;
pub mod metrics;
/// Name and value normalisation (shared with plugins).
pub use kiroku_rules::normalize;
pub mod policy;
pub mod redact;
pub mod retention;
pub mod roles;
pub mod runtime;
pub mod server;
pub mod store;
pub mod subjects;
pub mod synth;
pub mod tls;
