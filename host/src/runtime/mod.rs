//! The plugin runtime (invariants 2, 7, 8, 14): wasmtime's component model
//! on tokio, one pre-instantiated component per installed plugin, a fresh
//! store per invocation from the pooling allocator, a wall-clock deadline,
//! a memory cap, host-call fuel, and fair shares of the instance pool.
//!
//! - `load`: compiling, checking imports against the policy (fence a),
//!   linking, `describe`.
//! - `call`: one bounded call into a fresh instance.
//! - `invoke`: a request's invocation, its audit events and its commit.
//! - `sched`: admission, the first slice and the plugin lane.
//!
//! **Boundary:** plugins see only WIT types; the host functions in
//! `records` ask `policy` and go through a `store::draft::Draft`.

pub mod bindings;
mod call;
pub mod compile_cache;
mod engine;
mod events;
mod guest_log;
pub mod invocation;
mod invoke;
mod load;
mod population;
mod reach;
mod records;
pub mod sched;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wasmtime::component::Component;
use wasmtime::{Engine, Store};

pub use engine::EngineInfo;
use invocation::Invocation;
pub use invocation::{PluginIdentity, RequestInfo};
pub use load::Import;

use crate::clock::{Clock, Entropy};
use crate::ids::Digest;
use crate::policy::Policy;

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
    /// Imports are not granted; the message names every one.
    #[error("plugin {plugin} refused: {reason}")]
    ImportRefused {
        /// Plugin name.
        plugin: String,
        /// Which imports and why.
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
    /// The plugin trapped, ran out of time, memory or host calls, was
    /// cancelled, or produced unusable output.
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
    /// The plugin, its tenant or the node is at its share of instances.
    #[error("{0}")]
    Busy(String),
    /// The node is overloaded.
    #[error("the server is busy; try again")]
    Overloaded,
    /// Storage failed.
    #[error("storage failed: {0}")]
    Storage(String),
    /// The storage cannot be written now (disk full, I/O error); nothing
    /// was applied.
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),
}

impl InvokeError {
    /// The error's code, as the API answers it.
    pub fn code(&self) -> &'static str {
        match self {
            InvokeError::Plugin { code, .. } | InvokeError::Contained { code, .. } => code,
            InvokeError::Replayed(_) => "replayed",
            InvokeError::Conflict(_) => "conflict",
            InvokeError::Busy(_) => "busy",
            InvokeError::Overloaded => "overloaded",
            InvokeError::Storage(_) => "storage",
            InvokeError::StorageUnavailable(_) => "storage-unavailable",
        }
    }
}

impl From<&crate::store::StoreError> for InvokeError {
    fn from(e: &crate::store::StoreError) -> InvokeError {
        if e.is_io_failure() {
            InvokeError::StorageUnavailable(e.to_string())
        } else {
            InvokeError::Storage(e.to_string())
        }
    }
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
        out.map_err(|e| anyhow::anyhow!("{}", call::plugin_error(e, None)))
    }
}

/// The engine, the compiled-component cache and the instance pool's
/// admission.
pub struct Runtime {
    engine: Engine,
    info: EngineInfo,
    compiled: Mutex<HashMap<Digest, Component>>,
    disk_cache: std::sync::OnceLock<compile_cache::CompileCache>,
    admission: sched::Admission,
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
            disk_cache: std::sync::OnceLock::new(),
            admission: sched::Admission::default(),
            clock,
            entropy,
            _ticker: ticker,
        })
    }

    /// Keeps compiled components in `dir` across restarts, authenticated
    /// with `key` (see [`compile_cache`]).
    pub fn use_compile_cache(&self, dir: &std::path::Path, key: [u8; 32]) -> std::io::Result<()> {
        let cache = compile_cache::CompileCache::open(dir, key, &self.engine)?;
        let _ = self.disk_cache.set(cache);
        Ok(())
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

    /// Free instance slots (of [`crate::limits::INSTANCE_POOL_SLOTS`]).
    pub fn free_slots(&self) -> usize {
        self.admission.pool_available()
    }

    /// A live instance outside any request, for measuring a call without
    /// instantiation (benchmarks only: requests always get a fresh one).
    pub async fn warm_instance(&self, plugin: &LoadedPlugin) -> anyhow::Result<WarmInstance> {
        let mut store = call::new_store(self, &plugin.policy, None, None);
        // A warm instance lives across calls: no deadline.
        store.data_mut().deadline =
            std::time::Instant::now() + std::time::Duration::from_secs(365 * 86_400);
        let instance = plugin.pre.instantiate_async(&mut store).await?;
        Ok(WarmInstance { store, instance })
    }
}
