//! Bad input as a hostile client sends it: a corpus per operation plus
//! generated mutations of a valid input, and malformed HTTP on a real
//! listener. Every answer must be the JSON error contract with a 4xx
//! status, quote no personal value back (whoever sent it), and leave the
//! data as it was, with no audit event saying `ok` for a write that was
//! not committed.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use kiroku::audit::Outcome;
use serde_json::{Value, json};

use crate::support::*;

/// Host calls that change a record (the audit actions of writes).
const WRITE_ACTIONS: &[&str] = &[
    "residents.create",
    "residents.update",
    "tickets.issue",
    "campaign-tickets.issue",
    "doses.add",
    "my-number.register",
];

/// Values a hostile client puts where they do not belong.
struct Sentinels {
    values: Vec<String>,
}

impl Sentinels {
    fn of(r: &kiroku::synth::Resident) -> Sentinels {
        Sentinels {
            values: vec![
                r.my_number.clone(),
                r.kanji_name.clone(),
                r.phone.clone(),
                r.address.clone(),
            ],
        }
    }

    /// Whether `text` quotes one of the values in a recognisable form.
    fn echoed_in(&self, text: &str) -> Option<&str> {
        let compact = |s: &str| -> String { s.chars().filter(|c| c.is_alphanumeric()).collect() };
        let digits = |s: &str| -> String { s.chars().filter(char::is_ascii_digit).collect() };
        let (text_compact, text_digits) = (compact(text), digits(text));
        self.values.iter().map(String::as_str).find(|v| {
            let d = digits(v);
            text.contains(v)
                || text_compact.contains(&compact(v))
                || (d.len() >= 8 && text_digits.contains(&d))
        })
    }
}

/// Every way to spoil one field of a valid input, nested fields too.
fn field_mutations(base: &Value, s: &Sentinels) -> Vec<Value> {
    let mn = &s.values[0];
    let name = &s.values[1];
    let bad_values = [
        json!(mn),
        json!(format!("{name}\u{0007}")),
        json!([mn]),
        json!({ "nested": name }),
        json!(1e300),
        json!(-1),
        json!(true),
        json!(null),
    ];
    let mut out = Vec::new();
    for pointer in field_pointers(base, "") {
        for bad in &bad_values {
            let mut m = base.clone();
            *m.pointer_mut(&pointer).expect("a field") = bad.clone();
            out.push(m);
        }
    }
    // Unknown keys, named by a value.
    for key in [mn.as_str(), name.as_str()] {
        let mut m = base.clone();
        m[key] = json!(mn);
        out.push(m);
    }
    out
}

/// JSON pointers of every member of every object in `value`.
fn field_pointers(value: &Value, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{at}/{k}");
                out.push(here.clone());
                out.extend(field_pointers(v, &here));
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                out.extend(field_pointers(v, &format!("{at}/{i}")));
            }
        }
        _ => {}
    }
    out
}

/// Whole bodies no operation takes.
fn whole_body_corpus(s: &Sentinels) -> Vec<String> {
    let mn = &s.values[0];
    let name = &s.values[1];
    vec![
        String::new(),
        "[]".into(),
        format!("\"{mn}\""),
        format!("{{\"{mn}\": \"{name}\"}}"),
        format!("{{\"person_id\": \"{mn}\""),
        "{".repeat(200) + &"}".repeat(200),
        format!("{{\"x\": \"{}\"}}", "あ".repeat(1_000_000)),
        "\u{FEFF}{}".into(),
        "null".into(),
    ]
}

/// A JSON error answer: 4xx, `{"error":{"code","message"}}`, no value.
fn assert_refused_cleanly(what: &str, status: u16, body: &Value, s: &Sentinels) {
    assert!(
        (400..500).contains(&status),
        "{what}: status {status}: {body}"
    );
    let code = body["error"]["code"].as_str();
    let message = body["error"]["message"].as_str();
    assert!(
        code.is_some() && message.is_some(),
        "{what}: not the error contract: {body}"
    );
    if let Some(v) = s.echoed_in(&body.to_string()) {
        panic!(
            "{what}: the answer quotes a value ({} chars): {}",
            v.len(),
            body["error"]["code"]
        );
    }
}

