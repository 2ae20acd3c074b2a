//! Benchmark 2: durable `record-dose` over HTTP on loopback with 64
//! concurrent clients against the real `kiroku serve` process; and, in the
//! same run and on the same disk, a plain write+fdatasync loop, which group
//! commit must beat.
//!
//! `cargo xtask bench -- record_dose_http`. Env: `BENCH_SECONDS` (default 15),
//! `BENCH_CLIENTS` (64), `BENCH_PERSONS` (20000).

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;

/// One client: a keep-alive connection recording doses for its own persons.
async fn client(
    addr: String,
    token: String,
    persons: Vec<u64>,
    stop: Arc<AtomicBool>,
    measuring: Arc<AtomicBool>,
) -> (Vec<Duration>, u64) {
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut next_dose = vec![1u32; persons.len()];
    // Nobody is born after today, so no dose date is before a birth date.
    let today = kiroku::clock::Clock::today(&kiroku::clock::SystemClock).to_string();
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let slot = i % persons.len();
        i += 1;
        let ticket = kiroku_rules::ticket::for_person(persons[slot], 0).unwrap();
        let body = json!({
            "ticket_number": ticket, "dose_number": next_dose[slot], "date": today,
            "maker": "moderna", "product": "スパイクバックス", "lot": "3005236", "amount": "0.5",
            "facility_code": "1412345678", "doctor": "湘南 花子", "override_reason": "benchmark run",
        });
        let req = Request::post("/v1/142051/dose-entry/record-dose")
            .header("host", "bench")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let started = Instant::now();
        let response = sender.send_request(req).await.unwrap();
        let status = response.status();
        let answer = response.into_body().collect().await.unwrap().to_bytes();
        let took = started.elapsed();
        if status.is_success() {
            next_dose[slot] += 1;
            if measuring.load(Ordering::Relaxed) {
                latencies.push(took);
            }
        } else {
            if errors < 3 {
                eprintln!("error {status}: {}", String::from_utf8_lossy(&answer));
            }
            errors += 1;
        }
    }
    (latencies, errors)
}

fn fdatasync_rate(dir: &std::path::Path, seconds: f64) -> f64 {
    let mut f = std::fs::File::create(dir.join("fdatasync-loop")).unwrap();
    let block = [7u8; 512];
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        f.write_all(&block).unwrap();
        f.sync_data().unwrap();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let seconds = common::env_or("BENCH_SECONDS", 15);
    let clients = common::env_or("BENCH_CLIENTS", 64) as usize;
    let persons = common::env_or("BENCH_PERSONS", 20_000);
    let dir = common::scratch("record-dose");
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let plugins = common::root().join("target/wasm32-wasip2/release");
    let policies = common::root().join("policies");
    let setup = Instant::now();
    let out = common::kiroku(&[
        "demo",
        "--data",
        d,
        "--persons",
        &persons.to_string(),
        "--no-serve",
        "--plugins",
        plugins.to_str().unwrap(),
        "--policies",
        policies.to_str().unwrap(),
    ]);
    let token_of = |role: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(role))
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .to_owned()
    };
    let (clerk, admin) = (token_of("clerk"), token_of("admin"));
    println!(
        "setup: {persons} synthetic residents with tickets in {:.1?}",
        setup.elapsed()
    );

    let (mut server, addr) = common::serve(&data);

    // The clients get one core's worth of threads; the server runs in its own process.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (stop, measuring) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let warmup = Duration::from_secs(3);
    let (latencies, errors, commits, write_sets, elapsed) = rt.block_on(async {
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let mine: Vec<u64> = (1..=persons)
                    .filter(|p| (*p as usize) % clients == c)
                    .collect();
                tokio::spawn(client(
                    addr.clone(),
                    clerk.clone(),
                    mine,
                    stop.clone(),
                    measuring.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(warmup).await;
        let before = common::get_json(&addr, "/v1/admin/142051/stats", &admin).await;
        measuring.store(true, Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        measuring.store(false, Ordering::Relaxed);
        let elapsed = started.elapsed();
        let after = common::get_json(&addr, "/v1/admin/142051/stats", &admin).await;
        stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        let mut errors = 0;
        for t in tasks {
            let (l, e) = t.await.unwrap();
            all.extend(l);
            errors += e;
        }
        let delta = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
        (all, errors, delta("commits"), delta("write_sets"), elapsed)
    });
    let _ = server.kill();
    let _ = server.wait();

    let mut sorted = latencies.clone();
    sorted.sort_unstable();
    let pct = |p: f64| sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)];
    let rate = latencies.len() as f64 / elapsed.as_secs_f64();
    let sync_rate = fdatasync_rate(dir.path(), 3.0);
    println!("record-dose over HTTP, {clients} clients, {seconds} s after {warmup:?} warm-up:");
    println!(
        "  throughput {rate:.0} requests/s (target ≥ 5000), {} acknowledged, {errors} errors",
        latencies.len()
    );
    println!(
        "  latency p50 {:.2} ms, p99 {:.2} ms (target p99 ≤ 20 ms)",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    println!(
        "  durable commits {commits} for {write_sets} write sets: {:.3} commits per request ({:.1} requests per commit)",
        commits as f64 / write_sets.max(1) as f64,
        write_sets as f64 / commits.max(1) as f64
    );
    println!(
        "  plain write+fdatasync loop on the same disk: {sync_rate:.0}/s; group commit = {:.1}x that",
        rate / sync_rate
    );
}
