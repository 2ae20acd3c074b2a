//! Benchmarks of the health-centre flows at a city's scale (issue 3):
//!
//! 1. importing 1,000,000 dose rows (a VRS export) through dose-import,
//!    durable and every row audited;
//! 2. target extraction over all residents to the issued count, tickets
//!    durably issued;
//! 3. history-list queries, a page of 100, p50 and p99.
//!
//! `cargo xtask bench --bench health_scale`. Env: `BENCH_PERSONS`
//! (default 1000000), `BENCH_DOSE_ROWS` (1000000), `BENCH_QUERIES` (200),
//! `BENCH_MEMORY_MIB` (a server's memory budget; default none).
//! The residents (loaded once through resident-sync and ticket-issuance)
//! are cached under `target/bench-data/`; each run works on a fresh copy.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiroku::app::App;
use kiroku::clock::{FakeClock, OsEntropy};
use kiroku::datadir::DataDir;
use kiroku::demo::{DEMO_TENANT, DemoOptions};
use kiroku::ids::TenantCode;
use kiroku::runtime::{RequestInfo, Runtime};
use kiroku_rules::Date;
use serde_json::{Value, json};

/// The day the synthetic town is generated for: the demo data's (fixed, so
/// the cache stays valid).
const TODAY: &str = kiroku::demo::DEMO_DATA_DAY;
const SEED: u64 = 142_051;

fn app_on(dir: &Path) -> Arc<App> {
    let clock = FakeClock::at(Date::parse(TODAY).unwrap());
    let runtime = Arc::new(Runtime::new(clock, Arc::new(OsEntropy)).unwrap());
    let app = App::new(DataDir::open(dir).unwrap(), runtime);
    // `BENCH_MEMORY_MIB`: the server's memory budget (else the CLI's
    // default cache bound).
    if let Some(mib) = std::env::var("BENCH_MEMORY_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        let _ = app.memory.set(kiroku::app::MemoryBudget::from_mib(mib));
    }
    Arc::new(app)
}

fn demo_options(persons: usize) -> DemoOptions {
    DemoOptions {
        persons,
        seed: SEED,
        plugins: common::root().join("target/wasm32-wasip2/release"),
        policies: common::root().join("policies"),
        doses: false,
    }
}

/// Residents with tickets, seeded once and cached.
async fn seeded(persons: usize) -> std::path::PathBuf {
    let dir = common::root().join(format!("target/bench-data/residents-{persons}"));
    if dir.join("READY").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let app = app_on(&dir);
    let started = Instant::now();
    kiroku::demo::prepare(&app, &demo_options(persons))
        .await
        .unwrap();
    eprintln!(
        "seeded {persons} residents in {:.1?} (cached)",
        started.elapsed()
    );
    drop(app);
    std::fs::write(dir.join("READY"), b"").unwrap();
    dir
}

async fn invoke(app: &App, plugin: &str, op: &str, input: &str, id: &str) -> Result<Value, String> {
    let code = TenantCode::parse(DEMO_TENANT).unwrap();
    let tenant = app.tenant(&code).unwrap().unwrap();
    let registry = tenant.registry(app).await.unwrap();
    // Loaded in the background (or on first use): wait for it.
    let p = registry.plugins[plugin]
        .ready(Duration::from_secs(600))
        .await
        .unwrap_or_else(|e| panic!("{plugin}: {e}"));
    let request = Arc::new(RequestInfo {
        who: kiroku::audit::Identity::named("demo-supervisor"),
        request_id: id.into(),
        now_ms: app.runtime.clock().now_ms(),
        today: app.runtime.clock().today(),
        replay_guard: None,
        job: None,
        public_url: app.public_url(),
        application: None,
        federation: None,
    });
    tenant
        .invoke(app, &p, request, op, input)
        .await
        .map(|out| serde_json::from_str(&out.output).unwrap())
        .map_err(|e| e.to_string())
}

fn audit_count(app: &App, action: &str) -> usize {
    let code = TenantCode::parse(DEMO_TENANT).unwrap();
    let store = app.tenant(&code).unwrap().unwrap().store.clone();
    let q = kiroku::audit::Query {
        limit: usize::MAX,
        ..Default::default()
    };
    kiroku::audit::query(store.db().as_ref(), &q)
        .unwrap()
        .iter()
        .filter(|e| e.action == action)
        .count()
}

/// The process's resident memory (Linux), in MiB.
fn rss_mib() -> u64 {
    status_mib("VmRSS:")
}

