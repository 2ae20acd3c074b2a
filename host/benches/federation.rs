//! Benchmark: move-in queries against a real `kiroku serve` node (the
//! demo tenant 142051, answering over mutual TLS with the allow-list, the
//! index lookup among moved-out persons, the `move-out-provision` plugin
//! and an audit event per query), from a querying node for 131016 (this
//! process: the host's own federation client, signing every request).
//!
//! 1. One query at a time (the connection kept alive between them): p50 / p99.
//! 2. A batch of `BENCH_QUERIES` (10,000) queries, half misses, as the
//!    host sends them for `query-many` (32 on the wire at once): total time.
//!
//! `cargo xtask bench --bench federation`. Env: `BENCH_PERSONS` (2000),
//! `BENCH_SINGLE` (500), `BENCH_QUERIES` (10000).

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiroku::clock::{Clock, OsEntropy, SystemClock};
use kiroku::federation::directory::Directory;
use kiroku::federation::identity::MunicipalityIdentity;
use kiroku::federation::node::Node;
use kiroku::federation::wire::{QueryBody, Reply};
use kiroku::ids::TenantCode;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1)]
}

fn main() {
    let persons = common::env_or("BENCH_PERSONS", 2000) as usize;
    let singles = common::env_or("BENCH_SINGLE", 500) as usize;
    let total = common::env_or("BENCH_QUERIES", 10_000) as usize;
    let scratch = common::scratch("federation");
    let (data, pki) = (scratch.path().join("a"), scratch.path().join("pki"));
    let d = data.to_str().unwrap();
    let root = common::root();
    let plugins = root.join("target/wasm32-wasip2/release");
    common::kiroku(&[
        "demo",
        "--data",
        d,
        "--persons",
        &persons.to_string(),
        "--no-serve",
        "--plugins",
        plugins.to_str().unwrap(),
        "--policies",
        root.join("policies").to_str().unwrap(),
    ]);
    common::kiroku(&[
        "plugin",
        "install",
        "--data",
        d,
        "--tenant",
        "142051",
        "--policy",
        root.join("policies/move-out-provision.toml")
            .to_str()
            .unwrap(),
        plugins.join("move_out_provision.wasm").to_str().unwrap(),
    ]);
    common::kiroku(&[
        "federation",
        "allow",
        "--data",
        d,
        "--tenant",
        "142051",
        "--querier",
        "131016",
    ]);
    common::kiroku(&[
        "federation",
        "test-pki",
        "--out",
        pki.to_str().unwrap(),
        "--codes",
        "142051,131016",
    ]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let directory = scratch.path().join("directory.toml");
    std::fs::write(
        &directory,
        format!("[municipalities]\n142051 = \"https://127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_kiroku"))
        .args([
            "serve",
            "--data",
            d,
            "--listen",
            "127.0.0.1:0",
            "--federation-listen",
            &format!("127.0.0.1:{port}"),
            "--federation-ca",
            pki.join("ca.pem").to_str().unwrap(),
            "--directory",
            directory.to_str().unwrap(),
            "--federation-identity",
            pki.to_str().unwrap(),
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));

    // The moved-out demo residents (hits) and numbers nobody holds (misses).
    let anchor = kiroku_rules::Date::parse(kiroku::demo::DEMO_DATA_DAY).unwrap();
    let residents = kiroku::synth::residents(persons, 142_051, anchor);
    let hits: Vec<String> = residents
        .iter()
        .filter(|r| r.moved_out.is_some() && r.died.is_none())
        .map(|r| r.my_number.clone())
        .collect();
    assert!(!hits.is_empty(), "the demo has moved-out residents");
    let miss = |i: usize| {
        let mut first = [0u8; 11];
        let digits = format!("{:011}", 90_000_000_000u64 + i as u64);
        first.copy_from_slice(digits.as_bytes());
        String::from_utf8(kiroku_rules::my_number::complete(&first).to_vec()).unwrap()
    };
    let identity =
        MunicipalityIdentity::load(&pki.join("131016.crt"), &pki.join("131016.key")).unwrap();
    let roots = Arc::new(kiroku::federation::tls::load_roots(&pki.join("ca.pem")).unwrap());
    let node = Node::new(
        roots,
        Directory::load(&directory).unwrap(),
        vec![identity],
        Duration::from_secs(5),
        7,
        SystemClock.now_ms(),
    )
    .unwrap();
    let (querier, answerer) = (
        TenantCode::parse("131016").unwrap(),
        TenantCode::parse("142051").unwrap(),
    );
    let body = |number: &str| QueryBody {
        purpose: "move-in-query".into(),
        my_number: number.into(),
    };
    let outcome = |bytes: &[u8]| {
        serde_json::from_slice::<Reply>(bytes)
            .map(|r| r.outcome)
            .unwrap_or_default()
    };

    // Wait until the plugin is loaded (the first hit answers "found").
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let sent = node.exchange(
            &querier,
            &answerer,
            "query",
            body(&hits[0]),
            SystemClock.now_ms(),
            &OsEntropy,
            Duration::from_secs(5),
        );
        if let Ok((200, bytes)) = &sent
            && outcome(bytes) == "found"
        {
            break;
        }
        assert!(Instant::now() < until, "the node never answered: {sent:?}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut latencies = Vec::with_capacity(singles);
    for i in 0..singles {
        let number = if i % 2 == 0 {
            hits[i / 2 % hits.len()].clone()
        } else {
            miss(i)
        };
        let started = Instant::now();
        let sent = node.exchange(
            &querier,
            &answerer,
            "query",
            body(&number),
            SystemClock.now_ms(),
            &OsEntropy,
            Duration::from_secs(5),
        );
        latencies.push(started.elapsed());
        assert!(matches!(sent, Ok((200, _))), "{sent:?}");
    }
    latencies.sort();
    println!(
        "federation single query round trip (mutual TLS, kept-alive connection, half hits), {singles} queries: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );

    let started = Instant::now();
    let (mut found, mut missed, mut other) = (0, 0, 0);
    for chunk in (0..total).collect::<Vec<_>>().chunks(500) {
        let requests: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let number = if i % 2 == 0 {
                    hits[i / 2 % hits.len()].clone()
                } else {
                    miss(1_000_000 + i)
                };
                (answerer.clone(), body(&number))
            })
            .collect();
        for sent in node.exchange_many(
            &querier,
            "query",
            requests,
            SystemClock.now_ms(),
            &OsEntropy,
            Duration::from_secs(60),
        ) {
            match sent.as_ref().map(|(_, b)| outcome(b)).as_deref() {
                Ok("found") => found += 1,
                Ok("no-record") => missed += 1,
                _ => other += 1,
            }
        }
    }
    let took = started.elapsed();
    println!(
        "federation batch of {total} queries (half misses), 32 on the wire: {:.2} s end to end ({:.0} queries/s); found {found}, no record {missed}, other {other}",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64()
    );
    let _ = server.kill();
    let _ = server.wait();
}
