//! Soak: mixed traffic on the real `kiroku serve` for `BENCH_MINUTES`
//! (30): counter clerks (find-person, record-dose), a supervisor's
//! history searches and statistics, an auditor's queries, a dose-import
//! job every minute and an extraction preview every two. Every 30 s it
//! prints the server's RSS, the window's requests, unexpected answers and
//! p99 latency; at the end the first and last windows side by side.
//!
//! `cargo xtask soak` (or `cargo xtask bench --bench soak`). Env:
//! `BENCH_MINUTES` (30), `BENCH_PERSONS` (20000), `BENCH_MEMORY_MIB` (a
//! memory budget for the server; default none).

mod common;

use common::{call, p99, rss_mib};

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(30);

/// Latencies and unexpected answers of the current window.
#[derive(Default)]
struct Window {
    latencies: Vec<Duration>,
    unexpected: u64,
}

struct Load {
    addr: String,
    stop: AtomicBool,
    window: Mutex<Window>,
}

impl Load {
    fn timed(&self, token: &str, path: &str, body: &str, expect: &[u16]) -> (u16, String) {
        let began = Instant::now();
        let (status, answer) = call(&self.addr, token, path, body);
        let mut w = self.window.lock().unwrap();
        w.latencies.push(began.elapsed());
        if !expect.contains(&status) {
            w.unexpected += 1;
            if w.unexpected <= 3 {
                eprintln!(
                    "soak: {path} answered {status}: {}",
                    &answer[..answer.len().min(200)]
                );
            }
        }
        (status, answer)
    }
}

fn token(out: &str, role: &str) -> String {
    out.lines()
        .find(|l| l.trim_start().starts_with(role))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no {role} token"))
        .to_owned()
}

