//! The real binary over HTTPS (rustls, ring) with an rcgen-made
//! certificate: login and a plugin call through TLS, plain HTTP refused
//! off loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use kiroku::clock::Clock;
use rustls::pki_types::ServerName;
use serde_json::json;

use crate::support::*;

/// A self-signed certificate for localhost and 127.0.0.1: (cert PEM, key PEM, DER).
fn certificate() -> (String, String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

/// One HTTPS request to `addr`, trusting only `root`; (status, body).
fn https(addr: &str, root: &[u8], request: &str) -> (u16, String) {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(root.to_vec()))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response);
    parse_response(&response)
}

fn request(method: &str, path: &str, token: Option<&str>, body: &str) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn serves_https_with_a_certificate_and_refuses_plain_http_off_loopback() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    fujisawa_with_clerk(d, "counter-feed");
    let secret = staff_account(d, "sato", "clerk");
    let (cert, key, der) = certificate();
    let (cert_path, key_path) = (data.path().join("cert.pem"), data.path().join("key.pem"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();

    // Plain HTTP on every interface is refused, saying why.
    let (ok, _, err) = run_kiroku(&["serve", "--data", d, "--listen", "0.0.0.0:0"]);
    assert!(!ok);
    assert!(
        err.contains("refusing plain HTTP") && err.contains("--tls-cert"),
        "{err}"
    );

    let mut child = kiroku()
        .args([
            "serve",
            "--data",
            d,
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = RealServer {
        addr: line
            .split("https://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("not HTTPS: {line:?}"))
            .to_owned(),
        child,
        stdout: None,
    };
    let addr = server.addr.clone();
    let mut ready = false;
    for _ in 0..600 {
        if https(&addr, &der, &request("GET", "/readyz", None, "")).0 == 200 {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ready, "the server became ready over HTTPS");
    // A staff login and a plugin call through TLS.
    let code = kiroku::identity::totp::code_at(&secret, kiroku::clock::SystemClock.now_ms());
    let login = json!({"name": "sato", "password": TEST_PASSWORD, "totp": code}).to_string();
    let (status, body) = https(
        &addr,
        &der,
        &request("POST", "/v1/142051/login", None, &login),
    );
    assert_eq!(status, 200, "{body}");
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = https(
        &addr,
        &der,
        &request(
            "POST",
            "/v1/142051/dose-entry/find-person",
            Some(&token),
            r#"{"ticket_number":"0000001008"}"#,
        ),
    );
    assert_eq!(status, 404, "the plugin ran (no such ticket): {body}");
    // Plain HTTP to the TLS port gets no answer.
    let (status, _) = raw_request(&addr, request("GET", "/healthz", None, "").as_bytes());
    assert_eq!(status, 0, "no HTTP answer without TLS");
    drop(server);
}
