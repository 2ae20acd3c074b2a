//! One bounded call into a plugin (invariants 7, 14): admission, a fresh
//! store, instantiation and the export call, all ended by the wall-clock
//! deadline or the job's cancel, whichever comes first, whether the plugin
//! computes, calls the host or waits. Traps are classified for the request;
//! the store's audit events and (on success) its sealed changes come back.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use wasmtime::Store;

use super::guest_log::GuestLog;
use super::invocation::{
    DeadlineExceeded, HostCallBudgetExhausted, HostStorageFailure, Invocation, JobCancelled,
    NoRequestScope, Scope,
};
use super::{InvokeError, LoadedPlugin, Runtime, bindings, engine, sched};
use crate::audit::Event;
use crate::jobs::Progress;
use crate::limits::{DESCRIBE_DEADLINE_MS, MAX_ADMISSION_WAIT_MS, MAX_LOG_MESSAGE_BYTES};
use crate::policy::Policy;
use crate::redact::Redactor;
use crate::store::commit::WriteSet;

/// Which export to call.
pub(super) enum Export {
    /// `describe`, at install and load.
    Describe,
    /// `handle(operation, input)`.
    Handle {
        /// The operation.
        operation: String,
        /// Its JSON input.
        input: Arc<str>,
    },
}

/// What an export returned.
pub(super) enum Returned {
    /// `describe`'s operations.
    Described(Vec<bindings::handler::Operation>),
    /// `handle`'s checked output.
    Handled(String),
}

/// What a call left behind.
pub(super) struct Called {
    /// What the export returned, or how the call failed.
    pub result: Result<Returned, InvokeError>,
    /// The audit events of its host calls.
    pub events: Vec<Event>,
    /// Its changes, sealed, when `handle` succeeded.
    pub changes: Option<WriteSet>,
}

/// A store for one invocation under `policy`: empty WASI context, memory
/// cap, deadline from now, and an epoch callback that yields at every tick
/// and traps at the deadline or when the job is cancelled.
pub(super) fn new_store(
    runtime: &Runtime,
    policy: &Policy,
    scope: Option<Scope>,
    deadline_ms: Option<u64>,
) -> Store<Invocation> {
    let log = match &scope {
        Some(s) => s.log.clone(),
        None => GuestLog::shared(&policy.plugin, Redactor::default()),
    };
    let wasi = engine::empty_wasi_ctx(runtime.clock.clone(), runtime.entropy.clone(), log);
    let deadline_ms = deadline_ms.unwrap_or(policy.limits.deadline_ms);
    let mut store = Store::new(
        &runtime.engine,
        Invocation::new(policy, wasi, scope, deadline_ms),
    );
    store.limiter(|s| &mut s.limits);
    store.epoch_deadline_callback(|ctx| {
        let state = ctx.data();
        if std::time::Instant::now() >= state.deadline {
            Err(DeadlineExceeded(state.deadline_ms).into())
        } else if state.job.as_ref().is_some_and(|j| j.cancel_requested()) {
            Err(JobCancelled.into())
        } else {
            Ok(wasmtime::UpdateDeadline::Yield(1))
        }
    });
    store.set_epoch_deadline(1);
    store
}

/// Why a call was stopped from outside.
enum Stopped {
    Deadline(u64),
    Cancelled,
}

/// What the export itself answered.
enum Answer {
    Described(Vec<bindings::handler::Operation>),
    Handled(Result<String, bindings::handler::Error>),
}

