//! The querying host's side of the wire: one signed request to the node
//! the directory names, over mutual TLS, bounded in time and size. Every
//! way it can fail is a `SendError` the host turns into a clear outcome;
//! none of them holds what was sent.

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
}

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
        match tokio::time::timeout(
            self.timeout,
            exchange(config, node, answerer, operation, sealed),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(SendError::TimedOut(answerer.to_string())),
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

async fn exchange(
    config: Arc<ClientConfig>,
    node: &NodeAddress,
    answerer: &TenantCode,
    operation: &str,
    sealed: &Sealed,
) -> Result<(u16, Bytes), SendError> {
    let who = || answerer.to_string();
    let tcp = tokio::net::TcpStream::connect((node.host.as_str(), node.port))
        .await
        .map_err(|_| SendError::Unreachable(who()))?;
    let _ = tcp.set_nodelay(true);
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(super::tls::server_name_of(answerer), tcp)
        .await
        .map_err(|_| SendError::Handshake(who()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|_| SendError::BadAnswer(who()))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::post(format!("/federation/v1/{answerer}/{operation}"))
        .header("host", super::identity::server_name(answerer))
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, &sealed.signature)
        .body(Full::new(Bytes::from(sealed.bytes.clone())))
        .map_err(|_| SendError::BadAnswer(who()))?;
    let answered = async {
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
    .await;
    driver.abort();
    answered
}
