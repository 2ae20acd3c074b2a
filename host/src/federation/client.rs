//! The querying host's side of the wire: one signed request to the node
//! the directory names, over mutual TLS, bounded in time and size. Every
//! way it can fail is a `SendError` the host turns into a clear outcome;
//! none of them holds what was sent. Connections are kept alive for a
//! moment and reused (a handshake per query dominated the round trip).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};

use super::directory::NodeAddress;
use super::envelope::{SIGNATURE_HEADER, Sealed};
use super::identity::MunicipalityIdentity;
use crate::ids::TenantCode;

/// Largest answer read from a peer.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// How long one exchange (connect, handshake, request, answer) may take
/// unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Nothing listens there, or the connection was cut.
    #[error("the node of municipality {0} cannot be reached")]
    Unreachable(String),
    /// The node took longer than the timeout.
    #[error("the node of municipality {0} did not answer in time")]
    TimedOut(String),
    /// The TLS handshake failed: the node's certificate is not the asked
    /// municipality's under the federation CA, or it refused ours.
    #[error("the node of municipality {0} refused the connection or is not who it should be")]
    Handshake(String),
    /// The answer is not HTTP, or too large.
    #[error("the node of municipality {0} answered garbage")]
    BadAnswer(String),
}

/// Sends requests for one municipality (its identity), to any other.
pub struct Client {
    roots: Arc<RootCertStore>,
    identity: Arc<MunicipalityIdentity>,
    timeout: Duration,
    configs: Mutex<HashMap<TenantCode, Arc<ClientConfig>>>,
    /// Idle keep-alive connections per answerer, newest last.
    idle: Mutex<HashMap<TenantCode, Vec<Idle>>>,
}

/// A connection whose last exchange finished at `since`.
struct Idle {
    sender: Sender,
    since: std::time::Instant,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Idle connections kept per answerer.
const MAX_IDLE: usize = 32;
/// How long an idle connection is reused: well inside the answering
/// listener's 5 s, so it is never closed under a request in flight.
const IDLE_REUSE: Duration = Duration::from_secs(2);

impl Client {
    /// A client presenting `identity`, trusting `roots`.
    pub fn new(
        roots: Arc<RootCertStore>,
        identity: Arc<MunicipalityIdentity>,
        timeout: Duration,
    ) -> Client {
        Client {
            roots,
            identity,
            timeout,
            configs: Mutex::new(HashMap::new()),
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// The municipality it speaks for.
    pub fn code(&self) -> &TenantCode {
        &self.identity.code
    }

    /// POSTs `sealed` to `/federation/v1/{answerer}/{operation}` on `node`;
    /// the answer's status and body.
    pub async fn post(
        &self,
        node: &NodeAddress,
        answerer: &TenantCode,
        operation: &str,
        sealed: &Sealed,
    ) -> Result<(u16, Bytes), SendError> {
        let config = self.config(answerer)?;
        let exchanged = async {
            // A kept connection the peer closed meanwhile fails `ready`
            // before anything is sent, so nothing is ever sent twice.
            let kept = match self.reuse(answerer) {
                Some(mut kept) => kept.ready().await.is_ok().then_some(kept),
                None => None,
            };
            let mut sender = match kept {
                Some(kept) => kept,
                None => connect(config, node, answerer).await?,
            };
            let answer = send(&mut sender, answerer, operation, sealed).await?;
            self.keep(answerer, sender);
            Ok(answer)
        };
        match tokio::time::timeout(self.timeout, exchanged).await {
            Ok(result) => result,
            Err(_) => Err(SendError::TimedOut(answerer.to_string())),
        }
    }

    /// An idle connection to `answerer` that is open and fresh, if any.
    fn reuse(&self, answerer: &TenantCode) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(answerer)?;
        while let Some(entry) = list.pop() {
            if entry.since.elapsed() < IDLE_REUSE && !entry.sender.is_closed() {
                return Some(entry.sender);
            }
        }
        None
    }

    fn keep(&self, answerer: &TenantCode, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(answerer.clone()).or_default();
        list.retain(|e| e.since.elapsed() < IDLE_REUSE);
        if list.len() < MAX_IDLE {
            list.push(Idle {
                sender,
                since: std::time::Instant::now(),
            });
        }
    }

    fn config(&self, answerer: &TenantCode) -> Result<Arc<ClientConfig>, SendError> {
        let mut configs = self.configs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(config) = configs.get(answerer) {
            return Ok(config.clone());
        }
        let config =
            super::tls::client_config(self.roots.clone(), &self.identity, answerer.clone())
                .map_err(|_| SendError::Handshake(answerer.to_string()))?;
        configs.insert(answerer.clone(), config.clone());
        Ok(config)
    }
}

/// A new mutual-TLS connection to the node answering for `answerer`.
async fn connect(
    config: Arc<ClientConfig>,
    node: &NodeAddress,
    answerer: &TenantCode,
) -> Result<Sender, SendError> {
    let who = || answerer.to_string();
    let tcp = tokio::net::TcpStream::connect((node.host.as_str(), node.port))
        .await
        .map_err(|_| SendError::Unreachable(who()))?;
    let _ = tcp.set_nodelay(true);
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(super::tls::server_name_of(answerer), tcp)
        .await
        .map_err(|_| SendError::Handshake(who()))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|_| SendError::BadAnswer(who()))?;
    // The connection lives as long as its sender (kept idle or dropped).
    tokio::spawn(connection);
    Ok(sender)
}

/// One request on a connection; its status and body.
async fn send(
    sender: &mut Sender,
    answerer: &TenantCode,
    operation: &str,
    sealed: &Sealed,
) -> Result<(u16, Bytes), SendError> {
    let who = || answerer.to_string();
    let request = hyper::Request::post(format!("/federation/v1/{answerer}/{operation}"))
        .header("host", super::identity::server_name(answerer))
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, &sealed.signature)
        .body(Full::new(Bytes::from(sealed.bytes.clone())))
        .map_err(|_| SendError::BadAnswer(who()))?;
    let response = sender.send_request(request).await.map_err(|e| {
        if e.is_parse() {
            SendError::BadAnswer(who())
        } else {
            SendError::Unreachable(who())
        }
    })?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
        .collect()
        .await
        .map_err(|_| SendError::BadAnswer(who()))?
        .to_bytes();
    Ok((status, body))
}
