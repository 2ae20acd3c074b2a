//! The plugin runtime (invariants 2, 7, 8): wasmtime's component model on
//! tokio, one pre-instantiated component per installed plugin, a fresh
//! store per invocation from the pooling allocator, an epoch deadline, a
//! memory cap, host-call fuel, and a semaphore sized to the pool.
//!
//! **Boundary:** plugins see only WIT types; the host functions in
//! `records` ask `policy` and go through a `store::draft::Draft`.

pub mod bindings;
mod engine;
pub mod invocation;
mod population;
mod records;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store};

pub use engine::EngineInfo;
use invocation::{
    DeadlineExceeded, HostCallBudgetExhausted, HostStorageFailure, Invocation, NoRequestScope,
    Scope,
};
pub use invocation::{PluginIdentity, RequestInfo};

use crate::audit::{Event, Outcome};
use crate::clock::{Clock, Entropy};
use crate::ids::{Digest, is_valid_plugin_name};
use crate::limits::MAX_CONFLICT_RETRIES;
use crate::policy::{ImportKind, Interface, Policy};
use crate::store::TenantStore;
use crate::store::commit::{Check, CommitError, Committer, Op, WriteSet};
use crate::store::draft::Draft;
use crate::store::rows::{self, AppliedRequest};

/// One operation a plugin offers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OperationInfo {
    /// Kebab-case name.
    pub name: String,
    /// One line.
    pub summary: String,
    /// Whether it changes data.
    pub writes: bool,
}

/// A plugin ready to run: compiled, checked against its policy, linked with
/// exactly its granted interfaces, pre-instantiated.
/// One import of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Its name, e.g. `kiroku:records/doses@0.1.0`.
    pub name: String,
    /// Whether it brings functions (a capability) or only types, as when a
    /// plugin imports `cohort`, whose records use `doses` types.
    pub calls_functions: bool,
}

impl Import {
    fn new(
        engine: &Engine,
        name: &str,
        item: &wasmtime::component::types::ComponentItem,
    ) -> Import {
        use wasmtime::component::types::ComponentItem;
        let calls_functions = match item {
            ComponentItem::ComponentInstance(instance) => instance
                .exports(engine)
                .any(|(_, e)| !matches!(e.ty, ComponentItem::Type(_))),
            _ => true,
        };
        Import {
            name: name.to_owned(),
            calls_functions,
        }
    }
}

pub struct LoadedPlugin {
    /// Name and digest.
    pub identity: Arc<PluginIdentity>,
    /// The policy in force.
    pub policy: Arc<Policy>,
    /// What `describe` returned.
    pub operations: Vec<OperationInfo>,
    /// The component's imports, as checked.
    pub imports: Vec<String>,
    pre: bindings::RuntimePre<Invocation>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "LoadedPlugin({}@{})",
            self.identity.name,
            self.identity.digest.short()
        )
    }
}

impl LoadedPlugin {
    /// The operation named `name`, if the plugin offers it.
    pub fn operation(&self, name: &str) -> Option<&OperationInfo> {
        self.operations.iter().find(|o| o.name == name)
    }
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The component's digest is not the pinned one.
    #[error("component digest sha256:{actual} does not match the pinned sha256:{pinned}")]
    DigestMismatch {
        /// What the policy or install pinned.
        pinned: String,
        /// What the bytes hash to.
        actual: String,
    },
    /// An import is not granted; the message names it.
    #[error("plugin {plugin} refused: {reason}")]
    ImportRefused {
        /// Plugin name.
        plugin: String,
        /// Which import and why.
        reason: String,
    },
    /// Not a valid component, or not a Kiroku plugin.
    #[error("not a usable Kiroku plugin component: {0}")]
    Invalid(String),
}

/// How an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The plugin returned an error of its own.
    #[error("{code}: {message}")]
    Plugin {
        /// `invalid`, `not-found`, `access-denied`, `conflict`, `unknown-operation` or `internal`.
        code: &'static str,
        /// The plugin's message.
        message: String,
    },
    /// The plugin trapped, ran out of time, memory or host calls, or
    /// produced unusable output.
    #[error("{code}: {message}")]
    Contained {
        /// What happened, e.g. `plugin-deadline`.
        code: &'static str,
        /// Explanation.
        message: String,
    },
    /// A writing request with this client-supplied id was already applied.
    #[error("{0}")]
    Replayed(String),
    /// Concurrent requests kept changing the same records.
    #[error("the records changed concurrently {0} times; try again")]
    Conflict(u32),
    /// The node is overloaded.
    #[error("the server is busy; try again")]
    Overloaded,
    /// Storage failed.
    #[error("storage failed: {0}")]
    Storage(String),
}

