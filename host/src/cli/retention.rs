//! `kiroku retention` (the tenant's rules, the deletion records), `kiroku
//! backup` and `kiroku restore`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use kiroku::clock::{Clock, OsEntropy, format_timestamp};

use super::{TenantArgs, data_dir, open_tenant, tenant_code};

/// `kiroku retention ...`
#[derive(clap::Subcommand)]
pub enum RetentionCmd {
    /// Sets the tenant's retention rules from a TOML file (checked, audited).
    Rules {
        #[command(flatten)]
        at: TenantArgs,
        /// The rules file.
        file: PathBuf,
    },
    /// Shows the rules in force.
    Show {
        #[command(flatten)]
        at: TenantArgs,
    },
    /// Lists the deletion records (who was purged, when, under which rule).
    Deletions {
        #[command(flatten)]
        at: TenantArgs,
    },
}

/// Runs a retention command.
pub fn retention(cmd: RetentionCmd, clock: &dyn Clock) -> anyhow::Result<()> {
    match cmd {
        RetentionCmd::Rules { at, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let (_, store) = open_tenant(&at)?;
            let now = clock.now_ms();
            let request_id = format!("retention-rules-{now}");
            let n = kiroku::retention::set_rules(&store, &text, "system", &request_id, now)
                .with_context(|| file.display().to_string())?;
            println!("{n} retention rules set for tenant {}", at.tenant);
        }
        RetentionCmd::Show { at } => {
            let (_, store) = open_tenant(&at)?;
            match kiroku::retention::tenant_rules(&store)? {
                Ok(rules) if rules.0.is_empty() => println!("no retention rules: nobody is purged"),
                Ok(rules) => {
                    for r in &rules.0 {
                        let anchors: Vec<String> =
                            r.anchors.iter().map(|a| format!("{a:?}")).collect();
                        println!(
                            "{}: {} years after {}",
                            r.name,
                            r.years,
                            anchors.join(" and ")
                        );
                    }
                }
                Err(e) => bail!("the stored rules are not valid: {e}"),
            }
        }
        RetentionCmd::Deletions { at } => {
            let (_, store) = open_tenant(&at)?;
            let rows = kiroku::retention::purge::deletions(&store)?;
            println!("{} deletion records", rows.len());
            for (person, r) in rows {
                println!(
                    "person {person}: {} under {} ({} doses, {} tickets{}) by {}",
                    format_timestamp(r.purged_ms),
                    r.rule,
                    r.doses,
                    r.tickets,
                    if r.my_number { ", My Number" } else { "" },
                    r.request_id
                );
            }
        }
    }
    Ok(())
}

/// `kiroku backup`: online, from one snapshot, sealed.
pub fn backup(at: &TenantArgs, out: &PathBuf, clock: &dyn Clock) -> anyhow::Result<()> {
    let code = tenant_code(&at.tenant)?;
    let dir = data_dir(&at.data)?;
    let tmp = out.with_extension("partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let report =
        kiroku::store::backup_tenant(&dir, &code, clock.now_ms(), &OsEntropy, &mut writer)?;
    writer
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    std::fs::rename(&tmp, out)?;
    println!(
        "backup of tenant {code}: {} persons, {} records, {} bytes in {}",
        report.persons,
        report.records,
        report.bytes,
        out.display()
    );
    Ok(())
}

/// `kiroku restore`: into a stopped or fresh data directory.
pub fn restore(
    at: &TenantArgs,
    file: &PathBuf,
    replace: bool,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let code = tenant_code(&at.tenant)?;
    let dir = data_dir(&at.data)?;
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, input);
    let report = kiroku::store::restore_tenant(
        &dir,
        &code,
        &mut reader,
        replace,
        clock.now_ms(),
        &OsEntropy,
    )?;
    println!(
        "tenant {code} restored: {} persons ({} purged since the backup left out), {} records",
        report.persons, report.purged_since, report.records
    );
    Ok(())
}
