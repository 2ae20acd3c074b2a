//! Move-in query and move-out provision between real `kiroku serve`
//! processes on loopback, each with its own data directory, certificate
//! and tenants: node A (Fujisawa 142051) answers; node B serves two
//! tenants (Chiyoda 131016, answered automatically, and 131024, whose
//! answers wait for approval at A); node C (271004) has a certificate from
//! another CA. The directory also lists a node that is down and one that
//! answers garbage.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;

use kiroku::clock::{Clock, SeededEntropy, SystemClock};
use kiroku::federation::client::Client;
use kiroku::federation::directory::NodeAddress;
use kiroku::federation::envelope::seal;
use kiroku::federation::identity::MunicipalityIdentity;
use kiroku::federation::wire::QueryBody;
use kiroku::ids::TenantCode;
use kiroku::synth::Resident;
use kiroku_rules::Date;
use serde_json::{Value, json};

use crate::support::{dose_form, kiroku, kiroku_ok, plugin_paths, raw_request};

const A: &str = "142051";
const B1: &str = "131016";
const B2: &str = "131024";
const C: &str = "271004";
const DOWN: &str = "131032";
const GARBAGE: &str = "131041";
const SLOW: &str = "131059";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn code(text: &str) -> TenantCode {
    TenantCode::parse(text).unwrap()
}

/// A tenant with plugins and a service token per role, made by the CLI.
fn tenant(data: &Path, code: &str, plugins: &[&str], roles: &[&str]) -> Vec<String> {
    let d = data.to_str().unwrap();
    kiroku_ok(&[
        "tenant",
        "create",
        "--data",
        d,
        "--code",
        code,
        "--name",
        "テスト市",
    ]);
    for plugin in plugins {
        let (wasm, policy) = plugin_paths(plugin);
        kiroku_ok(&[
            "plugin", "install", "--data", d, "--tenant", code, "--policy", &policy, &wasm,
        ]);
    }
    roles
        .iter()
        .map(|role| {
            let out = kiroku_ok(&[
                "token",
                "add",
                "--data",
                d,
                "--tenant",
                code,
                "--service",
                &format!("test-{role}"),
                "--role",
                role,
                "--expires",
                "2099-12-31",
            ]);
            out.lines().last().unwrap().to_owned()
        })
        .collect()
}

struct Node {
    child: Child,
    addr: String,
}

