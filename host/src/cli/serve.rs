//! `kiroku serve`: binds first, then opens tenants and loads plugins in
//! the background, so `/healthz` answers at once and a plugin that is slow
//! or hostile at load holds up only itself (`/readyz` says when all are in).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use kiroku::app::App;

/// A certificate and key for HTTPS.
#[derive(Debug, Clone, clap::Args)]
pub struct TlsArgs {
    /// Certificate chain (PEM) for HTTPS.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The URL staff reach this server at (WebAuthn's relying party);
    /// default: the scheme and port served, on `localhost`.
    #[arg(long)]
    pub public_url: Option<String>,
}

/// Serves `app` on `listen` until Ctrl-C: HTTPS with `tls`, plain HTTP
/// only on a loopback address.
pub async fn serve(app: Arc<App>, listen: &str, tls: &TlsArgs) -> anyhow::Result<()> {
    let config = match (&tls.tls_cert, &tls.tls_key) {
        (Some(cert), Some(key)) => Some(kiroku::tls::server_config(cert, key)?),
        _ => None,
    };
    if config.is_none() {
        let addrs: Vec<_> = tokio::net::lookup_host(listen)
            .await
            .with_context(|| format!("resolving {listen}"))?
            .collect();
        if let Some(open) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            bail!(
                "refusing plain HTTP on {open}: staff traffic off this machine must be encrypted; pass --tls-cert and --tls-key, or listen on 127.0.0.1"
            );
        }
    }
    let (listener, addr) = kiroku::server::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let pooling = if app.runtime.info().pooling {
        "pooling"
    } else {
        "on-demand"
    };
    let tenants = app.dir.tenant_codes()?.len();
    let scheme = if config.is_some() { "https" } else { "http" };
    let public_url = tls
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://localhost:{}", addr.port()));
    let issuers = tls
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}"));
    let _ = app.public_url.set(Arc::from(issuers.trim_end_matches('/')));
    match kiroku::identity::passkeys::Passkeys::new(&public_url) {
        Ok(p) => {
            let _ = app.passkeys.set(Arc::new(p));
        }
        Err(e) => tracing::warn!("passkeys are off: {e}"),
    }
    println!(
        "kiroku listening on {scheme}://{addr} ({tenants} tenants, {pooling} instance allocation)"
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let opening = app.clone();
    tokio::spawn(async move {
        match opening.open_all().await {
            Ok(codes) => tracing::info!(
                "opened {} tenants; plugins load in the background",
                codes.len()
            ),
            Err(e) => tracing::error!("opening tenants failed: {e}"),
        }
    });
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("shutting down");
    };
    kiroku::server::serve(app, listener, config, shutdown).await
}
