//! The node-to-node HTTPS listener (`kiroku serve --federation-listen`):
//! mutual TLS under the federation CA (a client certificate that does not
//! chain to it, or has expired, ends the handshake: nothing is read), then
//! `POST /federation/v1/{answerer}/{operation}` with a bounded body, read
//! in bounded time, handed to `answer`. Every answer is JSON.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;

use super::answer::{Incoming, answer};
use super::envelope::SIGNATURE_HEADER;
use super::node::Node;
use super::wire::Reply;
use crate::app::App;

/// Largest request body.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// How long a peer may take for its handshake and headers, and its body.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections at once.
pub const MAX_CONNECTIONS: usize = 1_024;

fn reply(status: u16, reply: &Reply) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(
            serde_json::to_vec(reply).expect("a reply serialises"),
        )))
        .expect("static headers are valid")
}

/// Serves the federation listener until the task is dropped.
pub async fn serve(app: Arc<App>, node: Arc<Node>, listener: TcpListener) -> anyhow::Result<()> {
    let config = super::tls::server_config(node.roots(), &node.identities())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let open = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = open
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (tcp, peer_addr) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("federation accept failed: {e}");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (app, node, acceptor) = (app.clone(), node.clone(), acceptor.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(READ_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::info!(peer = %peer_addr, "federation handshake refused: {e}");
                    return;
                }
                Err(_) => return,
            };
            let Some(peer) = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.clone().into_owned())
            else {
                return;
            };
            let peer = Arc::new(peer);
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let (app, node, peer) = (app.clone(), node.clone(), peer.clone());
                async move { Ok::<_, std::convert::Infallible>(handle(&app, &node, &peer, req).await) }
            });
            let http = crate::server::framing::http1(READ_TIMEOUT);
            if let Err(e) = http
                .serve_connection(
                    TokioIo::new(crate::server::framing::JsonErrors::new(tls)),
                    service,
                )
                .await
            {
                tracing::debug!(peer = %peer_addr, "federation connection ended: {e}");
            }
            drop(permit);
        });
    }
}

async fn handle(
    app: &Arc<App>,
    node: &Node,
    peer: &CertificateDer<'static>,
    req: Request<hyper::body::Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["federation", "v1", answerer, operation] = segments.as_slice() else {
        return reply(404, &Reply::refused("unknown-route"));
    };
    if req.method() != hyper::Method::POST {
        return reply(405, &Reply::refused("method"));
    }
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match tokio::time::timeout(
        READ_TIMEOUT,
        Limited::new(req.into_body(), MAX_REQUEST_BYTES).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => return reply(413, &Reply::refused("too-large")),
        Err(_) => return reply(408, &Reply::refused("too-slow")),
    };
    let incoming = Incoming {
        peer,
        answerer,
        operation,
        signature: signature.as_deref(),
        body: &body,
    };
    let (status, answered) = answer(app, node, incoming).await;
    reply(status, &answered)
}