impl Node {
    fn start(
        data: &Path,
        pki: &Path,
        directory: &Path,
        federation_port: u16,
        log: PathBuf,
    ) -> Node {
        let mut child = kiroku()
            .args([
                "serve",
                "--data",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
                "--federation-listen",
                &format!("127.0.0.1:{federation_port}"),
                "--federation-ca",
                pki.join("ca.pem").to_str().unwrap(),
                "--directory",
                directory.to_str().unwrap(),
                "--federation-identity",
                pki.to_str().unwrap(),
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap());
        let addr = loop {
            let mut line = String::new();
            assert!(lines.read_line(&mut line).unwrap() > 0, "the node stopped");
            if let Some(rest) = line.split("kiroku listening on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        let node = Node { child, addr };
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while node.call("GET", "/readyz", None, "").0 != 200 {
            assert!(
                std::time::Instant::now() < until,
                "the node did not become ready"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        node
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let (status, text) = raw_request(&self.addr, raw.as_bytes());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn upload(&self, path: &str, token: &str, csv: &str) -> (u16, Value) {
        let raw = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{csv}",
            self.addr,
            csv.len()
        );
        let (status, text) = raw_request(&self.addr, raw.as_bytes());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn invoke(&self, tenant: &str, op: &str, token: &str, body: Value) -> Value {
        let (status, answer) = self.call(
            "POST",
            &format!("/v1/{tenant}/{op}"),
            Some(token),
            &body.to_string(),
        );
        assert_eq!(status, 200, "{op}: {answer}");
        answer
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file under `dir` (recursively) that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
            {
                found.push(path);
            }
        }
    }
    found
}

fn person_of(node: &Node, tenant: &str, token: &str, r: &Resident) -> u64 {
    let found = node.invoke(
        tenant,
        "dose-entry/find-person",
        token,
        json!({"name": r.kanji_name, "birth_date": r.birth_date.to_string()}),
    );
    found["persons"][0]["person_id"].as_u64().unwrap()
}

fn moved_in(r: &Resident, address_number: &str) -> Resident {
    Resident {
        address_number: address_number.into(),
        moved_out: None,
        died: None,
        ..r.clone()
    }
}

/// Accepts connections and never says a word.
fn silent_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

/// Sends garbage to whoever connects (not TLS at all).
fn garbage_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n\r\nnot json, not TLS\r\n");
        }
    });
    port
}

#[test]
fn nodes_exchange_dose_records_under_every_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (pki, other_pki) = (root.join("pki"), root.join("other-pki"));
    kiroku_ok(&[
        "federation",
        "test-pki",
        "--out",
        pki.to_str().unwrap(),
        "--codes",
        &format!("{A},{B1},{B2}"),
    ]);
    kiroku_ok(&[
        "federation",
        "test-pki",
        "--out",
        other_pki.to_str().unwrap(),
        "--codes",
        C,
        "--name",
        "Another CA",
    ]);
    let (data_a, data_b, data_c) = (root.join("a"), root.join("b"), root.join("c"));
    let a_tokens = tenant(
        &data_a,
        A,
        &["resident-sync", "dose-entry", "move-out-provision"],
        &["admin", "clerk", "federation-approver"],
    );
    let b1_tokens = tenant(
        &data_b,
        B1,
        &["resident-sync", "dose-entry", "move-in-query"],
        &["admin", "clerk", "supervisor"],
    );
    let b2_tokens = tenant(
        &data_b,
        B2,
        &["resident-sync", "dose-entry", "move-in-query"],
        &["admin", "clerk"],
    );
    let c_tokens = tenant(
        &data_c,
        C,
        &["resident-sync", "move-in-query"],
        &["admin", "clerk"],
    );
    let d = data_a.to_str().unwrap();
    kiroku_ok(&[
        "federation",
        "allow",
        "--data",
        d,
        "--tenant",
        A,
        "--querier",
        B1,
    ]);
    kiroku_ok(&[
        "federation",
        "allow",
        "--data",
        d,
        "--tenant",
        A,
        "--querier",
        B2,
    ]);
    kiroku_ok(&[
        "federation",
        "allow",
        "--data",
        d,
        "--tenant",
        A,
        "--querier",
        C,
    ]);
    kiroku_ok(&[
        "federation",
        "manual",
        "--data",
        d,
        "--tenant",
        A,
        "--querier",
        B2,
    ]);
    let listed = kiroku_ok(&["federation", "list", "--data", d, "--tenant", A]);
    assert!(
        listed.contains(&format!("{B2} move-in-query")) && listed.contains("wait for approval"),
        "{listed}"
    );

    let ports = [free_port(), free_port(), free_port()];
    let (garbage, down, slow) = (garbage_listener(), free_port(), silent_listener());
    let directory = root.join("directory.toml");
    std::fs::write(
        &directory,
        format!(
            "[municipalities]\n{A} = \"https://127.0.0.1:{}\"\n{B1} = \"https://127.0.0.1:{}\"\n{B2} = \"https://127.0.0.1:{}\"\n{C} = \"https://127.0.0.1:{}\"\n{DOWN} = \"https://127.0.0.1:{down}\"\n{GARBAGE} = \"https://127.0.0.1:{garbage}\"\n{SLOW} = \"https://127.0.0.1:{slow}\"\n",
            ports[0], ports[1], ports[1], ports[2]
        ),
    )
    .unwrap();
    let a = Node::start(&data_a, &pki, &directory, ports[0], root.join("a.log"));
    let b = Node::start(&data_b, &pki, &directory, ports[1], root.join("b.log"));
    let c = Node::start(
        &data_c,
        &other_pki,
        &directory,
        ports[2],
        root.join("c.log"),
    );

