//! The running host: the data directory, the runtime, and an open handle
//! per tenant (store, group committer, and the registry of roles and loaded
//! plugins, reloaded when the CLI changes them from another process).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use redb::ReadableDatabase;

use crate::admin;
use crate::datadir::DataDir;
use crate::ids::{Digest, TenantCode};
use crate::policy::Policy;
use crate::roles::Roles;
use crate::runtime::{InvokeError, InvokeOutput, LoadedPlugin, RequestInfo, Runtime};

/// How long a request for a plugin still loading (being compiled and
/// described, as after a restart) waits for it before 503.
pub const MAX_LOAD_WAIT_MS: u64 = 15_000;
use crate::store::commit::Committer;
use crate::store::{StoreError, TenantStore, registry_generation};

/// An installed plugin as the server sees it.
#[derive(Debug, Clone)]
pub enum PluginSlot {
    /// Loaded and runnable.
    Ready(Arc<LoadedPlugin>),
    /// Refused or failed at load (digest mismatch, ungranted import, a
    /// `describe` past its deadline, ...): requests get 503 with this
    /// reason until an administrator fixes it.
    Refused(String),
    /// Being compiled and described in the background; requests for it
    /// wait for it (at most [`MAX_LOAD_WAIT_MS`]), others are not held up.
    Loading(Arc<Loading>),
}

/// A load under way.
#[derive(Debug, Default)]
pub struct Loading {
    result: OnceLock<Result<Arc<LoadedPlugin>, String>>,
    done: tokio::sync::Notify,
}

impl Loading {
    fn finish(&self, result: Result<Arc<LoadedPlugin>, String>) {
        let _ = self.result.set(result);
        self.done.notify_waiters();
    }
}

impl PluginSlot {
    /// The slot as it stands: a finished load is `Ready` or `Refused`.
    pub fn now(&self) -> PluginSlot {
        match self {
            PluginSlot::Loading(l) => match l.result.get() {
                Some(Ok(p)) => PluginSlot::Ready(p.clone()),
                Some(Err(reason)) => PluginSlot::Refused(reason.clone()),
                None => self.clone(),
            },
            other => other.clone(),
        }
    }

    /// `ready`, `loading` or `refused`.
    pub fn state(&self) -> &'static str {
        match self.now() {
            PluginSlot::Ready(_) => "ready",
            PluginSlot::Refused(_) => "refused",
            PluginSlot::Loading(_) => "loading",
        }
    }

    /// The loaded plugin, waiting for a load under way at most `wait`.
    pub async fn ready(&self, wait: Duration) -> Result<Arc<LoadedPlugin>, String> {
        let loading = match self.now() {
            PluginSlot::Ready(p) => return Ok(p),
            PluginSlot::Refused(reason) => return Err(reason),
            PluginSlot::Loading(l) => l,
        };
        let waited = tokio::time::timeout(wait, async {
            loop {
                let notified = loading.done.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(r) = loading.result.get() {
                    return r.clone();
                }
                notified.await;
            }
        });
        match waited.await {
            Ok(result) => result,
            Err(_) => Err("the plugin is still loading; try again shortly".into()),
        }
    }
}

/// Roles and plugins of a tenant at one registry generation.
#[derive(Debug, Default)]
pub struct Registry {
    /// The generation it reflects.
    pub generation: u64,
    /// Roles in force.
    pub roles: Roles,
    /// Installed plugins by name.
    pub plugins: BTreeMap<String, PluginSlot>,
    /// What each slot was loaded from (digest, policy text): an unchanged
    /// plugin keeps its slot when the registry reloads.
    sources: BTreeMap<String, (String, String)>,
}

impl Registry {
    /// Whether every plugin has finished loading (ready or refused).
    pub fn settled(&self) -> bool {
        self.plugins
            .values()
            .all(|s| !matches!(s.now(), PluginSlot::Loading(_)))
    }
}

/// An open tenant.
#[derive(Debug)]
pub struct Tenant {
    /// Its store.
    pub store: Arc<TenantStore>,
    /// Its group committer.
    pub committer: Committer,
    /// When each live staff session was last used.
    pub activity: crate::identity::sessions::Activity,
    registry: RwLock<Arc<Registry>>,
    reload: tokio::sync::Mutex<()>,
}

impl Tenant {
    /// The registry as last loaded, without looking for changes.
    pub fn current_registry(&self) -> Arc<Registry> {
        self.registry.read().expect("registry lock").clone()
    }

