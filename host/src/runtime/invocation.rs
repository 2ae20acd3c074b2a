//! The state of one plugin invocation (a wasmtime `Store`'s data): its
//! WASI context (empty), its limits, and — while it serves a request — the
//! request's scope: policy, actor, draft of changes and audit events.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::types::Error as WitError;
use crate::audit::{Event, Outcome};
use crate::ids::Digest;
use crate::policy::{Access, Denied, Interface, Policy};
use crate::store::StoreError;
use crate::store::draft::{Draft, DraftError};

/// Who a plugin is, for audit events.
#[derive(Debug, Clone)]
pub struct PluginIdentity {
    /// Plugin name.
    pub name: String,
    /// Component digest.
    pub digest: Digest,
}

/// The request an invocation serves.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// Staff user id.
    pub actor: String,
    /// Request id repeated in audit events.
    pub request_id: String,
    /// When the request started (ms since epoch).
    pub now_ms: i64,
    /// Today's date in Japan.
    pub today: kiroku_rules::Date,
    /// The client-supplied request id of a writing operation: its changes
    /// are applied at most once, a replay is refused.
    pub replay_guard: Option<String>,
    /// Progress of the job this invocation runs as, if it is one.
    pub job: Option<Arc<crate::jobs::Progress>>,
}

/// The plugin made more host calls than its policy allows.
#[derive(Debug, thiserror::Error)]
#[error("the plugin exceeded its host-call budget of {0} calls")]
pub struct HostCallBudgetExhausted(pub u64);

/// The plugin ran past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the plugin ran past its {0} ms deadline")]
pub struct DeadlineExceeded(pub u64);

/// The plugin touched data outside a request (e.g. while describing itself).
#[derive(Debug, thiserror::Error)]
#[error("the plugin called a records function outside a request")]
pub struct NoRequestScope;

/// A storage failure inside a host call; fails the request with 500.
#[derive(Debug, thiserror::Error)]
#[error("storage failed during a host call: {0}")]
pub struct HostStorageFailure(pub StoreError);

/// Host calls that change a record: each gets its own audit event, so an
/// auditor can count every dose, ticket or change written.
const WRITE_ACTIONS: &[&str] = &[
    "residents.create",
    "residents.update",
    "tickets.issue",
    "campaign-tickets.issue",
    "campaign-tickets.void",
    "ticket-batches.issue-many",
    "doses.add",
    "doses.verify",
    "my-number.register",
    "passport.set",
];

/// Audit events of one invocation. Reads merge into one event per
/// (action, subject, outcome), so a plugin reading a person's fields in
/// several calls makes one event; each successful write, and each
/// population scan call (one event naming every person it returned), is
/// its own event.
#[derive(Debug, Default)]
pub struct EventLog {
    events: Vec<Event>,
    index: HashMap<(String, Option<u64>, Outcome), usize>,
}

impl EventLog {
    /// Records an access, merging field names into an earlier event of the
    /// same action, subject and outcome.
    pub fn record(&mut self, event: Event) {
        let bulk = !event.subjects.is_empty();
        if bulk || (event.outcome == Outcome::Ok && WRITE_ACTIONS.contains(&event.action.as_str()))
        {
            self.events.push(event);
            return;
        }
        let key = (event.action.clone(), event.subject, event.outcome);
        match self.index.get(&key) {
            Some(&i) => {
                let existing = &mut self.events[i];
                for f in event.fields {
                    if !existing.fields.contains(&f) {
                        existing.fields.push(f);
                    }
                }
            }
            None => {
                self.index.insert(key, self.events.len());
                self.events.push(event);
            }
        }
    }

    /// The events, in first-occurrence order.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }
}

/// A request's scope inside an invocation.
pub struct Scope {
    /// The plugin's policy.
    pub policy: Arc<Policy>,
    /// The plugin.
    pub plugin: Arc<PluginIdentity>,
    /// The request.
    pub request: Arc<RequestInfo>,
    /// Reads and pending changes.
    pub draft: Draft,
    /// Audit events so far.
    pub events: EventLog,
    calls_left: u64,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scope({})", self.plugin.name)
    }
}

impl Scope {
    /// A scope with the policy's host-call budget.
    pub fn new(
        policy: Arc<Policy>,
        plugin: Arc<PluginIdentity>,
        request: Arc<RequestInfo>,
        draft: Draft,
    ) -> Scope {
        let calls_left = policy.limits.host_calls;
        Scope {
            policy,
            plugin,
            request,
            draft,
            events: EventLog::default(),
            calls_left,
        }
    }

