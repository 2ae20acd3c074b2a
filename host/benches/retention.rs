//! Benchmarks of issue 13: purging 100,000 persons past retention (the
//! real `retention-purge` plugin as a job would run it: batches of 5,000,
//! each a durable commit with its deletion records and audit event) and
//! an online backup of a 1,000,000-resident tenant (time and size), then
//! restoring it.
//!
//! `cargo xtask bench --bench retention`. Env: `BENCH_PERSONS` (default
//! 1000000), `BENCH_PURGE` (100000; persons made deceased in 2010, the
//! rest residents). The town is written straight through drafts (no
//! plugin) and cached under `target/bench-data/`; each run works on a copy.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use kiroku::app::App;
use kiroku::clock::{FakeClock, OsEntropy};
use kiroku::datadir::DataDir;
use kiroku::demo::DEMO_TENANT;
use kiroku::fields::{Class, FieldValues, resident};
use kiroku::ids::TenantCode;
use kiroku::runtime::{RequestInfo, Runtime};
use kiroku::store::TenantStore;
use kiroku::store::draft::Draft;
use kiroku_rules::Date;

const TODAY: &str = "2026-12-01";
const RULES: &str = "[[rule]]\nname = \"deceased-5y\"\nanchor = \"death\"\nyears = 5\n";

fn app_on(dir: &Path) -> Arc<App> {
    let clock = FakeClock::at(Date::parse(TODAY).unwrap());
    let runtime = Arc::new(Runtime::new(clock, Arc::new(OsEntropy)).unwrap());
    Arc::new(App::new(DataDir::open(dir).unwrap(), runtime))
}

fn resident_values(i: u64, deceased: bool) -> FieldValues {
    let mut v = FieldValues::empty(Class::Resident);
    v.set(
        resident::ADDRESS_NUMBER,
        Some(format!("{:010}", 3_000_000_000u64 + i)),
    );
    v.set(resident::KANA_NAME, Some(format!("シケン　{}", i % 9973)));
    v.set(resident::KANJI_NAME, Some(format!("試験 {}", i % 9973)));
    v.set(
        resident::BIRTH_DATE,
        Some(format!("19{:02}-0{}-1{}", 30 + i % 60, 1 + i % 9, i % 10)),
    );
    v.set(
        resident::SEX,
        Some(if i.is_multiple_of(2) { "1" } else { "2" }.into()),
    );
    v.set(6, Some(format!("神奈川県藤沢市朝日町{}番", i % 50)));
    if deceased {
        v.set(resident::STATUS, Some("deceased".into()));
        v.set(resident::STATUS_DATE, Some("2010-04-01".into()));
    } else {
        v.set(resident::STATUS, Some("resident".into()));
    }
    v
}

/// A town of `persons`, every `persons / purge`-th deceased long ago.
async fn town(persons: u64, purge: u64) -> std::path::PathBuf {
    let dir = common::root().join(format!("target/bench-data/retention-{persons}-{purge}"));
    if dir.join("READY").exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let app = app_on(&dir);
    let started = Instant::now();
    let opts = kiroku::demo::DemoOptions {
        persons: 0,
        seed: 1,
        plugins: common::root().join("target/wasm32-wasip2/release"),
        policies: common::root().join("policies"),
        doses: false,
    };
    kiroku::demo::prepare(&app, &opts).await.unwrap();
    let store = tenant_store(&app);
    let every = (persons / purge.max(1)).max(1);
    let entropy: Arc<dyn kiroku::clock::Entropy> = Arc::new(OsEntropy);
    for start in (0..persons).step_by(20_000) {
        let mut draft = Draft::new(store.clone(), entropy.clone());
        for i in start..(start + 20_000).min(persons) {
            draft
                .create_person(&resident_values(i, i.is_multiple_of(every)))
                .unwrap();
        }
        store.commit_now(draft.into_write_set(Vec::new())).unwrap();
    }
    eprintln!(
        "seeded {persons} persons in {:.1?} (cached)",
        started.elapsed()
    );
    drop(store);
    drop(app);
    std::fs::write(dir.join("READY"), b"").unwrap();
    dir
}