#[tokio::test]
async fn malformed_plugin_inputs_are_refused_cleanly_and_change_nothing() {
    let plugins = [
        "dose-entry",
        "resident-sync",
        "ticket-issuance",
        "history-list",
        "statistics",
        "target-extraction",
    ];
    let host = hostile(&plugins, 20).await;
    let target = &host.residents[0];
    let person = host.person_of(target).await;
    let s = Sentinels::of(&host.residents[1]);
    let bases: Vec<(&str, &str, &str, Value)> = vec![
        (
            "clerk",
            "dose-entry",
            "record-dose",
            dose_form(person, 1, "2026-01-15"),
        ),
        (
            "clerk",
            "dose-entry",
            "list-doses",
            json!({"person_id": person}),
        ),
        (
            "supervisor",
            "resident-sync",
            "apply",
            json!({"records": [{"op": "update", "address_number": target.address_number, "phone": "0466-00-0000"}]}),
        ),
        (
            "supervisor",
            "resident-sync",
            "validate",
            json!({"records": [{"op": "update", "address_number": target.address_number}]}),
        ),
        (
            "supervisor",
            "ticket-issuance",
            "issue-move-in",
            json!({"address_number": target.address_number, "campaign": "covid-2026-spring", "dose_number": 8}),
        ),
        (
            "supervisor",
            "history-list",
            "search",
            json!({"maker": "pfizer", "limit": 10}),
        ),
        (
            "supervisor",
            "statistics",
            "counts",
            json!({"group_by": ["maker"]}),
        ),
        (
            "supervisor",
            "target-extraction",
            "preview",
            json!({"campaign": {"id": "autumn", "dose_number": 1, "starts_on": "2026-10-01"}}),
        ),
    ];
    let doses_before = host.doses_of(person).await.len();
    let mut accepted_doses = 0;
    let mut refused = 0;
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for (user, plugin, op, base) in &bases {
        let token = host.token(user).to_owned();
        let path = format!("/v1/{FUJISAWA}/{plugin}/{op}");
        let mut bodies: Vec<String> = field_mutations(base, &s)
            .iter()
            .map(Value::to_string)
            .collect();
        bodies.extend(whole_body_corpus(&s));
        for body in bodies {
            let (status, answer) = host
                .request("POST", &path, Some(&token), Bytes::from(body))
                .await;
            *statuses.entry(status.as_u16()).or_default() += 1;
            if status.is_success() {
                // An accepted input may be answered with itself.
                if *op == "record-dose" {
                    accepted_doses += 1;
                }
                continue;
            }
            refused += 1;
            assert_refused_cleanly(&format!("{plugin}/{op}"), status.as_u16(), &answer, &s);
        }
    }
    let total: usize = statuses.values().sum();
    assert!(
        total > 250 && refused * 10 >= total * 9,
        "{refused} refusals of {total}: {statuses:?}"
    );
    assert_eq!(
        host.doses_of(person).await.len(),
        doses_before + accepted_doses,
        "a refused record-dose changed the doses"
    );
    // An event's outcome is what was committed: a refused request has no
    // `ok` write event.
    let events = host.audit();
    let failed: HashSet<&str> = events
        .iter()
        .filter(|e| e.action.starts_with("invoke ") && e.outcome != Outcome::Ok)
        .map(|e| e.request_id.as_str())
        .collect();
    for e in &events {
        if failed.contains(e.request_id.as_str()) && WRITE_ACTIONS.contains(&e.action.as_str()) {
            assert_ne!(
                e.outcome,
                Outcome::Ok,
                "{} says ok in a refused request",
                e.action
            );
        }
    }
    for e in &events {
        let text = format!("{:?} {:?} {:?}", e.action, e.reason, e.fields);
        assert!(
            s.echoed_in(&text).is_none(),
            "an audit event quotes a value: {}",
            e.action
        );
    }
}

