//! Exchanges between municipalities (move-in query, move-out provision):
//! the transport the host mediates for the `federation` capability.
//!
//! Node-to-node traffic is HTTPS with mutual TLS under a configured
//! federation CA. Each municipality has one certificate from that CA that
//! names its code in a subjectAltName URI `urn:kiroku:lg:{code}` (exactly
//! one such URI; the code's check digit must hold) and carries both the
//! `serverAuth` and `clientAuth` extended key usages: a node presents it as
//! a client when its tenant asks, and as a server (chosen by the TLS server
//! name `{code}.lg.kiroku.invalid`) when its tenant answers. Every request
//! body is also signed with that certificate's P-256 key and carries a
//! nonce and a timestamp, so an altered or replayed request is refused even
//! by a peer that holds a valid certificate.
//!
//! - `answer.rs`: the answering host (move-out provision): refusals before
//!   any plugin, the allow-list, the lookup, the queue.
//! - `host_fns/`: the querying host's `kiroku:federation` functions
//!   (`mod.rs` the WIT glue, `query.rs`, `held.rs` collect and take-up,
//!   `exchange.rs` what they share).
//! - `listener.rs`: the node-to-node HTTPS listener.
//! - `node.rs`: this node's CA, directory, identities and clients.
//! - `rules.rs`: the allow-list and the no-automatic-answer flags.
//! - `entries.rs`: held answers and queued queries (sealed).
//! - `wire.rs`: the request bodies and the reply.
//! - `client.rs`: one signed request to another node, bounded in time.
//! - `directory.rs`: which node holds which municipality.
//! - `identity.rs`: a municipality's certificate and key, and reading the
//!   code from a peer's certificate.
//! - `envelope.rs`: signed requests, freshness and the replay guard.
//! - `tls.rs`: the mutual TLS configurations (on `crate::tls`'s provider).
//! - `test_pki.rs`: a test CA and municipality certificates (rcgen), for
//!   `kiroku federation test-pki` and tests.

pub mod answer;
pub mod client;
pub mod directory;
pub mod entries;
pub mod envelope;
mod host_fns;
pub mod identity;
pub mod listener;
pub mod node;
pub mod rules;
pub mod test_pki;
pub mod tls;
pub mod wire;

pub use crate::runtime::bindings::kiroku::federation::federation as bindings;

impl Refusal {
    /// The short code (as displayed).
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::UntrustedCertificate => "untrusted-certificate",
            Refusal::WrongMunicipality => "wrong-municipality",
            Refusal::BadSignature => "bad-signature",
            Refusal::Stale => "stale",
            Refusal::Replayed => "replayed",
            Refusal::Busy => "busy",
        }
    }
}

/// Why the host refused a federation request. The code is what the peer
/// and the audit log see; none of them names a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request is not a well-formed federation request.
    #[error("malformed")]
    Malformed,
    /// The peer's certificate names no (valid) municipality code.
    #[error("untrusted-certificate")]
    UntrustedCertificate,
    /// The certificate's municipality is not the querier the request names.
    #[error("wrong-municipality")]
    WrongMunicipality,
    /// The signature does not match the body and the peer's certificate.
    #[error("bad-signature")]
    BadSignature,
    /// The timestamp is outside the accepted window.
    #[error("stale")]
    Stale,
    /// The nonce was seen before.
    #[error("replayed")]
    Replayed,
    /// Too many requests are in the replay window.
    #[error("busy")]
    Busy,
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_wire;
