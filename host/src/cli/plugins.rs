//! `kiroku plugin install | list` and `kiroku policy check`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use kiroku::admin::{self, AdminActor};
use kiroku::clock::format_timestamp;
use kiroku::datadir::DataDir;
use kiroku::ids::Digest;
use kiroku::policy::Policy;
use kiroku::runtime::Runtime;
use kiroku::store::TenantStore;

/// Installs a component under a policy; prints its operations and digest.
pub async fn install(
    dir: &DataDir,
    store: &TenantStore,
    runtime: &Runtime,
    policy: &Path,
    component: &Path,
    actor: &AdminActor,
) -> anyhow::Result<()> {
    let policy_text =
        std::fs::read_to_string(policy).with_context(|| format!("reading {}", policy.display()))?;
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let done = admin::install_plugin(dir, runtime, store, &policy_text, &bytes, actor).await?;
    println!("installed {} for tenant {}", done.name, store.code());
    for op in &done.operations {
        println!(
            "  {} {}: {}",
            if op.writes { "writes" } else { "reads " },
            op.name,
            op.summary
        );
    }
    println!("sha256:{}", done.digest);
    Ok(())
}

/// Lists the installed plugins, each loaded to report its state.
pub async fn list(dir: &DataDir, store: &TenantStore, runtime: &Runtime) -> anyhow::Result<()> {
    for p in admin::list_plugins(store)? {
        let state = match load(dir, runtime, &p.digest, &p.policy).await {
            Ok(ops) => format!("ready ({ops} operations)"),
            Err(reason) => format!("REFUSED: {reason}"),
        };
        println!(
            "{}  sha256:{}  installed {}  {state}",
            p.name,
            p.digest,
            format_timestamp(p.installed_ms)
        );
    }
    Ok(())
}

async fn load(
    dir: &DataDir,
    runtime: &Runtime,
    digest: &str,
    policy: &str,
) -> Result<usize, String> {
    let pinned = Digest::parse(digest).ok_or("the pinned digest is malformed")?;
    let policy = Policy::parse(policy).map_err(|e| e.to_string())?;
    let bytes = dir.read_component(&pinned).map_err(|e| e.to_string())?;
    let loaded = runtime
        .load(&bytes, Arc::new(policy), Some(&pinned))
        .await
        .map_err(|e| e.to_string())?;
    Ok(loaded.operations.len())
}

/// Explains a policy; with a component, checks every import and describes it.
pub async fn policy_check(policy: &Path, component: Option<&Path>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(policy).with_context(|| format!("reading {}", policy.display()))?;
    let parsed = Policy::parse(&text)?;
    print!("{}", parsed.explain());
    let Some(component) = component else {
        return Ok(());
    };
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let runtime = Runtime::new(
        Arc::new(kiroku::clock::SystemClock),
        Arc::new(kiroku::clock::OsEntropy),
    )?;
    let mut refused = false;
    println!(
        "Component {} (sha256:{}):",
        component.display(),
        Digest::of(&bytes)
    );
    for import in runtime.imports(&bytes)? {
        let name = &import.name;
        match parsed.check_import(name, import.calls_functions) {
            Ok(kiroku::policy::ImportKind::Types) => println!("  types    {name}"),
            Ok(_) => println!("  granted  {name}"),
            Err(denied) => {
                refused = true;
                println!("  REFUSED  {name}: {denied}");
            }
        }
    }
    if refused {
        bail!("the component imports what the policy does not grant");
    }
    let loaded = runtime.load(&bytes, Arc::new(parsed), None).await?;
    for op in &loaded.operations {
        println!(
            "  operation {} ({}): {}",
            op.name,
            if op.writes { "writes" } else { "reads" },
            op.summary
        );
    }
    Ok(())
}
