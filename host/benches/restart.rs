//! Benchmark: restarting `kiroku serve` on a 30,000-resident demo tenant,
//! with and without the compile cache. Each start is timed from spawn to
//! the first `/healthz` 200 and to the first `/readyz` 200 (tenants open,
//! cohort facts built, every plugin loaded). Cold = `DATA/cache` deleted
//! before the start (every component compiled, as before the cache);
//! warm = the cache the previous start left. Runs alternate; medians.
//!
//! `cargo xtask bench --bench restart`. Env: `BENCH_PERSONS` (30000),
//! `BENCH_RUNS` (5).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn status(addr: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    let raw = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    s.write_all(raw.as_bytes()).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    std::str::from_utf8(out.get(9..12)?).ok()?.parse().ok()
}

/// One start: time to `/healthz` and to `/readyz`.
fn start(data: &std::path::Path) -> (Duration, Duration) {
    let began = Instant::now();
    let (mut server, addr) = common::serve(data);
    let mut healthz = None;
    let ready = loop {
        if healthz.is_none() && status(&addr, "/healthz") == Some(200) {
            healthz = Some(began.elapsed());
        }
        if status(&addr, "/readyz") == Some(200) {
            break began.elapsed();
        }
        assert!(began.elapsed() < Duration::from_secs(120), "never ready");
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = server.kill();
    let _ = server.wait();
    (healthz.unwrap_or(ready), ready)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let persons = common::env_or("BENCH_PERSONS", 30_000);
    let runs = common::env_or("BENCH_RUNS", 5);
    let dir = common::scratch("restart");
    let data = dir.path().join("data");
    common::demo(&data, persons);
    let cache = data.join("cache");
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(&cache);
        cold.push(start(&data));
        warm.push(start(&data));
    }
    let entries = std::fs::read_dir(&cache).map_or(0, |d| d.count());
    let median = |v: &[(Duration, Duration)], pick: fn(&(Duration, Duration)) -> Duration| {
        common::median(v.iter().map(pick).collect())
    };
    let (cold_h, cold_r) = (median(&cold, |s| s.0), median(&cold, |s| s.1));
    let (warm_h, warm_r) = (median(&warm, |s| s.0), median(&warm, |s| s.1));
    println!(
        "restart of a {persons}-resident tenant, {entries} cached components, median of {runs}:"
    );
    println!(
        "  compiling afresh:      /healthz {:.0} ms, /readyz {:.0} ms",
        ms(cold_h),
        ms(cold_r)
    );
    println!(
        "  from the compile cache: /healthz {:.0} ms, /readyz {:.0} ms (target well under 1 s)",
        ms(warm_h),
        ms(warm_r)
    );
    println!(
        "  ready {:.1}x sooner with the cache",
        cold_r.as_secs_f64() / warm_r.as_secs_f64()
    );
}
