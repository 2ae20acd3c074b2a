//! The HTTP API's contract: JSON errors with fitting statuses, request ids,
//! bounded bodies, hostile clients.

use hyper::StatusCode;
use serde_json::json;

use crate::support::*;

async fn host() -> TestHost {
    TestHost::new()
        .plugin("dose-entry")
        .residents(3)
        .user("clerk", "clerk")
        .user("auditor", "auditor")
        .start()
        .await
}

/// Method, path, token, body, expected status, expected error code.
type Case<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    StatusCode,
    &'a str,
);

fn code(body: &serde_json::Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

#[tokio::test]
async fn answers_every_error_as_json_with_the_fitting_status() {
    let host = host().await;
    let clerk = Some(host.token("clerk").to_owned());
    let clerk = clerk.as_deref();
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/v1/142051/dose-entry/find-person",
            clerk,
            "{not json",
            StatusCode::BAD_REQUEST,
            "invalid-json",
        ),
        (
            "POST",
            "/v1/142051/dose-entry/find-person",
            clerk,
            "[1,2]",
            StatusCode::BAD_REQUEST,
            "invalid-json",
        ),
        (
            "POST",
            "/v1/142051/dose-entry/find-person",
            None,
            "{}",
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "POST",
            "/v1/142051/dose-entry/find-person",
            Some("krk_forged"),
            "{}",
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            "POST",
            "/v1/142051/resident-sync/apply",
            clerk,
            "{}",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "POST",
            "/v1/142052/dose-entry/find-person",
            clerk,
            "{}",
            StatusCode::NOT_FOUND,
            "unknown-tenant",
        ),
        (
            "POST",
            "/v1/141003/dose-entry/find-person",
            clerk,
            "{}",
            StatusCode::NOT_FOUND,
            "unknown-tenant",
        ),
        (
            "POST",
            "/v1/142051/dose-entry/steal-everything",
            clerk,
            "{}",
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "GET",
            "/v1/142051/dose-entry/find-person",
            clerk,
            "",
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
        ),
        (
            "GET",
            "/nowhere",
            None,
            "",
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            "POST",
            "/v1/142051/dose-entry/record-dose",
            clerk,
            r#"{"person_id": 999999, "dose_number": 1, "date": "2026-01-01", "maker": "pfizer", "product": "comirnaty", "lot": "AB12", "amount": "0.3", "facility_code": "1412345678", "doctor": "x"}"#,
            StatusCode::NOT_FOUND,
            "not-found",
        ),
    ];
    for (method, path, token, body, status, expected) in cases {
        let (got, answer) = host
            .request(method, path, token, body.to_owned().into())
            .await;
        assert_eq!(
            (got, code(&answer)),
            (status, expected),
            "{method} {path} {body}: {answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

#[tokio::test]
async fn refuses_an_oversized_body_with_413_and_changes_nothing() {
    let host = host().await;
    let before = host.audit().len();
    let big = format!("{{\"name\": \"{}\"}}", "ア".repeat(12 << 20));
    let (status, body) = host
        .request(
            "POST",
            "/v1/142051/dose-entry/find-person",
            Some(host.token("clerk")),
            big.into(),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "input-too-large"),
        "the plugin's input limit is tighter than the body limit"
    );
    let after: Vec<_> = host.audit().into_iter().skip(before).collect();
    assert!(
        after.iter().all(|e| !e.action.starts_with("invoke")),
        "{after:?}"
    );
}

#[tokio::test]
async fn echoes_the_request_id_and_repeats_it_in_audit_events() {
    let host = host().await;
    let req = hyper::Request::builder()
        .method("POST")
        .uri("/v1/142051/dose-entry/find-person")
        .header("authorization", format!("Bearer {}", host.token("clerk")))
        .header("x-request-id", "counter-7.tablet-3")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            json!({"ticket_number": "0000001008"}).to_string(),
        )))
        .unwrap();
    let response = kiroku::server::router::handle(&host.app, req).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "counter-7.tablet-3");
    assert!(!host.audit_of("counter-7.tablet-3").is_empty());
    // A hostile id (header injection, huge) is replaced, not echoed.
    let req = hyper::Request::builder()
        .uri("/healthz")
        .header("x-request-id", "a".repeat(500))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = kiroku::server::router::handle(&host.app, req).await;
    assert!(
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req-")
    );
}