#[tokio::test]
async fn oversize_inputs_get_413_naming_the_limit_before_the_plugin_runs() {
    let host = hostile(&["dose-entry"], 2).await;
    let person = host.person_of(&host.residents[0]).await;
    let mut form = dose_form(person, 1, "2026-01-15");
    form["doctor"] = json!("x".repeat(3 << 20));
    let (status, body) = host.call("clerk", "dose-entry", "record-dose", form).await;
    assert_eq!(status.as_u16(), 413, "{}", body["error"]);
    assert_eq!(body["error"]["code"], "input-too-large");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2097152 bytes"),
        "{}",
        body["error"]["message"]
    );
    assert!(
        host.audit_with("invoke dose-entry/record-dose", Outcome::Error)
            .is_empty()
    );
}

#[tokio::test]
async fn resident_sync_validate_runs_the_same_checks_as_apply() {
    let host = hostile(&["resident-sync"], 6).await;
    let r = &host.residents;
    let other_mn = r[1].my_number.clone();
    let fixtures = [
        json!({"records": [{"op": "update", "address_number": r[0].address_number, "kanji_name": "湘南\u{0007}花子"}]}),
        json!({"records": [{"op": "update", "address_number": r[0].address_number, "address": "藤沢".repeat(400)}]}),
        json!({"records": [{"op": "update", "address_number": r[0].address_number, "my_number": other_mn}]}),
        json!({"records": [{"op": "update", "address_number": r[0].address_number, "kana_name": "ï¿½ã\u{0081}"}]}),
        json!({"records": [{"op": "update", "address_number": r[2].address_number, "phone": "0466-11-2222"}]}),
        json!({"records": [{"op": "move-out", "address_number": "9999999999", "date": "2026-01-01"}]}),
        json!({"csv": format!("op,address_number,kanji_name,kanji_name\nupdate,{},甲,乙\n", r[3].address_number)}),
        json!({"csv": format!("update,{},{}\n", r[3].address_number, r[4].my_number)}),
    ];
    let s = Sentinels::of(&r[4]);
    for (i, fixture) in fixtures.iter().enumerate() {
        let writes_before = write_events(&host);
        let (checked, check_body) = host
            .call("supervisor", "resident-sync", "validate", fixture.clone())
            .await;
        assert_eq!(
            write_events(&host),
            writes_before,
            "fixture {i}: validate wrote"
        );
        let updates_before = host.audit_with("residents.update", Outcome::Ok).len();
        let (applied, apply_body) = host
            .call("supervisor", "resident-sync", "apply", fixture.clone())
            .await;
        let updated = host.audit_with("residents.update", Outcome::Ok).len() - updates_before;
        assert_eq!(
            updated,
            usize::from(i == 2 || i == 4),
            "fixture {i}: apply {applied} {apply_body}, validate {checked} {check_body}"
        );
        assert_eq!(
            checked.is_success(),
            applied.is_success(),
            "fixture {i}: validate {checked} {check_body} but apply {applied} {apply_body}"
        );
        if !applied.is_success() {
            assert_eq!(checked, applied, "fixture {i}");
            assert_refused_cleanly(&format!("fixture {i}"), applied.as_u16(), &apply_body, &s);
            assert_eq!(
                write_events(&host),
                writes_before,
                "fixture {i}: an ok write event"
            );
        }
    }
    // Another resident's My Number is held for a reviewer (the plugin is
    // not told whose it is); fixture 4 changed a phone; nothing else moved.
    assert_eq!(host.audit_with("review.raise", Outcome::Ok).len(), 1);
    assert_eq!(host.audit_with("residents.update", Outcome::Ok).len(), 2);
}

/// `ok` write events so far.
fn write_events(host: &TestHost) -> usize {
    host.audit()
        .iter()
        .filter(|e| e.outcome == Outcome::Ok && WRITE_ACTIONS.contains(&e.action.as_str()))
        .count()
}

