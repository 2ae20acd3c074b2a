//! `kiroku serve`: binds first, then opens tenants and loads plugins in
//! the background, so `/healthz` answers at once and a plugin that is slow
//! or hostile at load holds up only itself (`/readyz` says when all are in).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use kiroku::app::App;

use super::config::Settings;

/// A line on stdout for whoever started the server; a closed stdout (the
/// starter went away) must not stop it.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `kiroku serve`'s flags; each can also be set in `--config FILE`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// A TOML file with any of these settings (`kiroku config check FILE`
    /// explains one); flags given here win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Address to listen on (port 0 picks one; the chosen address is
    /// printed). Off loopback, HTTPS is required. Default 127.0.0.1:8080.
    #[arg(long)]
    pub listen: Option<String>,
    /// Address of the metrics listener (`GET /metrics`, Prometheus text
    /// format); default: off.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Open connections at most (default 10000); beyond, new ones wait.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send its request head (default 10).
    #[arg(long, value_name = "SECONDS")]
    pub header_timeout: Option<u64>,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub federation: FederationArgs,
    #[command(flatten)]
    pub tenancy: TenancyArgs,
}

/// Many tenants on one node: the memory they share, closing idle ones.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TenancyArgs {
    /// MiB that all tenants' redb caches and cohort facts share (default:
    /// half the machine's memory, or of its cgroup limit). Idle tenants
    /// close to make room for others.
    #[arg(long, value_name = "MIB")]
    pub memory_mib: Option<u64>,
    /// Minutes after which a tenant nobody used is closed (its caches and
    /// facts freed; it opens again on next use); 0 never (default 30).
    #[arg(long, value_name = "MINUTES")]
    pub close_idle_minutes: Option<u64>,
}

/// How the staff API is served: HTTPS, its public URL, shutting down.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// Certificate chain (PEM) for HTTPS.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// The URL staff reach this server at (WebAuthn's relying party);
    /// default: the scheme and port served, on `localhost`.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Seconds that requests in flight and running jobs get to finish on
    /// SIGTERM or Ctrl-C (jobs still running then are cancelled; default 30).
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_grace: Option<u64>,
}

/// Taking part in exchanges between municipalities.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FederationArgs {
    /// Address of the node-to-node HTTPS listener (mutual TLS).
    #[arg(long)]
    pub federation_listen: Option<String>,
    /// The federation CA (PEM): peers' certificates must chain to it.
    #[arg(long)]
    pub federation_ca: Option<PathBuf>,
    /// The directory (TOML): which node holds which municipality.
    #[arg(long)]
    pub directory: Option<PathBuf>,
    /// Folder with `{code}.crt` and `{code}.key` for the tenants served.
    #[arg(long)]
    pub federation_identity: Option<PathBuf>,
    /// Days an answer not taken up is held before it is deleted (1-90,
    /// default 30).
    #[arg(long)]
    pub federation_hold_days: Option<u32>,
}

/// Sets up the federation (when configured): the node, its listener, and
/// the hourly sweep of answers not taken up.
pub async fn federate(app: &Arc<App>, settings: &Settings) -> anyhow::Result<()> {
    let Some(f) = &settings.federation else {
        return Ok(());
    };
    let now = app.runtime.clock().now_ms();
    let tenants = app.dir.tenant_codes()?;
    let node = Arc::new(kiroku::federation::node::Node::load(
        &f.ca,
        &f.directory,
        &f.identity,
        &tenants,
        f.hold_days,
        now,
    )?);
    let _ = app.federation.set(node.clone());
    if let Some(listen) = &f.listen {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        say!(
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
        let swept = Arc::new(std::sync::Mutex::new(HashMap::new()));
        loop {
            tick.tick().await;
            let (app, swept) = (app.clone(), swept.clone());
            let _ = tokio::task::spawn_blocking(move || {
                sweep_all(&app, &mut swept.lock().expect("sweep lock"))
            })
            .await;
        }
    });
    Ok(())
}

/// How often a closed tenant is opened to sweep its held answers (an open
/// one is swept every minute).
const SWEEP_CLOSED_EVERY: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

