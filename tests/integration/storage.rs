//! Storage: sealed at rest, group commit, concurrent writers, crashes.

use std::sync::Arc;

use hyper::StatusCode;
use serde_json::json;

use kiroku::crypto::{IndexKind, TenantKeys};
use kiroku::datadir::KeyOwner;
use kiroku::store::tables;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::support::*;

#[tokio::test]
async fn keeps_no_personal_value_in_clear_on_disk() {
    let host = TestHost::new()
        .plugin("dose-entry")
        .residents(300)
        .user("clerk", "clerk")
        .start()
        .await;
    // Some doses too, so dose data is on disk.
    for r in host.residents.clone().iter().take(20) {
        let person = host.person_of(r).await;
        let (status, body) = host.record_dose(person, 1).await;
        if status != StatusCode::OK {
            assert!(body.to_string().contains("override_reason"), "{body}");
        }
    }
    let files = host.raw_files();
    assert!(
        files
            .iter()
            .any(|(p, _)| p.to_string_lossy().ends_with("142051.redb"))
    );
    let mut needles: Vec<String> = Vec::new();
    for r in &host.residents {
        needles.push(r.my_number.clone());
        needles.push(r.kanji_name.replace('　', " "));
        needles.push(r.kana_name.replace('　', " "));
        needles.push(r.address.clone());
        needles.push(r.phone.clone());
        if let Some(b) = &r.building {
            needles.push(b.clone());
        }
    }
    needles.push("湘南 太郎".into());
    needles.push("QX7Q21".into());
    let mut hits = Vec::new();
    for (path, bytes) in &files {
        for needle in &needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                hits.push(format!("{} contains a personal value", path.display()));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "{} hits, e.g. {:?}",
        hits.len(),
        &hits[..hits.len().min(3)]
    );
    // Nor do the audit events.
    let audit = format!("{:?}", host.audit());
    assert!(
        !needles.iter().any(|n| audit.contains(n.as_str())),
        "an audit event carries a personal value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commits_concurrent_writes_and_acknowledges_each_after_its_commit() {
    let host = Arc::new(
        TestHost::new()
            .plugin("dose-entry")
            .residents(64)
            .user("clerk", "clerk")
            .start()
            .await,
    );
    let mut persons = Vec::new();
    for r in host
        .residents
        .clone()
        .iter()
        .filter(|r| r.moved_out.is_none() && r.died.is_none())
    {
        persons.push(host.person_of(r).await);
    }
    let tenant = host.app.tenant(&host.code).unwrap().unwrap();
    let stats = tenant.committer.stats();
    let commits_before = stats.commits.load(std::sync::atomic::Ordering::Relaxed);
    let tasks: Vec<_> = persons
        .iter()
        .map(|&p| {
            let host = host.clone();
            tokio::spawn(async move {
                host.call(
                    "clerk",
                    "dose-entry",
                    "record-dose",
                    dose_form(p, 1, "2026-03-01"),
                )
                .await
            })
        })
        .collect();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        // Acknowledged means durable: the dose is visible to a fresh read.
        let person = body["person_id"].as_u64().unwrap();
        let doses = host.doses_of(person).await;
        assert_eq!(doses.len(), 1);
    }
    let commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed) - commits_before;
    let requests = 2 * persons.len() as u64;
    assert!(
        commits < requests,
        "{commits} commits for {requests} requests: nothing was grouped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_entries_for_one_person_never_duplicate_a_dose_number() {
    let host = Arc::new(
        TestHost::new()
            .plugin("dose-entry")
            .residents(3)
            .user("clerk", "clerk")
            .start()
            .await,
    );
    let person = host.person_of(&host.residents[0].clone()).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move { host.record_dose(person, 1).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::BAD_REQUEST => assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("should be 2"),
                "{body}"
            ),
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        ok, 1,
        "exactly one of the concurrent first doses is recorded"
    );
    let doses = host.doses_of(person).await;
    assert_eq!(doses.len(), 1);
}

