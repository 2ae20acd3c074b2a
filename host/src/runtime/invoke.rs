//! A request's invocation: the call, its audit events (the reads it made
//! and how it ended, even when it failed) and the commit of its changes
//! through the tenant's group committer, re-run on a conflict.

use std::sync::Arc;

use super::call::{Export, Returned};
use super::events::mark_not_applied;
use super::invocation::{RequestInfo, Scope, plugin_event};
use super::{InvokeError, InvokeOutput, LoadedPlugin, Runtime};
use crate::audit::{Event, Outcome};
use crate::limits::MAX_CONFLICT_RETRIES;
use crate::store::TenantStore;
use crate::store::commit::{Check, CommitError, Committer, Op, WriteSet};
use crate::store::draft::Draft;
use crate::store::rows::{self, AppliedRequest};

impl Runtime {
    /// Runs one operation for a request and commits its writes and audit
    /// events through the tenant's group committer. An invocation whose
    /// writes conflict with a concurrent one is re-run on fresh state; what
    /// every attempt read stays in the audit log.
    pub async fn invoke(
        &self,
        plugin: &LoadedPlugin,
        tenant: &Arc<TenantStore>,
        committer: &Committer,
        request: Arc<RequestInfo>,
        operation: &str,
        input: &str,
    ) -> Result<InvokeOutput, InvokeError> {
        let started = std::time::Instant::now();
        let result = self
            .invoke_counted(plugin, tenant, committer, request, operation, input)
            .await;
        let (outcome, trap) = match &result {
            Ok(_) => ("ok", None),
            Err(InvokeError::Contained { code, .. }) => (*code, Some(*code)),
            Err(e) => (e.code(), None),
        };
        let labels = crate::metrics::InvocationLabels {
            tenant: tenant.code().to_string(),
            plugin: plugin.identity.name.clone(),
            operation: operation.to_owned(),
            outcome: outcome.to_owned(),
        };
        crate::metrics::get().invocation(labels, trap, started.elapsed());
        result
    }

    async fn invoke_counted(
        &self,
        plugin: &LoadedPlugin,
        tenant: &Arc<TenantStore>,
        committer: &Committer,
        request: Arc<RequestInfo>,
        operation: &str,
        input: &str,
    ) -> Result<InvokeOutput, InvokeError> {
        let action = format!("invoke {}/{operation}", plugin.identity.name);
        let outcome_event = |outcome: Outcome, reason: Option<&str>| {
            let mut e = plugin_event(
                &plugin.identity,
                &request,
                &action,
                None,
                Vec::new(),
                outcome,
            );
            e.reason = reason.map(str::to_owned);
            e
        };
        let code = tenant.code().to_string();
        let input: Arc<str> = Arc::from(input);
        let mut seen: Vec<Event> = Vec::new();
        for attempt in 0..=MAX_CONFLICT_RETRIES {
            let mut draft = Draft::new(tenant.clone(), self.entropy.clone());
            if plugin.policy.exempt_from_suspension() {
                draft.exempt_from_suspension();
            }
            let scope = Scope::new(
                plugin.policy.clone(),
                plugin.identity.clone(),
                request.clone(),
                draft,
                &input,
            );
            let export = Export::Handle {
                operation: operation.to_owned(),
                input: input.clone(),
            };
            let called = self.call(plugin, Some(scope), export, Some(&code)).await;
            let output = match called.result {
                Ok(Returned::Handled(output)) => output,
                Ok(Returned::Described(_)) => unreachable!("handle was called"),
                // A twin of this named request was applied while this one
                // ran (both passed the router's check): the plugin refused
                // on the twin's changes, which is a replay.
                Err(InvokeError::Plugin { .. }) if applied_meanwhile(tenant, &request) => {
                    let mut events = called.events;
                    mark_not_applied(&mut events, "the request was a replay");
                    seen.extend(events);
                    seen.push(outcome_event(Outcome::Deny, Some("replayed")));
                    record_only(committer, seen).await?;
                    return Err(InvokeError::Replayed(REPLAYED.into()));
                }
                Err(error) => {
                    let reason = match &error {
                        InvokeError::Plugin { code, .. } | InvokeError::Contained { code, .. } => {
                            (*code).to_owned()
                        }
                        InvokeError::Busy(_) => "busy".to_owned(),
                        other => other.to_string(),
                    };
                    // The failure is recorded; its changes are dropped.
                    let mut events = called.events;
                    mark_not_applied(&mut events, "the invocation failed");
                    seen.extend(events);
                    seen.push(outcome_event(Outcome::Error, Some(&reason)));
                    record_only(committer, seen).await?;
                    return Err(error);
                }
            };
            let mut reads = called.events;
            let mut set = called.changes.unwrap_or_default();
            let wrote = !set.ops.is_empty();
            let declared_writes = plugin.operation(operation).is_some_and(|o| o.writes);
            if wrote && plugin.policy.dry_runs.contains(operation) {
                // A dry run checked everything the real run would; its
                // changes go nowhere and its events say so.
                mark_not_applied(&mut reads, "a dry run");
                set = WriteSet::default();
            } else if wrote && !declared_writes {
                // An operation that says it only reads may not write: a
                // read-only role may call it.
                mark_not_applied(&mut reads, "the operation is declared read-only");
                seen.extend(reads);
                let reason = "plugin-contract";
                seen.push(outcome_event(Outcome::Error, Some(reason)));
                record_only(committer, seen).await?;
                return Err(InvokeError::Contained {
                    code: "plugin-contract",
                    message: "the operation is declared read-only but wrote; nothing was applied"
                        .into(),
                });
            }
            let mut events = seen.clone();
            events.extend(reads.iter().cloned());
            events.push(outcome_event(Outcome::Ok, None));
            set.events = events;
            guard_replay(&mut set, &request, &plugin.identity.name, operation);
            match committer.commit(set).await {
                Ok(audit_seqs) => return Ok(InvokeOutput { output, audit_seqs }),
                // A twin of this named request committed first (it raced
                // this one past the router's check): a replay, not a re-run
                // that would refuse on the twin's changes.
                Err(CommitError::Conflict(c))
                    if c.replay || applied_meanwhile(tenant, &request) =>
                {
                    let mut reads = reads;
                    mark_not_applied(&mut reads, "the request was a replay");
                    seen.extend(reads);
                    seen.push(outcome_event(Outcome::Deny, Some("replayed")));
                    record_only(committer, seen).await?;
                    let message = if c.replay { c.message } else { REPLAYED.into() };
                    return Err(InvokeError::Replayed(message));
                }
                Err(CommitError::Conflict(c)) => {
                    tracing::debug!(attempt, "conflict, re-running: {c}");
                    tenant
                        .resync_person_ids()
                        .map_err(|e| InvokeError::Storage(e.to_string()))?;
                    let mut reads = reads;
                    mark_not_applied(&mut reads, "re-run after a conflicting write");
                    seen.extend(reads);
                }
                Err(CommitError::Overloaded) => return Err(InvokeError::Overloaded),
                Err(CommitError::Store(e)) => return Err(InvokeError::from(&e)),
            }
        }
        record_only(committer, seen).await?;
        Err(InvokeError::Conflict(MAX_CONFLICT_RETRIES + 1))
    }