/// A successful invocation.
#[derive(Debug)]
pub struct InvokeOutput {
    /// The plugin's JSON output.
    pub output: String,
    /// Sequence numbers of the audit events written.
    pub audit_seqs: Vec<u64>,
}

/// An instance kept alive across calls; see [`Runtime::warm_instance`].
pub struct WarmInstance {
    store: Store<Invocation>,
    instance: bindings::Runtime,
}

impl WarmInstance {
    /// Calls an operation on the live instance.
    pub async fn call(&mut self, operation: &str, input: &str) -> anyhow::Result<String> {
        let out = self
            .instance
            .kiroku_plugin_handler()
            .call_handle(&mut self.store, operation, input)
            .await?;
        out.map_err(|e| anyhow::anyhow!("{}", plugin_error(e)))
    }
}

/// The engine, the compiled-component cache and the instance semaphore.
pub struct Runtime {
    engine: Engine,
    info: EngineInfo,
    compiled: Mutex<HashMap<Digest, Component>>,
    slots: Arc<tokio::sync::Semaphore>,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
    _ticker: engine::EpochTicker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Runtime({:?})", self.info)
    }
}

impl Runtime {
    /// Builds the engine (pooling allocator, falling back to on-demand
    /// allocation when the address-space probe fails) and starts the epoch
    /// ticker.
    pub fn new(clock: Arc<dyn Clock>, entropy: Arc<dyn Entropy>) -> anyhow::Result<Runtime> {
        let (engine, info) = engine::build()?;
        let ticker = engine::EpochTicker::start(engine.clone());
        Ok(Runtime {
            engine,
            info,
            compiled: Mutex::new(HashMap::new()),
            slots: Arc::new(tokio::sync::Semaphore::new(
                crate::limits::INSTANCE_POOL_SLOTS as usize,
            )),
            clock,
            entropy,
            _ticker: ticker,
        })
    }

    /// How the engine was configured.
    pub fn info(&self) -> &EngineInfo {
        &self.info
    }

    /// The injected clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The injected entropy.
    pub fn entropy(&self) -> &Arc<dyn Entropy> {
        &self.entropy
    }

