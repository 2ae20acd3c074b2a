//! Shared by the bench binaries: the server's allocator, timing samples
//! and their median.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The server binary's allocator, so benches measure what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The number in environment variable `name`, else `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs the real `kiroku` binary, which must succeed; returns its stdout.
pub fn kiroku(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiroku"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kiroku {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Median of a list of durations.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Per-iteration time of `f`, as the median over `samples` samples of
/// `iters` iterations each (after one warm-up sample).
pub fn per_iter(samples: usize, iters: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iters {
        f();
    }
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        out.push(start.elapsed() / iters);
    }
    median(out)
}

/// The workspace root (benches run with the package as cwd).
pub fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Bytes of a built plugin component.
pub fn component(name: &str) -> Vec<u8> {
    let path = root().join(format!(
        "target/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    ));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `cargo xtask plugins` (or `cargo xtask bench`)",
            path.display()
        )
    })
}

/// A scratch directory on the same disk as the build (not tmpfs), so
/// durability costs are real.
pub fn scratch(name: &str) -> tempfile::TempDir {
    let base = root().join("target/bench-data");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(base)
        .unwrap()
}

/// Microseconds with two decimals.
pub fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

/// Runs `kiroku demo --no-serve` with `persons` residents into `data` on
/// the built plugins; returns what it printed (the role tokens among it).
pub fn demo(data: &std::path::Path, persons: u64) -> String {
    let plugins = root().join("target/wasm32-wasip2/release");
    let policies = root().join("policies");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiroku"))
        .args(["demo", "--data", data.to_str().unwrap()])
        .args(["--persons", &persons.to_string(), "--no-serve"])
        .args(["--plugins", plugins.to_str().unwrap()])
        .args(["--policies", policies.to_str().unwrap()])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Starts the real `kiroku serve` on `data` at a free loopback port;
/// returns the process and the address it printed.
pub fn serve(data: &std::path::Path) -> (std::process::Child, String) {
    serve_with(data, &[])
}

/// [`serve`] with more flags.
pub fn serve_with(data: &std::path::Path, flags: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_kiroku"))
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(flags)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("kiroku serve printed {line:?}"))
        .to_owned();
    (server, addr)
}

/// A GET with a bearer token, its answer as JSON.
pub async fn get_json(addr: &str, path: &str, token: &str) -> serde_json::Value {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", "bench")
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let body = sender
        .send_request(req)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    serde_json::from_slice(&body).unwrap()
}

/// Bytes a process has caused to be written to storage (`/proc/PID/io`).
pub fn write_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| {
                    l.strip_prefix("write_bytes: ")
                        .map(|v| v.trim().parse().ok())
                })
                .flatten()
        })
        .unwrap_or(0)
}

/// Copies a directory tree (a cached data directory, for one run).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// One request on its own connection (a GET when `body` is empty):
/// status and body; status 0 when the server cannot be reached.
pub fn call(addr: &str, token: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let method = if body.is_empty() { "GET" } else { "POST" };
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(raw.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A line of `/proc/PID/status` in MiB (`VmRSS:`, `VmHWM:`).
pub fn proc_status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| {
                    l.strip_prefix(field)
                        .map(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok())
                })
                .flatten()
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// Resident memory of a process, MiB.
pub fn rss_mib(pid: u32) -> f64 {
    proc_status_mib(pid, "VmRSS:")
}

/// The 99th percentile (zero for none).
pub fn p99(v: Vec<Duration>) -> Duration {
    percentile(v, 99)
}

/// The `pct`th percentile (zero for none).
pub fn percentile(mut v: Vec<Duration>, pct: usize) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[(v.len() * pct / 100).min(v.len() - 1)]
}

/// `clients` clients recording doses, each for its own persons at random
/// tenants, on a connection per request, until `until` returns: the
/// latencies of the doses recorded and the count of unexpected answers.
pub fn record_doses(
    addr: &str,
    tenants: &Arc<Vec<(String, String)>>,
    persons: u64,
    book: &Arc<DoseBook>,
    until: impl FnOnce(),
) -> (Vec<Duration>, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let clients = book.0.len() as u64;
    let threads: Vec<_> = (0..clients)
        .map(|me| {
            let (addr, tenants, stop) = (addr.to_owned(), tenants.clone(), stop.clone());
            let book = book.clone();
            std::thread::spawn(move || {
                let mut next = book.0[me as usize].lock().unwrap();
                record_client(addr, tenants, persons, me, clients, &mut next, stop)
            })
        })
        .collect();
    until();
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for t in threads {
        let (l, e) = t.join().unwrap();
        latencies.extend(l);
        errors += e;
    }
    (latencies, errors)
}

/// Each client's next dose number by (tenant, person), kept from one
/// measurement to the next in a run (the persons are the client's own).
pub struct DoseBook(Vec<std::sync::Mutex<std::collections::HashMap<(usize, u64), u32>>>);

impl DoseBook {
    /// A book for `clients` clients.
    pub fn new(clients: u64) -> Arc<DoseBook> {
        Arc::new(DoseBook((0..clients).map(|_| Default::default()).collect()))
    }
}

fn record_client(
    addr: String,
    tenants: Arc<Vec<(String, String)>>,
    persons: u64,
    me: u64,
    clients: u64,
    next: &mut std::collections::HashMap<(usize, u64), u32>,
    stop: Arc<AtomicBool>,
) -> (Vec<Duration>, u64) {
    let today = kiroku::clock::Clock::today(&kiroku::clock::SystemClock).to_string();
    // Seeded afresh each run: a replayed sequence would find every dose
    // number it tries taken by the run before.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = (now ^ 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(me + 1)) | 1;
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while !stop.load(Ordering::Relaxed) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let t = (rng % tenants.len() as u64) as usize;
        let n = 1 + me + clients * ((rng >> 20) % (persons / clients));
        // Above the synthetic histories (at most 7 doses), within the
        // 20 a person can have; a person with all 20 is passed over.
        let dose = next.entry((t, n)).or_insert(8);
        if *dose > 20 {
            continue;
        }
        let (code, token) = &tenants[t];
        let body = serde_json::json!({
            "ticket_number": kiroku_rules::ticket::for_person(n, 0).unwrap(),
            "dose_number": *dose, "date": today, "maker": "moderna", "product": "スパイクバックス",
            "lot": "3005236", "amount": "0.5", "facility_code": "1412345678",
            "doctor": "湘南 花子", "override_reason": "benchmark run",
        });
        let began = Instant::now();
        let (status, answer) = call(
            &addr,
            token,
            &format!("/v1/{code}/dose-entry/record-dose"),
            &body.to_string(),
        );
        match status {
            200 => {
                latencies.push(began.elapsed());
                *dose += 1;
            }
            // This dose number is taken (an earlier run): the next one.
            409 if answer.contains("already has dose") => *dose += 1,
            _ => {
                if errors < 3 {
                    eprintln!("{code}: {status} {}", &answer[..answer.len().min(200)]);
                }
                errors += 1;
            }
        }
    }
    (latencies, errors)
}
