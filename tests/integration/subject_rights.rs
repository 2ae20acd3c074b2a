//! The data subject's rights on the real server: disclosure with the
//! access history (JSON and the PDF letter), correction with the previous
//! value kept, suspension of use enforced on every other plugin.

use serde_json::{Value, json};

use crate::support::*;

fn call(server: &RealServer, token: &str, op: &str, body: &Value) -> (u16, Value) {
    let (status, text) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/{op}"),
        Some(token),
        &body.to_string(),
    );
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn disclosure_correction_and_suspension_of_use() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let clerk = demo_with_clerk(d, 40, "counter-1");
    let supervisor = service_token(d, "rights-desk", "supervisor");
    let server = RealServer::start(tmp.path());

    // The counter looks a person up and lists their doses.
    let person = server.find_person(&clerk, 3);
    let (status, _) = call(
        &server,
        &clerk,
        "dose-entry/list-doses",
        &json!({"person_id": person}),
    );
    assert_eq!(status, 200);

    // Disclosure: everything held, every access, My Number masked.
    let ask = json!({"person_id": person, "enquirer": "本人（窓口で本人確認済み）"});
    let (status, doc) = call(&server, &supervisor, "subject-rights/disclose", &ask);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["person_id"], person);
    assert!(doc["resident"]["kanji-name"].is_string(), "{doc}");
    let masked = doc["my_number"].as_str().unwrap();
    assert_eq!(masked.len(), 12);
    assert!(masked.starts_with("********"), "{masked}");
    let history = doc["access_history"].as_array().unwrap();
    assert!(
        history.iter().any(|e| e["who"] == "counter-1"
            && e["role"] == "clerk"
            && e["plugin"] == "dose-entry"),
        "the counter's reads are listed with the role: {history:?}"
    );
    assert!(
        history
            .iter()
            .all(|e| e["at"].is_string() && e["action"].is_string() && e["outcome"].is_string())
    );
    let (status, letter) = call(&server, &supervisor, "subject-rights/disclose-pdf", &ask);
    assert_eq!(status, 200, "{letter}");
    let pdf = base64_decode(letter["pdf_base64"].as_str().unwrap());
    assert!(pdf.starts_with(b"%PDF-"));
    // A clerk may take a disclosure request but not correct or suspend.
    let (status, _) = call(&server, &clerk, "subject-rights/disclose", &ask);
    assert_eq!(status, 200);
    let (status, _) = call(
        &server,
        &clerk,
        "subject-rights/suspend",
        &json!({"person_id": person, "reason": "x"}),
    );
    assert_eq!(status, 403);

    // Correction: the previous value stays in the sealed history.
    let before = doc["resident"]["phone"].clone();
    let fix = json!({"person_id": person, "field": "phone", "value": "0466-00-1234", "reason": "本人の申出（届出の誤り）"});
    let (status, body) = call(&server, &supervisor, "subject-rights/correct", &fix);
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&server, &supervisor, "subject-rights/correct", &fix);
    assert_eq!(status, 409, "the same value again: {body}");
    for bad in [
        json!({"person_id": person, "field": "status", "value": "deceased", "reason": "r"}),
        json!({"person_id": person, "field": "phone", "value": "1", "reason": ""}),
        json!({"person_id": person, "field": "colour", "value": "1", "reason": "r"}),
    ] {
        let (status, body) = call(&server, &supervisor, "subject-rights/correct", &bad);
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (_, doc) = call(&server, &supervisor, "subject-rights/disclose", &ask);
    assert_eq!(doc["resident"]["phone"], "0466-00-1234");
    let entries = doc["history"].as_array().unwrap();
    let correction = entries.iter().find(|e| e["kind"] == "correction").unwrap();
    assert_eq!(correction["previous"], before);
    assert_eq!(correction["field"], "phone");
    assert!(
        entries.iter().filter(|e| e["kind"] == "enquiry").count() >= 3,
        "each enquiry is recorded: {entries:?}"
    );

    // Suspension: every other plugin is refused with `suspended`.
    let stop = json!({"person_id": person, "reason": "利用停止請求"});
    let (status, body) = call(&server, &supervisor, "subject-rights/suspend", &stop);
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &server,
        &clerk,
        "dose-entry/list-doses",
        &json!({"person_id": person}),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "suspended", "{body}");
    let (status, body) = call(
        &server,
        &clerk,
        "dose-entry/record-dose",
        &dose_form(person, 9, "2026-11-01"),
    );
    assert_eq!(status, 403, "{body}");
    let (status, doc) = call(&server, &supervisor, "subject-rights/disclose", &ask);
    assert_eq!(status, 200, "disclosure goes on: {doc}");
    assert_eq!(doc["suspension"]["reason"], "利用停止請求");
    let other = kiroku_rules::ticket::for_person(4, 0).unwrap();
    let (status, _) = call(
        &server,
        &clerk,
        "dose-entry/find-person",
        &json!({"ticket_number": other}),
    );
    assert_eq!(status, 200, "others are not affected");
    let (status, _) = call(&server, &supervisor, "subject-rights/suspend", &stop);
    assert_eq!(status, 409, "already suspended");
    let (status, _) = call(
        &server,
        &supervisor,
        "subject-rights/lift-suspension",
        &stop,
    );
    assert_eq!(status, 200);
    let (status, _) = call(
        &server,
        &clerk,
        "dose-entry/list-doses",
        &json!({"person_id": person}),
    );
    assert_eq!(status, 200, "usable again");
    drop(server);

    // Every step is audited, with the person as subject and no value.
    let log = kiroku_ok(&["audit", "verify", "--data", d]);
    assert!(log.contains("intact") && !log.contains("BROKEN"), "{log}");
    let raw = std::fs::read(tmp.path().join(format!("tenants/{FUJISAWA}.redb"))).unwrap();
    for value in ["0466-00-1234", "利用停止請求", "本人の申出"] {
        assert!(
            memchr::memmem::find(&raw, value.as_bytes()).is_none(),
            "{value} is sealed"
        );
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}
