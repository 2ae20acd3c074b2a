//! Benchmark: other plugins and `/healthz` under hostile load, against the
//! real `kiroku serve`. Idle first, then with 50 hostile invocations kept
//! running (endless loops stopped at their deadline, and huge-argument
//! lookups in a loop), in the same run: a no-op plugin's p50 (target within
//! 3x of idle) and `/healthz` p99 (target ≤ 10 ms), and an idle tenant's
//! no-op beside a hostile one.
//!
//! `cargo xtask bench --bench containment`. Env: `BENCH_SECONDS` (default 10).

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// A keep-alive HTTP/1.1 connection.
struct Conn(hyper::client::conn::http1::SendRequest<Full<Bytes>>);

impl Conn {
    async fn open(addr: &str) -> Conn {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Conn(sender)
    }

    /// Sends one request; its status and how long the answer took.
    async fn send(&mut self, method: &str, path: &str, token: &str) -> (u16, Duration) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "bench")
            .header("authorization", format!("Bearer {token}"))
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let started = Instant::now();
        let response = self.0.send_request(req).await.unwrap();
        let status = response.status().as_u16();
        let _ = response.into_body().collect().await.unwrap();
        (status, started.elapsed())
    }
}

fn pct(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Latencies of back-to-back requests on one connection for `secs`.
async fn sample(addr: &str, method: &str, path: &str, token: &str, secs: f64) -> Vec<Duration> {
    let mut conn = Conn::open(addr).await;
    let started = Instant::now();
    let mut out = Vec::new();
    while started.elapsed().as_secs_f64() < secs {
        let (status, took) = conn.send(method, path, token).await;
        assert_eq!(status, 200, "{path}");
        out.push(took);
        // A paced client, like staff at a counter, not a flood.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    out
}

/// Keeps `n` hostile invocations running until `stop`: each client sends
/// its next as soon as the last one ends (at its deadline, or refused busy).
fn hostile_load(
    addr: &str,
    token: &str,
    paths: Vec<String>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    paths
        .into_iter()
        .map(|path| {
            let (addr, token, stop, sent) = (
                addr.to_owned(),
                token.to_owned(),
                stop.clone(),
                sent.clone(),
            );
            tokio::spawn(async move {
                let mut conn = Conn::open(&addr).await;
                while !stop.load(Ordering::Relaxed) {
                    let (status, _) = conn.send("POST", &path, &token).await;
                    if status == 503 {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect()
}

fn main() {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10.0f64);
    let dir = common::scratch("containment");
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let wasm = |p: &str| {
        common::root()
            .join(format!(
                "target/wasm32-wasip2/release/{}.wasm",
                p.replace('-', "_")
            ))
            .to_string_lossy()
            .into_owned()
    };
    let policy = |p: &str| {
        common::root()
            .join(format!("tests/plugins/{p}/policy.toml"))
            .to_string_lossy()
            .into_owned()
    };
    let plugins = ["noop", "hostile-loop", "hostile-args"];
    let roles = dir.path().join("roles.toml");
    let invoke: Vec<String> = plugins.iter().map(|p| format!("\"{p}/*\"")).collect();
    std::fs::write(
        &roles,
        format!("[staff]\ninvoke = [{}]\n", invoke.join(", ")),
    )
    .unwrap();
    let mut tokens = Vec::new();
    for (code, name) in [("142051", "藤沢市"), ("141003", "横浜市")] {
        common::kiroku(&[
            "tenant",
            "create",
            "--data",
            d,
            "--code",
            code,
            "--name",
            name,
            "--roles",
            roles.to_str().unwrap(),
        ]);
        for p in plugins {
            common::kiroku(&[
                "plugin",
                "install",
                "--data",
                d,
                "--tenant",
                code,
                "--policy",
                &policy(p),
                &wasm(p),
            ]);
        }
        let out = common::kiroku(&[
            "token",
            "add",
            "--data",
            d,
            "--tenant",
            code,
            "--service",
            "bench",
            "--role",
            "staff",
            "--expires",
            "2099-12-31",
        ]);
        tokens.push(out.lines().last().unwrap().to_owned());
    }
    let (hostile_token, idle_token) = (tokens[0].clone(), tokens[1].clone());

    let mut server = Command::new(env!("CARGO_BIN_EXE_kiroku"))
        .args(["serve", "--data", d, "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = Conn::open(&addr).await;
        while conn.send("GET", "/readyz", "").await.0 != 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let noop = "/v1/142051/noop/noop";
        let idle_noop = "/v1/141003/noop/noop";
        // Warm up, then idle figures.
        sample(&addr, "POST", noop, &hostile_token, 1.0).await;
        let measure = |label: &'static str| {
            let (addr, hostile_token, idle_token) =
                (addr.clone(), hostile_token.clone(), idle_token.clone());
            async move {
                let (mut noop_here, mut noop_there, mut health) = tokio::join!(
                    sample(&addr, "POST", noop, &hostile_token, seconds),
                    sample(&addr, "POST", idle_noop, &idle_token, seconds),
                    sample(&addr, "GET", "/healthz", "", seconds),
                );
                let row = (
                    pct(&mut noop_here, 0.5),
                    pct(&mut noop_there, 0.5),
                    pct(&mut health, 0.5),
                    pct(&mut health, 0.99),
                );
                println!(
                    "{label:<44} no-op p50 {} (same tenant), {} (idle tenant); /healthz p50 {}, p99 {}",
                    ms(row.0),
                    ms(row.1),
                    ms(row.2),
                    ms(row.3)
                );
                row
            }
        };
        let idle = measure("idle").await;
        let mut results = Vec::new();
        for (label, paths) in [
            (
                "50 endless loops (hostile-loop/spin)",
                vec!["/v1/142051/hostile-loop/spin".to_owned(); 50],
            ),
            (
                "40 loops + 10 huge-argument lookup loops",
                std::iter::repeat_n("/v1/142051/hostile-loop/spin".to_owned(), 40)
                    .chain(std::iter::repeat_n(
                        "/v1/142051/hostile-args/long-name-loop".to_owned(),
                        10,
                    ))
                    .collect(),
            ),
        ] {
            let stop = Arc::new(AtomicBool::new(false));
            let sent = Arc::new(AtomicU64::new(0));
            let load = hostile_load(&addr, &hostile_token, paths, stop.clone(), sent.clone());
            tokio::time::sleep(Duration::from_secs(1)).await;
            let row = measure(label).await;
            stop.store(true, Ordering::Relaxed);
            for l in load {
                let _ = l.await;
            }
            println!("  ({} hostile invocations sent)", sent.load(Ordering::Relaxed));
            results.push((label, row));
        }
        for (label, row) in results {
            let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
            println!(
                "{label}: no-op p50 {:.2}x idle (same tenant), {:.2}x (idle tenant) (target ≤ 3x); /healthz p99 {} (target ≤ 10 ms)",
                ratio(row.0, idle.0),
                ratio(row.1, idle.1),
                ms(row.3)
            );
        }
    });
    let _ = server.kill();
    let _ = server.wait();
}
