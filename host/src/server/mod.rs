//! The HTTP API (hyper, JSON). [`router::handle`] is a plain function so
//! tests call it in process; [`serve`] runs it on a listener.

mod admin_api;
mod audit_api;
mod body;
mod certificates_api;
pub mod console;
mod ctx;
mod error;
mod federation_api;
pub mod framing;
mod invoke_api;
mod jobs_api;
mod metrics_api;
mod observe;
mod passkey_api;
mod reviews_api;
pub mod router;
mod session_api;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub use error::ApiError;
use framing::JsonErrors;
pub use metrics_api::serve_metrics;

use crate::app::App;

/// Open connections at most, by default; a slow client can hold only one
/// each.
pub const MAX_CONNECTIONS: usize = 10_000;
/// A client must send its request head within this time, by default.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The listener's limits (`serve --max-connections`, `--header-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most; beyond, new ones wait to be accepted.
    pub max_connections: usize,
    /// Time a client has to send its request head (and a TLS handshake).
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: MAX_CONNECTIONS,
            header_timeout: HEADER_READ_TIMEOUT,
        }
    }
}
/// And its body within this time.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The client's address, as the connection saw it (absent for in-process
/// calls of [`router::handle`]).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Header carrying the request id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A JSON response with the request id header.
pub fn json_response(
    status: StatusCode,
    body: &serde_json::Value,
    request_id: &str,
) -> Response<Full<Bytes>> {
    raw_json_response(status, Bytes::from(body.to_string()), request_id)
}

/// A response whose body is already JSON text.
pub fn raw_json_response(
    status: StatusCode,
    body: Bytes,
    request_id: &str,
) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header(REQUEST_ID_HEADER, request_id)
        .header("cache-control", "no-store")
        .body(Full::new(body))
        .expect("static headers are valid")
}

/// How long cancelled jobs get to stop at shutdown.
const JOB_CANCEL_WAIT: Duration = Duration::from_secs(10);

/// Accepts connections on `listener` until `shutdown` resolves, then
/// drains (requests in flight and jobs get `grace`). Slow or
/// idle clients are cut off by header and body read timeouts; beyond
/// `limits.max_connections` open connections, new ones wait to be accepted.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
    limits: Limits,
) -> anyhow::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    let open = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    loop {
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let acceptor = acceptor.clone();
        let stopping = stopping.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                let app = app.clone();
                req.extensions_mut().insert(Peer(peer));
                async move { Ok::<_, std::convert::Infallible>(router::handle(&app, req).await) }
            });
            let http = framing::http1(limits.header_timeout);
            let ended = match acceptor {
                None => {
                    drive(
                        &http,
                        TokioIo::new(JsonErrors::new(stream)),
                        service,
                        stopping,
                    )
                    .await
                }
                Some(acceptor) => {
                    // The handshake is bounded like a request head.
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(tls)) => {
                            drive(&http, TokioIo::new(JsonErrors::new(tls)), service, stopping)
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, "TLS handshake failed: {e}");
                            Ok(())
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drain(&app, &open, limits.max_connections, grace).await;
    Ok(())
}

/// Serves one connection; once `stopping` turns, it finishes the request
/// in flight and closes.
async fn drive<I, S>(
    http: &hyper::server::conn::http1::Builder,
    io: I,
    service: S,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<(), hyper::Error>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send,
    S::Future: Send,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = http.serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        ended = connection.as_mut() => ended,
        () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    }
}

/// After the listener closed: lets requests in flight and running jobs
/// finish within `grace`, then cancels the jobs left (a cancelled job
/// applies nothing). Every answered write was committed before it was
/// answered, so nothing else is pending.
async fn drain(app: &App, open: &tokio::sync::Semaphore, connections: usize, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    let all = u32::try_from(connections).unwrap_or(u32::MAX);
    let connections_done = tokio::time::timeout_at(deadline, open.acquire_many(all))
        .await
        .is_ok();
    while app.jobs.running() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cancelled = app.jobs.cancel_all();
    let until = tokio::time::Instant::now() + JOB_CANCEL_WAIT;
    while app.jobs.running() > 0 && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::info!(
        connections_done,
        jobs_cancelled = cancelled,
        jobs_left = app.jobs.running(),
        "drained"
    );
}

/// Binds `addr` (port 0 picks a free port).
pub async fn bind(addr: &str) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
