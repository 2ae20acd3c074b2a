//! Many tenants on one node: `BENCH_TENANTS` (200) demo tenants of
//! `BENCH_PERSONS` (5000) residents each. Two starts of the real `kiroku
//! serve`: with the default memory budget (half the machine, which holds
//! them all) and with `BENCH_MEMORY_MIB` (2048), which holds a fraction,
//! so tenants close and open again as the load moves between them. For
//! each: time to `/healthz` and to `/readyz`, RSS when ready and after
//! the load, peak RSS, and the median and p99 of record-dose with
//! `BENCH_CLIENTS` (16) clients each sending to a random tenant for
//! `BENCH_SECONDS` (30).
//!
//! `cargo xtask bench --bench many_tenants`. The tenants are made once
//! (about 1.7 s each) and kept in `target/bench-data/many-tenants-TxP`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{call, percentile, proc_status_mib, rss_mib};

/// The data directory with its tenants and a clerk token for each (made
/// on the first run).
fn prepared(tenants: u64, persons: u64) -> (std::path::PathBuf, Vec<(String, String)>) {
    let base = common::root().join(format!(
        "target/bench-data/many-tenants-{tenants}x{persons}"
    ));
    let data = base.join("data");
    let tokens_file = base.join("tokens.txt");
    if !tokens_file.exists() {
        // The demo completes what an interrupted run left.
        std::fs::create_dir_all(&base).unwrap();
        let began = Instant::now();
        let plugins = common::root().join("target/wasm32-wasip2/release");
        let policies = common::root().join("policies");
        common::kiroku(&[
            "demo",
            "--data",
            data.to_str().unwrap(),
            "--tenants",
            &tenants.to_string(),
            "--persons",
            &persons.to_string(),
            "--no-serve",
            "--plugins",
            plugins.to_str().unwrap(),
            "--policies",
            policies.to_str().unwrap(),
        ]);
        let mut lines = String::new();
        for (code, _) in kiroku::demo::demo_tenants(tenants as usize) {
            let out = common::kiroku(&[
                "token",
                "add",
                "--data",
                data.to_str().unwrap(),
                "--tenant",
                code.as_str(),
                "--service",
                "bench-clerk",
                "--role",
                "clerk",
                "--expires",
                "2099-12-31",
            ]);
            lines.push_str(&format!("{code} {}\n", out.lines().last().unwrap()));
        }
        std::fs::write(&tokens_file, lines).unwrap();
        println!("made {tenants} tenants in {:.0?}", began.elapsed());
    }
    let tokens = std::fs::read_to_string(&tokens_file)
        .unwrap()
        .lines()
        .map(|l| {
            let (code, token) = l.split_once(' ').unwrap();
            (code.to_owned(), token.to_owned())
        })
        .collect();
    (data, tokens)
}

fn wait_for(addr: &str, path: &str, since: Instant) -> Duration {
    while call(addr, "", path, "").0 != 200 {
        assert!(
            since.elapsed() < Duration::from_secs(900),
            "{path} never 200"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    since.elapsed()
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn run(
    label: &str,
    data: &std::path::Path,
    tenants: &Arc<Vec<(String, String)>>,
    book: &Arc<common::DoseBook>,
    flags: &[&str],
) {
    let seconds = common::env_or("BENCH_SECONDS", 30);
    let persons = common::env_or("BENCH_PERSONS", 5_000);
    let metrics_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let metrics_at = format!("127.0.0.1:{metrics_port}");
    let mut all = vec!["--metrics-listen", metrics_at.as_str()];
    all.extend_from_slice(flags);
    let began = Instant::now();
    let (mut server, addr) = common::serve_with(data, &all);
    let listening = began.elapsed();
    let healthz = wait_for(&addr, "/healthz", began);
    let readyz = wait_for(&addr, "/readyz", began);
    let (_, ready) = call(&addr, "", "/readyz", "");
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let open_at_start = ready["tenants"]
        .as_object()
        .unwrap()
        .values()
        .filter(|t| t["state"] == "open")
        .count();
    let rss_ready = rss_mib(server.id());
    let (latencies, errors) = common::record_doses(&addr, tenants, persons, book, || {
        std::thread::sleep(Duration::from_secs(seconds))
    });
    let rss_after = rss_mib(server.id());
    let peak = proc_status_mib(server.id(), "VmHWM:");
    let (_, text) = call(&metrics_at, "", "/metrics", "");
    let _ = server.kill();
    let _ = server.wait();
    let done = latencies.len();
    println!(
        "{label}: {} tenants, budget {} MiB",
        tenants.len(),
        metric(&text, "kiroku_memory_budget_bytes") / 1048576.0
    );
    println!(
        "  listening {listening:.2?}, /healthz {healthz:.2?}, /readyz {readyz:.2?} ({open_at_start} tenants open at start)"
    );
    println!(
        "  RSS when ready {rss_ready:.0} MiB, after the load {rss_after:.0} MiB, peak {peak:.0} MiB"
    );
    println!(
        "  record-dose across tenants: {done} in {seconds} s ({:.0}/s), median {:.1} ms, p99 {:.1} ms, {errors} errors",
        done as f64 / seconds as f64,
        percentile(latencies.clone(), 50).as_secs_f64() * 1e3,
        percentile(latencies, 99).as_secs_f64() * 1e3,
    );
    println!(
        "  tenants open at the end {}, opened {}, closed for room {}, charged {:.0} MiB",
        metric(&text, "kiroku_tenants_open"),
        metric(&text, "kiroku_tenant_opens_total"),
        metric(&text, "kiroku_tenant_closes_total{reason=\"budget\"}"),
        metric(&text, "kiroku_memory_charged_bytes") / 1048576.0,
    );
}

fn main() {
    let tenants = common::env_or("BENCH_TENANTS", 200);
    let persons = common::env_or("BENCH_PERSONS", 5_000);
    let tight = common::env_or("BENCH_MEMORY_MIB", 2048).to_string();
    let (data, tokens) = prepared(tenants, persons);
    let tokens = Arc::new(tokens);
    let book = common::DoseBook::new(common::env_or("BENCH_CLIENTS", 16));
    run("default budget", &data, &tokens, &book, &[]);
    run(
        "tight budget",
        &data,
        &tokens,
        &book,
        &["--memory-mib", &tight],
    );
}
