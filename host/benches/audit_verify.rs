//! Benchmark 3: audit chain verification throughput (target ≥ 1M events/s).
//!
//! Builds a tenant with `BENCH_EVENTS` (default 1,000,000) realistic events
//! through the real commit path, then verifies the chain several times
//! in-process (median) and once with the real `kiroku audit verify`.

mod common;

use std::time::{Duration, Instant};

use kiroku::audit::{Event, Outcome, Verified};
use kiroku::clock::{OsEntropy, SystemClock};
use kiroku::datadir::DataDir;
use kiroku::ids::TenantCode;
use kiroku::store::commit::WriteSet;
use kiroku::store::{TenantStore, open_tenant_for_verify};

fn main() {
    let total: u64 = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let scratch = common::scratch("audit");
    let dir = DataDir::open(scratch.path()).unwrap();
    let code = TenantCode::parse("142051").unwrap();
    let store = TenantStore::create(
        &dir,
        &code,
        "藤沢市",
        kiroku::roles::DEFAULT_ROLES,
        &SystemClock,
        &OsEntropy,
    )
    .unwrap();
    let digest = kiroku::ids::Digest::of(b"dose-entry").to_string();
    let fields: Vec<String> = [
        "kana-name",
        "kanji-name",
        "birth-date",
        "sex",
        "address",
        "status",
        "status-date",
    ]
    .iter()
    .map(|f| (*f).to_owned())
    .collect();
    let started = Instant::now();
    let mut written = 1; // tenant.create
    while written < total {
        let n = (total - written).min(50_000);
        let events = (0..n)
            .map(|i| {
                let seq = written + i;
                let mut e = Event::new(
                    1_790_000_000_000 + seq as i64,
                    &format!("req-{:024x}", seq / 4),
                    "clerk-017",
                    "residents.get",
                    Outcome::Ok,
                );
                e.plugin = Some("dose-entry".into());
                e.digest = Some(digest.clone());
                e.subject = Some(seq % 100_000);
                e.fields = fields.clone();
                e
            })
            .collect();
        store
            .commit_now(WriteSet {
                events,
                ..WriteSet::default()
            })
            .unwrap();
        written += n;
    }
    println!("wrote {written} audit events in {:.1?}", started.elapsed());
    drop(store);

    let (db, keys) = open_tenant_for_verify(&dir, &code).unwrap();
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        match db.verify(&keys).unwrap() {
            Verified::Intact(n) => assert_eq!(n, written),
            Verified::Broken(b) => panic!("{b}"),
        }
        samples.push(t.elapsed());
    }
    println!(
        "first (cold-cache) verification: {:.0} ms",
        samples[0].as_secs_f64() * 1e3
    );
    let median: Duration = common::median(samples);
    println!(
        "audit verify (in process, median of 5): {:.0} ms for {written} events = {:.2}M events/s (target ≥ 1M/s)",
        median.as_secs_f64() * 1e3,
        written as f64 / median.as_secs_f64() / 1e6
    );
    drop(db);
    // The real binary, three runs; it prints its own rate (excluding the open).
    for _ in 0..3 {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiroku"))
            .args([
                "audit",
                "verify",
                "--data",
                scratch.path().to_str().unwrap(),
                "--tenant",
                "142051",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        print!(
            "kiroku audit verify: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    if std::env::var_os("BENCH_KEEP").is_some() {
        println!("kept {}", scratch.keep().display());
    }
}
