//! The state of one plugin invocation (a wasmtime `Store`'s data): its
//! WASI context (empty), its limits, its log, and — while it serves a
//! request — the request's scope: policy, actor, who it may reach, draft of
//! changes and audit events.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::types::Error as WitError;
use super::events::EventLog;
use super::guest_log::SharedLog;
use super::reach::Reach;
use crate::audit::{Event, Outcome};
use crate::ids::Digest;
use crate::jobs::Progress;
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
    /// Who acts: the account, its session and operator, or a service.
    pub who: crate::audit::Identity,
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
    pub job: Option<Arc<Progress>>,
    /// The server's public URL (certificate issuers live under it).
    pub public_url: Arc<str>,
    /// The verified card application the request carries, if it is one.
    pub application: Option<Arc<crate::certificates::application::CardApplication>>,
    /// This node's federation set-up, when it takes part in exchanges.
    pub federation: Option<Arc<crate::federation::node::Node>>,
}

/// The plugin made more host calls than its policy allows.
#[derive(Debug, thiserror::Error)]
#[error("the plugin exceeded its host-call budget of {0} calls")]
pub struct HostCallBudgetExhausted(pub u64);

/// The plugin ran past its deadline.
#[derive(Debug, thiserror::Error)]
#[error("the plugin ran past its {0} ms deadline")]
pub struct DeadlineExceeded(pub u64);

/// The job the plugin runs as was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("the job was cancelled; nothing was applied")]
pub struct JobCancelled;

/// The plugin touched data outside a request (e.g. while describing itself).
#[derive(Debug, thiserror::Error)]
#[error("the plugin called a records function outside a request")]
pub struct NoRequestScope;

/// A storage failure inside a host call; fails the request with 500.
#[derive(Debug, thiserror::Error)]
#[error("storage failed during a host call: {0}")]
pub struct HostStorageFailure(pub StoreError);

/// An audit event of `plugin` serving `request`.
pub fn plugin_event(
    plugin: &PluginIdentity,
    request: &RequestInfo,
    action: &str,
    subject: Option<u64>,
    fields: Vec<String>,
    outcome: Outcome,
) -> Event {
    let mut e = Event::by(
        request.now_ms,
        &request.request_id,
        &request.who,
        action,
        outcome,
    );
    e.plugin = Some(plugin.name.clone());
    e.digest = Some(plugin.digest.to_string());
    e.subject = subject;
    e.fields = fields;
    e
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
    /// Who the plugin may reach.
    pub reach: Reach,
    /// The invocation's log (and the values it must not show).
    pub log: SharedLog,
    /// A host call met a person whose use is suspended: the request's
    /// error is `suspended`, whatever the plugin makes of it.
    pub suspended: bool,
    calls_left: u64,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scope({})", self.plugin.name)
    }
}

impl Scope {
    /// A scope with the policy's host-call budget; the plugin reaches the
    /// persons `input` names (or everyone, with the population grant).
    pub fn new(
        policy: Arc<Policy>,
        plugin: Arc<PluginIdentity>,
        request: Arc<RequestInfo>,
        draft: Draft,
        input: &Arc<str>,
    ) -> Scope {
        let calls_left = policy.limits.host_calls;
        let reach = Reach::new(draft.person_handles(), policy.reaches_population(), input);
        let redactor = crate::redact::Redactor::with_input(input.clone());
        let log = super::guest_log::GuestLog::shared(&plugin.name, redactor);
        Scope {
            policy,
            plugin,
            request,
            draft,
            events: EventLog::default(),
            reach,
            log,
            suspended: false,
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
        plugin_event(
            &self.plugin,
            &self.request,
            action,
            subject,
            fields,
            outcome,
        )
    }

    /// Remembers values handed to the plugin, so its log lines and error
    /// messages cannot repeat them.
    pub fn served<'a>(&self, values: impl IntoIterator<Item = &'a str>) {
        let mut log = self.log.lock().expect("guest log lock");
        for v in values {
            log.redactor.served(v);
        }
    }

    /// Writes the closing line of the invocation's log.
    pub fn close_log(&self) {
        self.log.lock().expect("guest log lock").close();
    }

    /// The serial of a person the plugin may reach; else the guest's
    /// `not-found`, audited like a missing person.
    pub fn person(&mut self, action: &str, iface: Interface, handle: u64) -> Result<u64, WitError> {
        match self.reach.person(handle) {
            Ok(serial) => Ok(serial),
            Err(e) => {
                self.record(
                    self.event(action, None, field_names(iface, &[]), Outcome::Error)
                        .with_reason("not-found"),
                );
                Err(WitError::NotFound(e.to_string()))
            }
        }
    }

    /// Records an event; the first of its kind of a denial also gets a log
    /// line (bounded, like the plugin's own).
    fn record(&mut self, event: Event) -> bool {
        self.events.record(event)
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

    /// Asks the policy whether the plugin may list records of `iface`.
    pub fn check_listing(
        &mut self,
        iface: Interface,
        action: &str,
        subject: u64,
    ) -> Result<(), WitError> {
        let decision = self.policy.check_listing(iface);
        self.settle(action, Some(subject), iface, &[], decision)
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
                if self.record(event) {
                    let line = format!("{action} denied: {reason}");
                    self.log.lock().expect("guest log lock").host_warn(&line);
                }
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
                self.record(self.event(action, subject, names, Outcome::Ok));
                Ok(Ok(v))
            }
            Err(DraftError::Store(e)) => Err(HostStorageFailure(e).into()),
            Err(e) => {
                let (code, err) = match e {
                    DraftError::NotFound(m) => ("not-found", WitError::NotFound(m)),
                    DraftError::Invalid(m) => ("invalid", WitError::Invalid(m)),
                    DraftError::Conflict(m) => ("conflict", WitError::Conflict(m)),
                    DraftError::Suspended => {
                        self.suspended = true;
                        let message = DraftError::Suspended.to_string();
                        ("suspended", WitError::AccessDenied(message))
                    }
                    DraftError::Store(_) => unreachable!("handled above"),
                };
                self.record(
                    self.event(action, subject, names, Outcome::Error)
                        .with_reason(code),
                );
                Ok(Err(err))
            }
        }
    }
}

/// The field names of `fields` of an interface's class.
pub fn field_names(iface: Interface, fields: &[usize]) -> Vec<String> {
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
    /// The job this invocation runs as: cancelling it traps at the next tick.
    pub job: Option<Arc<Progress>>,
    /// The request being served; `None` while the plugin describes itself.
    pub scope: Option<Scope>,
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Invocation({:?})", self.scope)
    }
}

impl Invocation {
    /// State for one invocation under `policy`'s memory limit, ending
    /// `deadline_ms` from now.
    pub fn new(
        policy: &Policy,
        wasi: WasiCtx,
        scope: Option<Scope>,
        deadline_ms: u64,
    ) -> Invocation {
        let limits = StoreLimitsBuilder::new()
            .memory_size(policy.limits.memory_bytes as usize)
            .trap_on_grow_failure(true)
            .build();
        let job = scope.as_ref().and_then(|s| s.request.job.clone());
        Invocation {
            wasi,
            table: ResourceTable::new(),
            limits,
            deadline: Instant::now() + std::time::Duration::from_millis(deadline_ms),
            deadline_ms,
            job,
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
