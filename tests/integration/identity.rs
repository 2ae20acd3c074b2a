//! Staff identity through the real router and real redb files: login with
//! password and TOTP, refusals that do not say which part was wrong,
//! lockout, idle lock and unlock, lifetime, disable, shared terminals,
//! service tokens, CSRF on cookie writes, the per-source limit, the
//! read-only role, enrolment and the review report.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use kiroku::audit::Outcome;
use kiroku::clock::Clock;
use kiroku::identity::login::LOCKOUT_AFTER_FAILURES;
use kiroku::identity::sessions::{Limits, set_limits};
use kiroku::identity::throttle::UNAUTHENTICATED_BURST;
use kiroku::identity::totp;
use serde_json::{Value, json};

use crate::support::*;

const MINUTE: i64 = 60_000;

fn post<'a>(
    host: &'a TestHost,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> impl std::future::Future<Output = (StatusCode, Value)> + use<'a> {
    let (path, token) = (path.to_owned(), token.map(str::to_owned));
    async move {
        host.request(
            "POST",
            &path,
            token.as_deref(),
            Bytes::from(body.to_string()),
        )
        .await
    }
}

fn login_path() -> String {
    format!("/v1/{FUJISAWA}/login")
}

async fn login_with(
    host: &TestHost,
    user: &str,
    password: &str,
    code: &str,
) -> (StatusCode, Value) {
    post(
        host,
        &login_path(),
        None,
        json!({"name": user, "password": password, "totp": code}),
    )
    .await
}

fn code(host: &TestHost, user: &str) -> String {
    totp::code_at(&host.secrets[user], host.clock.now_ms())
}

async fn find(host: &TestHost, token: &str) -> StatusCode {
    let ticket = kiroku_rules::ticket::for_person(1, 0).unwrap();
    post(
        host,
        &format!("/v1/{FUJISAWA}/dose-entry/find-person"),
        Some(token),
        json!({ "ticket_number": ticket }),
    )
    .await
    .0
}

async fn counter() -> TestHost {
    TestHost::new()
        .plugin("dose-entry")
        .residents(5)
        .user("clerk", "clerk")
        .user("verifier", "verifier")
        .user("auditor", "auditor")
        .start()
        .await
}

/// The tenant's own limits (the harness gives its sessions a day idle).
fn default_limits(host: &TestHost) {
    let actor = kiroku::admin::AdminActor::system("test", host.clock.now_ms());
    let limits = Limits {
        idle_s: 15 * 60,
        lifetime_s: 12 * 3600,
    };
    set_limits(&host.store(), limits, &actor).unwrap();
}

#[tokio::test]
async fn a_full_login_then_a_plugin_call_then_logout_is_one_audited_session() {
    let host = counter().await;
    host.clock.advance_ms(MINUTE);
    let (status, body) = host.login("clerk").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("krs_") && token.len() == 68, "{token}");
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["idle_timeout_s"], 86_400);
    let session = body["session"].as_str().unwrap().to_owned();
    assert_eq!(find(&host, &token).await, StatusCode::OK);
    let (status, _) = post(
        &host,
        &format!("/v1/{FUJISAWA}/logout"),
        Some(&token),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        find(&host, &token).await,
        StatusCode::UNAUTHORIZED,
        "logout ends the session at once"
    );
    // The auditor sees the whole session, login to logout, by its id.
    let (status, body) = host
        .request(
            "GET",
            &format!("/v1/{FUJISAWA}/audit?session={session}"),
            Some(host.token("auditor")),
            Bytes::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let actions: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"login"), "{actions:?}");
    assert_eq!(actions.last(), Some(&"logout"), "{actions:?}");
    assert!(
        actions.contains(&"invoke dose-entry/find-person"),
        "{actions:?}"
    );
    assert!(
        body["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "clerk" && e["session"] == session.as_str())
    );
}

