//! `kiroku federation ...`: exchanges between municipalities.

use std::path::PathBuf;

use clap::Subcommand;

use kiroku::admin::AdminActor;
use kiroku::clock::{Clock, SystemClock};
use kiroku::federation::rules::Rules;
use kiroku::federation::test_pki;
use kiroku::ids::TenantCode;

use super::{TenantArgs, open_tenant, tenant_code};

/// Exchanges between municipalities.
#[derive(Subcommand)]
pub enum FederationCmd {
    /// Makes a test federation PKI: `ca.pem`, and `{code}.crt` and
    /// `{code}.key` for each code (SAN URI `urn:kiroku:lg:{code}`,
    /// serverAuth and clientAuth). For trials only: a real federation
    /// uses its own CA.
    TestPki {
        /// Folder to write into.
        #[arg(long)]
        out: PathBuf,
        /// Municipality codes, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        codes: Vec<String>,
        /// The CA's name.
        #[arg(long, default_value = "Kiroku test")]
        name: String,
    },
    /// Allows a municipality to query this tenant for a purpose, and names
    /// the dose items it receives (replaces an earlier rule for the pair).
    Allow {
        #[command(flatten)]
        at: TenantArgs,
        /// The querying municipality's code.
        #[arg(long)]
        querier: String,
        /// What for.
        #[arg(long, default_value = "move-in-query")]
        purpose: String,
        /// Dose items, comma-separated (default: dose-number, date,
        /// vaccine, maker, product, lot, amount, facility-code).
        #[arg(long, value_delimiter = ',')]
        items: Vec<String>,
    },
    /// Withdraws a municipality's rule.
    Revoke {
        #[command(flatten)]
        at: TenantArgs,
        /// The querying municipality's code.
        #[arg(long)]
        querier: String,
        /// What for.
        #[arg(long, default_value = "move-in-query")]
        purpose: String,
    },
    /// Shows the allow-list and the no-automatic-answer flags.
    List {
        #[command(flatten)]
        at: TenantArgs,
    },
    /// Sets (or with --off clears) a no-automatic-answer flag: answers
    /// then wait for a federation-approver's decision.
    Manual {
        #[command(flatten)]
        at: TenantArgs,
        /// For every querying municipality.
        #[arg(long, conflicts_with_all = ["querier", "item"])]
        all: bool,
        /// For one querying municipality.
        #[arg(long, conflicts_with = "item")]
        querier: Option<String>,
        /// For answers that would include this dose item.
        #[arg(long)]
        item: Option<String>,
        /// Clears the flag instead.
        #[arg(long)]
        off: bool,
    },
}

fn change_rules(
    at: &TenantArgs,
    what: &str,
    change: impl FnOnce(&mut Rules) -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    let (_dir, store) = open_tenant(at)?;
    let mut rules = Rules::load(&store)?;
    let said = change(&mut rules)?;
    let actor = AdminActor::system(what, SystemClock.now_ms());
    rules.save(&store, &actor, said.clone())?;
    println!("{said}");
    Ok(())
}

fn print_rules(at: &TenantArgs) -> anyhow::Result<()> {
    let (_dir, store) = open_tenant(at)?;
    let rules = Rules::load(&store)?;
    if rules.allow.is_empty() {
        println!("no municipality may query tenant {}", store.code());
    }
    for rule in &rules.allow {
        let manual = rules.manual_all
            || rules.manual_queriers.contains(&rule.querier)
            || rule.items.iter().any(|i| rules.manual_items.contains(i));
        println!(
            "{} {}: {}{}",
            rule.querier,
            rule.purpose,
            rule.items.join(", "),
            if manual {
                " (answers wait for approval)"
            } else {
                ""
            }
        );
    }
    if rules.manual_all {
        println!("no automatic answer to anyone");
    }
    for q in &rules.manual_queriers {
        println!("no automatic answer to {q}");
    }
    for i in &rules.manual_items {
        println!("no automatic answer including {i}");
    }
    Ok(())
}

fn manual(
    at: &TenantArgs,
    all: bool,
    querier: Option<String>,
    item: Option<String>,
    off: bool,
) -> anyhow::Result<()> {
    change_rules(at, "federation-manual", |rules| {
        let state = if off {
            "automatic again"
        } else {
            "wait for approval"
        };
        let said = if all {
            rules.manual_all = !off;
            format!("answers to every municipality {state}")
        } else if let Some(q) = querier {
            let q = tenant_code(&q)?.to_string();
            if off {
                rules.manual_queriers.remove(&q);
            } else {
                rules.manual_queriers.insert(q.clone());
            }
            format!("answers to {q} {state}")
        } else if let Some(i) = item {
            kiroku::federation::rules::check_item(&i)?;
            if off {
                rules.manual_items.remove(&i);
            } else {
                rules.manual_items.insert(i.clone());
            }
            format!("answers including {i} {state}")
        } else {
            anyhow::bail!("name --all, --querier CODE or --item NAME");
        };
        Ok(said)
    })
}

/// Runs a `federation` command.
pub fn federation(cmd: FederationCmd) -> anyhow::Result<()> {
    match cmd {
        FederationCmd::TestPki { out, codes, name } => {
            let codes = codes
                .iter()
                .map(|c| {
                    TenantCode::parse(c)
                        .map_err(|e| anyhow::anyhow!("{c:?} is not a municipality code: {e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            test_pki::write(&out, &name, &codes)?;
            println!(
                "wrote {} and {} municipality certificates",
                out.join("ca.pem").display(),
                codes.len()
            );
        }
        FederationCmd::Allow {
            at,
            querier,
            purpose,
            items,
        } => change_rules(&at, "federation-allow", |rules| {
            let querier = tenant_code(&querier)?;
            rules.allow(&querier, &purpose, &items)?;
            let rule = rules.allow.last().expect("just added");
            Ok(format!(
                "{querier} may query for {purpose} and receives: {}",
                rule.items.join(", ")
            ))
        })?,
        FederationCmd::Revoke {
            at,
            querier,
            purpose,
        } => change_rules(&at, "federation-revoke", |rules| {
            let querier = tenant_code(&querier)?;
            anyhow::ensure!(
                rules.revoke(&querier, &purpose),
                "{querier} has no rule for {purpose}"
            );
            Ok(format!("{querier} may no longer query for {purpose}"))
        })?,
        FederationCmd::List { at } => print_rules(&at)?,
        FederationCmd::Manual {
            at,
            all,
            querier,
            item,
            off,
        } => manual(&at, all, querier, item, off)?,
    }
    Ok(())
}
