//! The demo: tenant 142051 (Fujisawa) with synthetic residents loaded
//! through the real resident-sync plugin, tickets issued through the
//! ticket-issuance plugin, their dose histories imported as a VRS export
//! through the dose-import plugin, and one user per role.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::admin::{self, AdminActor};
use crate::app::{App, Tenant};
use crate::clock::Entropy;
use crate::identity::accounts::{self, Kind, NewAccount};
use crate::identity::lifecycle;
use crate::identity::login::{self, At};
use crate::identity::sessions::Limits;
use crate::ids::{Digest, TenantCode};
use crate::runtime::RequestInfo;
use crate::store::{SYSTEM_ACTOR, TenantStore};

/// The demo tenant: Fujisawa.
pub const DEMO_TENANT: &str = "142051";
/// Its name.
pub const DEMO_TENANT_NAME: &str = "藤沢市";
/// Plugins the demo installs, in order.
pub const DEMO_PLUGINS: &[&str] = &[
    "resident-sync",
    "ticket-issuance",
    "dose-entry",
    "dose-import",
    "target-extraction",
    "history-list",
    "statistics",
    "certificate",
    "retention-purge",
    "subject-rights",
];
/// Roles that get a demo user each.
pub const DEMO_ROLES: &[&str] = &["clerk", "verifier", "supervisor", "auditor", "admin"];
/// Residents per resident-sync call while seeding (keeps each call well
/// inside the plugin's deadline and host-call budget).
const SEED_BATCH: usize = 1_000;

/// What the demo needs to know.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// How many synthetic residents.
    pub persons: usize,
    /// Seed of the generator.
    pub seed: u64,
    /// Folder with `<plugin>.wasm` components (`target/wasm32-wasip2/release`).
    pub plugins: PathBuf,
    /// Folder with `<plugin>.toml` policies.
    pub policies: PathBuf,
    /// Whether to import the residents' synthetic dose histories.
    pub doses: bool,
}

/// A demo user and their fresh token.
#[derive(Debug, Clone)]
pub struct DemoUser {
    /// Role.
    pub role: String,
    /// User name.
    pub name: String,
    /// A logged-in session's bearer token.
    pub token: String,
    /// The account's password (fresh each run).
    pub password: String,
    /// Its TOTP secret in base32 (fresh each run).
    pub totp_secret: String,
}

fn component_path(dir: &Path, plugin: &str) -> PathBuf {
    dir.join(format!("{}.wasm", plugin.replace('-', "_")))
}

/// The day the demo's synthetic birth dates are counted back from.
pub const DEMO_DATA_DAY: &str = "2026-12-02";

/// Most tenants `kiroku demo --tenants N` sets up.
pub const MAX_DEMO_TENANTS: usize = 999;

/// The demo's tenants when it sets up `n`: Fujisawa, then synthetic
/// municipalities 99001-99999 (no prefecture has code 99), with their
/// check digits.
pub fn demo_tenants(n: usize) -> Vec<(TenantCode, String)> {
    let mut out = vec![(
        TenantCode::parse(DEMO_TENANT).expect("the demo code is valid"),
        DEMO_TENANT_NAME.to_owned(),
    )];
    for i in 1..n.min(MAX_DEMO_TENANTS) {
        let five = format!("99{i:03}");
        let digits: [u8; 5] = five.as_bytes().try_into().expect("five digits");
        let check = kiroku_rules::local_gov_code::check_digit(&digits);
        let code = TenantCode::parse(&format!("{five}{check}")).expect("a valid code");
        out.push((code, format!("デモ市{i}")));
    }
    out
}

/// Creates or refreshes the demo tenant; returns fresh tokens.
pub async fn prepare(app: &App, opts: &DemoOptions) -> anyhow::Result<Vec<DemoUser>> {
    let (code, name) = demo_tenants(1).remove(0);
    prepare_tenant(app, opts, &code, &name).await
}

/// Creates or refreshes `n` demo tenants (each with `opts.persons`
/// residents of its own, seeded `opts.seed + i`), closing each but the
/// first once set up; returns the first one's fresh tokens.
pub async fn prepare_many(
    app: &App,
    opts: &DemoOptions,
    n: usize,
) -> anyhow::Result<Vec<DemoUser>> {
    let mut first = None;
    for (i, (code, name)) in demo_tenants(n).into_iter().enumerate() {
        let opts = DemoOptions {
            seed: opts.seed + i as u64,
            ..opts.clone()
        };
        let users = prepare_tenant(app, &opts, &code, &name).await?;
        if i == 0 {
            first = Some(users);
        } else {
            // Set up; let go of its caches before the next one.
            app.close_idle(std::time::Duration::ZERO);
        }
    }
    Ok(first.unwrap_or_default())
}

