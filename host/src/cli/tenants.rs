//! `kiroku tenant ...`: create and list municipalities, and their session
//! limits.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use kiroku::admin::AdminActor;
use kiroku::clock::{Clock, OsEntropy, format_timestamp};
use kiroku::store::{SystemStore, TenantStore};

use super::{TenantArgs, open_tenant, tenant_code};

/// Municipalities (tenants).
#[derive(Subcommand)]
pub enum TenantCmd {
    /// Creates a tenant (validates the code's check digit).
    Create {
        #[arg(long)]
        data: PathBuf,
        /// 6-digit local government code, e.g. 142051.
        #[arg(long)]
        code: String,
        /// Municipality name.
        #[arg(long)]
        name: String,
        /// Roles file (default: the built-in policies/roles.toml).
        #[arg(long)]
        roles: Option<PathBuf>,
    },
    /// Lists tenants.
    List {
        #[arg(long)]
        data: PathBuf,
    },
    /// Shows or sets when a tenant's staff sessions lock and end.
    Sessions {
        #[command(flatten)]
        at: TenantArgs,
        /// Idle minutes before a session locks (default 15).
        #[arg(long)]
        idle_minutes: Option<i64>,
        /// Hours after login at which a session ends (default 12).
        #[arg(long)]
        lifetime_hours: Option<i64>,
    },
    /// Shows what a tenant file holds: its size, the bytes in use and
    /// free, and each table's rows, height and bytes (no personal data).
    Stats {
        #[command(flatten)]
        at: TenantArgs,
    },
}

/// Runs a `tenant` command.
pub fn tenant(cmd: TenantCmd, clock: &dyn Clock) -> anyhow::Result<()> {
    match cmd {
        TenantCmd::Create {
            data,
            code,
            name,
            roles,
        } => {
            let code = tenant_code(&code)?;
            let roles_text = match roles {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => kiroku::roles::DEFAULT_ROLES.to_owned(),
            };
            kiroku::roles::Roles::parse(&roles_text)?;
            let dir = crate::cli::data_dir(&data)?;
            let store = TenantStore::create(&dir, &code, &name, &roles_text, clock, &OsEntropy)?;
            kiroku::certificates::keys::ensure(&store, &OsEntropy, clock.now_ms())?;
            println!(
                "created tenant {code} ({name}) with its certificate signing key and test CSCA"
            );
        }
        TenantCmd::List { data } => {
            let dir = crate::cli::data_dir(&data)?;
            for (code, row) in SystemStore::open(&dir, &OsEntropy)?.tenants()? {
                println!(
                    "{code}  {}  created {}",
                    row.name,
                    format_timestamp(row.created_ms)
                );
            }
        }
        TenantCmd::Sessions {
            at,
            idle_minutes,
            lifetime_hours,
        } => {
            use kiroku::identity::sessions::{Limits, set_limits};
            let (_, store) = open_tenant(&at)?;
            let mut limits = Limits::of(&store)?;
            if idle_minutes.is_some() || lifetime_hours.is_some() {
                limits.idle_s = idle_minutes.map_or(limits.idle_s, |m| m * 60);
                limits.lifetime_s = lifetime_hours.map_or(limits.lifetime_s, |h| h * 3600);
                set_limits(
                    &store,
                    limits,
                    &AdminActor::system("sessions", clock.now_ms()),
                )?;
            }
            println!(
                "sessions of tenant {} lock after {} min idle and end {} h after login",
                at.tenant,
                limits.idle_s / 60,
                limits.lifetime_s / 3600
            );
        }
        TenantCmd::Stats { at } => print_stats(&at)?,
    }
    Ok(())
}

fn print_stats(at: &TenantArgs) -> anyhow::Result<()> {
    let (dir, store) = open_tenant(at)?;
    let file = std::fs::metadata(dir.tenant_file_path(store.code()))?.len();
    let f = store.figures()?;
    let mib = |b: u64| b as f64 / 1048576.0;
    println!(
        "tenant {}: file {:.1} MiB, allocated {:.1} MiB ({} pages of {} B), stored {:.1} MiB, free or fragmented {:.1} MiB",
        at.tenant,
        mib(file),
        mib(f.allocated_pages * f.page_size as u64),
        f.allocated_pages,
        f.page_size,
        mib(f.stored),
        mib(f.fragmented)
    );
    println!(
        "  {:<28} {:>10} {:>6} {:>11} {:>11} {:>11}",
        "table", "rows", "height", "stored MiB", "meta MiB", "frag MiB"
    );
    for t in &f.tables {
        println!(
            "  {:<28} {:>10} {:>6} {:>11.2} {:>11.2} {:>11.2}",
            t.name,
            t.rows,
            t.height,
            mib(t.stored),
            mib(t.metadata),
            mib(t.fragmented)
        );
    }
    Ok(())
}