    /// Compiles a component (cached by digest). The host compiles every
    /// component itself; precompiled code is never loaded.
    fn compile(&self, digest: &Digest, bytes: &[u8]) -> Result<Component, LoadError> {
        if let Some(c) = self.compiled.lock().expect("cache lock").get(digest) {
            return Ok(c.clone());
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        self.compiled
            .lock()
            .expect("cache lock")
            .insert(digest.clone(), component.clone());
        Ok(component)
    }

    /// The imports of a component.
    pub fn imports(&self, bytes: &[u8]) -> Result<Vec<Import>, LoadError> {
        let component = self.compile(&Digest::of(bytes), bytes)?;
        Ok(component
            .component_type()
            .imports(&self.engine)
            .map(|(name, item)| Import::new(&self.engine, name, &item.ty))
            .collect())
    }

    /// Checks a component against its policy and prepares it (fence a).
    /// `pinned` is the digest recorded at install, if any.
    pub async fn load(
        &self,
        bytes: &[u8],
        policy: Arc<Policy>,
        pinned: Option<&Digest>,
    ) -> Result<LoadedPlugin, LoadError> {
        let digest = Digest::of(bytes);
        for expected in [pinned, policy.digest.as_ref()].into_iter().flatten() {
            if *expected != digest {
                return Err(LoadError::DigestMismatch {
                    pinned: expected.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        let component = self.compile(&digest, bytes)?;
        let mut linker: Linker<Invocation> = Linker::new(&self.engine);
        engine::link_wasi(&mut linker).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let mut imports = Vec::new();
        for (name, item) in component.component_type().imports(&self.engine) {
            let import = Import::new(&self.engine, name, &item.ty);
            let kind = policy
                .check_import(&import.name, import.calls_functions)
                .map_err(|d| LoadError::ImportRefused {
                    plugin: policy.plugin.clone(),
                    reason: d.0,
                })?;
            link(&mut linker, name, kind).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
            imports.push(import.name);
        }
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let pre = bindings::RuntimePre::new(instance_pre).map_err(|e| {
            LoadError::Invalid(format!(
                "it does not export {} ({e:#})",
                crate::policy::HANDLER_EXPORT
            ))
        })?;
        let identity = Arc::new(PluginIdentity {
            name: policy.plugin.clone(),
            digest,
        });
        let mut plugin = LoadedPlugin {
            identity,
            policy,
            operations: Vec::new(),
            imports,
            pre,
        };
        plugin.operations = self.describe(&plugin).await?;
        Ok(plugin)
    }

    fn new_store(&self, policy: &Policy, scope: Option<Scope>) -> Store<Invocation> {
        let wasi = engine::empty_wasi_ctx(self.clock.clone(), self.entropy.clone());
        let mut store = Store::new(&self.engine, Invocation::new(policy, wasi, scope));
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_callback(|ctx| {
            let state = ctx.data();
            if std::time::Instant::now() >= state.deadline {
                Err(DeadlineExceeded(state.deadline_ms).into())
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        store.set_epoch_deadline(1);
        store
    }

    async fn describe(&self, plugin: &LoadedPlugin) -> Result<Vec<OperationInfo>, LoadError> {
        let mut store = self.new_store(&plugin.policy, None);
        let ops = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            instance
                .kiroku_plugin_handler()
                .call_describe(&mut store)
                .await
        }
        .await
        .map_err(|e| LoadError::Invalid(format!("describe failed: {e:#}")))?;
        let mut out = Vec::new();
        for op in ops {
            if !is_valid_plugin_name(&op.name)
                || op.summary.len() > 500
                || out.iter().any(|o: &OperationInfo| o.name == op.name)
            {
                return Err(LoadError::Invalid(format!(
                    "describe returned an invalid or duplicate operation {:?}",
                    op.name
                )));
            }
            out.push(OperationInfo {
                name: op.name,
                summary: op.summary,
                writes: op.writes,
            });
        }
        Ok(out)
    }

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
        let action = format!("invoke {}/{operation}", plugin.identity.name);
        let mut seen: Vec<Event> = Vec::new();
        for attempt in 0..=MAX_CONFLICT_RETRIES {
            let draft = Draft::new(tenant.clone(), self.entropy.clone());
            let scope = Scope::new(
                plugin.policy.clone(),
                plugin.identity.clone(),
                request.clone(),
                draft,
            );
            let (result, scope) = self.call_fresh(plugin, Some(scope), operation, input).await;
            let scope = scope.expect("a request's scope comes back");
            let outcome_event = |outcome: Outcome, reason: Option<&str>| {
                let mut e = scope.event(&action, None, Vec::new(), outcome);
                e.reason = reason.map(str::to_owned);
                e
            };
            let output = match result {
                Ok(output) => output,
                Err(error) => {
                    let reason = match &error {
                        InvokeError::Plugin { code, .. } | InvokeError::Contained { code, .. } => {
                            (*code).to_owned()
                        }
                        other => other.to_string(),
                    };
                    // The failure is recorded; its changes are dropped.
                    let failed = outcome_event(Outcome::Error, Some(&reason));
                    seen.extend(scope.events.into_events());
                    seen.push(failed);
                    record_only(committer, seen).await?;
                    return Err(error);
                }
            };
            let (done, replayed) = (
                outcome_event(Outcome::Ok, None),
                outcome_event(Outcome::Deny, Some("replayed")),
            );
            let Scope { draft, events, .. } = scope;
            let reads = events.into_events();
            let mut events = seen.clone();
            events.extend(reads.iter().cloned());
            events.push(done);
            let mut set = draft.into_write_set(events);
            guard_replay(&mut set, &request, &plugin.identity.name, operation);
            match committer.commit(set).await {
                Ok(audit_seqs) => return Ok(InvokeOutput { output, audit_seqs }),
                Err(CommitError::Conflict(c)) if c.replay => {
                    seen.extend(reads);
                    seen.push(replayed);
                    record_only(committer, seen).await?;
                    return Err(InvokeError::Replayed(c.message));
                }
                Err(CommitError::Conflict(c)) => {
                    tracing::debug!(attempt, "conflict, re-running: {c}");
                    tenant
                        .resync_person_ids()
                        .map_err(|e| InvokeError::Storage(e.to_string()))?;
                    seen.extend(reads);
                }
                Err(CommitError::Overloaded) => return Err(InvokeError::Overloaded),
                Err(CommitError::Store(e)) => return Err(InvokeError::Storage(e.to_string())),
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
        self.call_fresh(plugin, None, operation, input).await.0
    }

    /// A live instance outside any request, for measuring a call without
    /// instantiation (benchmarks only: requests always get a fresh one).
    pub async fn warm_instance(&self, plugin: &LoadedPlugin) -> anyhow::Result<WarmInstance> {
        let mut store = self.new_store(&plugin.policy, None);
        // A warm instance lives across calls: no deadline.
        store.data_mut().deadline =
            std::time::Instant::now() + std::time::Duration::from_secs(365 * 86_400);
        let instance = plugin.pre.instantiate_async(&mut store).await?;
        Ok(WarmInstance { store, instance })
    }

    /// Instantiates and calls the plugin in a fresh store (holding a pool
    /// slot meanwhile); returns its result and the scope (draft and events)
    /// it left, if it had one.
    async fn call_fresh(
        &self,
        plugin: &LoadedPlugin,
        scope: Option<Scope>,
        operation: &str,
        input: &str,
    ) -> (Result<String, InvokeError>, Option<Scope>) {
        let permit = self
            .slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let mut store = self.new_store(&plugin.policy, scope);
        let call = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            instance
                .kiroku_plugin_handler()
                .call_handle(&mut store, operation, input)
                .await
        }
        .await;
        drop(permit);
        let result = match call {
            Ok(Ok(output)) => check_output(&plugin.policy, output),
            Ok(Err(e)) => Err(plugin_error(e)),
            Err(trap) => Err(contained(&plugin.identity.name, trap)),
        };
        (result, store.into_data().scope)
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
        Err(e) => Err(InvokeError::Storage(e.to_string())),
    }
}

/// Makes a writing request's changes conditional on its client-supplied id
/// being unused, and records the id with them.
fn guard_replay(set: &mut WriteSet, request: &RequestInfo, plugin: &str, operation: &str) {
    let Some(id) = &request.replay_guard else {
        return;
    };
    if set.ops.is_empty() {
        return;
    }
    let applied = AppliedRequest {
        actor: request.actor.clone(),
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

fn link(linker: &mut Linker<Invocation>, name: &str, kind: ImportKind) -> wasmtime::Result<()> {
    use bindings::kiroku::health as h;
    use bindings::kiroku::population as p;
    use bindings::kiroku::records as r;
    type H = HasSelf<Invocation>;
    fn get(s: &mut Invocation) -> &mut Invocation {
        s
    }
    match kind {
        ImportKind::Wasi => Ok(()),
        // Types carry no capability: an empty instance satisfies the import.
        ImportKind::Types => linker.instance(name).map(|_| ()),
        ImportKind::Records(iface) => match iface {
            Interface::Context => r::context::add_to_linker::<_, H>(linker, get),
            Interface::Log => r::log::add_to_linker::<_, H>(linker, get),
            Interface::Residents => r::residents::add_to_linker::<_, H>(linker, get),
            Interface::Tickets => r::tickets::add_to_linker::<_, H>(linker, get),
            Interface::Doses => r::doses::add_to_linker::<_, H>(linker, get),
            Interface::MyNumber => r::my_number::add_to_linker::<_, H>(linker, get),
            Interface::MyNumberIntake => r::my_number_intake::add_to_linker::<_, H>(linker, get),
            Interface::Passport => r::passport::add_to_linker::<_, H>(linker, get),
            Interface::CampaignTickets => h::campaign_tickets::add_to_linker::<_, H>(linker, get),
            Interface::Cohort => h::cohort::add_to_linker::<_, H>(linker, get),
            Interface::Jobs => h::jobs::add_to_linker::<_, H>(linker, get),
            Interface::CohortFacts => p::cohort_facts::add_to_linker::<_, H>(linker, get),
            Interface::TicketBatches => p::ticket_batches::add_to_linker::<_, H>(linker, get),
        },
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
    if serde_json::from_str::<serde::de::IgnoredAny>(&output).is_err() {
        return Err(InvokeError::Contained {
            code: "plugin-bad-output",
            message: "the plugin's output is not JSON".into(),
        });
    }
    Ok(output)
}

fn plugin_error(e: bindings::handler::Error) -> InvokeError {
    use bindings::handler::Error as E;
    let (code, message) = match e {
        E::Invalid(m) => ("invalid", m),
        E::NotFound(m) => ("not-found", m),
        E::AccessDenied(m) => ("access-denied", m),
        E::Conflict(m) => ("conflict", m),
        E::UnknownOperation(m) => ("unknown-operation", m),
        E::Internal(m) => ("internal", m),
    };
    let mut message = message;
    message.truncate(message.floor_char_boundary(crate::limits::MAX_LOG_MESSAGE_BYTES));
    InvokeError::Plugin { code, message }
}

/// Classifies a trap so the request gets a clear error; the host carries on.
fn contained(plugin: &str, trap: wasmtime::Error) -> InvokeError {
    let (code, message) = if let Some(d) = trap.downcast_ref::<DeadlineExceeded>() {
        ("plugin-deadline", d.to_string())
    } else if let Some(b) = trap.downcast_ref::<HostCallBudgetExhausted>() {
        ("plugin-host-call-budget", b.to_string())
    } else if let Some(s) = trap.downcast_ref::<HostStorageFailure>() {
        return InvokeError::Storage(s.to_string());
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