/// Creates or refreshes one demo tenant; returns fresh tokens.
pub async fn prepare_tenant(
    app: &App,
    opts: &DemoOptions,
    code: &TenantCode,
    name: &str,
) -> anyhow::Result<Vec<DemoUser>> {
    let code = code.clone();
    let clock = app.runtime.clock().clone();
    let entropy = app.runtime.entropy().clone();
    if !app.dir.tenant_exists(&code) {
        TenantStore::create(
            &app.dir,
            &code,
            name,
            crate::roles::DEFAULT_ROLES,
            clock.as_ref(),
            entropy.as_ref(),
        )?;
        eprintln!("created tenant {code} ({name})");
    }
    let tenant = app.tenant(&code)?.context("the demo tenant exists")?;
    let actor = AdminActor {
        name: SYSTEM_ACTOR.into(),
        request_id: "demo-setup".into(),
        now_ms: clock.now_ms(),
        identity: None,
    };
    let installed = admin::list_plugins(&tenant.store)?;
    for plugin in DEMO_PLUGINS {
        let wasm_path = component_path(&opts.plugins, plugin);
        let bytes = std::fs::read(&wasm_path).with_context(|| {
            format!(
                "reading {} (build the plugins first: cargo xtask plugins)",
                wasm_path.display()
            )
        })?;
        let current = installed
            .iter()
            .find(|p| p.name == *plugin)
            .map(|p| p.digest.clone());
        if current.as_deref() == Some(Digest::of(&bytes).to_string().as_str()) {
            continue;
        }
        let policy_path = opts.policies.join(format!("{plugin}.toml"));
        let policy = std::fs::read_to_string(&policy_path)
            .with_context(|| format!("reading {}", policy_path.display()))?;
        let done = admin::install_plugin(
            &app.dir,
            &app.runtime,
            &tenant.store,
            &policy,
            &bytes,
            &actor,
        )
        .await?;
        eprintln!("installed {} sha256:{}", done.name, done.digest);
    }
    let rules_file = opts.policies.join("retention-rules.toml");
    if tenant
        .store
        .meta(crate::retention::rules::META_KEY)?
        .is_none()
        && rules_file.exists()
    {
        let text = std::fs::read_to_string(&rules_file)?;
        crate::retention::set_rules(
            &tenant.store,
            &text,
            SYSTEM_ACTOR,
            "demo-setup",
            clock.now_ms(),
        )?;
    }
    if tenant.store.person_count()? == 0 {
        seed_residents(app, &tenant, opts).await?;
    }
    let mut users = Vec::new();
    for role in DEMO_ROLES {
        users.push(demo_user(&tenant.store, role, &actor, entropy.as_ref())?);
    }
    Ok(users)
}

/// A shell line exporting every demo session's token by role (`CLERK=...`)
/// and the clerk's password and TOTP secret, for the walk-through.
pub fn export_line(users: &[DemoUser]) -> String {
    let mut parts: Vec<String> = users
        .iter()
        .map(|u| format!("{}={}", u.role.to_uppercase(), u.token))
        .collect();
    if let Some(clerk) = users.iter().find(|u| u.role == "clerk") {
        parts.push(format!("CLERK_PASSWORD={}", clerk.password));
        parts.push(format!("CLERK_SECRET={}", clerk.totp_secret));
    }
    format!("export {}", parts.join(" "))
}

/// Demo sessions stay usable through a walk-through: they lock after 8
/// hours idle and end after 7 days (the tenant's own logins keep its
/// limits, 15 minutes and 12 hours by default).
pub const DEMO_SESSION_LIMITS: Limits = Limits {
    idle_s: 8 * 3_600,
    lifetime_s: 7 * 86_400,
};

