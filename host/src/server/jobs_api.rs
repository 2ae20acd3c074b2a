//! Jobs over HTTP: start a plugin operation in the background, watch its
//! progress, cancel it. A job is visible only to the staff user who
//! started it and to administrators.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::body::read_input_for;
use super::ctx::Ctx;
use super::invoke_api::resolve;
use super::{ApiError, json_response};
use crate::app::App;
use crate::audit::{Event, Outcome};
use crate::jobs::{Job, JobState};
use crate::limits::{MAX_JOB_BODY_BYTES, MAX_RUNNING_JOBS, MAX_RUNNING_JOBS_PER_TENANT};

/// `POST /v1/{tenant}/jobs/{plugin}/{operation}`: starts the operation as
/// a job whose id is the request id; answers 202 at once.
pub(super) async fn start<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
    plugin: &str,
    operation: &str,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let resolved = resolve(&ctx, &req, plugin, operation).await?;
    if app.jobs.running() >= MAX_RUNNING_JOBS {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!("{MAX_RUNNING_JOBS} jobs are running; try again when one ends"),
        ));
    }
    let tenant_code = ctx.tenant.store.code().to_string();
    if app.jobs.running_in(&tenant_code) >= MAX_RUNNING_JOBS_PER_TENANT {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!(
                "this tenant runs {MAX_RUNNING_JOBS_PER_TENANT} jobs already; try again when one ends"
            ),
        ));
    }
    if app.jobs.get(&tenant_code, &ctx.request_id).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "replayed",
            "a job with this request id was already started",
        ));
    }
    let input = read_input_for(&resolved.plugin, req, MAX_JOB_BODY_BYTES).await?;
    // The start is on record at once; the run's own events follow at its end.
    let started = Event::new(
        ctx.now_ms,
        &ctx.request_id,
        &resolved.user.name,
        format!("job.start {}", resolved.what),
        Outcome::Ok,
    );
    ctx.record(vec![started]).await?;
    crate::metrics::get().job_started(&tenant_code);
    let job = app.jobs.start(
        &ctx.request_id,
        &tenant_code,
        &resolved.user.name,
        &resolved.what,
    );
    let request = resolved.request(app, &ctx, Some(job.progress.clone()));
    let (runtime, tenant, plugin) = (app.runtime.clone(), ctx.tenant.clone(), resolved.plugin);
    let operation = operation.to_owned();
    let running = job.clone();
    tokio::spawn(async move {
        let result = runtime
            .invoke(
                &plugin,
                &tenant.store,
                &tenant.committer,
                request,
                &operation,
                &input,
            )
            .await;
        finish(&running, result);
    });
    let body = json!({ "job_id": job.id, "state": "running" });
    Ok(json_response(StatusCode::ACCEPTED, &body, &ctx.request_id))
}

fn finish(job: &Job, result: Result<crate::runtime::InvokeOutput, crate::runtime::InvokeError>) {
    match result {
        Ok(out) => {
            let output = serde_json::from_str(&out.output).unwrap_or(serde_json::Value::Null);
            job.finish(JobState::Done, output);
        }
        Err(e) => {
            let e = ApiError::from(e);
            let state = if job.progress.cancel_requested() {
                JobState::Cancelled
            } else {
                JobState::Failed
            };
            job.finish(state, json!({ "code": e.code, "message": e.message }));
        }
    }
}

/// The job, if the caller may see it (its starter or an administrator).
async fn visible_job(app: &App, ctx: &Ctx, id: &str) -> Result<(Arc<Job>, String), ApiError> {
    let user = ctx.require(|_, _| true, "jobs").await?;
    let admin = ctx.registry.roles.get(&user.role).is_some_and(|r| r.admin);
    let code = ctx.tenant.store.code().to_string();
    match app.jobs.get(&code, id) {
        Some(job) if admin || job.actor == user.name => Ok((job, user.name)),
        _ => Err(ApiError::not_found("unknown-job", "no such job")),
    }
}

/// `GET /v1/{tenant}/jobs/{id}`: state, done of total, and the output or
/// error once finished.
pub(super) async fn status(
    app: &App,
    ctx: Ctx,
    id: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let (job, _) = visible_job(app, &ctx, id).await?;
    Ok(json_response(
        StatusCode::OK,
        &job.status(),
        &ctx.request_id,
    ))
}

/// `DELETE /v1/{tenant}/jobs/{id}`: stops the job: the host ends its
/// invocation within one epoch tick (or at once if it waits) and applies
/// nothing.
pub(super) async fn cancel(
    app: &App,
    ctx: Ctx,
    id: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let (job, actor) = visible_job(app, &ctx, id).await?;
    job.progress.request_cancel();
    let event = Event::new(
        ctx.now_ms,
        &ctx.request_id,
        &actor,
        format!("job.cancel {}", job.what),
        Outcome::Ok,
    )
    .with_reason(format!("job {}", job.id));
    ctx.record(vec![event]).await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &job.status(),
        &ctx.request_id,
    ))
}
