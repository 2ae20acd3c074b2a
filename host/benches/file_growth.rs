//! Record-dose throughput as the tenant file grows: the real `kiroku
//! serve` on a fresh demo tenant of `BENCH_PERSONS` (60000) residents,
//! measured for `BENCH_SECONDS` (20) with `BENCH_CLIENTS` (32) clients;
//! then written to until the file reaches `BENCH_GROW_MIB` (1024) and
//! measured again, warm and after a restart (cold cache). For each: the
//! rate, median and p99, the bytes the server wrote per dose, and
//! `kiroku tenant stats` (the tables' heights and sizes, free pages).
//!
//! `cargo xtask bench --bench file_growth`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::percentile;

fn file_mib(data: &std::path::Path) -> f64 {
    std::fs::metadata(data.join("tenants/142051.redb")).map_or(0.0, |m| m.len() as f64 / 1048576.0)
}

fn stats(data: &std::path::Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiroku"))
        .args([
            "tenant",
            "stats",
            "--data",
            data.to_str().unwrap(),
            "--tenant",
            "142051",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Figures {
    rate: f64,
    median: Duration,
    p99: Duration,
    written_per_dose: f64,
}

fn measure(
    server: &std::process::Child,
    addr: &str,
    tenant: &Arc<Vec<(String, String)>>,
    book: &Arc<common::DoseBook>,
    until: impl FnOnce(),
) -> Figures {
    let persons = common::env_or("BENCH_PERSONS", 60_000);
    let written = common::write_bytes(server.id());
    let began = Instant::now();
    let (latencies, errors) = common::record_doses(addr, tenant, persons, book, until);
    let took = began.elapsed().as_secs_f64();
    assert_eq!(errors, 0, "unexpected answers");
    let n = latencies.len().max(1) as f64;
    Figures {
        rate: latencies.len() as f64 / took,
        median: percentile(latencies.clone(), 50),
        p99: percentile(latencies, 99),
        written_per_dose: (common::write_bytes(server.id()) - written) as f64 / n,
    }
}

fn show(label: &str, data: &std::path::Path, f: &Figures) {
    println!(
        "{label}: file {:.0} MiB, {:.0} doses/s, median {:.1} ms, p99 {:.1} ms, {:.1} KiB written per dose",
        file_mib(data),
        f.rate,
        f.median.as_secs_f64() * 1e3,
        f.p99.as_secs_f64() * 1e3,
        f.written_per_dose / 1024.0
    );
    for line in stats(data).lines().take(12) {
        println!("    {line}");
    }
}

fn main() {
    let persons = common::env_or("BENCH_PERSONS", 60_000);
    let seconds = Duration::from_secs(common::env_or("BENCH_SECONDS", 20));
    let grow_to = common::env_or("BENCH_GROW_MIB", 1024) as f64;
    let dir = common::scratch("file-growth");
    let data = dir.path().join("data");
    let printed = common::demo(&data, persons);
    let clerk = printed
        .lines()
        .find(|l| l.trim_start().starts_with("clerk"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .to_owned();
    let tenant = Arc::new(vec![("142051".to_owned(), clerk)]);
    let book = common::DoseBook::new(common::env_or("BENCH_CLIENTS", 32));
    let (mut server, addr) = common::serve(&data);
    while common::call(&addr, "", "/readyz", "").0 != 200 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let fresh = measure(&server, &addr, &tenant, &book, || {
        std::thread::sleep(seconds)
    });
    show("fresh", &data, &fresh);

    let began = Instant::now();
    let growing = measure(&server, &addr, &tenant, &book, || {
        let mut shown = file_mib(&data);
        while file_mib(&data) < grow_to {
            std::thread::sleep(Duration::from_secs(5));
            if file_mib(&data) >= shown + 128.0 {
                shown = file_mib(&data);
                println!("  grown to {shown:.0} MiB after {:.0?}", began.elapsed());
            }
        }
    });
    println!(
        "growing: {:.0} doses/s on average while the file grew to {grow_to:.0} MiB",
        growing.rate
    );
    let grown = measure(&server, &addr, &tenant, &book, || {
        std::thread::sleep(seconds)
    });
    show("grown, warm", &data, &grown);
    let _ = server.kill();
    let _ = server.wait();

    let (mut server, addr) = common::serve(&data);
    while common::call(&addr, "", "/readyz", "").0 != 200 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let cold = measure(&server, &addr, &tenant, &book, || {
        std::thread::sleep(seconds)
    });
    show("grown, after a restart", &data, &cold);
    let _ = server.kill();
    let _ = server.wait();
    println!(
        "ratio grown/fresh: {:.2} warm, {:.2} after a restart",
        grown.rate / fresh.rate,
        cold.rate / fresh.rate
    );
}