impl Runtime {
    /// Admits, instantiates and calls `export` in a fresh store, within the
    /// deadline (the policy's, or [`DESCRIBE_DEADLINE_MS`] for `describe`).
    pub(super) async fn call(
        &self,
        plugin: &LoadedPlugin,
        scope: Option<Scope>,
        export: Export,
        tenant: Option<&str>,
    ) -> Called {
        let describing = matches!(export, Export::Describe);
        let deadline_ms = if describing {
            plugin.policy.limits.deadline_ms.min(DESCRIBE_DEADLINE_MS)
        } else {
            plugin.policy.limits.deadline_ms
        };
        let job = scope.as_ref().and_then(|s| s.request.job.clone());
        let wait = Duration::from_millis(deadline_ms.min(MAX_ADMISSION_WAIT_MS));
        let slots = match self
            .admission
            .admit(tenant, &plugin.identity.name, wait)
            .await
        {
            Ok(slots) => slots,
            Err(busy) => {
                return Called {
                    result: Err(InvokeError::Busy(busy.0)),
                    events: scope.map(|s| s.events.into_events()).unwrap_or_default(),
                    changes: None,
                };
            }
        };
        let store = new_store(self, &plugin.policy, scope, Some(deadline_ms));
        let pre = plugin.pre.clone();
        let policy = plugin.policy.clone();
        let name = plugin.identity.name.clone();
        let task = async move {
            let held = slots;
            let (answer, store) = run_export(store, pre, export, job, deadline_ms).await;
            // The slots are freed only once the store (and its pool
            // instance) is gone.
            let called = settle(&name, &policy, answer, store);
            drop(held);
            called
        };
        sched::run(Box::pin(task)).await
    }
}

