//! SIGTERM under load: the server stops accepting, finishes the requests
//! in flight, and exits 0; every answered write is durable, and nothing
//! unanswered was applied.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// One request on a new connection; `None` when the server refuses the
/// connection (it has stopped listening).
fn try_request(addr: &str, path: &str, token: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let raw = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(raw.as_bytes()).ok()?;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    Some(parse_response(&response))
}

fn doses_of(server: &RealServer, clerk: &str, person: u64) -> Vec<u64> {
    let (status, body) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/dose-entry/list-doses"),
        Some(clerk),
        &json!({"person_id": person}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let doses: Value = serde_json::from_str(&body).unwrap();
    let list = doses["doses"].as_array().expect("a dose list");
    list.iter()
        .map(|d| d["dose_number"].as_u64().unwrap())
        .collect()
}

/// What one writer saw: answered writes, clean refusals, cut answers.
#[derive(Default, Debug)]
struct Seen {
    /// Answered writes per person of the writer.
    acknowledged: Vec<u64>,
    refused: u64,
    cut: u64,
    first_refusal: Option<String>,
}

#[test]
fn sigterm_under_load_loses_nothing_answered_and_applies_nothing_unanswered() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let clerk = demo_with_clerk(d, 60, "counter-1");
    let mut server = RealServer::start(tmp.path());
    let mut persons = Vec::new();
    for n in 1..=40 {
        let person = server.find_person(&clerk, n);
        persons.push((person, doses_of(&server, &clerk, person).len() as u64));
    }

    // Four writers, ten persons each, round robin (a person takes at most
    // 20 doses).
    let writers: Vec<_> = persons
        .chunks(10)
        .map(|mine| {
            let mine = mine.to_vec();
            let (addr, clerk) = (server.addr.clone(), clerk.clone());
            std::thread::spawn(move || {
                let mut seen = Seen {
                    acknowledged: vec![0; mine.len()],
                    ..Seen::default()
                };
                let path = format!("/v1/{FUJISAWA}/dose-entry/record-dose");
                for turn in 0.. {
                    let i = turn % mine.len();
                    let (person, before) = mine[i];
                    let number = before + seen.acknowledged[i] + 1;
                    if number > 20 {
                        if turn > 40 * mine.len() {
                            break;
                        }
                        continue;
                    }
                    let date = format!("2026-{:02}-{:02}", 1 + number % 11, 1 + number % 28);
                    let mut form = dose_form(person, number as u32, &date);
                    form["override_reason"] = json!("負荷試験");
                    match try_request(&addr, &path, &clerk, &form.to_string()) {
                        None => break,
                        Some((200, _)) => seen.acknowledged[i] += 1,
                        Some((0, _)) => seen.cut += 1,
                        Some((status, body)) => {
                            let error: Value = serde_json::from_str(&body)
                                .unwrap_or_else(|_| panic!("{status}: not JSON: {body}"));
                            assert!(error["error"]["code"].is_string(), "{status}: {body}");
                            assert!(status < 500 || status == 503, "{status}: {body}");
                            seen.refused += 1;
                            seen.first_refusal.get_or_insert(body);
                        }
                    }
                }
                seen
            })
        })
        .collect();

    // Writers fill their persons in about two seconds: stop them midway.
    std::thread::sleep(Duration::from_millis(700));
    let pid = server.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let until = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < until,
            "the server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    let seen: Vec<Seen> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let total: u64 = seen.iter().flat_map(|s| &s.acknowledged).sum();
    assert!(
        total > 0,
        "the writers got answers before the stop: {seen:?}"
    );
    eprintln!("writes answered before SIGTERM: {total}; {seen:?}");

    // Every answered dose is there, in order, and nothing else.
    let server = RealServer::start(tmp.path());
    let answered = seen.iter().flat_map(|s| &s.acknowledged);
    for ((person, before), acknowledged) in persons.iter().zip(answered) {
        let numbers = doses_of(&server, &clerk, *person);
        let expected: Vec<u64> = (1..=before + acknowledged).collect();
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected, "person {person}");
    }
    drop(server);
    let verified = kiroku_ok(&["audit", "verify", "--data", d]);
    assert!(verified.contains("intact"), "{verified}");
}
