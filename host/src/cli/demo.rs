//! `kiroku demo`: sets up the demo tenants and serves them.

use std::path::PathBuf;
use std::sync::Arc;

use kiroku::app::App;
use kiroku::runtime::Runtime;

/// `kiroku demo`'s flags.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Data directory.
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Number of synthetic residents.
    #[arg(long, default_value_t = 10_000)]
    persons: usize,
    /// Tenants to set up (1-999): 142051 and synthetic municipalities
    /// 99001x on, each with `--persons` residents of its own.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=999))]
    tenants: u16,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 142_051)]
    seed: u64,
    /// Folder with the plugin components.
    #[arg(long, default_value = "target/wasm32-wasip2/release")]
    plugins: PathBuf,
    /// Folder with the plugin policies.
    #[arg(long, default_value = "policies")]
    policies: PathBuf,
    /// Set up only; do not serve.
    #[arg(long)]
    no_serve: bool,
}

/// Sets up the demo, prints its accounts and serves it (unless `--no-serve`).
pub async fn run(
    args: DemoArgs,
    config: &super::config::ConfigFile,
    runtime: Arc<Runtime>,
) -> anyhow::Result<()> {
    let app = Arc::new(App::new(super::data_dir(&args.data)?, runtime));
    let opts = kiroku::demo::DemoOptions {
        persons: args.persons,
        seed: args.seed,
        plugins: args.plugins,
        policies: args.policies,
        doses: true,
    };
    let tenants = usize::from(args.tenants);
    let users = kiroku::demo::prepare_many(&app, &opts, tenants).await?;
    if tenants > 1 {
        let codes = kiroku::demo::demo_tenants(tenants);
        let (last, _) = codes.last().expect("more than one");
        println!(
            "Demo tenants: {} and {} more, {} to {last} (accounts: kiroku token add).",
            kiroku::demo::DEMO_TENANT,
            tenants - 1,
            codes[1].0,
        );
    }
    println!(
        "Demo tenant {} ({}). Accounts, passwords and TOTP secrets (new each run):",
        kiroku::demo::DEMO_TENANT,
        kiroku::demo::DEMO_TENANT_NAME
    );
    for u in &users {
        println!("  {:<16} {:<24} {}", u.name, u.password, u.totp_secret);
    }
    println!("Logged-in sessions (role, user, bearer token; they lock after 8 h idle):");
    for u in &users {
        println!("  {:<10} {:<16} {}", u.role, u.name, u.token);
    }
    println!("For the README's walk-through, paste:");
    println!("{}", kiroku::demo::export_line(&users));
    if !args.no_serve {
        let flags = super::serve::ServeArgs {
            data: Some(args.data),
            listen: Some(args.listen),
            ..Default::default()
        };
        let settings = super::config::Settings::resolve(&flags, config)?;
        super::serve::serve(app, &settings).await?;
    }
    Ok(())
}