#[tokio::test]
async fn campaigns_and_makers_are_checked_against_what_is_known() {
    let host = hostile(&["ticket-issuance", "dose-import"], 4).await;
    let address = host.residents[0].address_number.clone();
    for campaign in ["", "🎉", "123456789012", "covid-unknown", "Autumn"] {
        let input = json!({"address_number": address, "campaign": campaign, "dose_number": 8});
        let (status, body) = host
            .call("supervisor", "ticket-issuance", "issue-move-in", input)
            .await;
        assert!(
            status.is_client_error(),
            "campaign {campaign:?}: {status} {body}"
        );
    }
    assert!(
        host.audit_with("campaign-tickets.issue", Outcome::Ok)
            .is_empty()
    );
    let header = "address_number,ticket_number,dose_number,date,vaccine,maker,product,lot,amount,facility_code,doctor";
    for maker in ["acme", "ファイ\u{FEFF}ザー"] {
        let csv = format!("{header}\n{address},,1,2024-01-02,covid-19,{maker},,FA1234,0.3,,\n");
        let (status, body) = host
            .upload(
                "supervisor",
                "dose-import",
                "import",
                "all_or_nothing=true",
                csv.into_bytes(),
            )
            .await;
        assert!(
            !status.is_success() || body["applied"] == 0,
            "maker {maker:?} was imported: {body}"
        );
    }
    assert!(host.audit_with("doses.add", Outcome::Ok).is_empty());
}

#[test]
fn malformed_http_gets_the_json_error_contract() {
    let tmp = tempfile::tempdir().unwrap();
    create_fujisawa(tmp.path().to_str().unwrap());
    let server = RealServer::start(tmp.path());
    let mn = "123456789018";
    let host = format!("Host: {}\r\n", server.addr);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad header line", format!("GET /healthz HTTP/1.1\r\n{host}Bad Header\r\n\r\n").into_bytes()),
        ("bad method", format!("G(T /healthz HTTP/1.1\r\n{host}\r\n").into_bytes()),
        ("long URI", format!("GET /{} HTTP/1.1\r\n{host}\r\n", "a".repeat(70_000)).into_bytes()),
        (
            "huge headers",
            format!("GET /healthz HTTP/1.1\r\n{host}X-Big: {}\r\n\r\n", "b".repeat(500_000)).into_bytes(),
        ),
        (
            "bad chunked framing",
            format!("POST /v1/{FUJISAWA}/dose-entry/list-doses HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n").into_bytes(),
        ),
        (
            "wrong method",
            format!("GET /v1/{FUJISAWA}/dose-entry/record-dose HTTP/1.1\r\n{host}Connection: close\r\n\r\n").into_bytes(),
        ),
        (
            "a value in the path",
            format!("POST /v1/{FUJISAWA}/{mn}/{mn} HTTP/1.1\r\n{host}Authorization: Bearer x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes(),
        ),
        (
            "an unknown path",
            format!("GET /v1/{mn}/../x?{mn} HTTP/1.1\r\n{host}Connection: close\r\n\r\n").into_bytes(),
        ),
        (
            "a bad authorization header",
            format!("POST /v1/{FUJISAWA}/dose-entry/list-doses HTTP/1.1\r\n{host}Authorization: Basic {mn}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}").into_bytes(),
        ),
    ];
    for (what, raw) in cases {
        let (status, body) = raw_request(&server.addr, &raw);
        assert!((400..500).contains(&status), "{what}: {status} {body}");
        let value: Value = serde_json::from_str(&body)
            .unwrap_or_else(|_| panic!("{what}: {status} with a non-JSON body {body:?}"));
        assert!(value["error"]["code"].is_string(), "{what}: {body}");
        assert!(value["error"]["message"].is_string(), "{what}: {body}");
        assert!(!body.contains(mn), "{what}: the answer quotes the path");
    }
}
