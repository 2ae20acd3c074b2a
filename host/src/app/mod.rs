//! The running host: the data directory, the runtime, and the tenants
//! open now. A tenant is opened on first use (or at start while the
//! memory budget has room) and closed when it has been idle for a while
//! or when another needs its share of the budget; see [`budget`].

pub mod budget;
mod closing;
mod public_docs;
mod registry;
mod tenant;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

pub use budget::MemoryBudget;
pub use public_docs::PublicDocs;
pub use registry::{Loading, MAX_LOAD_WAIT_MS, PluginSlot, Registry};
pub use tenant::Tenant;

use crate::datadir::DataDir;
use crate::identity::sessions::Activity;
use crate::ids::TenantCode;
use crate::runtime::Runtime;
use crate::store::{DEFAULT_CACHE_BYTES, StoreError};

/// How long an open waits for the same tenant's previous handle, being
/// closed, to finish its last commit and let go of the file.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// The host: data directory, runtime, open tenants.
#[derive(Debug)]
pub struct App {
    /// The data directory.
    pub dir: DataDir,
    /// The plugin runtime.
    pub runtime: Arc<Runtime>,
    /// Jobs started on this server.
    pub jobs: crate::jobs::Jobs,
    /// The per-source limit on unauthenticated requests.
    pub throttle: Arc<crate::identity::throttle::Throttle>,
    /// The URL clients reach this server at (`--public-url`, else the
    /// listen address); certificate issuers live under it.
    pub public_url: OnceLock<Arc<str>>,
    /// This node's federation set-up (`serve --federation-ca ...`).
    pub federation: OnceLock<Arc<crate::federation::node::Node>>,
    /// The WebAuthn relying party, once the public URL is known.
    pub passkeys: OnceLock<Arc<crate::identity::passkeys::Passkeys>>,
    /// The node's memory budget (`serve --memory-mib`); without one (the
    /// CLI, tests) every tenant gets the default cache and stays open.
    pub memory: OnceLock<MemoryBudget>,
    /// Public issuer documents as last read (see [`PublicDocs`]).
    pub public_docs: PublicDocs,
    tenants: Mutex<HashMap<TenantCode, Arc<Tenant>>>,
    /// Handles closed but perhaps still finishing a commit.
    closing: Mutex<HashMap<TenantCode, Weak<redb::Database>>>,
    /// Session activity by tenant, kept while the tenant is closed so a
    /// close never makes a session look idle longer than it was.
    activity: Mutex<HashMap<TenantCode, Arc<Activity>>>,
    /// Set once [`App::open_all`] has opened what it opens at start.
    opened: AtomicBool,
    /// Set once the node was first ready: a tenant opened later (and
    /// still building its facts) does not take the whole node out.
    was_ready: AtomicBool,
    /// Tenants whose file would not open, with why (for /readyz; the
    /// others serve).
    unusable: Mutex<BTreeMap<String, String>>,
    /// The node's uptime clock, for last use.
    epoch: Instant,
}

impl App {
    /// A host over `dir`.
    pub fn new(dir: DataDir, runtime: Arc<Runtime>) -> App {
        App {
            dir,
            runtime,
            jobs: crate::jobs::Jobs::default(),
            throttle: Default::default(),
            passkeys: Default::default(),
            federation: Default::default(),
            public_url: Default::default(),
            memory: Default::default(),
            public_docs: Default::default(),
            tenants: Mutex::default(),
            closing: Mutex::default(),
            activity: Mutex::default(),
            opened: AtomicBool::new(false),
            was_ready: AtomicBool::new(false),
            unusable: Mutex::default(),
            epoch: Instant::now(),
        }
    }

    /// The public URL (`http://localhost` until `serve` sets it).
    pub fn public_url(&self) -> Arc<str> {
        self.public_url
            .get()
            .cloned()
            .unwrap_or_else(|| Arc::from("http://localhost"))
    }

