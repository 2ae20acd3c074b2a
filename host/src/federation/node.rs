//! This node's place in the federation: the trusted CA, the directory,
//! the identities of the tenants it serves, one client per tenant, the
//! replay guard of its answering side, and how long answers are held.
//! Configured by `kiroku serve --federation-ca --directory
//! --federation-identity`; absent, a tenant can neither ask nor answer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use rustls::RootCertStore;
use serde::Serialize;

use super::client::{Client, SendError};
use super::directory::Directory;
use super::envelope::{ReplayGuard, seal};
use super::identity::MunicipalityIdentity;
use crate::clock::Entropy;
use crate::ids::TenantCode;

/// How long a querying tenant holds an answer not taken up, unless
/// configured otherwise.
pub const DEFAULT_HOLD_DAYS: u32 = 7;

/// What a node needs to take part.
pub struct Node {
    roots: Arc<RootCertStore>,
    directory: Directory,
    identities: HashMap<TenantCode, Arc<MunicipalityIdentity>>,
    clients: HashMap<TenantCode, Arc<Client>>,
    /// Nonces of requests this node answered, inside the window.
    pub guard: ReplayGuard,
    /// How long answers are held (ms).
    pub hold_ms: i64,
    /// The runtime the exchanges run on: host functions are synchronous
    /// and wait on it, whatever runtime (if any) called them.
    io: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("identities", &self.identities.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            io.shutdown_background();
        }
    }
}

impl Node {
    /// A node trusting `roots`, reaching peers through `directory`, speaking
    /// for `identities`.
    pub fn new(
        roots: Arc<RootCertStore>,
        directory: Directory,
        identities: Vec<MunicipalityIdentity>,
        timeout: Duration,
        hold_days: u32,
        now_ms: i64,
    ) -> anyhow::Result<Node> {
        let io = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("federation-io")
            .enable_all()
            .build()
            .context("starting the federation runtime")?;
        let mut by_code = HashMap::new();
        let mut clients = HashMap::new();
        for identity in identities {
            let identity = Arc::new(identity);
            let client = Client::new(roots.clone(), identity.clone(), timeout);
            clients.insert(identity.code.clone(), Arc::new(client));
            by_code.insert(identity.code.clone(), identity);
        }
        Ok(Node {
            roots,
            directory,
            identities: by_code,
            clients,
            guard: ReplayGuard::new(now_ms),
            hold_ms: i64::from(hold_days) * 86_400_000,
            io: Some(io),
        })
    }

    /// Loads the CA, the directory, and `{code}.crt` / `{code}.key` from
    /// `identity_dir` for each of `tenants` that has them.
    pub fn load(
        ca: &Path,
        directory: &Path,
        identity_dir: &Path,
        tenants: &[TenantCode],
        hold_days: u32,
        now_ms: i64,
    ) -> anyhow::Result<Node> {
        let roots = Arc::new(super::tls::load_roots(ca)?);
        let directory = Directory::load(directory)?;
        let mut identities = Vec::new();
        for code in tenants {
            let cert = identity_dir.join(format!("{code}.crt"));
            let key = identity_dir.join(format!("{code}.key"));
            if !cert.exists() {
                continue;
            }
            let identity = MunicipalityIdentity::load(&cert, &key)?;
            anyhow::ensure!(
                identity.code == *code,
                "{} names municipality {}, not {code}",
                cert.display(),
                identity.code
            );
            identities.push(identity);
        }
        Node::new(
            roots,
            directory,
            identities,
            super::client::DEFAULT_TIMEOUT,
            hold_days,
            now_ms,
        )
    }

    /// The trusted CA.
    pub fn roots(&self) -> Arc<RootCertStore> {
        self.roots.clone()
    }

    /// The identities this node presents when its tenants answer.
    pub fn identities(&self) -> Vec<Arc<MunicipalityIdentity>> {
        self.identities.values().cloned().collect()
    }

    /// Whether this node speaks for `code`.
    pub fn speaks_for(&self, code: &TenantCode) -> bool {
        self.identities.contains_key(code)
    }