#[tokio::test]
async fn the_login_cookie_is_strict_and_its_writes_need_the_csrf_token() {
    let host = counter().await;
    host.clock.advance_ms(MINUTE);
    let body = json!({"name": "clerk", "password": TEST_PASSWORD, "totp": code(&host, "clerk")});
    let req = Request::post(login_path())
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = kiroku::server::router::handle(&host.app, req).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in [
        "__Host-kiroku_session=krs_",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let login: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let csrf = login["csrf_token"].as_str().unwrap().to_owned();
    let value = cookie.split(';').next().unwrap().to_owned();
    let send = |csrf: Option<&str>| {
        let mut req = Request::post(format!("/v1/{FUJISAWA}/dose-entry/find-person"))
            .header("cookie", &value);
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        let ticket = kiroku_rules::ticket::for_person(1, 0).unwrap();
        let body = json!({ "ticket_number": ticket }).to_string();
        kiroku::server::router::handle(&host.app, req.body(Full::new(Bytes::from(body))).unwrap())
    };
    let refused = send(None).await;
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "a cookie write without the token"
    );
    assert_eq!(send(Some("0123")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(send(Some(&csrf)).await.status(), StatusCode::OK);
    let get = Request::get(format!("/v1/{FUJISAWA}/session"))
        .header("cookie", &value)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let shown = kiroku::server::router::handle(&host.app, get).await;
    assert_eq!(shown.status(), StatusCode::OK, "a read needs no CSRF token");
    let refusals = host.audit_with("auth", Outcome::Deny);
    assert_eq!(
        refusals
            .iter()
            .filter(|e| e.reason.as_deref().is_some_and(|r| r.contains("CSRF")))
            .count(),
        2,
        "both refusals audited"
    );
}

#[tokio::test]
async fn a_wrong_password_a_wrong_code_and_a_used_code_answer_alike() {
    let host = counter().await;
    host.clock.advance_ms(MINUTE);
    let right = code(&host, "clerk");
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    let answers = [
        login_with(&host, "clerk", "not-the-password", &right).await,
        login_with(&host, "clerk", TEST_PASSWORD, &wrong).await,
        login_with(&host, "nobody", TEST_PASSWORD, &right).await,
    ];
    let (status, body) = login_with(&host, "clerk", TEST_PASSWORD, &right).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let replayed = login_with(&host, "clerk", TEST_PASSWORD, &right).await;
    for (status, body) in answers.iter().chain([&replayed]) {
        assert_eq!(*status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, &answers[0].1, "every refusal reads the same");
    }
    // The auditor learns which: without the typed values.
    let reasons: Vec<String> = host
        .audit_with("login", Outcome::Deny)
        .into_iter()
        .map(|e| format!("{} {}", e.actor, e.reason.unwrap_or_default()))
        .collect();
    assert_eq!(
        reasons,
        [
            "clerk wrong password",
            "clerk wrong or already used code",
            "anonymous no such account",
            "clerk wrong or already used code",
        ]
    );
    let raw = host.raw_files();
    for (path, bytes) in raw {
        assert!(
            !bytes.windows(16).any(|w| w == b"not-the-password"),
            "{path:?} holds a typed password"
        );
    }
}

#[tokio::test]
async fn repeated_failures_lock_the_account_out_for_a_while() {
    let host = counter().await;
    host.clock.advance_ms(MINUTE);
    for _ in 0..LOCKOUT_AFTER_FAILURES {
        let (status, _) =
            login_with(&host, "clerk", "a-wrong-password", &code(&host, "clerk")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = login_with(&host, "clerk", TEST_PASSWORD, &code(&host, "clerk")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "locked out: even the right credentials"
    );
    let locked = host.audit_with("login", Outcome::Deny);
    assert_eq!(
        locked.last().unwrap().reason.as_deref(),
        Some("account locked out after repeated failures")
    );
    host.clock.advance_ms(MINUTE + 1_000);
    let (status, body) = host.login("clerk").await;
    assert_eq!(status, StatusCode::OK, "the lockout ends: {body}");
}

#[tokio::test]
async fn an_idle_session_locks_and_the_code_unlocks_it() {
    let host = counter().await;
    default_limits(&host);
    host.clock.advance_ms(MINUTE);
    let (_, body) = host.login("clerk").await;
    assert_eq!(body["idle_timeout_s"], 900);
    let token = body["token"].as_str().unwrap().to_owned();
    host.clock.advance_ms(14 * MINUTE);
    assert_eq!(find(&host, &token).await, StatusCode::OK, "14 minutes idle");
    host.clock.advance_ms(16 * MINUTE);
    let ticket = kiroku_rules::ticket::for_person(1, 0).unwrap();
    let (status, body) = post(
        &host,
        &format!("/v1/{FUJISAWA}/dose-entry/find-person"),
        Some(&token),
        json!({ "ticket_number": ticket }),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "session-locked", "{body}");
    assert_eq!(host.audit_with("session.lock", Outcome::Ok).len(), 1);
    let unlock = format!("/v1/{FUJISAWA}/unlock");
    let (status, _) = post(&host, &unlock, Some(&token), json!({"totp": "000000"})).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a wrong code keeps it locked"
    );
    assert_eq!(find(&host, &token).await, StatusCode::UNAUTHORIZED);
    let (status, body) = post(
        &host,
        &unlock,
        Some(&token),
        json!({"totp": code(&host, "clerk")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        find(&host, &token).await,
        StatusCode::OK,
        "unlocked, not lost"
    );
    assert_eq!(host.audit_with("session.unlock", Outcome::Ok).len(), 1);
    assert_eq!(host.audit_with("session.unlock", Outcome::Deny).len(), 1);
}

#[tokio::test]
async fn a_session_ends_at_its_lifetime_whatever_happens() {
    let host = counter().await;
    default_limits(&host);
    host.clock.advance_ms(MINUTE);
    let (_, body) = host.login("clerk").await;
    let token = body["token"].as_str().unwrap().to_owned();
    for _ in 0..(12 * 60 / 10) {
        host.clock.advance_ms(10 * MINUTE);
        if find(&host, &token).await != StatusCode::OK {
            break;
        }
    }
    let (status, body) = host
        .request(
            "GET",
            &format!("/v1/{FUJISAWA}/session"),
            Some(&token),
            Bytes::new(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["code"] == "session-expired" || body["error"]["code"] == "unauthorized",
        "{body}"
    );
    assert_eq!(host.audit_with("session.expire", Outcome::Ok).len(), 1);
    let unlock = format!("/v1/{FUJISAWA}/unlock");
    let (status, _) = post(
        &host,
        &unlock,
        Some(&token),
        json!({"totp": code(&host, "clerk")}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "an ended session cannot be unlocked"
    );
}

#[tokio::test]
async fn disabling_an_account_ends_its_sessions_at_once() {
    let host = counter().await;
    let clerk = host.token("clerk").to_owned();
    let admin = host.token("admin").to_owned();
    assert_eq!(find(&host, &clerk).await, StatusCode::OK);
    let path = format!("/v1/admin/{FUJISAWA}/users/clerk/disable");
    let (status, body) = post(&host, &path, Some(&admin), json!({})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a reason is required: {body}"
    );
    let (status, body) = post(&host, &path, Some(&admin), json!({"reason": "retirement"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sessions_ended"], 1);
    assert_eq!(find(&host, &clerk).await, StatusCode::UNAUTHORIZED);
    host.clock.advance_ms(MINUTE);
    assert_eq!(host.login("clerk").await.0, StatusCode::UNAUTHORIZED);
    let path = format!("/v1/admin/{FUJISAWA}/users/clerk/enable");
    assert_eq!(
        post(&host, &path, Some(&admin), json!({})).await.0,
        StatusCode::OK
    );
    let (status, body) = host.login("clerk").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A role change is audited and ends the sessions too.
    let token = body["token"].as_str().unwrap().to_owned();
    let path = format!("/v1/admin/{FUJISAWA}/users/clerk/role");
    let (status, _) = post(&host, &path, Some(&admin), json!({"role": "viewer"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(find(&host, &token).await, StatusCode::UNAUTHORIZED);
    let actions: Vec<String> = host
        .audit()
        .into_iter()
        .filter(|e| e.action.starts_with("user."))
        .map(|e| e.action)
        .collect();
    for action in ["user.disable", "user.enable", "user.role"] {
        assert!(actions.iter().any(|a| a == action), "{actions:?}");
    }
}

#[tokio::test]
async fn a_shared_terminal_works_only_with_a_named_operator_and_both_are_audited() {
    let mut host = counter().await;
    let admin = host.token("admin").to_owned();
    let (status, body) = post(
        &host,
        &format!("/v1/admin/{FUJISAWA}/users"),
        Some(&admin),
        json!({"name": "venue-1", "role": "clerk", "kind": "shared"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let enrol_code = body["enrolment_code"].as_str().unwrap().to_owned();
    let (status, body) = post(
        &host,
        &format!("/v1/{FUJISAWA}/enrol"),
        None,
        json!({"name": "venue-1", "code": enrol_code, "password": TEST_PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    host.secrets.insert(
        "venue-1".into(),
        secret_of(body["otpauth_uri"].as_str().unwrap()),
    );
    host.clock.advance_ms(MINUTE);
    let (status, _) = host.login("venue-1").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "alone, the shared account can do nothing"
    );
    host.clock.advance_ms(MINUTE);
    let with_operator = json!({
        "name": "venue-1", "password": TEST_PASSWORD, "totp": code(&host, "venue-1"),
        "operator": "clerk", "operator_totp": code(&host, "clerk"),
    });
    let (status, body) = post(&host, &login_path(), None, with_operator).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["operator"], "clerk");
    let token = body["token"].as_str().unwrap().to_owned();
    let person = host.person(1);
    let (status, body) = post(
        &host,
        &format!("/v1/{FUJISAWA}/dose-entry/record-dose"),
        Some(&token),
        dose_form(person, 1, "2026-03-01"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let writes = host.audit_with("doses.add", Outcome::Ok);
    let event = writes.last().unwrap();
    assert_eq!(event.actor, "venue-1");
    assert_eq!(event.operator.as_deref(), Some("clerk"));
    // The dose is entered by the operator: the verifier check sees a person.
    let doses = host.doses_of(person).await;
    assert_eq!(doses[0]["entered_by"], "clerk", "{doses:?}");
    // Handing over to another operator is confirmed and audited.
    let (status, body) = post(
        &host,
        &format!("/v1/{FUJISAWA}/session/operator"),
        Some(&token),
        json!({"operator": "verifier", "operator_totp": code(&host, "verifier")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let switch = host.audit_with("session.operator", Outcome::Ok);
    assert_eq!(
        switch[0].reason.as_deref(),
        Some("operator clerk -> verifier")
    );
    let (_, body) = host
        .request(
            "GET",
            &format!("/v1/{FUJISAWA}/session"),
            Some(&token),
            Bytes::new(),
        )
        .await;
    assert_eq!(body["operator"], "verifier");
}

#[tokio::test]
async fn a_service_token_ends_at_its_expiry_and_its_events_are_automated() {
    let mut host = counter().await;
    let admin = host.token("admin").to_owned();
    let (status, body) = post(
        &host,
        &format!("/v1/admin/{FUJISAWA}/tokens"),
        Some(&admin),
        json!({"service": "nightly-feed", "role": "clerk", "expires": "2026-04-03"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(find(&host, &token).await, StatusCode::OK);
    let event = host.audit_with("invoke dose-entry/find-person", Outcome::Ok);
    assert!(event.last().unwrap().automated);
    assert_eq!(event.last().unwrap().actor, "nightly-feed");
    let (status, _) = login_with(&host, "nightly-feed", TEST_PASSWORD, "000000").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a service does not log in"
    );
    host.clock.advance_ms(3 * 86_400_000);
    assert_eq!(
        find(&host, &token).await,
        StatusCode::UNAUTHORIZED,
        "expired"
    );
    host.relogin().await;
    let admin = host.token("admin").to_owned();
    let (status, _) = post(
        &host,
        &format!("/v1/admin/{FUJISAWA}/tokens"),
        Some(&admin),
        json!({"service": "nightly-feed", "role": "clerk", "expires": "2026-04-01"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an expiry in the past");
}

#[tokio::test]
async fn a_flood_of_bad_requests_is_limited_and_audited_boundedly() {
    let host = counter().await;
    let before = host.audit().len();
    let mut statuses = Vec::new();
    for i in 0..(UNAUTHENTICATED_BURST + 40) {
        let token = format!("krs_{i:064}");
        statuses.push(find(&host, &token).await);
    }
    // The harness's logins spent a few of the burst already.
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses.len() - refused;
    assert!(
        refused <= UNAUTHENTICATED_BURST as usize && refused >= 20,
        "{statuses:?}"
    );
    assert!(
        statuses[refused..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(limited >= 40);
    let (status, _) = host.login("clerk").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "logins are limited too"
    );
    let grown = host.audit().len() - before;
    assert_eq!(
        grown,
        refused + 1,
        "one event per allowed refusal and one for the whole run of 429s"
    );
    // A live session is not limited.
    assert_eq!(find(&host, host.token("clerk")).await, StatusCode::OK);
}

#[tokio::test]
async fn a_read_only_role_writes_nothing_whatever_it_lists() {
    let roles = "[viewer]\nsummary = \"v\"\ninvoke = [\"dose-entry/*\"]\nread_only = true\n\n[admin]\nadmin = true\n";
    let host = TestHost::new()
        .plugin("dose-entry")
        .roles(roles)
        .user("viewer", "viewer")
        .start()
        .await;
    let token = host.token("viewer").to_owned();
    let (status, body) = post(
        &host,
        &format!("/v1/{FUJISAWA}/dose-entry/record-dose"),
        Some(&token),
        dose_form(1, 1, "2026-03-01"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("read-only")
    );
    let (status, _) = post(
        &host,
        &format!("/v1/{FUJISAWA}/dose-entry/list-doses"),
        Some(&token),
        json!({"person_id": 1}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "reads reach the plugin (no such person)"
    );
}

#[tokio::test]
async fn enrolment_codes_work_once_and_the_review_flags_what_needs_a_decision() {
    let host = counter().await;
    let admin = host.token("admin").to_owned();
    let add = |name: &str, extra: Value| {
        let mut body = json!({"name": name, "role": "clerk"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        post(
            &host,
            &format!("/v1/admin/{FUJISAWA}/users"),
            Some(&admin),
            body,
        )
    };
    let (status, body) = add("tanaka", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let enrol_code = body["enrolment_code"].as_str().unwrap().to_owned();
    add("never", json!({})).await;
    add("temp", json!({"valid_until": "2026-04-20"})).await;
    add("kiosk", json!({"kind": "shared"})).await;
    let lines = kiroku::identity::review::review(&host.store(), host.clock.now_ms()).unwrap();
    let csv = kiroku::identity::review::to_csv(&lines);
    assert!(
        csv.starts_with("name,kind,role,state,created,last_login,valid_until,"),
        "{csv}"
    );
    let temp = csv.lines().find(|l| l.starts_with("temp,")).unwrap();
    assert!(
        temp.ends_with(",expires-within-30-days;never-enrolled"),
        "{temp}"
    );
    let kiosk = csv.lines().find(|l| l.starts_with("kiosk,")).unwrap();
    assert!(
        kiosk.contains(",shared,clerk,enrolment-pending,"),
        "{kiosk}"
    );
    let enrol = |code: &str, password: &str| {
        post(
            &host,
            &format!("/v1/{FUJISAWA}/enrol"),
            None,
            json!({"name": "tanaka", "code": code, "password": password}),
        )
    };
    let (status, body) = enrol(&enrol_code, "short").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!body.to_string().contains("short\""), "{body}");
    let (status, _) = enrol("AAAA-BBBB-CCCC-DDDD", TEST_PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a wrong code");
    let (status, body) = enrol(&enrol_code, TEST_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let png = base64_decode(body["qr_png_base64"].as_str().unwrap());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (status, _) = enrol(&enrol_code, TEST_PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a code works once");
    // 100 days on: everyone unused but those who log in.
    let mut host = host;
    host.clock.advance_ms(100 * 86_400_000);
    host.relogin().await;
    let (status, body) = host
        .request(
            "GET",
            &format!("/v1/admin/{FUJISAWA}/users/review"),
            Some(host.token("admin")),
            Bytes::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let flags = |name: &str| -> Vec<String> {
        body["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {body}"))["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(flags("never"), ["not-used-90-days", "never-enrolled"]);
    assert_eq!(flags("tanaka"), ["not-used-90-days"]);
    assert_eq!(
        flags("kiosk"),
        ["not-used-90-days", "shared", "never-enrolled"]
    );
    assert!(flags("clerk").is_empty(), "logged in today");
    let states: Vec<(&str, &str)> = body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["state"].as_str().unwrap()))
        .collect();
    assert!(states.contains(&("temp", "expired")), "{states:?}");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

#[tokio::test]
async fn a_passkey_stands_in_for_the_code_and_each_assertion_works_once() {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::prelude::{
        CreationChallengeResponse, RequestChallengeResponse, Url,
    };
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    let host = counter().await;
    let public = "https://kiroku.test";
    let passkeys = kiroku::identity::passkeys::Passkeys::new(public).unwrap();
    assert!(host.app.passkeys.set(std::sync::Arc::new(passkeys)).is_ok());
    let origin = Url::parse(public).unwrap();
    let clerk = host.token("clerk").to_owned();
    // Registered from a live session, with a software authenticator.
    let (status, body) = post(
        &host,
        &format!("/v1/{FUJISAWA}/passkeys/start"),
        Some(&clerk),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let options: CreationChallengeResponse =
        serde_json::from_value(body["options"].clone()).unwrap();
    let mut key = SoftPasskey::new(true);
    let credential = key.do_registration(origin.clone(), options).unwrap();
    let finish = json!({"ceremony": body["ceremony"], "credential": credential});
    let path = format!("/v1/{FUJISAWA}/passkeys/finish");
    let (status, body) = post(&host, &path, Some(&clerk), finish.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["passkeys"], 1);
    let (status, _) = post(&host, &path, Some(&clerk), finish).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a ceremony is finished once"
    );
    assert_eq!(host.audit_with("user.passkey", Outcome::Ok).len(), 1);
    // A login: the password and an assertion instead of the code.
    let challenge = |name: &'static str| {
        post(
            &host,
            &format!("/v1/{FUJISAWA}/login/passkey"),
            None,
            json!({ "name": name }),
        )
    };
    let (status, body) = challenge("clerk").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let options: RequestChallengeResponse =
        serde_json::from_value(body["options"].clone()).unwrap();
    let assertion = key.do_authentication(origin.clone(), options).unwrap();
    let login = json!({"name": "clerk", "password": TEST_PASSWORD,
        "passkey": {"ceremony": body["ceremony"], "credential": assertion}});
    let (status, body) = post(&host, &login_path(), None, login.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["token"].as_str().unwrap().starts_with("krs_"));
    let (status, _) = post(&host, &login_path(), None, login).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a replayed assertion");
    // A wrong password with a good assertion, and a name without passkeys.
    let (_, body) = challenge("clerk").await;
    let options: RequestChallengeResponse =
        serde_json::from_value(body["options"].clone()).unwrap();
    let assertion = key.do_authentication(origin, options).unwrap();
    let wrong = json!({"name": "clerk", "password": "not-the-password",
        "passkey": {"ceremony": body["ceremony"], "credential": assertion}});
    assert_eq!(
        post(&host, &login_path(), None, wrong).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, no_key) = challenge("verifier").await;
    let (_, unknown) = challenge("nobody").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_key, unknown, "no passkey and no account read alike");
}