/// A memory figure of `/proc/self/status` (Linux), in MiB.
fn status_mib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let persons = common::env_or("BENCH_PERSONS", 1_000_000) as usize;
    let rows = common::env_or("BENCH_DOSE_ROWS", 1_000_000) as usize;
    let queries = common::env_or("BENCH_QUERIES", 200) as usize;
    let cached = seeded(persons).await;
    let scratch = common::scratch("health");
    common::copy_dir(&cached, scratch.path());
    let app = app_on(scratch.path());
    let started = Instant::now();
    app.tenant(&TenantCode::parse(DEMO_TENANT).unwrap())
        .unwrap()
        .unwrap();
    println!(
        "tenant opened in {:.2} s (a cache seeded by an older Kiroku is upgraded to the current storage schema here)",
        started.elapsed().as_secs_f64()
    );
    // The cache may hold older plugin builds: install the current ones.
    kiroku::demo::prepare(&app, &demo_options(persons))
        .await
        .unwrap();

    // 0. A running server builds the cohort facts at start.
    let rss_before = rss_mib();
    let started = Instant::now();
    let tenant = app
        .tenant(&TenantCode::parse(DEMO_TENANT).unwrap())
        .unwrap()
        .unwrap();
    tenant.store.warm_facts().unwrap();
    println!(
        "cohort facts of {persons} residents built in {:.2} s (at server start); resident memory {rss_before} -> {} MiB (at rest)",
        started.elapsed().as_secs_f64(),
        rss_mib()
    );
    // A server answers `/readyz` once its plugins are compiled: time the
    // flows below against loaded plugins, not their first compile.
    let started = Instant::now();
    let registry = tenant.registry(&app).await.unwrap();
    for slot in registry.plugins.values() {
        slot.ready(Duration::from_secs(600)).await.unwrap();
    }
    println!(
        "plugins compiled in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    if let Some(budget) = app.memory.get() {
        println!(
            "memory budget {} MiB, charged {} MiB",
            budget.total() >> 20,
            app.charged() >> 20
        );
    }

    // 1. Import `rows` dose rows of a VRS export.
    let today = Date::parse(TODAY).unwrap();
    let rss_at_rest = rss_mib();
    let residents = kiroku::synth::residents(persons, SEED, today);
    let histories = kiroku::synth::dose_histories(&residents, SEED);
    let (mut take, mut count) = (0, 0);
    while take < residents.len() && count < rows {
        count += histories[take].len();
        take += 1;
    }
    let mut csv = kiroku::synth::to_vrs_csv(&residents[..take], &histories[..take], DEMO_TENANT);
    let mut lines = 0;
    let cut = csv
        .char_indices()
        .filter(|(_, c)| *c == '\n')
        .map(|(i, _)| i)
        .find(|_| {
            lines += 1;
            lines > rows
        });
    if let Some(end) = cut {
        csv.truncate(end + 1);
    }
    let file_rows = csv.lines().count() - 1;
    let input = {
        use base64::Engine as _;
        json!({"file_base64": base64::engine::general_purpose::STANDARD.encode(csv.as_bytes())})
            .to_string()
    };
    drop(csv);
    // The bench's own synthetic town and its export (not the server's).
    let own_data = rss_mib().saturating_sub(rss_at_rest);
    let started = Instant::now();
    let imported = invoke(&app, "dose-import", "import", &input, "bench-import").await;
    let import_time = started.elapsed();
    drop(input);
    match &imported {
        Ok(out) => println!(
            "import: {} VRS rows ({} applied, {} errors) in {:.2} s = {:.0} rows/s, durable",
            file_rows,
            out["applied"],
            out["error_rows"],
            import_time.as_secs_f64(),
            file_rows as f64 / import_time.as_secs_f64()
        ),
        Err(e) => println!(
            "import: failed after {:.2} s: {e}",
            import_time.as_secs_f64()
        ),
    }
    println!(
        "memory after the import: resident {} MiB, peak {} MiB (the bench's own synthetic town and export, about {own_data} MiB, included)",
        rss_mib(),
        status_mib("VmHWM:")
    );
    println!(
        "import: {} doses.add audit events",
        audit_count(&app, "doses.add")
    );

    if let Some((n, bytes)) = tenant.store.facts().stats() {
        println!(
            "cohort facts after the import: {n} persons, about {} MiB",
            bytes >> 20
        );
    }

    // 2. Target extraction: preview (dry run), then extract.
    let campaign = json!({"campaign": {
        "id": "bench-autumn", "dose_number": 7, "starts_on": "2026-10-01",
        "min_age": 65, "min_doses": 2, "min_days_since_last_dose": 180,
    }})
    .to_string();
    let started = Instant::now();
    let preview = invoke(
        &app,
        "target-extraction",
        "preview",
        &campaign,
        "bench-preview",
    )
    .await;
    let preview_time = started.elapsed();
    let started = Instant::now();
    let extracted = invoke(
        &app,
        "target-extraction",
        "extract",
        &campaign,
        "bench-extract",
    )
    .await;
    let extract_time = started.elapsed();
    match (&preview, &extracted) {
        (Ok(p), Ok(e)) => {
            println!(
                "extraction over {persons} residents: preview {} targets in {:.2} s; extract issued {} tickets in {:.2} s (durable)",
                p["targets"],
                preview_time.as_secs_f64(),
                e["issued"],
                extract_time.as_secs_f64()
            );
        }
        (p, e) => println!("extraction failed: {p:?} {e:?}"),
    }
    println!(
        "memory after the extraction: resident {} MiB, peak {} MiB",
        rss_mib(),
        status_mib("VmHWM:")
    );

    // 3. History-list pages of 100 with varied conditions.
    let makers = ["ファイザー", "モデルナ", "武田", "第一三共"];
    let mut latencies = Vec::with_capacity(queries);
    let mut cursor = Value::Null;
    for i in 0..queries {
        let query = match i % 4 {
            0 => json!({"maker": makers[i % 4], "dose_number": 1 + (i / 4) % 3, "limit": 100}),
            1 => json!({"age_from": 60 + (i % 20), "age_to": 70 + (i % 20), "limit": 100}),
            2 => {
                json!({"date_from": "2022-01-01", "date_to": "2022-12-31", "dose_number": 3, "limit": 100})
            }
            // The next page of the previous maker query (cursors are ids
            // the host returned).
            _ => {
                json!({"maker": makers[(i - 3) % 4], "dose_number": 1 + (i / 4) % 3, "after": cursor, "limit": 100})
            }
        };
        let started = Instant::now();
        let page = invoke(
            &app,
            "history-list",
            "search",
            &query.to_string(),
            &format!("bench-q{i}"),
        )
        .await;
        latencies.push(started.elapsed());
        match page {
            Ok(page) if i % 4 == 0 => cursor = page["next_after"].clone(),
            Ok(_) => {}
            Err(e) => println!("history query {i} failed: {e}"),
        }
    }
    latencies.sort_unstable();
    println!(
        "history-list over {persons} residents, {queries} pages of 100: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
}
