//! `kiroku serve`: binds first, then opens tenants and loads plugins in
//! the background, so `/healthz` answers at once and a plugin that is slow
//! or hostile at load holds up only itself (`/readyz` says when all are in).

use std::sync::Arc;

use anyhow::Context;
use kiroku::app::App;

/// Serves `app` on `listen` until Ctrl-C.
pub async fn serve(app: Arc<App>, listen: &str) -> anyhow::Result<()> {
    let (listener, addr) = kiroku::server::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let pooling = if app.runtime.info().pooling {
        "pooling"
    } else {
        "on-demand"
    };
    let tenants = app.dir.tenant_codes()?.len();
    println!(
        "kiroku listening on http://{addr} ({tenants} tenants, {pooling} instance allocation)"
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
    kiroku::server::serve(app, listener, shutdown).await
}
