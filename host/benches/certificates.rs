//! Benchmark: domestic SMART Health Card issuance over HTTP against the
//! real `kiroku serve` (the `certificate` plugin composes the card, the
//! host signs it with ES256 and records it durably, the plugin renders the
//! QR PNG and SVG), 16 keep-alive clients; then the same with the PDF.
//!
//! `cargo xtask bench --bench certificates`. Env: `BENCH_SECONDS` (10),
//! `BENCH_CLIENTS` (16), `BENCH_PERSONS` (2000).

mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

async fn connect(addr: &str) -> SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// Posts on a keep-alive connection (opening a new one when the server
/// closed it, as it does after an error answer).
async fn post(
    addr: &str,
    sender: &mut SendRequest<Full<Bytes>>,
    path: &str,
    token: &str,
    body: &Value,
) -> (u16, Bytes) {
    if sender.ready().await.is_err() {
        *sender = connect(addr).await;
    }
    let req = Request::post(path)
        .header("host", "bench")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

/// Person ids of vaccinated residents, found at the counter by ticket.
async fn vaccinated(addr: &str, token: &str, persons: u64, want: usize) -> Vec<u64> {
    let mut sender = connect(addr).await;
    let mut out = Vec::new();
    for serial in 1..=persons {
        let ticket = kiroku_rules::ticket::for_person(serial, 0).unwrap();
        let (status, body) = post(
            addr,
            &mut sender,
            "/v1/142051/dose-entry/find-person",
            token,
            &json!({"ticket_number": ticket}),
        )
        .await;
        if status != 200 {
            continue;
        }
        let found: Value = serde_json::from_slice(&body).unwrap();
        let Some(person) = found["persons"][0]["person_id"].as_u64() else {
            continue;
        };
        let issue = json!({"person_id": person, "kind": "domestic", "pdf": false});
        if post(
            addr,
            &mut sender,
            "/v1/142051/certificate/issue",
            token,
            &issue,
        )
        .await
        .0 == 200
        {
            out.push(person);
            if out.len() == want {
                break;
            }
        }
    }
    out
}

struct Run {
    rate: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
    bytes: f64,
}

async fn run(
    addr: &str,
    token: &str,
    persons: &Arc<Vec<u64>>,
    clients: usize,
    seconds: u64,
    pdf: bool,
) -> Run {
    let (stop, measuring) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (addr, token, persons) = (addr.to_owned(), token.to_owned(), persons.clone());
            let (stop, measuring) = (stop.clone(), measuring.clone());
            tokio::spawn(async move {
                let mut sender = connect(&addr).await;
                let (mut latencies, mut errors, mut bytes) = (Vec::new(), 0u64, 0usize);
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    let person = persons[i % persons.len()];
                    i += clients;
                    let body = json!({"person_id": person, "kind": "domestic", "pdf": pdf});
                    let started = Instant::now();
                    let (status, answer) = post(
                        &addr,
                        &mut sender,
                        "/v1/142051/certificate/issue",
                        &token,
                        &body,
                    )
                    .await;
                    let took = started.elapsed();
                    if status != 200 {
                        if errors < 3 {
                            eprintln!("error {status}: {}", String::from_utf8_lossy(&answer));
                        }
                        errors += 1;
                    } else if measuring.load(Ordering::Relaxed) {
                        latencies.push(took);
                        bytes += answer.len();
                    }
                }
                (latencies, errors, bytes)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (mut all, mut errors, mut bytes) = (Vec::new(), 0, 0);
    for t in tasks {
        let (l, e, b) = t.await.unwrap();
        all.extend(l);
        errors += e;
        bytes += b;
    }
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Run {
        rate: all.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.5),
        p99: pct(0.99),
        errors,
        bytes: bytes as f64 / all.len().max(1) as f64,
    }
}

fn main() {
    let seconds = common::env_or("BENCH_SECONDS", 10);
    let clients = common::env_or("BENCH_CLIENTS", 16) as usize;
    let persons = common::env_or("BENCH_PERSONS", 2_000);
    let dir = common::scratch("certificates");
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let plugins = common::root().join("target/wasm32-wasip2/release");
    let policies = common::root().join("policies");
    let out = Command::new(env!("CARGO_BIN_EXE_kiroku"))
        .args([
            "demo",
            "--data",
            d,
            "--persons",
            &persons.to_string(),
            "--no-serve",
        ])
        .args([
            "--plugins",
            plugins.to_str().unwrap(),
            "--policies",
            policies.to_str().unwrap(),
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8(out.stdout).unwrap();
    let token_of = |role: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(role))
            .and_then(|l| l.split_whitespace().last())
            .unwrap()
            .to_owned()
    };
    let (clerk, admin) = (token_of("clerk"), token_of("admin"));
    let (mut server, addr) = common::serve(&data);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Wait for the plugins to load.
        let mut sender = connect(&addr).await;
        for _ in 0..600 {
            let req = Request::get("/readyz").header("host", "bench").body(Full::new(Bytes::new())).unwrap();
            if sender.send_request(req).await.unwrap().status() == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let people = Arc::new(vaccinated(&addr, &clerk, persons, 500).await);
        println!("setup: {persons} residents, {} vaccinated persons to certify", people.len());
        for (pdf, what) in [(false, "JWS + QR PNG + SVG"), (true, "with the PDF")] {
            let stats = "/v1/admin/142051/stats";
            let before = common::get_json(&addr, stats, &admin).await;
            let written = common::write_bytes(server.id());
            let r = run(&addr, &clerk, &people, clients, seconds, pdf).await;
            let written = common::write_bytes(server.id()) - written;
            let after = common::get_json(&addr, stats, &admin).await;
            let delta = |k: &str| after[k].as_u64().unwrap_or(0) - before[k].as_u64().unwrap_or(0);
            println!(
                "domestic SHC issuance over HTTP ({what}), {clients} clients, {seconds} s: {:.0} certificates/s, p50 {:.2} ms, p99 {:.2} ms, {:.0} bytes per answer, {} errors",
                r.rate,
                r.p50.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3,
                r.bytes,
                r.errors
            );
            // The counters span the warm-up too; the ratios are what count.
            println!(
                "  {:.1} requests per durable commit, {:.1} KiB written to storage per certificate",
                delta("write_sets") as f64 / delta("commits").max(1) as f64,
                written as f64 / 1024.0 / delta("write_sets").max(1) as f64
            );
        }
    });
    let _ = server.kill();
    let _ = server.wait();
}