    // The people: at A, p moved out (two doses) and q moved out (one dose,
    // asked by B2); r still lives at A. At B, p, q and r moved in, and u
    // is unknown at A.
    let today = Date::parse("2026-12-01").unwrap();
    let people = kiroku::synth::residents(40, 7, today);
    let adults: Vec<&Resident> = people
        .iter()
        .filter(|r| r.moved_out.is_none() && r.died.is_none() && r.birth_date.age_on(today) >= 30)
        .collect();
    let (p, q, r, u) = (adults[0], adults[1], adults[2], adults[3]);
    let records: Vec<Value> = [p, q, r].iter().map(|x| x.add_record()).collect();
    a.invoke(
        A,
        "resident-sync/apply",
        &a_tokens[0],
        json!({"records": records}),
    );
    let (pa, qa) = (
        person_of(&a, A, &a_tokens[1], p),
        person_of(&a, A, &a_tokens[1], q),
    );
    a.invoke(
        A,
        "dose-entry/record-dose",
        &a_tokens[1],
        dose_form(pa, 1, "2026-10-01"),
    );
    a.invoke(
        A,
        "dose-entry/record-dose",
        &a_tokens[1],
        dose_form(pa, 2, "2026-10-22"),
    );
    a.invoke(
        A,
        "dose-entry/record-dose",
        &a_tokens[1],
        dose_form(qa, 1, "2026-10-05"),
    );
    let moves: Vec<Value> = [p, q]
        .iter()
        .map(|x| json!({"op": "move-out", "address_number": x.address_number, "date": "2026-11-20", "destination": "東京都千代田区"}))
        .collect();
    a.invoke(
        A,
        "resident-sync/apply",
        &a_tokens[0],
        json!({"records": moves}),
    );
    let (p_b, r_b, u_b) = (
        moved_in(p, "900000000000001"),
        moved_in(r, "900000000000002"),
        moved_in(u, "900000000000003"),
    );
    let q_b = moved_in(q, "900000000000004");
    let records: Vec<Value> = [&p_b, &r_b, &u_b].iter().map(|x| x.add_record()).collect();
    b.invoke(
        B1,
        "resident-sync/apply",
        &b1_tokens[0],
        json!({"records": records}),
    );
    b.invoke(
        B2,
        "resident-sync/apply",
        &b2_tokens[0],
        json!({"records": [q_b.add_record()]}),
    );
    c.invoke(
        C,
        "resident-sync/apply",
        &c_tokens[0],
        json!({"records": [moved_in(p, "900000000000009").add_record()]}),
    );
    let query = |node: &Node, tenant: &str, token: &str, resident: &Resident, previous: &str| {
        node.invoke(
            tenant,
            "move-in-query/query",
            token,
            json!({"address_number": resident.address_number, "previous": previous}),
        )
    };

    // B asks A about p: the two doses, only the allowed items.
    let found = query(&b, B1, &b1_tokens[1], &p_b, A);
    assert_eq!(found["outcome"], "found", "{found}");
    let doses = found["doses"].as_array().unwrap();
    assert_eq!(doses.len(), 2, "{found}");
    assert_eq!(doses[0]["lot"], "QX7Q21");
    assert!(
        doses.iter().all(|d| d.get("doctor").is_none()),
        "the doctor is not on the allow-list: {found}"
    );
    let person_b = found["person_id"].as_u64().unwrap();
    let taken = b.invoke(
        B1,
        "move-in-query/take-up",
        &b1_tokens[1],
        json!({"query_id": found["query_id"]}),
    );
    assert_eq!(taken["stored"], 2, "{taken}");
    // Taking up twice stores nothing more.
    let (status, again) = b.call(
        "POST",
        &format!("/v1/{B1}/move-in-query/take-up"),
        Some(&b1_tokens[1]),
        &json!({"query_id": found["query_id"]}).to_string(),
    );
    assert_eq!(status, 404, "{again}");
    let listed = b.invoke(
        B1,
        "dose-entry/list-doses",
        &b1_tokens[1],
        json!({"person_id": person_b}),
    );
    let stored = listed["doses"].as_array().unwrap();
    assert_eq!(stored.len(), 2, "{listed}");
    assert!(
        stored
            .iter()
            .all(|d| d["entered_by"] == format!("municipality:{A}")),
        "{listed}"
    );
    // B records the next dose on top of them.
    let third = b.invoke(
        B1,
        "dose-entry/record-dose",
        &b1_tokens[1],
        dose_form(person_b, 3, "2026-12-01"),
    );
    assert!(third.to_string().contains("dose"), "{third}");

    // r still lives at A: answered like an unknown number. u is unknown.
    for resident in [&r_b, &u_b] {
        let missed = query(&b, B1, &b1_tokens[1], resident, A);
        assert_eq!(missed["outcome"], "no-record", "{missed}");
        assert!(missed.get("query_id").is_none());
    }