    /// An audit event for this request and plugin.
    pub fn event(
        &self,
        action: &str,
        subject: Option<u64>,
        fields: Vec<String>,
        outcome: Outcome,
    ) -> Event {
        let mut e = Event::new(
            self.request.now_ms,
            &self.request.request_id,
            &self.request.actor,
            action,
            outcome,
        );
        e.plugin = Some(self.plugin.name.clone());
        e.digest = Some(self.plugin.digest.to_string());
        e.subject = subject;
        e.fields = fields;
        e
    }

    /// Asks the policy about `fields`; a denial is audited and returned as
    /// the guest's `access-denied` error.
    pub fn check_fields(
        &mut self,
        iface: Interface,
        access: Access,
        action: &str,
        subject: Option<u64>,
        fields: &[usize],
    ) -> Result<(), WitError> {
        let decision = self.policy.check_fields(iface, access, fields);
        self.settle(action, subject, iface, fields, decision)
    }

    /// Asks the policy about a lookup.
    pub fn check_search(
        &mut self,
        iface: Interface,
        action: &str,
        search: &str,
    ) -> Result<(), WitError> {
        let decision = self.policy.check_search(iface, search);
        self.settle(action, None, iface, &[], decision)
    }

    fn settle(
        &mut self,
        action: &str,
        subject: Option<u64>,
        iface: Interface,
        fields: &[usize],
        decision: Result<(), Denied>,
    ) -> Result<(), WitError> {
        match decision {
            Ok(()) => Ok(()),
            Err(Denied(reason)) => {
                let names = field_names(iface, fields);
                let event = self
                    .event(action, subject, names, Outcome::Deny)
                    .with_reason(reason.clone());
                self.events.record(event);
                tracing::warn!(plugin = %self.plugin.name, action, "denied: {reason}");
                Err(WitError::AccessDenied(reason))
            }
        }
    }

    /// Audits the end of a data access and maps its error for the guest.
    /// Storage failures trap: the request fails as a whole.
    pub fn finish<T>(
        &mut self,
        action: &str,
        subject: Option<u64>,
        iface: Interface,
        fields: &[usize],
        result: Result<T, DraftError>,
    ) -> wasmtime::Result<Result<T, WitError>> {
        let names = field_names(iface, fields);
        match result {
            Ok(v) => {
                self.events
                    .record(self.event(action, subject, names, Outcome::Ok));
                Ok(Ok(v))
            }
            Err(DraftError::Store(e)) => Err(HostStorageFailure(e).into()),
            Err(e) => {
                let (code, err) = match e {
                    DraftError::NotFound(m) => ("not-found", WitError::NotFound(m)),
                    DraftError::Invalid(m) => ("invalid", WitError::Invalid(m)),
                    DraftError::Conflict(m) => ("conflict", WitError::Conflict(m)),
                    DraftError::Store(_) => unreachable!("handled above"),
                };
                self.events.record(
                    self.event(action, subject, names, Outcome::Error)
                        .with_reason(code),
                );
                Ok(Err(err))
            }
        }
    }
}

fn field_names(iface: Interface, fields: &[usize]) -> Vec<String> {
    match iface.class() {
        Some(class) => fields
            .iter()
            .map(|&i| class.fields()[i].to_owned())
            .collect(),
        None => Vec::new(),
    }
}

/// A wasmtime store's data.
pub struct Invocation {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Memory caps.
    pub limits: StoreLimits,
    /// When the epoch callback traps.
    pub deadline: Instant,
    /// The deadline's length, for the error message.
    pub deadline_ms: u64,
    /// The request being served; `None` while the plugin describes itself.
    pub scope: Option<Scope>,
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Invocation({:?})", self.scope)
    }
}

impl Invocation {
    /// State for one invocation under `policy`'s limits.
    pub fn new(policy: &Policy, wasi: WasiCtx, scope: Option<Scope>) -> Invocation {
        let limits = StoreLimitsBuilder::new()
            .memory_size(policy.limits.memory_bytes as usize)
            .trap_on_grow_failure(true)
            .build();
        Invocation {
            wasi,
            table: ResourceTable::new(),
            limits,
            deadline: Instant::now() + std::time::Duration::from_millis(policy.limits.deadline_ms),
            deadline_ms: policy.limits.deadline_ms,
            scope,
        }
    }

    /// Enters a host call: spends one unit of host-call fuel.
    pub fn enter(&mut self) -> wasmtime::Result<&mut Scope> {
        let scope = self.scope.as_mut().ok_or(NoRequestScope)?;
        if scope.calls_left == 0 {
            return Err(HostCallBudgetExhausted(scope.policy.limits.host_calls).into());
        }
        scope.calls_left -= 1;
        Ok(scope)
    }
}

impl WasiView for Invocation {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wasmtime_wasi_io::IoView for Invocation {
    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}
