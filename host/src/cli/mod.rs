//! The CLI's commands that are more than a line or two, one module each.

pub mod audit;
pub mod certificates;
pub mod config;
pub mod demo;
pub mod federation;
pub mod job;
pub mod keys;
pub mod logging;
pub mod plugins;
pub mod retention;
pub mod serve;
pub mod tenants;
pub mod users;

use std::path::PathBuf;

use kiroku::ids::TenantCode;

/// Where a tenant is: the data directory and the tenant's code.
#[derive(clap::Args)]
pub struct TenantArgs {
    /// Data directory.
    #[arg(long)]
    pub data: PathBuf,
    /// 6-digit local government code.
    #[arg(long)]
    pub tenant: String,
}

/// A staff user on a running server.
#[derive(clap::Args)]
pub struct ServerArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// 6-digit local government code.
    #[arg(long)]
    pub tenant: String,
    /// The staff user's bearer token.
    #[arg(long, env = "KIROKU_TOKEN", hide_env_values = true)]
    pub token: String,
}

pub use keys::data_dir;

/// Opens a tenant of the data directory.
pub fn open_tenant(
    at: &TenantArgs,
) -> anyhow::Result<(kiroku::datadir::DataDir, kiroku::store::TenantStore)> {
    use anyhow::Context;
    let code = tenant_code(&at.tenant)?;
    let dir = crate::cli::data_dir(&at.data)?;
    let store = kiroku::store::TenantStore::open(&dir, &code)
        .with_context(|| format!("opening tenant {code}"))?;
    Ok((dir, store))
}

/// A tenant code from the command line, check digit verified.
pub fn tenant_code(code: &str) -> anyhow::Result<TenantCode> {
    TenantCode::parse(code).map_err(|e| anyhow::anyhow!("{code:?}: {e}"))
}
