//! The HTTP API (hyper, JSON). [`router::handle`] is a plain function so
//! tests call it in process; [`serve`] runs it on a listener.

mod admin_api;
mod audit_api;
mod body;
mod certificates_api;
mod ctx;
mod error;
mod federation_api;
mod jobs_api;
mod passkey_api;
mod reviews_api;
pub mod router;
mod session_api;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub use error::ApiError;

use crate::app::App;

/// Open connections at most; a slow client can hold only one each.
pub const MAX_CONNECTIONS: usize = 10_000;
/// A client must send its request head within this time.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
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

/// Accepts connections on `listener` until `shutdown` resolves. Slow or
/// idle clients are cut off by header and body read timeouts; beyond
/// [`MAX_CONNECTIONS`] open connections, new ones wait to be accepted.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::pin!(shutdown);
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
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
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                let app = app.clone();
                req.extensions_mut().insert(Peer(peer));
                async move { Ok::<_, std::convert::Infallible>(router::handle(&app, req).await) }
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(true);
            let ended = match acceptor {
                None => http.serve_connection(TokioIo::new(stream), service).await,
                Some(acceptor) => {
                    // The handshake is bounded like a request head.
                    match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => http.serve_connection(TokioIo::new(tls), service).await,
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
    Ok(())
}

/// Binds `addr` (port 0 picks a free port).
pub async fn bind(addr: &str) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