    /// Signs `body` from `querier` to `answerer` and sends it to the node
    /// the directory names, waiting at most `wait` (the caller is a
    /// synchronous host function). Over the same HTTPS path whether the
    /// answerer is on this node or another.
    #[allow(clippy::too_many_arguments)]
    pub fn exchange<T: Serialize>(
        &self,
        querier: &TenantCode,
        answerer: &TenantCode,
        operation: &str,
        body: T,
        now_ms: i64,
        entropy: &dyn Entropy,
        wait: Duration,
    ) -> Result<(u16, Bytes), ExchangeError> {
        let mut one = self.exchange_many(
            querier,
            operation,
            vec![(answerer.clone(), body)],
            now_ms,
            entropy,
            wait,
        );
        one.pop().expect("one answer per request")
    }

    /// Sends many requests at once (at most [`MAX_CONCURRENT`] on the wire
    /// at a time), all within `wait`; one result per request, in order.
    pub fn exchange_many<T: Serialize>(
        &self,
        querier: &TenantCode,
        operation: &str,
        requests: Vec<(TenantCode, T)>,
        now_ms: i64,
        entropy: &dyn Entropy,
        wait: Duration,
    ) -> Vec<Result<(u16, Bytes), ExchangeError>> {
        let count = requests.len();
        let Some(identity) = self.identities.get(querier) else {
            return vec![Err(ExchangeError::NotConfigured); count];
        };
        let client = self
            .clients
            .get(querier)
            .expect("a client per identity")
            .clone();
        let io = self.io.as_ref().expect("running until dropped");
        let limit = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT));
        let (tx, rx) = std::sync::mpsc::channel();
        let mut results: Vec<Option<Result<(u16, Bytes), ExchangeError>>> = vec![None; count];
        for (i, (answerer, body)) in requests.into_iter().enumerate() {
            let Some(node) = self.directory.node(&answerer).cloned() else {
                results[i] = Some(Err(ExchangeError::NotInDirectory));
                continue;
            };
            let sealed = seal(&identity.signing, querier, &answerer, body, now_ms, entropy);
            let (client, limit, tx) = (client.clone(), limit.clone(), tx.clone());
            let operation = operation.to_owned();
            io.spawn(async move {
                let sent = tokio::time::timeout(wait, async {
                    let _permit = limit.acquire_owned().await.expect("never closed");
                    client.post(&node, &answerer, &operation, &sealed).await
                })
                .await
                .unwrap_or_else(|_| Err(SendError::TimedOut(answerer.to_string())));
                let _ = tx.send((i, sent.map_err(ExchangeError::Send)));
            });
        }
        drop(tx);
        let until = std::time::Instant::now() + wait + Duration::from_millis(100);
        crate::runtime::sched::blocking_section(|| {
            while let Ok((i, result)) =
                rx.recv_timeout(until.saturating_duration_since(std::time::Instant::now()))
            {
                results[i] = Some(result);
            }
        });
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(ExchangeError::Send(SendError::TimedOut(String::new())))))
            .collect()
    }
}

/// Most requests of one batch on the wire at once.
pub const MAX_CONCURRENT: usize = 32;

/// Why an exchange did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// This node has no certificate for the querying tenant.
    #[error("this node has no federation certificate for this municipality")]
    NotConfigured,
    /// The directory does not list the municipality asked.
    #[error("the directory does not list that municipality")]
    NotInDirectory,
    /// The wire failed.
    #[error(transparent)]
    Send(SendError),
}

impl ExchangeError {
    /// The short code the plugin and the audit log see.
    pub fn code(&self) -> &'static str {
        match self {
            ExchangeError::NotConfigured => "not-configured",
            ExchangeError::NotInDirectory => "not-in-directory",
            ExchangeError::Send(SendError::Unreachable(_)) => "unreachable",
            ExchangeError::Send(SendError::TimedOut(_)) => "timed-out",
            ExchangeError::Send(SendError::Handshake(_)) => "handshake-failed",
            ExchangeError::Send(SendError::BadAnswer(_)) => "bad-answer",
        }
    }
}
