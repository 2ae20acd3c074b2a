//! The audit log: every access recorded, the chain tamper-evident.

use hyper::StatusCode;
use kiroku::audit::Outcome;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::json;

use crate::support::*;

const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

async fn host_with_activity() -> TestHost {
    let host = TestHost::new()
        .plugin("dose-entry")
        .residents(5)
        .user("clerk", "clerk")
        .user("auditor", "auditor")
        .start()
        .await;
    let person = host.person_of(&host.residents[0].clone()).await;
    let (status, _) = host.record_dose(person, 1).await;
    assert_eq!(status, StatusCode::OK);
    host
}

#[tokio::test]
async fn records_who_looked_at_whom_with_plugin_digest_and_fields() {
    let host = host_with_activity().await;
    let r = host.residents[1].clone();
    let (status, body) = host
        .request(
            "POST",
            "/v1/142051/dose-entry/find-person",
            Some(host.token("clerk")),
            json!({"name": r.kanji_name, "birth_date": r.birth_date.to_string()})
                .to_string()
                .into(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let person = body["persons"][0]["person_id"].as_u64().unwrap();
    let request_id = format!("test-{}", host_request_count(&host) - 1);
    let events = host.audit_of(&request_id);
    let read = events
        .iter()
        .find(|e| e.action == "residents.get")
        .expect("a read event");
    assert_eq!(read.actor, "clerk");
    assert_eq!(read.subject, Some(host.serial(person)));
    assert_eq!(read.plugin.as_deref(), Some("dose-entry"));
    assert!(
        read.fields.contains(&"kanji-name".to_owned())
            && read.fields.contains(&"birth-date".to_owned())
    );
    let invoke = events
        .iter()
        .find(|e| e.action == "invoke dose-entry/find-person")
        .expect("an invoke event");
    assert_eq!(invoke.outcome, Outcome::Ok);
}

fn host_request_count(host: &TestHost) -> u64 {
    host.audit()
        .iter()
        .filter_map(|e| {
            e.request_id
                .strip_prefix("test-")
                .and_then(|n| n.parse::<u64>().ok())
        })
        .max()
        .unwrap()
        + 1
}

#[tokio::test]
async fn serves_the_log_to_auditors_only_with_filters() {
    let host = host_with_activity().await;
    let person = host.person_of(&host.residents[0].clone()).await;
    let (status, body) = host
        .request(
            "GET",
            &format!("/v1/142051/audit?subject={person}&actor=clerk"),
            Some(host.token("auditor")),
            "".into(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = body["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["subject"] == person && e["actor"] == "clerk"),
        "{body}"
    );
    let (status, _) = host
        .request(
            "GET",
            "/v1/142051/audit?from=2026-04-02",
            Some(host.token("auditor")),
            "".into(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = host
        .request(
            "GET",
            "/v1/142051/audit?from=yesterday",
            Some(host.token("auditor")),
            "".into(),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-query"))
    );
    let (status, _) = host
        .request(
            "GET",
            "/v1/142051/audit",
            Some(host.token("clerk")),
            "".into(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Reading the log is itself recorded.
    assert!(
        host.audit()
            .iter()
            .any(|e| e.action == "audit.query" && e.actor == "auditor")
    );
    let (status, body) = host
        .request(
            "GET",
            "/v1/142051/audit/verify",
            Some(host.token("auditor")),
            "".into(),
        )
        .await;
    assert_eq!((status, &body["intact"]), (StatusCode::OK, &json!(true)));
}

/// Runs `kiroku audit verify` on a copy of the tenant file after `tamper`.
fn verify_after(tamper: impl FnOnce(&redb::WriteTransaction, u64)) -> (bool, String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let host = rt.block_on(host_with_activity());
    let path = host.dir.path().join("tenants/142051.redb");
    let data = host.dir.path().to_owned();
    let keep = host.dir;
    drop((host.app, rt));
    {
        let db = redb::Database::builder()
            .set_concurrency_mode(redb::ConcurrencyMode::MultiWriter)
            .open(&path)
            .unwrap();
        let last = db
            .begin_read()
            .unwrap()
            .open_table(AUDIT)
            .unwrap()
            .last()
            .unwrap()
            .unwrap()
            .0
            .value();
        let txn = db.begin_write().unwrap();
        tamper(&txn, last);
        txn.commit().unwrap();
    }
    let (ok, out, err) = run_kiroku(&[
        "audit",
        "verify",
        "--data",
        data.to_str().unwrap(),
        "--tenant",
        FUJISAWA,
    ]);
    drop(keep);
    (ok, format!("{out}{err}"))
}

fn value(txn: &redb::WriteTransaction, seq: u64) -> Vec<u8> {
    txn.open_table(AUDIT)
        .unwrap()
        .get(seq)
        .unwrap()
        .unwrap()
        .value()
        .to_vec()
}

#[test]
fn verify_passes_an_untouched_chain() {
    let (ok, out) = verify_after(|_, _| {});
    assert!(ok && out.contains("intact"), "{out}");
}

#[test]
fn verify_names_an_altered_event() {
    let (ok, out) = verify_after(|txn, _| {
        let mut v = value(txn, 20);
        let i = v.len() / 2;
        v[i] ^= 0x01;
        txn.open_table(AUDIT)
            .unwrap()
            .insert(20, v.as_slice())
            .unwrap();
    });
    assert!(!ok && out.contains("BROKEN at event 20"), "{out}");
}

#[test]
fn verify_names_a_removed_event() {
    let (ok, out) = verify_after(|txn, _| {
        txn.open_table(AUDIT).unwrap().remove(12).unwrap();
    });
    assert!(
        !ok && out.contains("BROKEN at event 12") && out.contains("missing"),
        "{out}"
    );
}

#[test]
fn verify_names_reordered_events() {
    let (ok, out) = verify_after(|txn, _| {
        let (a, b) = (value(txn, 30), value(txn, 31));
        let mut t = txn.open_table(AUDIT).unwrap();
        t.insert(30, b.as_slice()).unwrap();
        t.insert(31, a.as_slice()).unwrap();
    });
    assert!(!ok && out.contains("BROKEN at event 30"), "{out}");
}

#[test]
fn verify_notices_a_cut_off_tail() {
    let (ok, out) = verify_after(|txn, last| {
        let mut t = txn.open_table(AUDIT).unwrap();
        t.remove(last).unwrap();
        t.remove(last - 1).unwrap();
    });
    assert!(
        !ok && out.contains("BROKEN") && out.contains("missing"),
        "{out}"
    );
}

#[test]
fn verify_notices_events_hidden_from_queries_by_person() {
    const BY_SUBJECT: TableDefinition<(u64, u64), ()> = TableDefinition::new("audit-by-subject");
    let (ok, out) = verify_after(|txn, _| {
        let mut t = txn.open_table(BY_SUBJECT).unwrap();
        let first = t.first().unwrap().map(|(k, _)| k.value()).unwrap();
        t.remove(first).unwrap();
    });
    assert!(!ok && out.contains("subject index disagrees"), "{out}");
}
