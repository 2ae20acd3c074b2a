//! The client against loopback nodes: a signed round trip, a replay over
//! the wire, and a node that is down, slow, answers garbage or is not the
//! asked municipality.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls_pki_types::CertificateDer;
use tokio::io::AsyncWriteExt;

use super::client::{Client, SendError};
use super::directory::NodeAddress;
use super::envelope::{ReplayGuard, SIGNATURE_HEADER, open, seal};
use super::identity::MunicipalityIdentity;
use super::test_pki::{CURRENT, TestCa};
use crate::clock::{Clock, SeededEntropy, SystemClock};
use crate::ids::TenantCode;

fn code(text: &str) -> TenantCode {
    TenantCode::parse(text).unwrap()
}

fn identity(ca: &TestCa, text: &str) -> Arc<MunicipalityIdentity> {
    Arc::new(ca.issue(&code(text), CURRENT).unwrap().identity)
}

enum Behaviour {
    /// Opens the envelope and answers 200, or 403 with the refusal.
    Answer,
    /// Completes the handshake, then writes bytes that are not HTTP.
    Garbage,
}

/// A node answering for `served` on a loopback port.
async fn node(ca: &TestCa, served: Arc<MunicipalityIdentity>, behaviour: Behaviour) -> NodeAddress {
    let config = super::tls::server_config(ca.roots(), std::slice::from_ref(&served)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let guard = Arc::new(ReplayGuard::new(SystemClock.now_ms() - 1_000));
    let behaviour = Arc::new(behaviour);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
            let (guard, served, behaviour) = (guard.clone(), served.clone(), behaviour.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Behaviour::Garbage = *behaviour {
                    let _ = tls.write_all(b"NOT HTTP AT ALL\r\n\r\n").await;
                    let _ = tls.shutdown().await;
                    return;
                }
                let peer: CertificateDer<'static> =
                    tls.get_ref().1.peer_certificates().unwrap()[0].clone();
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (guard, served, peer) = (guard.clone(), served.clone(), peer.clone());
                        async move {
                            let signature = req
                                .headers()
                                .get(SIGNATURE_HEADER)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned);
                            let bytes = req.into_body().collect().await?.to_bytes();
                            let opened = open::<serde_json::Value>(
                                &bytes,
                                signature.as_deref(),
                                &peer,
                                &served.code,
                                &guard,
                                SystemClock.now_ms(),
                            );
                            let (status, body) = match opened {
                                Ok(envelope) => (200, envelope.body.to_string()),
                                Err(refusal) => (403, refusal.to_string()),
                            };
                            Ok::<_, hyper::Error>(
                                hyper::Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::from(body)))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    NodeAddress {
        host: "127.0.0.1".into(),
        port,
    }
}

#[tokio::test]
async fn a_signed_request_goes_through_once_and_a_replay_is_refused() {
    let ca = TestCa::new("federation").unwrap();
    let fujisawa = identity(&ca, "142051");
    let chiyoda = identity(&ca, "131016");
    let at = node(&ca, fujisawa.clone(), Behaviour::Answer).await;
    let client = Client::new(ca.roots(), chiyoda.clone(), Duration::from_secs(5));
    let sealed = seal(
        &chiyoda.signing,
        &chiyoda.code,
        &fujisawa.code,
        serde_json::json!({"purpose": "move-in"}),
        SystemClock.now_ms(),
        &SeededEntropy::new(5),
    );
    let (status, body) = client
        .post(&at, &fujisawa.code, "query", &sealed)
        .await
        .unwrap();
    assert_eq!((status, &body[..]), (200, &br#"{"purpose":"move-in"}"#[..]));
    let (status, body) = client
        .post(&at, &fujisawa.code, "query", &sealed)
        .await
        .unwrap();
    assert_eq!((status, &body[..]), (403, &b"replayed"[..]));
}

#[tokio::test]
async fn a_node_down_slow_garbled_or_of_another_municipality_fails_clearly() {
    let ca = TestCa::new("federation").unwrap();
    let fujisawa = identity(&ca, "142051");
    let chiyoda = identity(&ca, "131016");
    let client = Client::new(ca.roots(), chiyoda.clone(), Duration::from_millis(400));
    let sealed = seal(
        &chiyoda.signing,
        &chiyoda.code,
        &fujisawa.code,
        1,
        SystemClock.now_ms(),
        &SeededEntropy::new(6),
    );
    // Down: a port nobody listens on.
    let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down = NodeAddress {
        host: "127.0.0.1".into(),
        port: free.local_addr().unwrap().port(),
    };
    drop(free);
    let sent = client.post(&down, &fujisawa.code, "query", &sealed).await;
    assert_eq!(sent, Err(SendError::Unreachable("142051".into())));
    // Slow: accepts and never speaks.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow = NodeAddress {
        host: "127.0.0.1".into(),
        port: silent.local_addr().unwrap().port(),
    };
    let held = tokio::spawn(async move {
        let kept = silent.accept().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(kept);
    });
    let sent = client.post(&slow, &fujisawa.code, "query", &sealed).await;
    assert_eq!(sent, Err(SendError::TimedOut("142051".into())));
    held.abort();
    // Garbage after a good handshake.
    let garbled = node(&ca, fujisawa.clone(), Behaviour::Garbage).await;
    let sent = client
        .post(&garbled, &fujisawa.code, "query", &sealed)
        .await;
    assert_eq!(sent, Err(SendError::BadAnswer("142051".into())));
    // A node that holds another municipality than the one asked.
    let elsewhere = node(&ca, identity(&ca, "011002"), Behaviour::Answer).await;
    let sent = client
        .post(&elsewhere, &fujisawa.code, "query", &sealed)
        .await;
    assert_eq!(sent, Err(SendError::Handshake("142051".into())));
    // The messages name the municipality, nothing that was sent.
    let text = SendError::TimedOut("142051".into()).to_string();
    assert_eq!(
        text,
        "the node of municipality 142051 did not answer in time"
    );
}