    // The nightly batch: one job, a line per row.
    let csv = format!(
        "address_number,previous\n{},{A}\n{},{A}\n999999999999999,{A}\n{},{DOWN}\n",
        r_b.address_number, u_b.address_number, u_b.address_number
    );
    let (status, started) = b.upload(
        &format!("/v1/{B1}/jobs/move-in-query/batch"),
        &b1_tokens[2],
        &csv,
    );
    assert_eq!(status, 202, "{started}");
    let job = started["job_id"].as_str().unwrap().to_owned();
    let status = loop {
        let (_, s) = b.call(
            "GET",
            &format!("/v1/{B1}/jobs/{job}"),
            Some(&b1_tokens[2]),
            "",
        );
        if s["state"] != "running" {
            break s;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let report = &status["output"];
    assert_eq!(
        (
            report["rows"].as_u64(),
            report["no_record"].as_u64(),
            report["refused"].as_u64(),
            report["errors"].as_u64()
        ),
        (Some(4), Some(2), Some(1), Some(1)),
        "{status}"
    );
    assert_eq!(status["done"], 4, "{status}");
    let lines = report["report"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["line"] == 4 && l["result"] == "error"),
        "{report}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["line"] == 5 && l["result"] == "refused" && l["reason"] == "unreachable"),
        "{report}"
    );

    // B2's answers wait for approval at A.
    let pending = query(&b, B2, &b2_tokens[1], &q_b, A);
    assert_eq!(pending["outcome"], "pending", "{pending}");
    let held_id = pending["query_id"].as_str().unwrap().to_owned();
    let again = b.invoke(
        B2,
        "move-in-query/collect",
        &b2_tokens[1],
        json!({"query_id": held_id}),
    );
    assert_eq!(again["outcome"], "pending", "{again}");
    let (status, refused) = a.call(
        "GET",
        &format!("/v1/{A}/federation/queue"),
        Some(&a_tokens[1]),
        "",
    );
    assert_eq!(status, 403, "a clerk may not decide: {refused}");
    let (status, queue) = a.call(
        "GET",
        &format!("/v1/{A}/federation/queue"),
        Some(&a_tokens[2]),
        "",
    );
    assert_eq!(status, 200, "{queue}");
    let waiting = queue["queue"].as_array().unwrap();
    assert_eq!(waiting.len(), 1, "{queue}");
    assert_eq!(waiting[0]["querier"], B2);
    let queued = waiting[0]["id"].as_str().unwrap();
    let (status, decided) = a.call(
        "POST",
        &format!("/v1/{A}/federation/queue/{queued}"),
        Some(&a_tokens[2]),
        r#"{"decision":"approve"}"#,
    );
    assert_eq!(status, 200, "{decided}");
    let collected = b.invoke(
        B2,
        "move-in-query/collect",
        &b2_tokens[1],
        json!({"query_id": held_id}),
    );
    assert_eq!(collected["outcome"], "found", "{collected}");
    assert_eq!(
        collected["doses"].as_array().unwrap().len(),
        1,
        "{collected}"
    );
    // Asked again, the approver refuses: B2 is told so, nothing is held.
    let pending = query(&b, B2, &b2_tokens[1], &q_b, A);
    let held_id = pending["query_id"].as_str().unwrap().to_owned();
    let (_, queue) = a.call(
        "GET",
        &format!("/v1/{A}/federation/queue"),
        Some(&a_tokens[2]),
        "",
    );
    let queued = queue["queue"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = a.call(
        "POST",
        &format!("/v1/{A}/federation/queue/{queued}"),
        Some(&a_tokens[2]),
        r#"{"decision":"refuse"}"#,
    );
    assert_eq!(status, 200);
    let (status, twice) = a.call(
        "POST",
        &format!("/v1/{A}/federation/queue/{queued}"),
        Some(&a_tokens[2]),
        r#"{"decision":"approve"}"#,
    );
    assert_eq!(status, 404, "decided once only: {twice}");
    let refused = b.invoke(
        B2,
        "move-in-query/collect",
        &b2_tokens[1],
        json!({"query_id": held_id}),
    );
    assert_eq!(
        (refused["outcome"].as_str(), refused["reason"].as_str()),
        (Some("refused"), Some("refused-by-staff")),
        "{refused}"
    );
    let (status, _) = b.call(
        "POST",
        &format!("/v1/{B2}/move-in-query/collect"),
        Some(&b2_tokens[1]),
        &json!({"query_id": held_id}).to_string(),
    );
    assert_eq!(status, 404, "a refused answer is not held");

    // C's certificate is from another CA: refused in the handshake, before
    // any plugin runs at A.
    let refused = query(&c, C, &c_tokens[1], &moved_in(p, "900000000000009"), A);
    assert_eq!(refused["outcome"], "refused", "{refused}");
    assert_eq!(refused["reason"], "handshake-failed", "{refused}");

    // Peers down or answering garbage: a clear refusal, the node stays up.
    let slow_started = std::time::Instant::now();
    for (peer, reason) in [
        (DOWN, "unreachable"),
        (GARBAGE, "handshake-failed"),
        (SLOW, "timed-out"),
    ] {
        let failed = query(&b, B1, &b1_tokens[1], &u_b, peer);
        assert_eq!(failed["outcome"], "refused", "{failed}");
        assert_eq!(failed["reason"], reason, "{failed}");
    }
    assert!(
        slow_started.elapsed() < std::time::Duration::from_secs(10),
        "bounded by the 5 s timeout"
    );
    assert_eq!(b.call("GET", "/healthz", None, "").0, 200);

    // A node holding B1's certificate cannot speak for B2; a replayed or an
    // altered request is refused.
    let b1 = Arc::new(
        MunicipalityIdentity::load(
            &pki.join(format!("{B1}.crt")),
            &pki.join(format!("{B1}.key")),
        )
        .unwrap(),
    );
    let roots = Arc::new(kiroku::federation::tls::load_roots(&pki.join("ca.pem")).unwrap());
    let client = Client::new(roots, b1.clone(), std::time::Duration::from_secs(5));
    let node_a = NodeAddress {
        host: "127.0.0.1".into(),
        port: ports[0],
    };
    let body = || QueryBody {
        purpose: "move-in-query".into(),
        my_number: p.my_number.clone(),
    };
    let io = tokio::runtime::Runtime::new().unwrap();
    let send = |sealed: &kiroku::federation::envelope::Sealed| {
        io.block_on(client.post(&node_a, &code(A), "query", sealed))
            .unwrap()
    };
    let entropy = SeededEntropy::new(99);
    let posing = seal(
        &b1.signing,
        &code(B2),
        &code(A),
        body(),
        SystemClock.now_ms(),
        &entropy,
    );
    let (status, answer) = send(&posing);
    assert_eq!(
        (
            status,
            String::from_utf8_lossy(&answer).contains("wrong-municipality")
        ),
        (403, true)
    );
    let honest = seal(
        &b1.signing,
        &code(B1),
        &code(A),
        body(),
        SystemClock.now_ms(),
        &entropy,
    );
    assert_eq!(send(&honest).0, 200);
    let (status, answer) = send(&honest);
    assert_eq!(
        (
            status,
            String::from_utf8_lossy(&answer).contains("replayed")
        ),
        (403, true)
    );
    // A purpose A's allow-list does not name for B1: refused and audited.
    let other = QueryBody {
        purpose: "statistics".into(),
        my_number: p.my_number.clone(),
    };
    let (status, answer) = send(&seal(
        &b1.signing,
        &code(B1),
        &code(A),
        other,
        SystemClock.now_ms(),
        &entropy,
    ));
    assert_eq!(
        (
            status,
            String::from_utf8_lossy(&answer).contains("not-allowed")
        ),
        (403, true)
    );
    let mut altered = seal(
        &b1.signing,
        &code(B1),
        &code(A),
        body(),
        SystemClock.now_ms(),
        &entropy,
    );
    let text = String::from_utf8(altered.bytes.clone()).unwrap();
    altered.bytes = text.replace("move-in-query", "move-in-querx").into_bytes();
    let (status, answer) = send(&altered);
    assert_eq!(
        (
            status,
            String::from_utf8_lossy(&answer).contains("bad-signature")
        ),
        (403, true)
    );

    drop((a, b, c));

    // Both sides audited every exchange: who asked whom, why, the outcome
    // and counts; a miss with a keyed hash of the number, never the number.
    let events = |data: &Path, tenant: &str| {
        let dir = kiroku::datadir::DataDir::open(data).unwrap();
        let store = kiroku::store::TenantStore::open(&dir, &code(tenant)).unwrap();
        let q = kiroku::audit::Query {
            limit: usize::MAX,
            ..Default::default()
        };
        kiroku::audit::query(store.db().as_ref(), &q).unwrap()
    };
    let at_a = events(&data_a, A);
    let provided: Vec<_> = at_a
        .iter()
        .filter(|e| e.action.starts_with("federation.provide"))
        .collect();
    let with = |action: &str, reason: &str| {
        provided
            .iter()
            .filter(|e| e.action == action && e.reason.as_deref().unwrap_or("").starts_with(reason))
            .count()
    };
    let from_b1 = format!("federation.provide query from {B1}");
    assert_eq!(
        with(&from_b1, "found"),
        2,
        "p, and the honest request: {provided:#?}"
    );
    assert_eq!(
        with(&from_b1, "no-record"),
        4,
        "r and u, at the counter and in the batch"
    );
    assert_eq!(with(&from_b1, "replayed"), 1);
    assert_eq!(with(&from_b1, "bad-signature"), 1);
    assert_eq!(with(&from_b1, "wrong-municipality"), 1);
    assert_eq!(with(&from_b1, "not-allowed"), 1);
    assert_eq!(
        with(
            &format!("federation.provide collect from {B2}"),
            "refused-by-staff"
        ),
        1
    );
    assert_eq!(
        with(&format!("federation.provide query from {B2}"), "pending"),
        2
    );
    assert_eq!(
        with(&format!("federation.provide collect from {B2}"), "found"),
        1
    );
    assert!(
        provided.iter().all(|e| !e.action.contains(C)),
        "C never got past the handshake"
    );
    assert!(provided.iter().all(|e| e.automated));
    let found = provided
        .iter()
        .find(|e| e.reason.as_deref().unwrap_or("").starts_with("found"))
        .unwrap();
    assert_eq!(found.count, 2);
    assert!(
        found.fields.contains(&"lot".to_owned()) && !found.fields.contains(&"doctor".to_owned())
    );
    let at_b = events(&data_b, B1);
    let asked = |reason: &str| {
        at_b.iter()
            .filter(|e| {
                e.action == format!("federation.query to {A}")
                    && e.reason.as_deref().unwrap_or("").starts_with(reason)
            })
            .count()
    };
    assert_eq!((asked("found"), asked("no-record")), (1, 4));
    assert!(
        at_b.iter()
            .any(|e| e.action == format!("federation.take-up from {A}") && e.count == 2)
    );
    assert!(at_b.iter().any(|e| {
        e.reason
            .as_deref()
            .is_some_and(|r| r.starts_with("refused unreachable"))
    }));
    for event in at_a.iter().chain(&at_b) {
        let text = format!("{event:?}");
        for needle in [&u.my_number, &p.my_number, &r.my_number] {
            assert!(
                !text.contains(needle.as_str()),
                "an audit event names a My Number"
            );
        }
    }

    // An answer not taken up expires after the hold period (7 days), and
    // the deletion is audited.
    let dir_b = kiroku::datadir::DataDir::open(&data_b).unwrap();
    let store_b2 = kiroku::store::TenantStore::open(&dir_b, &code(B2)).unwrap();
    let now = SystemClock.now_ms();
    assert_eq!(
        kiroku::federation::entries::sweep_expired(&store_b2, now + 86_400_000, "t").unwrap(),
        0
    );
    assert_eq!(
        kiroku::federation::entries::sweep_expired(&store_b2, now + 8 * 86_400_000, "t").unwrap(),
        1
    );
    let expired = kiroku::audit::query(
        store_b2.db().as_ref(),
        &kiroku::audit::Query {
            limit: usize::MAX,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        expired
            .iter()
            .any(|e| e.action == format!("federation.expire from {A}") && e.count == 1)
    );
    assert!(
        kiroku::federation::entries::list::<kiroku::federation::entries::HeldRow>(
            &store_b2, "held/", 10
        )
        .unwrap()
        .is_empty()
    );

    // The unknown number u is nowhere at A (data and log), and in no log of
    // B; p's and r's numbers are in no log and in no file of A in clear.
    for needle in [&u.my_number, &p.my_number, &r.my_number] {
        let at_a = files_containing(&data_a, needle.as_bytes());
        assert!(
            at_a.is_empty(),
            "A holds a queried number in clear: {at_a:?}"
        );
        for log in ["a.log", "b.log", "c.log"] {
            let text = std::fs::read_to_string(root.join(log)).unwrap();
            assert!(
                !text.contains(needle.as_str()),
                "{log} names a queried number"
            );
        }
        assert!(files_containing(&data_b, needle.as_bytes()).is_empty());
    }
    let handshake = std::fs::read_to_string(root.join("a.log")).unwrap();
    assert!(
        handshake.contains("federation handshake refused"),
        "A logs C's refused handshake"
    );
}
