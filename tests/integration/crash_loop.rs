//! kill -9 of the server in a loop while counter entries, dose-import and
//! extraction jobs, and CLI writes (from another process) run: after each
//! cycle every acknowledged write is there, nothing is doubled, and
//! `kiroku audit verify` passes. `KIROKU_CRASH_CYCLES` (default 10; the
//! soak runs 100) sets the number of cycles.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const PERSONS: usize = 200;

/// One counter entry sent on its own connection; the answer, if any.
fn record(addr: &str, token: &str, person_n: u64, number: u64) -> Option<(u64, u64)> {
    let ticket = kiroku_rules::ticket::for_person(person_n, 0).unwrap();
    let body = json!({"ticket_number": ticket, "dose_number": number, "date": "2026-11-01",
        "maker": "moderna", "product": "Spikevax", "lot": "AB1234", "amount": "0.5",
        "facility_code": "1412345678", "doctor": "X", "override_reason": "crash loop"})
    .to_string();
    let raw = format!(
        "POST /v1/{FUJISAWA}/dose-entry/record-dose HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(raw.as_bytes()).ok()?;
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    if !resp.starts_with("HTTP/1.1 200") {
        return None;
    }
    let v: Value = serde_json::from_str(resp.split_once("\r\n\r\n")?.1).ok()?;
    Some((v["person_id"].as_u64()?, v["dose_id"].as_u64()?))
}

#[test]
fn kill_9_in_a_loop_under_mixed_writes_loses_and_doubles_nothing() {
    let cycles: u32 = std::env::var("KIROKU_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap().to_owned();
    let clerk = demo_with_clerk(&d, PERSONS, "crash-clerk");
    let supervisor = service_token(&d, "crash-supervisor", "supervisor");
    let acknowledged: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    let mut imported_dates: Vec<String> = Vec::new();
    let mut users: Vec<String> = Vec::new();
    let campaign = data.path().join("campaign.json");
    std::fs::write(
        &campaign,
        r#"{"campaign": {"id": "crash-autumn", "dose_number": 8, "starts_on": "2026-10-01", "min_age": 65}}"#,
    )
    .unwrap();
    for cycle in 0..cycles {
        let mut server = RealServer::start(data.path());
        let addr = server.addr.clone();
        // Counter entries: each writer has its own persons and numbers.
        let writers: Vec<_> = (0..4u64)
            .map(|w| {
                let (addr, token, acknowledged) =
                    (addr.clone(), clerk.clone(), acknowledged.clone());
                std::thread::spawn(move || {
                    for i in 0..400u64 {
                        // Persons 101-200: the imports write 1-100.
                        let n = 101 + w * 25 + i % 25;
                        let number = 9 + u64::from(cycle) % 10;
                        match record(&addr, &token, n, number) {
                            Some(ack) => acknowledged.lock().unwrap().push(ack),
                            None if std::net::TcpStream::connect(&addr).is_err() => return,
                            None => {}
                        }
                    }
                })
            })
            .collect();
        // A dose-import job and an extraction job over HTTP, and CLI
        // writes to the tenant file from other processes, meanwhile.
        // A later day each cycle: an import's dose numbers follow dates.
        let day = kiroku_rules::Date::parse("2025-01-01")
            .unwrap()
            .days_since_epoch();
        let date = kiroku_rules::Date::from_days_since_epoch(day + i64::from(cycle))
            .to_string()
            .replace('-', "");
        let import = {
            let (file, token) = (
                data.path().join(format!("import-{cycle}.csv")),
                supervisor.clone(),
            );
            let (addr, date) = (addr.clone(), date.clone());
            std::thread::spawn(move || import_one_dose_each(&addr, &token, &file, 100, &date))
        };
        let extract = kiroku()
            .args([
                "job",
                "run",
                "--server",
                &format!("http://{addr}"),
                "--tenant",
                FUJISAWA,
            ])
            .args(["target-extraction/extract", "--input"])
            .arg(&campaign)
            .env("KIROKU_TOKEN", &supervisor)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let user = format!("crash-{cycle}");
        let cli_user = kiroku()
            .args(["user", "add", "--data", &d, "--tenant", FUJISAWA])
            .args(["--name", &user, "--role", "clerk"])
            .output();
        std::thread::sleep(Duration::from_millis(150 + 70 * u64::from(cycle % 7)));
        server.kill();
        for w in writers {
            w.join().unwrap();
        }
        let (import_done, import_said) = import.join().unwrap();
        let mut extract = extract;
        let _ = extract.wait();
        if cli_user.is_ok_and(|o| o.status.success()) {
            users.push(user);
        }
        if import_done {
            assert!(import_said.contains("\"applied\""), "{import_said}");
            imported_dates.push(date);
        }

        // The chain holds after every kill.
        let (ok, out, err) = run_kiroku(&["audit", "verify", "--data", &d]);
        assert!(ok, "cycle {cycle}: {out}{err}");
    }

    // Everything acknowledged is there, once.
    let server = RealServer::start(data.path());
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(!acknowledged.is_empty(), "no entry was acknowledged");
    let mut by_person: HashMap<u64, BTreeSet<u64>> = HashMap::new();
    for (person, dose) in &acknowledged {
        by_person.entry(*person).or_default().insert(*dose);
    }
    for (person, wanted) in &by_person {
        let stored = server.doses(&clerk, *person);
        let ids: BTreeSet<u64> = stored
            .iter()
            .map(|d| d["dose_id"].as_u64().unwrap())
            .collect();
        assert!(
            wanted.is_subset(&ids),
            "person {person}: an acknowledged dose is lost"
        );
        let mut numbers = BTreeSet::new();
        for d in &stored {
            let key = (d["vaccine"].to_string(), d["dose_number"].as_u64().unwrap());
            assert!(
                numbers.insert(key),
                "person {person}: a dose number is doubled"
            );
        }
    }
    // Acknowledged imports: each of the 100 residents has that day's dose.
    for date in &imported_dates {
        let day = format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..]);
        for n in [1, 50, 100] {
            let person = server.find_person(&clerk, n);
            assert!(
                server
                    .doses(&clerk, person)
                    .iter()
                    .any(|d| d["date"] == day.as_str()),
                "an acknowledged import of {day} is missing for person {n}"
            );
        }
    }
    // Acknowledged CLI writes.
    let listed = kiroku_ok(&["user", "list", "--data", &d, "--tenant", FUJISAWA]);
    for user in &users {
        assert!(listed.contains(user.as_str()), "{user} is lost");
    }
    eprintln!(
        "{cycles} kill -9 cycles: {} acknowledged entries, {} imports, {} CLI writes, all present",
        acknowledged.len(),
        imported_dates.len(),
        users.len()
    );
}