    /// The registry, reloaded first if users, roles or plugins changed.
    pub async fn registry(&self, app: &App) -> Result<Arc<Registry>, StoreError> {
        let generation = {
            let txn = self.store.db().begin_read()?;
            registry_generation(&txn)?
        };
        let current = self.registry.read().expect("registry lock").clone();
        if current.generation == generation {
            return Ok(current);
        }
        let _guard = self.reload.lock().await;
        let current = self.registry.read().expect("registry lock").clone();
        if current.generation == generation {
            return Ok(current);
        }
        let fresh = Arc::new(load_registry(app, &self.store, generation, &current)?);
        *self.registry.write().expect("registry lock") = fresh.clone();
        Ok(fresh)
    }

    /// Runs a plugin operation for a request.
    pub async fn invoke(
        &self,
        app: &App,
        plugin: &LoadedPlugin,
        request: Arc<RequestInfo>,
        operation: &str,
        input: &str,
    ) -> Result<InvokeOutput, InvokeError> {
        app.runtime
            .invoke(
                plugin,
                &self.store,
                &self.committer,
                request,
                operation,
                input,
            )
            .await
    }
}

/// The registry at `generation`: roles parsed now, plugins whose digest
/// and policy are unchanged kept as they are, the others loaded in the
/// background (a slow or hostile `describe` delays only its own plugin).
fn load_registry(
    app: &App,
    store: &TenantStore,
    generation: u64,
    previous: &Registry,
) -> Result<Registry, StoreError> {
    let roles = match admin::roles(store) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(tenant = %store.code(), "roles unusable, everything is refused: {e}");
            Roles::default()
        }
    };
    let mut plugins = BTreeMap::new();
    let mut sources = BTreeMap::new();
    let installed = admin::list_plugins(store).map_err(|e| match e {
        admin::AdminError::Store(s) => s,
        other => StoreError::Damaged(other.to_string()),
    })?;
    for row in installed {
        let source = (row.digest.clone(), row.policy.clone());
        let kept = match (
            previous.sources.get(&row.name),
            previous.plugins.get(&row.name),
        ) {
            (Some(old), Some(slot)) if *old == source => Some(slot.clone()),
            _ => None,
        };
        let slot =
            kept.unwrap_or_else(|| start_load(app, store, &row.name, &row.digest, &row.policy));
        plugins.insert(row.name.clone(), slot);
        sources.insert(row.name, source);
    }
    Ok(Registry {
        generation,
        roles,
        plugins,
        sources,
    })
}