#[test]
fn a_crash_mid_write_loses_no_acknowledged_dose_and_keeps_the_chain_intact() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let token = demo_with_clerk(d, 200, "crash-clerk");
    let mut server = RealServer::start(data.path());
    let addr = server.addr.clone();
    // Many writers; the server is killed while they run.
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..8u64)
        .map(|w| {
            let (addr, token, acknowledged) = (addr.clone(), token.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    let ticket = kiroku_rules::ticket::for_person(1 + w * 20 + i % 20, 0).unwrap();
                    let body = json!({"ticket_number": ticket, "dose_number": 8 + i / 20, "date": "2026-01-01",
                        "maker": "moderna", "product": "Spikevax", "lot": "AB1234", "amount": "0.5",
                        "facility_code": "1412345678", "doctor": "X", "override_reason": "crash test order"}).to_string();
                    let raw = format!("POST /v1/{FUJISAWA}/dose-entry/record-dose HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                    let Ok(mut s) = std::net::TcpStream::connect(&addr) else { return };
                    use std::io::{Read, Write};
                    let _ = s.write_all(raw.as_bytes());
                    let mut resp = String::new();
                    let _ = s.read_to_string(&mut resp);
                    if resp.starts_with("HTTP/1.1 200") {
                        let body = resp.split_once("\r\n\r\n").unwrap().1;
                        let v: serde_json::Value = serde_json::from_str(body).unwrap();
                        acknowledged.lock().unwrap().push((v["person_id"].as_u64().unwrap(), v["dose_id"].as_u64().unwrap()));
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(400));
    server.kill();
    for w in writers {
        w.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        !acknowledged.is_empty(),
        "no write was acknowledged before the kill"
    );
    // After a restart everything acknowledged is there and the chain holds.
    let (ok, out, err) = run_kiroku(&["audit", "verify", "--data", d]);
    assert!(ok, "{out}{err}");
    let server = RealServer::start(data.path());
    for (person, dose) in &acknowledged {
        let (status, body) = server.request(
            "POST",
            &format!("/v1/{FUJISAWA}/dose-entry/list-doses"),
            Some(&token),
            &json!({"person_id": person}).to_string(),
        );
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["doses"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["dose_id"] == *dose),
            "acknowledged dose {dose} of {person} is lost"
        );
    }
    drop(rt);
}

/// Records a dose with a ticket number through a real server (demo
/// residents have histories: the number is given with a reason).
fn record_by_ticket(server: &RealServer, token: &str, ticket: &str) -> (u16, String) {
    let body = json!({"ticket_number": ticket, "dose_number": 20, "date": "2026-01-01",
        "maker": "moderna", "product": "Spikevax", "lot": "AB1234", "amount": "0.5",
        "facility_code": "1412345678", "doctor": "X", "override_reason": "schema test order"});
    server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/dose-entry/record-dose"),
        Some(token),
        &body.to_string(),
    )
}

/// The demo tenant's redb file, opened directly (no server running).
fn tenant_file(d: &str) -> redb::Database {
    let dir = kiroku::datadir::DataDir::open(std::path::Path::new(d)).unwrap();
    let code = kiroku::ids::TenantCode::parse(FUJISAWA).unwrap();
    let file = dir.tenant_db_file(&code, false).unwrap();
    redb::Database::builder()
        .create_with_backend(redb::backends::FileBackend::new(file).unwrap())
        .unwrap()
}

fn set_schema(txn: &redb::WriteTransaction, version: u64) {
    txn.open_table(tables::META)
        .unwrap()
        .insert(tables::meta::SCHEMA, version.to_be_bytes().as_slice())
        .unwrap();
}

/// Points a unique-index key at a holder (`None`: removes it); returns
/// the holder it had.
fn set_unique(db: &redb::Database, key: [u8; 16], holder: Option<u64>) -> Option<u64> {
    let txn = db.begin_write().unwrap();
    let before = {
        let mut unique = txn.open_table(tables::UNIQUE_INDEX).unwrap();
        let before = match holder {
            Some(h) => unique.insert(key, h).unwrap(),
            None => unique.remove(key).unwrap(),
        };
        before.map(|v| v.value())
    };
    txn.commit().unwrap();
    before
}

/// The demo tenant's derived keys.
fn tenant_keys(d: &str) -> TenantKeys {
    let dir = kiroku::datadir::DataDir::open(std::path::Path::new(d)).unwrap();
    let code = kiroku::ids::TenantCode::parse(FUJISAWA).unwrap();
    let root = dir.read_key(KeyOwner::Tenant(&code)).unwrap();
    TenantKeys::derive(&root, FUJISAWA)
}

/// Rewrites a tenant file the way schema 1 kept tickets (keyed by person)
/// and indexed their `numbers` (the plain keyed hash).
fn downgrade_to_schema_1(
    db: &redb::Database,
    keys: &TenantKeys,
    ring: &std::path::Path,
    numbers: &[String],
) -> u64 {
    let txn = db.begin_write().unwrap();
    let mut moved = 0;
    {
        let mut unique = txn.open_table(tables::UNIQUE_INDEX).unwrap();
        for number in numbers {
            let key = keys.index_hash(IndexKind::Ticket, number);
            let holder = unique.remove(key).unwrap().unwrap().value();
            let old = keys.index_hash_v1(IndexKind::Ticket, number);
            unique.insert(old, holder).unwrap();
        }
    }
    {
        let ids = txn.open_table(tables::PERSON_TICKETS).unwrap();
        let tickets = txn.open_table(tables::TICKETS).unwrap();
        let mut old = txn.open_table(tables::TICKETS_V1).unwrap();
        for entry in ids.iter().unwrap() {
            let (key, id) = entry.unwrap();
            let sealed = tickets.get(id.value()).unwrap().unwrap();
            old.insert(key.value(), sealed.value()).unwrap();
            moved += 1;
        }
    }
    txn.delete_table(tables::PERSON_TICKETS).unwrap();
    txn.delete_table(tables::TICKETS).unwrap();
    unmask_data_keys(&txn, keys, ring);
    set_schema(&txn, 1);
    txn.commit().unwrap();
    std::fs::remove_file(ring).unwrap();
    moved
}

/// Wraps every data key as schemas 1 and 2 did, with the tenant key
/// alone (the keyring at `ring` is removed after).
fn unmask_data_keys(txn: &redb::WriteTransaction, keys: &TenantKeys, ring: &std::path::Path) {
    use kiroku::store::keyring::{Keyring, Slot};
    use kiroku::store::rows::{self, PersonRow};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(ring)
        .unwrap();
    let ring = Keyring::open(file, FUJISAWA).unwrap();
    let entropy = kiroku::clock::OsEntropy;
    let mut persons = txn.open_table(tables::PERSONS).unwrap();
    let all: Vec<(u64, Vec<u8>)> = persons
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value(), v.value().to_vec())
        })
        .collect();
    for (id, bytes) in all {
        let mut row: PersonRow = rows::decode(&bytes).unwrap();
        let Slot::Live(secret) = ring.slot(id).unwrap() else {
            panic!("person {id} has a key")
        };
        let key = keys.unwrap(id, &row.wrapped_key, &secret).unwrap();
        row.wrapped_key = keys.wrap_v2(id, &key, &entropy);
        persons.insert(id, rows::encode(&row).as_slice()).unwrap();
    }
}

