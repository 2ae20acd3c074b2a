//! Retention purge, backup and restore, end to end on the real binary:
//! keys apart from the data, a purge killed midway and resumed, nothing of
//! a purged person left to read or decrypt (live file, free pages, a copy
//! taken before, a backup restored), audit intact.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiroku::clock::{Clock, SeededEntropy};
use kiroku::crypto::{SealContext, TenantKeys};
use kiroku::datadir::{DataDir, KeyOwner};
use kiroku::ids::TenantCode;
use kiroku::store::keyring::{Keyring, Slot};
use kiroku::store::rows::{self, PersonRow};
use kiroku::store::tables;
use kiroku::store::{TenantStore, draft::Draft};
use redb::{ReadableDatabase, ReadableMultimapTable, ReadableTable};
use serde_json::{Value, json};

use crate::support::*;

/// Rules short enough that some synthetic persons (moved out or dead in
/// the last 900 days) are past them.
const RULES: &str = r#"
[[rule]]
name = "deceased-1y"
anchor = "death"
years = 1

[[rule]]
name = "moved-out-1y"
anchor = "move-out"
years = 1
"#;

fn kiroku_keys(keys: &Path, args: &[&str]) -> String {
    let out = kiroku()
        .args(args)
        .env("KIROKU_KEYS", keys)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kiroku {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What the test knows of each person before the purge.
struct Known {
    values: Vec<String>,
    row: PersonRow,
}

fn open_store(d: &Path, keys: &Path) -> Arc<TenantStore> {
    let dir = DataDir::open_with_keys(d, Some(keys)).unwrap();
    Arc::new(TenantStore::open(&dir, &TenantCode::parse(FUJISAWA).unwrap()).unwrap())
}

fn known_persons(store: &Arc<TenantStore>) -> BTreeMap<u64, Known> {
    let txn = store.db().begin_read().unwrap();
    let persons = txn.open_table(tables::PERSONS).unwrap();
    let mut draft = Draft::new(store.clone(), Arc::new(SeededEntropy::new(1)));
    let mut out = BTreeMap::new();
    for entry in persons.iter().unwrap() {
        let (k, v) = entry.unwrap();
        let id = k.value();
        let resident = draft.resident(id).unwrap();
        let mut values: Vec<String> = [0, 2, 6, 8]
            .iter()
            .filter_map(|&i| resident.get(i).map(str::to_owned))
            .collect();
        values.extend(draft.my_number(id).unwrap());
        out.insert(
            id,
            Known {
                values,
                row: rows::decode(v.value()).unwrap(),
            },
        );
    }
    out
}

fn run_job(server: &RealServer, token: &str, body: &str) -> String {
    let (status, started) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/jobs/retention-purge/purge"),
        Some(token),
        body,
    );
    assert_eq!(status, 202, "{started}");
    let started: Value = serde_json::from_str(&started).unwrap();
    started["job_id"].as_str().unwrap().to_owned()
}

fn job(server: &RealServer, token: &str, id: &str) -> Value {
    let (status, body) =
        server.request("GET", &format!("/v1/{FUJISAWA}/jobs/{id}"), Some(token), "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

#[test]
fn a_purge_killed_midway_resumes_and_nothing_of_the_purged_survives_even_a_restore() {
    let started = Instant::now();
    let lap = |what: &str| eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
    let tmp = tempfile::tempdir().unwrap();
    let (data, keys) = (tmp.path().join("data"), tmp.path().join("keys"));
    let d = data.to_str().unwrap();
    let k = keys.as_path();
    let plugins = root().join("target/wasm32-wasip2/release");
    let policies = root().join("policies");
    kiroku_keys(
        k,
        &[
            "demo",
            "--data",
            d,
            "--persons",
            "6000",
            "--no-serve",
            "--plugins",
            plugins.to_str().unwrap(),
            "--policies",
            policies.to_str().unwrap(),
        ],
    );
    lap("demo");
    assert!(!data.join("keys").exists(), "no key in the data directory");
    assert!(keys.join(format!("{FUJISAWA}.persons")).exists());
    let rules = tmp.path().join("rules.toml");
    std::fs::write(&rules, RULES).unwrap();
    kiroku_keys(
        k,
        &[
            "retention",
            "rules",
            "--data",
            d,
            "--tenant",
            FUJISAWA,
            rules.to_str().unwrap(),
        ],
    );
    let token = |name: &str, role: &str| {
        let out = kiroku_keys(
            k,
            &[
                "token",
                "add",
                "--data",
                d,
                "--tenant",
                FUJISAWA,
                "--service",
                name,
                "--role",
                role,
                "--expires",
                "2099-12-31",
            ],
        );
        out.lines().last().unwrap().to_owned()
    };
    let (admin, supervisor, clerk) = (
        token("purger", "admin"),
        token("holder", "supervisor"),
        token("counter", "clerk"),
    );

    let store = open_store(&data, k);
    let known = known_persons(&store);
    drop(store);
    let before_copy = std::fs::read(data.join(format!("tenants/{FUJISAWA}.redb"))).unwrap();

    lap("known");
    let mut server = RealServer::start_with_keys(&data, k);
    // An online backup while the server runs, before the purge.
    let backup = tmp.path().join("before.kbk");
    kiroku_keys(
        k,
        &[
            "backup",
            "--data",
            d,
            "--tenant",
            FUJISAWA,
            "--out",
            backup.to_str().unwrap(),
        ],
    );

    let preview = |server: &RealServer| -> Value {
        let (status, body) = server.request(
            "POST",
            &format!("/v1/{FUJISAWA}/retention-purge/preview"),
            Some(&admin),
            "{}",
        );
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let first = preview(&server);
    let candidates = first["persons"].as_u64().unwrap();
    assert!(
        candidates >= 10,
        "some synthetic persons are past 1 year: {first}"
    );
    assert_eq!(preview(&server), first, "a preview changes nothing");

    // Only the tenant's administrators purge; a supervisor holds.
    let (status, body) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/retention-purge/purge"),
        Some(&supervisor),
        "{}",
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/jobs/retention-purge/purge"),
        Some(&clerk),
        "{}",
    );
    assert_eq!(status, 403, "{body}");

    // Hold a candidate: a purge leaves them.
    let held_serial = {
        let store = open_store(&data, k);
        let rules = kiroku::retention::tenant_rules(&store).unwrap().unwrap();
        let survey =
            kiroku::retention::purge::survey(&store, &rules, kiroku::clock::SystemClock.today())
                .unwrap();
        assert_eq!(survey.candidates.len() as u64, candidates);
        survey.candidates[candidates as usize / 2].person
    };
    let handle = tenant_keys(&data, k).person_handles().handle(held_serial);
    let body = json!({"person_id": handle, "reason": "訴訟のため保存"}).to_string();
    let hold = |what: &str| {
        server.request(
            "POST",
            &format!("/v1/{FUJISAWA}/retention-purge/{what}"),
            Some(&supervisor),
            &body,
        )
    };
    assert_eq!(hold("set-hold").0, 200);
    assert_eq!(hold("set-hold").0, 409, "already on hold");
    assert_eq!(hold("lift-hold").0, 200);
    assert_eq!(hold("set-hold").0, 200);
    assert_eq!(preview(&server)["held"], 1);
    let to_purge = candidates - 1;

    // Purge one person per commit, and kill the server midway.
    let id = run_job(&server, &admin, r#"{"batch": 1}"#);
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let j = job(&server, &admin, &id);
        if j["done"].as_u64().unwrap_or(0) >= 2 || j["state"] != "running" || Instant::now() > until
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    drop(server);
    let partial = {
        let store = open_store(&data, k);
        kiroku::retention::purge::deletions(&store).unwrap().len() as u64
    };
    assert!(partial <= to_purge);
    eprintln!("killed after {partial} of {to_purge} purged");

    lap("killed");
    // It resumes: nobody twice, everybody once.
    let server = RealServer::start_with_keys(&data, k);
    let id = run_job(&server, &admin, r#"{"batch": 500}"#);
    let done = loop {
        let j = job(&server, &admin, &id);
        if j["state"] != "running" {
            break j;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["output"]["purged"], to_purge - partial, "{done}");
    assert_eq!(done["output"]["remaining"], 0);
    assert_eq!(preview(&server)["persons"], 0);
    drop(server);

    let store = open_store(&data, k);
    let deletions = kiroku::retention::purge::deletions(&store).unwrap();
    assert_eq!(
        deletions.len() as u64,
        to_purge,
        "one record per purged person"
    );
    let purged: BTreeSet<u64> = deletions.iter().map(|(p, _)| *p).collect();
    assert!(!purged.contains(&held_serial), "the held person stays");
    assert!(deletions.iter().all(|(_, r)| r.rule.ends_with("-1y")));
    let ring_file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(keys.join(format!("{FUJISAWA}.persons")))
        .unwrap();
    let ring = Keyring::open(ring_file, FUJISAWA).unwrap();
    for p in &purged {
        assert!(
            matches!(ring.slot(*p).unwrap(), Slot::Shredded),
            "person {p}'s key is shredded"
        );
    }
    {
        let txn = store.db().begin_read().unwrap();
        for p in &purged {
            assert!(
                txn.open_table(tables::PERSONS)
                    .unwrap()
                    .get(*p)
                    .unwrap()
                    .is_none()
            );
            assert!(
                txn.open_table(tables::MY_NUMBERS)
                    .unwrap()
                    .get(*p)
                    .unwrap()
                    .is_none()
            );
            let doses = txn.open_table(tables::DOSES).unwrap();
            assert_eq!(doses.range((*p, 0)..=(*p, u64::MAX)).unwrap().count(), 0);
        }
        let unique = txn.open_table(tables::UNIQUE_INDEX).unwrap();
        assert!(
            unique
                .iter()
                .unwrap()
                .all(|e| !purged.contains(&e.unwrap().1.value())),
            "no index entry points at the purged"
        );
        let names = txn.open_multimap_table(tables::NAME_INDEX).unwrap();
        for entry in names.iter().unwrap() {
            for v in entry.unwrap().1 {
                assert!(!purged.contains(&v.unwrap().value()));
            }
        }
    }
    let survivors = store.person_count().unwrap();
    assert_eq!(survivors, known.len() as u64 - to_purge);
    drop(store);

    lap("purged");
    // Every key left on disk, tried on the purged persons' rows as they
    // were before (a copy of the file, a backup, free pages).
    let tenant_keys = tenant_keys(&data, k);
    let snapshot = ring.snapshot().unwrap();
    let live: Vec<_> = known
        .keys()
        .filter_map(|p| match snapshot.slot(*p) {
            Slot::Live(s) => Some(s),
            _ => None,
        })
        .collect();
    for p in &purged {
        let row = &known[p].row;
        let context = SealContext::new(FUJISAWA, "resident", *p, 0);
        for secret in &live {
            if let Ok(key) = tenant_keys.unwrap(*p, &row.wrapped_key, secret) {
                assert!(
                    key.open(&context, &row.resident).is_err(),
                    "person {p} opens with another's secret"
                );
            }
        }
    }
    assert!(
        contains(
            &before_copy,
            &known[purged.iter().next().unwrap()].row.wrapped_key
        ),
        "the copy holds the old row"
    );

    // No clear value of a purged person anywhere: data, keys, backup.
    let mut everything = files_under(&data);
    everything.extend(files_under(&keys));
    everything.push((backup.clone(), std::fs::read(&backup).unwrap()));
    for p in &purged {
        for value in known[p].values.iter().filter(|v| v.len() >= 6) {
            for (path, bytes) in &everything {
                assert!(
                    !contains(bytes, value.as_bytes()),
                    "a value of person {p} in {}",
                    path.display()
                );
            }
        }
    }
    let verify = kiroku_keys(k, &["audit", "verify", "--data", d]);
    assert!(
        verify.contains("intact") && !verify.contains("BROKEN"),
        "{verify}"
    );

    lap("searched");
    // Restoring the backup taken before the purge resurrects nobody.
    let fresh = tmp.path().join("restored");
    let out = kiroku_keys(
        k,
        &[
            "restore",
            "--data",
            fresh.to_str().unwrap(),
            "--tenant",
            FUJISAWA,
            backup.to_str().unwrap(),
        ],
    );
    assert!(out.contains(&format!("{to_purge} purged since")), "{out}");
    let restored = open_store(&fresh, k);
    assert_eq!(
        restored.person_count().unwrap(),
        survivors,
        "everyone else is intact"
    );
    let mut draft = Draft::new(restored.clone(), Arc::new(SeededEntropy::new(2)));
    for p in &purged {
        assert!(!draft.person_exists(*p).unwrap(), "person {p} stays purged");
        let address = &known[p].values[0];
        assert_eq!(
            draft
                .find_unique(kiroku::crypto::IndexKind::AddressNumber, address)
                .unwrap(),
            None
        );
    }
    let someone = known.keys().find(|p| !purged.contains(p)).unwrap();
    assert_eq!(
        draft.resident(*someone).unwrap().get(0),
        Some(known[someone].values[0].as_str())
    );
    assert_eq!(
        kiroku::retention::purge::deletions(&restored)
            .unwrap()
            .len() as u64,
        to_purge
    );
    drop(draft);
    drop(restored);
    let verify = kiroku_keys(k, &["audit", "verify", "--data", fresh.to_str().unwrap()]);
    assert!(
        verify.contains("intact") && !verify.contains("BROKEN"),
        "{verify}"
    );

    // A backup does not open under another tenant's name or with its
    // bytes altered, and changes nothing when refused.
    let mut bytes = std::fs::read(&backup).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 1;
    let altered = tmp.path().join("altered.kbk");
    std::fs::write(&altered, &bytes).unwrap();
    let other = tmp.path().join("other");
    let out = kiroku()
        .args([
            "restore",
            "--data",
            other.to_str().unwrap(),
            "--tenant",
            FUJISAWA,
            altered.to_str().unwrap(),
        ])
        .env("KIROKU_KEYS", k)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        !other.join(format!("tenants/{FUJISAWA}.redb")).exists(),
        "nothing installed"
    );
}

fn tenant_keys(data: &Path, keys: &Path) -> TenantKeys {
    let dir = DataDir::open_with_keys(data, Some(keys)).unwrap();
    let code = TenantCode::parse(FUJISAWA).unwrap();
    TenantKeys::derive(&dir.read_key(KeyOwner::Tenant(&code)).unwrap(), FUJISAWA)
}