/// Starts loading an installed plugin in the background.
fn start_load(
    app: &App,
    store: &TenantStore,
    name: &str,
    digest: &str,
    policy: &str,
) -> PluginSlot {
    let prepared = (|| {
        let pinned = Digest::parse(digest).ok_or("the pinned digest is malformed")?;
        let policy = Policy::parse(policy).map_err(|e| e.to_string())?;
        let bytes = app.dir.read_component(&pinned).map_err(|e| e.to_string())?;
        Ok::<_, String>((pinned, policy, bytes))
    })();
    let (pinned, policy, bytes) = match prepared {
        Ok(p) => p,
        Err(reason) => {
            tracing::error!(tenant = %store.code(), plugin = %name, "plugin refused: {reason}");
            return PluginSlot::Refused(reason);
        }
    };
    let loading = Arc::new(Loading::default());
    let slot = PluginSlot::Loading(loading.clone());
    let runtime = app.runtime.clone();
    let (tenant, name) = (store.code().to_string(), name.to_owned());
    tokio::spawn(async move {
        let result = runtime
            .load(&bytes, Arc::new(policy), Some(&pinned))
            .await
            .map(Arc::new)
            .map_err(|e| e.to_string());
        if let Err(reason) = &result {
            tracing::error!(%tenant, plugin = %name, "plugin refused at load: {reason}");
        }
        loading.finish(result);
    });
    slot
}

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
    pub public_url: std::sync::OnceLock<Arc<str>>,
    /// This node's federation set-up (`serve --federation-ca ...`).
    pub federation: std::sync::OnceLock<Arc<crate::federation::node::Node>>,
    /// The WebAuthn relying party, once the public URL is known.
    pub passkeys: std::sync::OnceLock<Arc<crate::identity::passkeys::Passkeys>>,
    tenants: Mutex<HashMap<TenantCode, Arc<Tenant>>>,
    /// Set once [`App::open_all`] has opened every tenant.
    opened: AtomicBool,
    /// Tenants whose file would not open at start, with why (for /readyz;
    /// the others serve).
    unusable: Mutex<std::collections::BTreeMap<String, String>>,
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
            tenants: Mutex::new(HashMap::new()),
            opened: AtomicBool::new(false),
            unusable: Mutex::default(),
        }
    }

    /// The public URL (`http://localhost` until `serve` sets it).
    pub fn public_url(&self) -> Arc<str> {
        self.public_url
            .get()
            .cloned()
            .unwrap_or_else(|| Arc::from("http://localhost"))
    }

    /// Opens every tenant in the data directory and loads its plugins;
    /// returns the codes of those opened.
    pub async fn open_all(&self) -> Result<Vec<TenantCode>, StoreError> {
        let mut opened = Vec::new();
        for code in self.dir.tenant_codes()? {
            // A tenant whose file is unusable does not keep the others down.
            let tenant = match self.tenant(&code) {
                Ok(tenant) => tenant.expect("listed tenants exist"),
                Err(e) => {
                    tracing::error!(tenant = %code, "tenant not opened: {e}");
                    let mut unusable = self.unusable.lock().expect("unusable lock");
                    unusable.insert(code.to_string(), e.to_string());
                    continue;
                }
            };
            tenant.registry(self).await?;
            // Build the cohort facts in the background, so the first
            // campaign-wide request does not wait for them.
            let store = tenant.store.clone();
            std::thread::Builder::new()
                .name(format!("facts-{code}"))
                .spawn(move || {
                    if let Err(e) = store.warm_facts() {
                        tracing::warn!(tenant = %store.code(), error = %e, "cohort facts not built");
                    }
                })
                .map_err(|e| StoreError::Damaged(format!("spawning a thread: {e}")))?;
            opened.push(code);
        }
        self.opened.store(true, Ordering::SeqCst);
        Ok(opened)
    }

    /// Whether the server is ready (every tenant open, its cohort facts
    /// built, every plugin loaded or refused), and each tenant's plugins
    /// with their state.
    pub fn readiness(&self) -> (bool, serde_json::Value) {
        let mut ready = self.opened.load(Ordering::SeqCst);
        let tenants = self.open_tenants();
        let mut out = serde_json::Map::new();
        for tenant in tenants {
            let registry = tenant.current_registry();
            let facts = tenant.store.facts().stats().is_some();
            ready &= registry.generation != u64::MAX && registry.settled() && facts;
            let plugins: serde_json::Map<String, serde_json::Value> = registry
                .plugins
                .iter()
                .map(|(name, slot)| (name.clone(), slot.state().into()))
                .collect();
            out.insert(
                tenant.store.code().to_string(),
                serde_json::json!({
                    "plugins": plugins,
                    "cohort_facts": if facts { "built" } else { "building" },
                }),
            );
        }
        let unusable = self.unusable.lock().expect("unusable lock").clone();
        ready &= unusable.is_empty();
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

    /// The open tenant with this code, opening it on first use.
    pub fn tenant(&self, code: &TenantCode) -> Result<Option<Arc<Tenant>>, StoreError> {
        let mut tenants = self.tenants.lock().expect("tenants lock");
        if let Some(t) = tenants.get(code) {
            if !t.committer.io_failed() {
                return Ok(Some(t.clone()));
            }
            // redb refuses every transaction of a handle after a failed
            // write: open the file afresh (it recovers the last commit).
            tracing::warn!(tenant = %code, "re-opening the tenant after an I/O failure");
            tenants.remove(code);
        }
        if !self.dir.tenant_exists(code) {
            return Ok(None);
        }
        let store = Arc::new(TenantStore::open(&self.dir, code)?);
        let now = self.runtime.clock().now_ms();
        crate::certificates::keys::ensure(&store, self.runtime.entropy().as_ref(), now)?;
        let committer = Committer::start(
            code.as_str(),
            store.db().clone(),
            store.keys().clone(),
            store.keyring().clone(),
            store.facts().clone(),
        );
        let tenant = Arc::new(Tenant {
            store,
            committer,
            activity: Default::default(),
            registry: RwLock::new(Arc::new(Registry {
                generation: u64::MAX,
                ..Registry::default()
            })),
            reload: tokio::sync::Mutex::new(()),
        });
        tenants.insert(code.clone(), tenant.clone());
        Ok(Some(tenant))
    }
}