fn sweep_all(app: &App, swept: &mut HashMap<kiroku::ids::TenantCode, std::time::Instant>) {
    let now = app.runtime.clock().now_ms();
    let open: HashSet<_> = app
        .open_tenants()
        .iter()
        .map(|t| t.store.code().clone())
        .collect();
    for code in app.dir.tenant_codes().unwrap_or_default() {
        // A tenant closed since the start is first swept when it opens or
        // after SWEEP_CLOSED_EVERY, so a start does not open them all.
        let due = swept
            .entry(code.clone())
            .or_insert_with(std::time::Instant::now)
            .elapsed()
            >= SWEEP_CLOSED_EVERY;
        if !open.contains(&code) && !due {
            continue;
        }
        swept.insert(code.clone(), std::time::Instant::now());
        // An open tenant is swept without counting a use, so the sweep
        // never keeps it from closing when idle.
        let tenant = match app.if_open(&code) {
            Some(t) => Some(t),
            None => app.tenant(&code).ok().flatten(),
        };
        if let Some(tenant) = tenant {
            let id = format!("sweep-{now}");
            match kiroku::federation::entries::sweep_expired(&tenant.store, now, &id) {
                Ok(0) => {}
                Ok(n) => tracing::info!(tenant = %code, "deleted {n} answers not taken up"),
                Err(e) => tracing::warn!(tenant = %code, "sweeping held answers failed: {e}"),
            }
        }
    }
}

/// Serves `app` with `settings` until SIGTERM or Ctrl-C: HTTPS when a
/// certificate is set, plain HTTP only on a loopback address.
pub async fn serve(app: Arc<App>, settings: &Settings) -> anyhow::Result<()> {
    let _ = app.memory.set(settings.memory);
    let config = match &settings.tls {
        Some((cert, key)) => Some(kiroku::tls::server_config(cert, key)?),
        None => {
            super::config::ensure_loopback(&settings.listen)?;
            None
        }
    };
    // A root key that cannot be read (sealed, and no token or a wrong
    // PIN) stops the start, rather than leaving a server that never gets
    // ready; one unsealing per tenant.
    for code in app.dir.tenant_codes()? {
        app.dir
            .read_key(kiroku::datadir::KeyOwner::Tenant(&code))
            .with_context(|| format!("reading the root key of tenant {code}"))?;
    }
    use_compile_cache(&app, &settings.data);
    let listen = &settings.listen;
    let (listener, addr) = kiroku::server::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let metrics = match &settings.metrics_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("listening for metrics on {at}"))?,
        ),
        None => None,
    };
    let pooling = if app.runtime.info().pooling {
        "pooling"
    } else {
        "on-demand"
    };
    let tenants = app.dir.tenant_codes()?.len();
    let scheme = if config.is_some() { "https" } else { "http" };
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://localhost:{}", addr.port()));
    let issuers = settings
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
    say!(
        "kiroku listening on {scheme}://{addr} ({tenants} tenants, {pooling} instance allocation)"
    );
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    if let Some(metrics) = metrics {
        say!("kiroku metrics on http://{}/metrics", metrics.local_addr()?);
        tokio::spawn(kiroku::server::serve_metrics(
            app.clone(),
            metrics,
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        ));
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    if let Some(idle) = settings.close_idle {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CLOSE_IDLE_EVERY.min(idle));
            loop {
                tick.tick().await;
                let app = app.clone();
                let _ = tokio::task::spawn_blocking(move || app.close_idle(idle)).await;
            }
        });
    }
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
        let _ = writeln!(std::io::stderr(), "shutting down");
    };
    let served = kiroku::server::serve(
        app,
        listener,
        config,
        shutdown,
        settings.shutdown_grace,
        settings.limits,
    )
    .await;
    let _ = stop.send(true);
    served
}

/// How often tenants are looked at for closing when idle.
const CLOSE_IDLE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Compiled components are kept in `DATA/cache`, authenticated with a
/// key derived from the system root key; without that key (a data
/// directory with no system file yet) every start compiles.
fn use_compile_cache(app: &App, data: &std::path::Path) {
    let root = match app.dir.read_key(kiroku::datadir::KeyOwner::System) {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!("no compile cache ({e}); plugins are compiled at each start");
            return;
        }
    };
    let key = kiroku::crypto::compile_cache_key(&root);
    if let Err(e) = app.runtime.use_compile_cache(&data.join("cache"), key) {
        tracing::warn!("no compile cache: {e}");
    }
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
