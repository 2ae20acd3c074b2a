//! The metrics listener: `GET /metrics` on an address of its own
//! (`serve --metrics-listen`), so the staff API's port never shows them
//! and a firewall can keep them on the management network. It holds no
//! personal data and takes no credentials; anything but `GET /metrics`
//! gets a JSON 404 or 405.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::ApiError;
use crate::app::App;
use crate::limits::INSTANCE_POOL_SLOTS;

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    // Few scrapers: a small bound keeps a flood from costing the node.
    let open = Arc::new(tokio::sync::Semaphore::new(64));
    loop {
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            () = &mut shutdown => return,
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&app, &req)) }
            });
            let http = super::framing::http1(super::HEADER_READ_TIMEOUT);
            let _ = http
                .serve_connection(
                    TokioIo::new(super::framing::JsonErrors::new(stream)),
                    service,
                )
                .await;
            drop(permit);
        });
    }
}

fn answer<B>(app: &App, req: &hyper::Request<B>) -> Response<Full<Bytes>> {
    let request_id = "metrics";
    if req.uri().path() != "/metrics" {
        return ApiError::not_found("not-found", "this listener serves only /metrics")
            .into_response(request_id);
    }
    if req.method() != Method::GET {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "only GET is allowed on /metrics",
        )
        .into_response(request_id);
    }
    refresh(app);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", crate::metrics::CONTENT_TYPE)
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(crate::metrics::get().encode())))
        .expect("static headers are valid")
}

/// Sets the gauges that are read, not counted.
fn refresh(app: &App) {
    let m = crate::metrics::get();
    let slots = i64::from(INSTANCE_POOL_SLOTS);
    m.pool_slots.set(slots);
    m.pool_in_use
        .set(slots - i64::try_from(app.runtime.free_slots()).unwrap_or(slots));
    m.jobs_running
        .set(i64::try_from(app.jobs.running()).unwrap_or(i64::MAX));
    let budget = app.memory.get().map_or(0, |b| b.total());
    m.memory_budget
        .set(i64::try_from(budget).unwrap_or(i64::MAX));
    m.memory_charged
        .set(i64::try_from(app.charged()).unwrap_or(i64::MAX));
    let tenants = app.open_tenants();
    m.tenants_open
        .set(i64::try_from(tenants.len()).unwrap_or(i64::MAX));
    let now = app.runtime.clock().now_ms();
    for tenant in tenants {
        let Ok(sessions) = crate::identity::sessions::all(&tenant.store) else {
            continue;
        };
        let open = sessions.iter().filter(|s| s.expires_ms > now).count();
        m.sessions_open
            .get_or_create(&crate::metrics::TenantLabels {
                tenant: tenant.store.code().to_string(),
            })
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }
}