#[test]
fn a_schema_1_file_is_upgraded_when_opened_and_a_newer_one_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let token = demo_with_clerk(d, 30, "clerk-1");
    let ticket_of = |person| kiroku_rules::ticket::for_person(person, 0).unwrap();
    // A lost ticket is reissued: its holder has a voided and a valid one.
    let server = RealServer::start(data.path());
    let input = json!({"ticket_number": ticket_of(1), "reason": "lost"}).to_string();
    let (status, body) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/ticket-issuance/reissue"),
        Some(&token),
        &input,
    );
    assert_eq!(status, 200, "{body}");
    let reissued: serde_json::Value = serde_json::from_str(&body).unwrap();
    let new_ticket = reissued["ticket"]["ticket_number"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(server);

    let mut numbers: Vec<String> = (1..=30).map(ticket_of).collect();
    numbers.push(new_ticket.clone());
    let keys = tenant_keys(d);
    let ring = data.path().join(format!("keys/{FUJISAWA}.persons"));
    let moved = downgrade_to_schema_1(&tenant_file(d), &keys, &ring, &numbers);
    assert_eq!(moved, 31, "30 tickets and the reissued one");

    // A ticket whose number is not indexed: the upgrade fails, clearly,
    // and leaves the file as it was.
    let lost = keys.index_hash_v1(IndexKind::Ticket, &numbers[1]);
    let holder = set_unique(&tenant_file(d), lost, None).unwrap();
    let (ok, out, err) = run_kiroku(&[
        "user", "add", "--data", d, "--tenant", FUJISAWA, "--name", "clerk-2", "--role", "clerk",
    ]);
    assert!(!ok, "{out}");
    assert!(err.contains("missing from the unique index"), "{err}");
    let db = tenant_file(d);
    let txn = db.begin_read().unwrap();
    let schema = kiroku::store::read_meta(&txn, tables::meta::SCHEMA).unwrap();
    assert_eq!(schema, Some(1u64.to_be_bytes().to_vec()), "still schema 1");
    assert_eq!(
        txn.open_table(tables::TICKETS_V1).unwrap().len().unwrap(),
        moved
    );
    drop(txn);
    set_unique(&db, lost, Some(holder));
    drop(db);

    // Opening it upgrades it; every ticket works as before.
    let server = RealServer::start(data.path());
    let (status, body) = record_by_ticket(&server, &token, &ticket_of(1));
    assert_eq!(status, 400, "the voided ticket is refused: {body}");
    assert!(body.contains("voided"), "{body}");
    let (status, body) = record_by_ticket(&server, &token, &new_ticket);
    assert_eq!(status, 200, "{body}");
    let (status, body) = record_by_ticket(&server, &token, &ticket_of(2));
    assert_eq!(status, 200, "{body}");
    drop(server);
    let db = tenant_file(d);
    let txn = db.begin_read().unwrap();
    let schema = kiroku::store::read_meta(&txn, tables::meta::SCHEMA).unwrap();
    assert_eq!(schema, Some(tables::SCHEMA_VERSION.to_be_bytes().to_vec()));
    assert!(
        txn.open_table(tables::TICKETS_V1).is_err(),
        "the old table is gone"
    );
    assert_eq!(
        txn.open_table(tables::TICKETS).unwrap().len().unwrap(),
        moved
    );
    assert_eq!(
        txn.open_table(tables::PERSON_TICKETS)
            .unwrap()
            .len()
            .unwrap(),
        moved
    );
    let unique = txn.open_table(tables::UNIQUE_INDEX).unwrap();
    for number in &numbers {
        let old = keys.index_hash_v1(IndexKind::Ticket, number);
        assert!(unique.get(old).unwrap().is_none(), "schema 1's key is gone");
        let new = keys.index_hash(IndexKind::Ticket, number);
        assert!(
            unique.get(new).unwrap().is_some(),
            "the tagged key is there"
        );
    }
    drop((unique, txn));

    // A file from a newer Kiroku is refused, and left as it is.
    let txn = db.begin_write().unwrap();
    set_schema(&txn, tables::SCHEMA_VERSION + 1);
    txn.commit().unwrap();
    drop(db);
    let (ok, out, err) = run_kiroku(&[
        "user", "add", "--data", d, "--tenant", FUJISAWA, "--name", "clerk-3", "--role", "clerk",
    ]);
    assert!(!ok, "{out}");
    let newer = format!("storage schema {}", tables::SCHEMA_VERSION + 1);
    assert!(err.contains(&newer), "{err}");
    assert!(err.contains("newer Kiroku"), "{err}");
}
