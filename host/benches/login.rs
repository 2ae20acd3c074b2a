//! Benchmark: staff logins (password + TOTP) against the real `kiroku
//! serve`. argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane) is
//! meant to be slow: this says how slow one check is and how many logins
//! a second the node then takes with all its cores.
//!
//! `cargo xtask bench --bench login`. Env: `BENCH_ACCOUNTS` (default 400,
//! each logs in once: a TOTP code works once), `BENCH_CLIENTS` (16).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use kiroku::admin::AdminActor;
use kiroku::clock::{Clock, OsEntropy, SystemClock};
use kiroku::datadir::DataDir;
use kiroku::identity::accounts::{self, Kind, NewAccount};
use kiroku::identity::{password, totp};
use kiroku::ids::TenantCode;
use kiroku::store::TenantStore;

const PASSWORD: &str = "bench-password-0001";

async fn login(addr: &str, name: &str, secret: &[u8]) -> (u16, Duration) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let code = totp::code_at(secret, SystemClock.now_ms());
    let body = serde_json::json!({"name": name, "password": PASSWORD, "totp": code}).to_string();
    let req = hyper::Request::post("/v1/142051/login")
        .header("host", "bench")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let started = Instant::now();
    let response = sender.send_request(req).await.unwrap();
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    (status, started.elapsed())
}

fn main() {
    let accounts = common::env_or("BENCH_ACCOUNTS", 400) as usize;
    let clients = common::env_or("BENCH_CLIENTS", 16) as usize;
    let dir = common::scratch("login");
    let data = DataDir::open(dir.path()).unwrap();
    let code = TenantCode::parse("142051").unwrap();
    let store = TenantStore::create(
        &data,
        &code,
        "藤沢市",
        kiroku::roles::DEFAULT_ROLES,
        &SystemClock,
        &OsEntropy,
    )
    .unwrap();
    let one = common::median(
        (0..20)
            .map(|_| {
                let phc = password::hash(PASSWORD);
                let t = Instant::now();
                assert!(password::verify(&phc, PASSWORD));
                t.elapsed()
            })
            .collect(),
    );
    let setup = Instant::now();
    let actor = AdminActor::system("bench", SystemClock.now_ms());
    let users: Vec<(String, Vec<u8>)> = (0..accounts)
        .map(|i| {
            let new = NewAccount {
                name: format!("staff-{i:04}"),
                role: "clerk".into(),
                kind: Kind::Staff,
                valid_until_ms: None,
            };
            let enrolled =
                accounts::add_enrolled(&store, &new, PASSWORD, &actor, &OsEntropy).unwrap();
            let secret = totp::from_base32(&enrolled.secret_base32).unwrap();
            (new.name, secret)
        })
        .collect();
    drop(store);
    println!(
        "setup: {accounts} enrolled accounts in {:.1?}",
        setup.elapsed()
    );

    let (mut server, addr) = common::serve(dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let users = Arc::new(users);
    let (latencies, refused, elapsed) = rt.block_on(async {
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let (users, addr) = (users.clone(), addr.clone());
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    for (name, secret) in users.iter().skip(c).step_by(clients) {
                        out.push(login(&addr, name, secret).await);
                    }
                    out
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let refused = all.iter().filter(|(s, _)| *s != 200).count();
        (
            all.into_iter().map(|(_, d)| d).collect::<Vec<_>>(),
            refused,
            started.elapsed(),
        )
    });
    let _ = server.kill();
    let _ = server.wait();
    let mut sorted = latencies.clone();
    sorted.sort_unstable();
    let pct = |p: f64| sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)];
    println!(
        "argon2id (m=19456 KiB, t=2, p=1): one password check {}",
        common::us(one)
    );
    println!(
        "logins over HTTP, {clients} clients: {:.0} logins/s, p50 {:.1} ms, p99 {:.1} ms, {refused} refused of {}",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.len()
    );
}
