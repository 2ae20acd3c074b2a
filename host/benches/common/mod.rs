//! Shared by the bench binaries: the server's allocator, timing samples
//! and their median.

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// The server binary's allocator, so benches measure what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    use std::io::BufRead;
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_kiroku"))
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
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
