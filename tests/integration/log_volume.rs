//! Containment, class 6: the audit log and the server log stay bounded
//! whatever a plugin does, and no personal value the host served reaches
//! the server log, however the plugin disguises it.

use hyper::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_denied_calls_makes_a_handful_of_events_that_count_them() {
    let host = hostile(&["hostile-audit"], 3).await;
    let person = host.person(1);
    let file = host.dir.path().join(format!("tenants/{FUJISAWA}.redb"));
    let size_before = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let (status, body) = host
        .call(
            "supervisor",
            "hostile-audit",
            "deny-flood",
            json!({ "person": person }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["missing"].as_u64(), body["denied"].as_u64()),
        (Some(200_000), Some(200_000))
    );
    let request = host
        .audit()
        .into_iter()
        .filter(|e| e.action == "invoke hostile-audit/deny-flood")
        .map(|e| e.request_id)
        .next()
        .unwrap();
    let events = host.audit_of(&request);
    assert!(events.len() <= 4, "{} events: {events:#?}", events.len());
    let missing = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("not-found"))
        .unwrap();
    assert_eq!(missing.count, 200_000);
    let denied = events
        .iter()
        .find(|e| e.outcome == kiroku::audit::Outcome::Deny)
        .unwrap();
    assert_eq!(denied.count, 200_000);
    assert!(
        denied.reason.as_deref().unwrap().contains("birth-date"),
        "{denied:?}"
    );
    assert_eq!(denied.subject, Some(1));
    let size_after = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    assert!(
        size_after < size_before + (4 << 20),
        "the file grew {} bytes",
        size_after - size_before
    );
    // The auditor sees the counts.
    let token = host.token("auditor").to_owned();
    let (_, log) = host
        .request(
            "GET",
            &format!("/v1/{FUJISAWA}/audit?actor=supervisor"),
            Some(&token),
            Default::default(),
        )
        .await;
    assert!(
        log["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["count"] == 200_000),
        "{log}"
    );
}

#[test]
fn no_personal_value_reaches_the_server_log_however_it_is_disguised() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let host = rt.block_on(hostile(&["hostile-audit"], 3));
    let token = host.service_token("supervisor");
    let r = host.residents[0].clone();
    let log = host.dir.path().join("server.log");
    let server = RealServer::spawn(host.dir.path(), Some(&log));
    server.wait_ready();
    let person = host.person(1);
    let (status, body) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/hostile-audit/leak"),
        Some(&token),
        &json!({ "person": person }).to_string(),
    );
    assert_eq!(status, 500, "it panics at the end: {body}");
    assert!(!body.contains(&r.kanji_name), "{body}");
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    for value in [&r.kana_name, &r.kanji_name, &r.address, &r.phone] {
        for form in [value.to_string(), compact(value)] {
            assert!(!text.contains(&form), "{form:?} is in the log");
        }
        // No family or given name, no two characters of a value in a row.
        for part in value.split(['　', ' ']).filter(|p| p.chars().count() >= 2) {
            assert!(!text.contains(part), "{part:?} is in the log");
        }
    }
    let phone_digits = digits(&r.phone);
    let log_digits: Vec<String> = text
        .lines()
        .filter(|l| l.contains("hostile-audit"))
        .map(digits)
        .collect();
    assert!(
        !log_digits.iter().any(|d| d.contains(&phone_digits)),
        "the phone's digits are in the log"
    );
    let plugin_lines = text
        .lines()
        .filter(|l| l.contains("hostile-audit") && l.contains("source="))
        .count();
    assert!(
        plugin_lines > 0,
        "the plugin's (redacted) lines are there:\n{text}"
    );
    assert!(
        plugin_lines <= kiroku::limits::MAX_LOG_LINES_PER_INVOCATION as usize + 3,
        "{plugin_lines} lines from one invocation"
    );
    assert!(text.contains("were suppressed"), "the overflow is counted");
}