/// A demo account with a fresh password and TOTP secret, logged in.
fn demo_user(
    store: &TenantStore,
    role: &str,
    actor: &AdminActor,
    entropy: &dyn Entropy,
) -> anyhow::Result<DemoUser> {
    let name = format!("demo-{role}");
    let mut bytes = [0u8; 9];
    entropy.fill(&mut bytes);
    let password = format!("demo-{}", hex::encode(bytes));
    let code = match accounts::get(store, &name)? {
        Some(_) => lifecycle::reset(store, &name, actor, entropy)?,
        None => {
            let new = NewAccount {
                name: name.clone(),
                role: role.to_owned(),
                kind: Kind::Staff,
                valid_until_ms: None,
            };
            accounts::add(store, &new, actor, entropy)?
        }
    };
    let enrolled = accounts::enrol(
        store,
        &name,
        &code,
        &password,
        &actor.request_id,
        actor.now_ms,
        entropy,
    )?;
    let at = At {
        request_id: &actor.request_id,
        now_ms: actor.now_ms,
        entropy,
    };
    let session = login::open_without_login(store, &name, at, DEMO_SESSION_LIMITS)?;
    Ok(DemoUser {
        role: role.to_owned(),
        name,
        token: session.token,
        password,
        totp_secret: enrolled.secret_base32,
    })
}

async fn seed_residents(app: &App, tenant: &Arc<Tenant>, opts: &DemoOptions) -> anyhow::Result<()> {
    let code = tenant.store.code().as_str();
    let today = app.runtime.clock().today();
    // Birth dates are drawn back from a fixed day, not from today, so the
    // demo's persons (and the README that quotes them) stay the same.
    let anchor = kiroku_rules::Date::parse(DEMO_DATA_DAY).expect("a valid date");
    let residents = crate::synth::residents(opts.persons, opts.seed, anchor);
    let registry = tenant.registry(app).await?;
    let wait = std::time::Duration::from_millis(crate::app::MAX_LOAD_WAIT_MS);
    let mut ready = Vec::new();
    for name in ["resident-sync", "ticket-issuance", "dose-import"] {
        let Some(slot) = registry.plugins.get(name) else {
            bail!("plugin {name} is not installed");
        };
        match slot.ready(wait).await {
            Ok(p) => ready.push(p),
            Err(reason) => bail!("plugin {name} is not ready: {reason}"),
        }
    }
    let [sync, tickets, import]: [Arc<crate::runtime::LoadedPlugin>; 3] =
        ready.try_into().expect("three plugins");
    let histories = if opts.doses {
        crate::synth::dose_histories(&residents, opts.seed)
    } else {
        Vec::new()
    };
    let started = std::time::Instant::now();
    for (i, chunk) in residents.chunks(SEED_BATCH).enumerate() {
        let mut records: Vec<_> = chunk.iter().map(|r| r.add_record()).collect();
        records.extend(chunk.iter().flat_map(|r| r.change_records()));
        let request = Arc::new(RequestInfo {
            who: crate::audit::Identity::named(SYSTEM_ACTOR),
            request_id: format!("demo-seed-{i}"),
            now_ms: app.runtime.clock().now_ms(),
            today,
            replay_guard: None,
            job: None,
            public_url: app.public_url(),
            application: None,
            federation: None,
        });
        let input = serde_json::json!({ "records": records }).to_string();
        tenant
            .invoke(app, &sync, request.clone(), "apply", &input)
            .await
            .context("seeding residents")?;
        let numbers: Vec<_> = chunk.iter().map(|r| r.address_number.clone()).collect();
        let input = serde_json::json!({ "address_numbers": numbers }).to_string();
        tenant
            .invoke(app, &tickets, request.clone(), "issue", &input)
            .await
            .context("issuing tickets")?;
        if !opts.doses {
            continue;
        }
        let first = i * SEED_BATCH;
        let export = crate::synth::to_vrs_csv(chunk, &histories[first..first + chunk.len()], code);
        let input = serde_json::json!({ "file_base64": base64_of(export.as_bytes()) }).to_string();
        let imported = tenant
            .invoke(app, &import, request, "import", &input)
            .await
            .context("importing dose histories")?;
        // The demo's own data must import whole: a refused row is a bug.
        let report: serde_json::Value =
            serde_json::from_str(&imported.output).context("the import's report")?;
        if report["error_rows"].as_u64() != Some(0) {
            bail!(
                "the demo's dose histories did not import whole: {}",
                report["errors"][0]
            );
        }
    }
    eprintln!(
        "seeded {} synthetic residents with tickets and {} doses in {:.1?}",
        residents.len(),
        histories.iter().map(Vec::len).sum::<usize>(),
        started.elapsed()
    );
    Ok(())
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