    /// Calls an operation in a fresh instance outside any request: the
    /// plugin can use no records interface (any host call traps) and
    /// nothing is committed. For benchmarks and diagnostics of pure logic.
    pub async fn invoke_detached(
        &self,
        plugin: &LoadedPlugin,
        operation: &str,
        input: &str,
    ) -> Result<String, InvokeError> {
        let export = Export::Handle {
            operation: operation.to_owned(),
            input: Arc::from(input),
        };
        match self.call(plugin, None, export, None).await.result? {
            Returned::Handled(output) => Ok(output),
            Returned::Described(_) => unreachable!("handle was called"),
        }
    }
}

/// Commits audit events alone (a failed or refused request's record).
async fn record_only(committer: &Committer, events: Vec<Event>) -> Result<(), InvokeError> {
    match committer
        .commit(WriteSet {
            events,
            ..WriteSet::default()
        })
        .await
    {
        Ok(_) => Ok(()),
        Err(CommitError::Overloaded) => Err(InvokeError::Overloaded),
        Err(CommitError::Store(e)) => Err(InvokeError::from(&e)),
        Err(e) => Err(InvokeError::Storage(e.to_string())),
    }
}

/// Makes a writing request's changes conditional on its client-supplied id
/// being unused, and records the id with them.
/// The answer to a named request applied before.
const REPLAYED: &str = "a request with this id was already applied; it is not applied twice";

/// Whether the request names itself and a request of that name has been
/// applied since it started.
fn applied_meanwhile(tenant: &TenantStore, request: &RequestInfo) -> bool {
    request
        .replay_guard
        .as_deref()
        .is_some_and(|id| tenant.request_applied(id).unwrap_or(false))
}

fn guard_replay(set: &mut WriteSet, request: &RequestInfo, plugin: &str, operation: &str) {
    let Some(id) = &request.replay_guard else {
        return;
    };
    if set.ops.is_empty() {
        return;
    }
    let applied = AppliedRequest {
        actor: request.who.name.clone(),
        action: format!("{plugin}/{operation}"),
        time_ms: request.now_ms,
    };
    set.checks.push(Check::RequestUnused(id.clone()));
    set.ops.push(Op::PutRequest(
        id.clone(),
        request.now_ms,
        rows::encode(&applied),
    ));
}