#[tokio::test]
async fn audits_failed_authentication_and_forbidden_calls() {
    let host = host().await;
    host.request(
        "POST",
        "/v1/142051/dose-entry/find-person",
        Some("krk_forged"),
        "{}".into(),
    )
    .await;
    host.request(
        "POST",
        "/v1/142051/dose-entry/verify-dose",
        Some(host.token("clerk")),
        "{}".into(),
    )
    .await;
    let denials: Vec<_> = host
        .audit()
        .into_iter()
        .filter(|e| e.outcome == kiroku::audit::Outcome::Deny)
        .collect();
    assert!(
        denials
            .iter()
            .any(|e| e.actor == "anonymous" && e.action == "auth"),
        "{denials:?}"
    );
    assert!(denials.iter().any(|e| {
        e.actor == "clerk"
            && e.reason
                .as_deref()
                .is_some_and(|r| r.contains("verify-dose"))
    }));
}

#[test]
fn survives_hostile_clients_on_the_real_server() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    create_fujisawa(d);
    let server = RealServer::start(data.path());
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"POST /v1/142051/x/y HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
        b"POST /v1/142051/x/y HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{",
        &[0xff; 4096][..],
    ] {
        let _ = raw_request(&server.addr, garbage);
    }
    let (status, body) = server.request("GET", "/healthz", None, "");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let declared_huge = format!(
        "POST /v1/142051/dose-entry/find-person HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{{}}",
        1u64 << 40
    );
    let (status, body) = raw_request(&server.addr, declared_huge.as_bytes());
    assert!(
        status == 413 || status == 401 || status == 404,
        "{status} {body}"
    );
}

async fn record_with_id(
    host: &TestHost,
    id: &str,
    form: &serde_json::Value,
) -> (StatusCode, serde_json::Value) {
    let req = hyper::Request::builder()
        .method("POST")
        .uri("/v1/142051/dose-entry/record-dose")
        .header("authorization", format!("Bearer {}", host.token("clerk")))
        .header("x-request-id", id)
        .body(http_body_util::Full::new(bytes::Bytes::from(
            form.to_string(),
        )))
        .unwrap();
    let response = kiroku::server::router::handle(&host.app, req).await;
    let status = response.status();
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applies_a_named_writing_request_once_however_often_it_is_replayed() {
    let host = std::sync::Arc::new(host().await);
    let (_, person) = host.resident_in_town().await;
    let mut form = dose_form(person, 1, "2026-03-01");
    form["override_reason"] = json!("retry test at the counter");
    let (status, body) = record_with_id(&host, "tablet-3.form-0001", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = record_with_id(&host, "tablet-3.form-0001", &form).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "replayed"),
        "{body}"
    );
    // Replays racing each other: still once.
    form["dose_number"] = json!(2);
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let (host, form) = (host.clone(), form.clone());
            tokio::spawn(async move { record_with_id(&host, "tablet-3.form-0002", &form).await })
        })
        .collect();
    let mut applied = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => applied += 1,
            StatusCode::CONFLICT => assert_eq!(code(&body), "replayed", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(applied, 1);
    let doses = host.doses_of(person).await;
    assert_eq!(doses.len(), 2, "{doses:?}");
    // Reads with a reused id are fine: only changes are guarded.
    for _ in 0..2 {
        let req = hyper::Request::builder()
            .method("POST")
            .uri("/v1/142051/dose-entry/list-doses")
            .header("authorization", format!("Bearer {}", host.token("clerk")))
            .header("x-request-id", "tablet-3.form-0001")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                json!({"person_id": person}).to_string(),
            )))
            .unwrap();
        assert_eq!(
            kiroku::server::router::handle(&host.app, req)
                .await
                .status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn forgets_request_ids_after_the_replay_window() {
    let mut host = host().await;
    let (_, person) = host.resident_in_town().await;
    let mut form = dose_form(person, 1, "2026-03-01");
    form["override_reason"] = json!("window test at the counter");
    assert_eq!(
        record_with_id(&host, "old-id", &form).await.0,
        StatusCode::OK
    );
    host.clock.advance_ms(kiroku::limits::REPLAY_WINDOW_MS + 1);
    host.relogin().await;
    form["dose_number"] = json!(2);
    // Any later writing request prunes ids past the window...
    assert_eq!(
        record_with_id(&host, "new-id", &form).await.0,
        StatusCode::OK
    );
    assert!(!host.store().request_applied("old-id").unwrap());
    assert!(host.store().request_applied("new-id").unwrap());
    // ...so the old id is usable again.
    form["dose_number"] = json!(3);
    assert_eq!(
        record_with_id(&host, "old-id", &form).await.0,
        StatusCode::OK
    );
}

#[test]
fn cuts_off_a_client_that_never_finishes_its_request_head() {
    use std::io::{Read, Write};
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    create_fujisawa(d);
    let server = RealServer::start(data.path());
    let mut slow = std::net::TcpStream::connect(&server.addr).unwrap();
    slow.write_all(b"POST /v1/142051/dose-entry/find-person HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(20),
        "held for {waited:?}"
    );
    assert_eq!(server.request("GET", "/healthz", None, "").0, 200);
}