    /// Milliseconds since the node started (for ages, not dates).
    pub fn uptime_ms(&self) -> i64 {
        i64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// Opens the tenants at start, the most recently written first, while
    /// the memory budget holds them without closing any (the rest open
    /// on first use), and loads their plugins; returns the codes opened.
    pub async fn open_all(&self) -> Result<Vec<TenantCode>, StoreError> {
        let mut codes: Vec<(std::time::SystemTime, TenantCode)> = self
            .dir
            .tenant_codes()?
            .into_iter()
            .map(|code| {
                let written = std::fs::metadata(self.dir.tenant_file_path(&code))
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                (written, code)
            })
            .collect();
        codes.sort_by_key(|c| std::cmp::Reverse(c.0));
        let mut opened = Vec::new();
        for (_, code) in codes {
            if let Some(budget) = self.memory.get() {
                let need = budget.cache_for(self.file_len(&code));
                if self.charged().saturating_add(need) > budget.total() {
                    tracing::info!(tenant = %code, "not opened at start: the memory budget is full; it opens on first use");
                    continue;
                }
            }
            // A tenant whose file is unusable does not keep the others down.
            let Ok(Some(tenant)) = self.tenant(&code) else {
                continue;
            };
            warm_facts(&tenant)?;
            tenant.registry(self).await?;
            opened.push(code);
        }
        self.opened.store(true, Ordering::SeqCst);
        Ok(opened)
    }

    /// Whether the server is ready (once the tenants it opens at start
    /// are open, their cohort facts built and plugins loaded or refused;
    /// and no tenant file unusable), and each tenant's state.
    pub fn readiness(&self) -> (bool, serde_json::Value) {
        let mut settled = self.opened.load(Ordering::SeqCst);
        let mut out = serde_json::Map::new();
        for tenant in self.open_tenants() {
            let registry = tenant.current_registry();
            let facts = tenant.store.facts().stats().is_some();
            settled &= registry.generation != u64::MAX && registry.settled() && facts;
            let plugins: serde_json::Map<String, serde_json::Value> = registry
                .plugins
                .iter()
                .map(|(name, slot)| (name.clone(), slot.state().into()))
                .collect();
            out.insert(
                tenant.store.code().to_string(),
                serde_json::json!({
                    "state": "open",
                    "plugins": plugins,
                    "cohort_facts": if facts { "built" } else { "not built" },
                }),
            );
        }
        for code in self.dir.tenant_codes().unwrap_or_default() {
            out.entry(code.to_string())
                .or_insert_with(|| serde_json::json!({ "state": "closed" }));
        }
        if settled {
            self.was_ready.store(true, Ordering::SeqCst);
        }
        let unusable = self.unusable.lock().expect("unusable lock").clone();
        let ready = self.was_ready.load(Ordering::SeqCst) && unusable.is_empty();
        for code in unusable.keys() {
            out.insert(code.clone(), serde_json::json!({ "state": "unusable" }));
        }
        (ready, serde_json::json!({ "ready": ready, "tenants": out }))
    }

    /// The tenants open now.
    pub fn open_tenants(&self) -> Vec<Arc<Tenant>> {
        self.tenants
            .lock()
            .expect("tenants lock")
            .values()
            .cloned()
            .collect()
    }

    /// The tenant with this code if it is open now, without opening it
    /// or counting a use (a background sweep must not keep it open).
    pub fn if_open(&self, code: &TenantCode) -> Option<Arc<Tenant>> {
        self.tenants
            .lock()
            .expect("tenants lock")
            .get(code)
            .filter(|t| !t.committer.io_failed())
            .cloned()
    }

    /// Bytes of the budget the open tenants hold.
    pub fn charged(&self) -> usize {
        self.tenants
            .lock()
            .expect("tenants lock")
            .values()
            .map(|t| t.charge().bytes())
            .sum()
    }

    /// The open tenant with this code, opening it on first use.
    pub fn tenant(&self, code: &TenantCode) -> Result<Option<Arc<Tenant>>, StoreError> {
        let now = self.uptime_ms();
        let mut closed = Vec::new();
        let result = {
            let mut tenants = self.tenants.lock().expect("tenants lock");
            self.tenant_locked(&mut tenants, code, now, &mut closed)
        };
        // Closed handles let go of their files outside the lock.
        drop(closed);
        let mut unusable = self.unusable.lock().expect("unusable lock");
        match &result {
            // Out of space is the disk's state, not the tenant's.
            Err(StoreError::Unavailable(_)) => {}
            Err(e) => {
                tracing::error!(tenant = %code, "tenant not opened: {e}");
                unusable.insert(code.to_string(), e.to_string());
            }
            Ok(Some(_)) => {
                unusable.remove(code.as_str());
            }
            _ => {}
        }
        result
    }

    fn tenant_locked(
        &self,
        tenants: &mut HashMap<TenantCode, Arc<Tenant>>,
        code: &TenantCode,
        now: i64,
        closed: &mut Vec<Arc<Tenant>>,
    ) -> Result<Option<Arc<Tenant>>, StoreError> {
        if let Some(t) = tenants.get(code) {
            if !t.committer.io_failed() {
                t.touch(now);
                return Ok(Some(t.clone()));
            }
            // redb refuses every transaction of a handle after a failed
            // write: open the file afresh (it recovers the last commit).
            tracing::warn!(tenant = %code, "re-opening the tenant after an I/O failure");
            if let Some(t) = tenants.remove(code) {
                closed.push(t);
            }
        }
        if !self.dir.tenant_exists(code) {
            return Ok(None);
        }
        let cache = match self.memory.get() {
            Some(budget) => {
                let cache = budget.cache_for(self.file_len(code));
                closed.extend(self.make_room(tenants, budget, cache));
                cache
            }
            None => DEFAULT_CACHE_BYTES,
        };
        self.wait_for_close(code);
        let activity = self
            .activity
            .lock()
            .expect("activity lock")
            .entry(code.clone())
            .or_default()
            .clone();
        // Opened on use after the start, a tenant loads each plugin when
        // first asked for, and builds its cohort facts on the first read
        // that needs them: a counter request does not pay for the rest.
        let on_use = self.opened.load(Ordering::SeqCst);
        let tenant = Arc::new(Tenant::open(self, code, cache, activity, now, on_use)?);
        tenants.insert(code.clone(), tenant.clone());
        crate::metrics::get().tenant_opens.inc();
        Ok(Some(tenant))
    }
}

/// Builds the cohort facts in the background, so the first campaign-wide
/// request does not wait for them.
fn warm_facts(tenant: &Tenant) -> Result<(), StoreError> {
    let store = tenant.store.clone();
    std::thread::Builder::new()
        .name(format!("facts-{}", store.code()))
        .spawn(move || {
            if let Err(e) = store.warm_facts() {
                tracing::warn!(tenant = %store.code(), error = %e, "cohort facts not built");
            }
        })
        .map(|_| ())
        .map_err(|e| StoreError::Damaged(format!("spawning a thread: {e}")))
}