fn tenant_store(app: &App) -> Arc<TenantStore> {
    let code = TenantCode::parse(DEMO_TENANT).unwrap();
    app.tenant(&code).unwrap().unwrap().store.clone()
}

fn main() {
    let persons = common::env_or("BENCH_PERSONS", 1_000_000);
    let purge = common::env_or("BENCH_PURGE", 100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cached = town(persons, purge).await;
        let work = tempfile::tempdir().unwrap();
        let data = work.path().join("data");
        common::copy_dir(&cached, &data);
        let dir = DataDir::open(&data).unwrap();
        let code = TenantCode::parse(DEMO_TENANT).unwrap();

        // Backup of the whole tenant, online, from one snapshot.
        let out = work.path().join("tenant.kbk");
        let started = Instant::now();
        let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&out).unwrap());
        let report = kiroku::store::backup_tenant(&dir, &code, 0, &OsEntropy, &mut file).unwrap();
        drop(file);
        let backup_s = started.elapsed().as_secs_f64();
        let db_bytes = std::fs::metadata(data.join(format!("tenants/{DEMO_TENANT}.redb"))).unwrap().len();
        println!(
            "backup: {} persons, {} records in {backup_s:.1} s, {:.0} MiB (tenant file {:.0} MiB)",
            report.persons,
            report.records,
            report.bytes as f64 / (1 << 20) as f64,
            db_bytes as f64 / (1 << 20) as f64
        );

        // The purge, as the plugin runs it.
        let app = app_on(&data);
        let store = tenant_store(&app);
        let event = kiroku::audit::Event::new(0, "rules", "system", "retention.rules", kiroku::audit::Outcome::Ok);
        store
            .commit_now(kiroku::store::commit::WriteSet {
                ops: vec![kiroku::store::commit::Op::SetMeta(
                    kiroku::retention::rules::META_KEY.into(),
                    RULES.as_bytes().to_vec(),
                )],
                events: vec![event],
                ..Default::default()
            })
            .unwrap();
        store.warm_facts().unwrap();
        let tenant = app.tenant(&code).unwrap().unwrap();
        let registry = tenant.registry(&app).await.unwrap();
        let plugin = registry
            .plugins
            .get("retention-purge")
            .expect("retention-purge installed")
            .ready(std::time::Duration::from_secs(120))
            .await
            .unwrap();
        let request = Arc::new(RequestInfo {
            who: kiroku::audit::Identity::named("demo-admin"),
            request_id: "bench-purge".into(),
            now_ms: app.runtime.clock().now_ms(),
            today: app.runtime.clock().today(),
            replay_guard: None,
            job: None,
            public_url: app.public_url(),
            application: None,
            federation: None,
        });
        let started = Instant::now();
        let out = tenant
            .invoke(&app, &plugin, request, "purge", r#"{"batch": 5000}"#)
            .await
            .unwrap();
        let purge_s = started.elapsed().as_secs_f64();
        let deletions = kiroku::retention::purge::deletions(&store).unwrap().len();
        println!(
            "purge: {deletions} persons in {purge_s:.1} s ({:.0} persons/s; target 100,000 in <= 30 s) output {}",
            deletions as f64 / purge_s,
            out.output
        );
        assert_eq!(deletions as u64, purge.min(persons), "every deletion record written");
        drop(registry);
        drop(tenant);
        drop(store);
        drop(app);

        // Restore of the backup taken before the purge: the purged stay out.
        let fresh = work.path().join("restored");
        let dir = DataDir::open_with_keys(&fresh, Some(&data.join("keys"))).unwrap();
        let started = Instant::now();
        let mut input = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(work.path().join("tenant.kbk")).unwrap());
        let restored = kiroku::store::restore_tenant(&dir, &code, &mut input, false, 0, &OsEntropy).unwrap();
        println!(
            "restore: {} persons ({} purged since left out) in {:.1} s",
            restored.persons,
            restored.purged_since,
            started.elapsed().as_secs_f64()
        );
    });
}