/// Instantiates and calls the export until it returns, the deadline
/// passes or the job is cancelled. Dropping the call's future unwinds the
/// plugin (wasmtime disposes of its fiber), so the store comes back whole.
async fn run_export(
    mut store: Store<Invocation>,
    pre: bindings::RuntimePre<Invocation>,
    export: Export,
    job: Option<Arc<Progress>>,
    deadline_ms: u64,
) -> (Result<Answer, CallFailure>, Store<Invocation>) {
    let until = tokio::time::Instant::now() + Duration::from_millis(deadline_ms);
    let cancelled = async {
        match &job {
            Some(job) => job.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let returned = {
        let call = async {
            let instance = pre.instantiate_async(&mut store).await?;
            let handler = instance.kiroku_plugin_handler();
            match &export {
                Export::Describe => handler
                    .call_describe(&mut store)
                    .await
                    .map(Answer::Described),
                Export::Handle { operation, input } => handler
                    .call_handle(&mut store, operation, input)
                    .await
                    .map(Answer::Handled),
            }
        };
        let mut call = std::pin::pin!(call);
        // Most calls finish in their first poll: no timer is armed for them.
        let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
        match first {
            Poll::Ready(r) => r.map_err(CallFailure::Trap),
            Poll::Pending => tokio::select! {
                biased;
                r = call => r.map_err(CallFailure::Trap),
                () = tokio::time::sleep_until(until) => Err(CallFailure::Stopped(Stopped::Deadline(deadline_ms))),
                () = cancelled => Err(CallFailure::Stopped(Stopped::Cancelled)),
            },
        }
    };
    (returned, store)
}

enum CallFailure {
    Trap(wasmtime::Error),
    Stopped(Stopped),
}

/// Classifies the call's end, checks the output, and seals the changes of
/// a successful `handle`.
fn settle(
    plugin: &str,
    policy: &Policy,
    answer: Result<Answer, CallFailure>,
    store: Store<Invocation>,
) -> Called {
    let mut scope = store.into_data().scope;
    let result = match answer {
        Err(CallFailure::Trap(trap)) => Err(contained(plugin, trap)),
        Err(CallFailure::Stopped(Stopped::Deadline(ms))) => {
            let message = DeadlineExceeded(ms).to_string();
            tracing::warn!(plugin, code = "plugin-deadline", "{message}");
            Err(InvokeError::Contained {
                code: "plugin-deadline",
                message,
            })
        }
        Err(CallFailure::Stopped(Stopped::Cancelled)) => Err(cancelled()),
        Ok(Answer::Described(ops)) => Ok(Returned::Described(ops)),
        Ok(Answer::Handled(Err(e))) => Err(plugin_error(e, scope.as_ref())),
        Ok(Answer::Handled(Ok(output))) => check_output(policy, output).map(Returned::Handled),
    };
    if let Some(s) = scope.as_mut() {
        s.close_log();
    }
    let Some(scope) = scope else {
        return Called {
            result,
            events: Vec::new(),
            changes: None,
        };
    };
    let Scope { draft, events, .. } = scope;
    let changes = match &result {
        Ok(Returned::Handled(_)) if draft.is_large() => {
            Some(sched::blocking_section(|| draft.into_write_set(Vec::new())))
        }
        Ok(Returned::Handled(_)) => Some(draft.into_write_set(Vec::new())),
        _ => None,
    };
    Called {
        result,
        events: events.into_events(),
        changes,
    }
}

fn cancelled() -> InvokeError {
    InvokeError::Contained {
        code: "job-cancelled",
        message: JobCancelled.to_string(),
    }
}

fn check_output(policy: &Policy, output: String) -> Result<String, InvokeError> {
    if output.len() as u64 > policy.limits.output_bytes {
        return Err(InvokeError::Contained {
            code: "plugin-output-too-large",
            message: format!(
                "the plugin's output ({} bytes) exceeds its limit of {} bytes",
                output.len(),
                policy.limits.output_bytes
            ),
        });
    }
    if let Err(e) = crate::json_shape::check(output.as_bytes()) {
        return Err(InvokeError::Contained {
            code: "plugin-bad-output",
            message: format!("the plugin's output is not usable JSON: {e}"),
        });
    }
    Ok(output)
}

/// The plugin's own error, its message bounded and cleared of every
/// personal value the host served the invocation.
pub(super) fn plugin_error(e: bindings::handler::Error, scope: Option<&Scope>) -> InvokeError {
    use bindings::handler::Error as E;
    if scope.is_some_and(|s| s.suspended) {
        let message = crate::store::draft::DraftError::Suspended.to_string();
        return InvokeError::Plugin {
            code: "suspended",
            message,
        };
    }
    let (code, message) = match e {
        E::Invalid(m) => ("invalid", m),
        E::NotFound(m) => ("not-found", m),
        E::AccessDenied(m) => ("access-denied", m),
        E::Conflict(m) => ("conflict", m),
        E::UnknownOperation(m) => ("unknown-operation", m),
        E::Internal(m) => ("internal", m),
    };
    let mut message = message;
    message.truncate(message.floor_char_boundary(MAX_LOG_MESSAGE_BYTES));
    if let Some(scope) = scope {
        message = scope
            .log
            .lock()
            .expect("guest log lock")
            .redactor
            .error_message(&message);
    }
    InvokeError::Plugin { code, message }
}

/// Classifies a trap so the request gets a clear error; the host carries on.
fn contained(plugin: &str, trap: wasmtime::Error) -> InvokeError {
    let (code, message) = if let Some(d) = trap.downcast_ref::<DeadlineExceeded>() {
        ("plugin-deadline", d.to_string())
    } else if let Some(b) = trap.downcast_ref::<HostCallBudgetExhausted>() {
        ("plugin-host-call-budget", b.to_string())
    } else if let Some(s) = trap.downcast_ref::<HostStorageFailure>() {
        return InvokeError::from(&s.0);
    } else if trap.downcast_ref::<JobCancelled>().is_some() {
        return cancelled();
    } else if trap.downcast_ref::<NoRequestScope>().is_some() {
        ("plugin-trap", NoRequestScope.to_string())
    } else if format!("{trap:#}").contains("forcing trap when growing memory") {
        (
            "plugin-memory",
            "the plugin exceeded its memory limit".to_owned(),
        )
    } else {
        (
            "plugin-trap",
            format!("the plugin trapped: {}", trap.root_cause()),
        )
    };
    tracing::warn!(plugin, code, "{message}");
    InvokeError::Contained { code, message }
}