fn main() {
    let minutes = common::env_or("BENCH_MINUTES", 30);
    let persons = common::env_or("BENCH_PERSONS", 20_000);
    let dir = common::scratch("soak");
    let data = dir.path().join("data");
    let printed = common::demo(&data, persons);
    let (clerk, supervisor, auditor) = (
        token(&printed, "clerk"),
        token(&printed, "supervisor"),
        token(&printed, "auditor"),
    );
    // `BENCH_MEMORY_MIB`: the server's memory budget, to tell a cache
    // filling up from a leak.
    let budget = std::env::var("BENCH_MEMORY_MIB").unwrap_or_default();
    let flags: &[&str] = if budget.is_empty() {
        &[]
    } else {
        &["--memory-mib", &budget]
    };
    let (mut server, addr) = common::serve_with(&data, flags);
    while call(&addr, "", "/readyz", "").0 != 200 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let load = Arc::new(Load {
        addr: addr.clone(),
        stop: AtomicBool::new(false),
        window: Mutex::default(),
    });
    let k = "/v1/142051";
    let mut threads = Vec::new();
    // Counter clerks: about 20 entries a second each, like busy venues.
    for clerk_n in 0..3u64 {
        let (load, clerk) = (load.clone(), clerk.clone());
        threads.push(std::thread::spawn(move || {
            let mut n = 1 + clerk_n;
            while !load.stop.load(Ordering::Relaxed) {
                let ticket = kiroku_rules::ticket::for_person(n, 0).unwrap();
                n = if n + 3 > persons { 1 + clerk_n } else { n + 3 };
                let (status, found) = load.timed(&clerk, &format!("{k}/dose-entry/find-person"), &format!(r#"{{"ticket_number":"{ticket}"}}"#), &[200, 404]);
                if status != 200 {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(&found).unwrap_or_default();
                let Some(person) = v["person_id"].as_u64().or(v["persons"][0]["person_id"].as_u64()) else { continue };
                let (_, list) = load.timed(&clerk, &format!("{k}/dose-entry/list-doses"), &format!(r#"{{"person_id":{person}}}"#), &[200]);
                let have = serde_json::from_str::<serde_json::Value>(&list).ok().and_then(|v| v["doses"].as_array().map(Vec::len)).unwrap_or(0);
                if have < 20 {
                    let form = serde_json::json!({"person_id": person, "dose_number": have + 1, "date": "2026-11-20",
                        "maker": "pfizer", "product": "コミナティ", "lot": "FA1234", "amount": "0.3",
                        "facility_code": "1412345678", "doctor": "湘南 太郎", "override_reason": "soak entry"});
                    load.timed(&clerk, &format!("{k}/dose-entry/record-dose"), &form.to_string(), &[200, 400]);
                }
                std::thread::sleep(Duration::from_millis(40));
            }
        }));
    }
    // Supervisor and auditor reading.
    {
        let (load, supervisor, auditor) = (load.clone(), supervisor.clone(), auditor.clone());
        threads.push(std::thread::spawn(move || {
            let mut turn = 0u64;
            while !load.stop.load(Ordering::Relaxed) {
                turn += 1;
                match turn % 3 {
                    0 => load.timed(
                        &supervisor,
                        &format!("{k}/history-list/search"),
                        &format!(r#"{{"dose_number":{},"limit":100}}"#, 1 + turn % 7),
                        &[200],
                    ),
                    1 => load.timed(
                        &supervisor,
                        &format!("{k}/statistics/counts"),
                        r#"{"group_by":["maker"]}"#,
                        &[200],
                    ),
                    _ => load.timed(&auditor, "/v1/142051/audit?limit=100", "", &[200]),
                };
                std::thread::sleep(Duration::from_millis(100));
            }
        }));
    }
    // Imports and extraction previews.
    {
        let (load, supervisor, data) = (load.clone(), supervisor.clone(), data.clone());
        threads.push(std::thread::spawn(move || {
            let anchor = kiroku_rules::Date::parse(kiroku::demo::DEMO_DATA_DAY).unwrap();
            let residents = kiroku::synth::residents(200, 142_051, anchor);
            let start = kiroku_rules::Date::parse("2025-01-01").unwrap().days_since_epoch();
            let mut minute = 0i64;
            let began = Instant::now();
            while !load.stop.load(Ordering::Relaxed) {
                if began.elapsed() >= Duration::from_secs(60 * minute as u64) {
                    let day = kiroku_rules::Date::from_days_since_epoch(start + minute).to_string().replace('-', "");
                    let mut csv = String::from(kiroku::synth::VRS_HEADER);
                    for r in &residents {
                        csv.push_str(&format!("\n{},{day}100000,{day},,142051,藤沢市保健所,佐藤 医師,ファイザー,FA1234", r.address_number));
                    }
                    let file = data.join("soak-import.csv");
                    std::fs::write(&file, csv + "\n").unwrap();
                    let ok = Command::new(env!("CARGO_BIN_EXE_kiroku"))
                        .args(["job", "run", "--server", &format!("http://{}", load.addr), "--tenant", "142051", "dose-import/import", "--file"])
                        .arg(&file)
                        .args(["--option", "encoding=utf-8"])
                        .env("KIROKU_TOKEN", &supervisor)
                        .output()
                        .is_ok_and(|o| o.status.success());
                    if !ok {
                        load.window.lock().unwrap().unexpected += 1;
                        eprintln!("soak: an import job failed");
                    }
                    if minute % 2 == 0 {
                        load.timed(&supervisor, &format!("{k}/target-extraction/preview"), r#"{"campaign":{"id":"soak","dose_number":8,"starts_on":"2026-10-01","min_age":65}}"#, &[200]);
                    }
                    minute += 1;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }));
    }
    println!("soak: {persons} residents, {minutes} min of mixed traffic on the real server");
    println!(
        "  {:>6}  {:>9}  {:>8}  {:>10}  {:>9}",
        "minute", "RSS MiB", "requests", "unexpected", "p99 ms"
    );
    let began = Instant::now();
    let mut windows = Vec::new();
    while began.elapsed() < Duration::from_secs(60 * minutes) {
        std::thread::sleep(WINDOW);
        let w = std::mem::take(&mut *load.window.lock().unwrap());
        let row = (
            began.elapsed().as_secs_f64() / 60.0,
            rss_mib(server.id()),
            w.latencies.len(),
            w.unexpected,
            p99(w.latencies),
        );
        println!(
            "  {:>6.1}  {:>9.0}  {:>8}  {:>10}  {:>9.1}",
            row.0,
            row.1,
            row.2,
            row.3,
            row.4.as_secs_f64() * 1e3
        );
        windows.push(row);
    }
    load.stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let _ = server.kill();
    let _ = server.wait();
    let (first, last) = (windows.first().unwrap(), windows.last().unwrap());
    let requests: usize = windows.iter().map(|w| w.2).sum();
    let unexpected: u64 = windows.iter().map(|w| w.3).sum();
    println!(
        "  RSS {:.0} -> {:.0} MiB, p99 {:.1} -> {:.1} ms (first -> last window), {requests} requests, {unexpected} unexpected answers",
        first.1,
        last.1,
        first.4.as_secs_f64() * 1e3,
        last.4.as_secs_f64() * 1e3
    );
}
