//! `kiroku serve`: binds first, then opens tenants and loads plugins in
//! the background, so `/healthz` answers at once and a plugin that is slow
//! or hostile at load holds up only itself (`/readyz` says when all are in).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use kiroku::app::App;

/// How the staff API is served: HTTPS, its public URL, shutting down.
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
    /// Seconds that requests in flight and running jobs get to finish on
    /// SIGTERM or Ctrl-C (jobs still running then are cancelled).
    #[arg(long, default_value_t = 30)]
    pub shutdown_grace: u64,
}

/// Taking part in exchanges between municipalities.
#[derive(Debug, Clone, clap::Args)]
pub struct FederationArgs {
    /// Address of the node-to-node HTTPS listener (mutual TLS).
    #[arg(long, requires_all = ["federation_ca", "directory", "federation_identity"])]
    pub federation_listen: Option<String>,
    /// The federation CA (PEM): peers' certificates must chain to it.
    #[arg(long, requires_all = ["directory", "federation_identity"])]
    pub federation_ca: Option<PathBuf>,
    /// The directory (TOML): which node holds which municipality.
    #[arg(long, requires = "federation_ca")]
    pub directory: Option<PathBuf>,
    /// Folder with `{code}.crt` and `{code}.key` for the tenants served.
    #[arg(long, requires = "federation_ca")]
    pub federation_identity: Option<PathBuf>,
    /// Days an answer not taken up is held before it is deleted.
    #[arg(long, default_value_t = kiroku::federation::node::DEFAULT_HOLD_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=90))]
    pub federation_hold_days: u32,
}

/// Sets up the federation (when configured): the node, its listener, and
/// the hourly sweep of answers not taken up.
pub async fn federate(app: &Arc<App>, args: &FederationArgs) -> anyhow::Result<()> {
    let (Some(ca), Some(directory), Some(identities)) = (
        &args.federation_ca,
        &args.directory,
        &args.federation_identity,
    ) else {
        return Ok(());
    };
    let now = app.runtime.clock().now_ms();
    let tenants = app.dir.tenant_codes()?;
    let node = Arc::new(kiroku::federation::node::Node::load(
        ca,
        directory,
        identities,
        &tenants,
        args.federation_hold_days,
        now,
    )?);
    let _ = app.federation.set(node.clone());
    if let Some(listen) = &args.federation_listen {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        println!(
            "kiroku federation listening on https://{} ({} municipalities)",
            listener.local_addr()?,
            node.identities().len()
        );
        let app = app.clone();
        tokio::spawn(async move {
            if let Err(e) = kiroku::federation::listener::serve(app, node, listener).await {
                tracing::error!("the federation listener stopped: {e}");
            }
        });
    }
    let app = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let app = app.clone();
            let _ = tokio::task::spawn_blocking(move || sweep_all(&app)).await;
        }
    });
    Ok(())
}

fn sweep_all(app: &App) {
    let now = app.runtime.clock().now_ms();
    for code in app.dir.tenant_codes().unwrap_or_default() {
        if let Ok(Some(tenant)) = app.tenant(&code) {
            let id = format!("sweep-{now}");
            match kiroku::federation::entries::sweep_expired(&tenant.store, now, &id) {
                Ok(0) => {}
                Ok(n) => tracing::info!(tenant = %code, "deleted {n} answers not taken up"),
                Err(e) => tracing::warn!(tenant = %code, "sweeping held answers failed: {e}"),
            }
        }
    }
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
    // A root key that cannot be read (sealed, and no token or a wrong
    // PIN) stops the start, rather than leaving a server that never gets
    // ready; one unsealing per tenant.
    for code in app.dir.tenant_codes()? {
        app.dir
            .read_key(kiroku::datadir::KeyOwner::Tenant(&code))
            .with_context(|| format!("reading the root key of tenant {code}"))?;
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
        stop_signal().await;
        eprintln!("shutting down");
    };
    let grace = std::time::Duration::from_secs(tls.shutdown_grace);
    kiroku::server::serve(app, listener, config, shutdown, grace).await
}

/// Resolves on SIGTERM (systemd, a container's stop) or SIGINT (Ctrl-C).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
