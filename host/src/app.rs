//! The running host: the data directory, the runtime, and an open handle
//! per tenant (store, group committer, and the registry of roles and loaded
//! plugins, reloaded when the CLI changes them from another process).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use redb::ReadableDatabase;

use crate::admin;
use crate::datadir::DataDir;
use crate::ids::{Digest, TenantCode};
use crate::policy::Policy;
use crate::roles::Roles;
use crate::runtime::{InvokeError, InvokeOutput, LoadedPlugin, RequestInfo, Runtime};
use crate::store::commit::Committer;
use crate::store::{StoreError, TenantStore, registry_generation};

/// An installed plugin as the server sees it.
#[derive(Debug, Clone)]
pub enum PluginSlot {
    /// Loaded and runnable.
    Ready(Arc<LoadedPlugin>),
    /// Refused at load (digest mismatch, ungranted import, ...): requests
    /// get 503 with this reason until an administrator fixes it.
    Refused(String),
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
}

/// An open tenant.
#[derive(Debug)]
pub struct Tenant {
    /// Its store.
    pub store: Arc<TenantStore>,
    /// Its group committer.
    pub committer: Committer,
    registry: RwLock<Arc<Registry>>,
    reload: tokio::sync::Mutex<()>,
}

impl Tenant {
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
        let fresh = Arc::new(load_registry(app, &self.store, generation).await?);
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

async fn load_registry(
    app: &App,
    store: &TenantStore,
    generation: u64,
) -> Result<Registry, StoreError> {
    let roles = match admin::roles(store) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(tenant = %store.code(), "roles unusable, everything is refused: {e}");
            Roles::default()
        }
    };
    let mut plugins = BTreeMap::new();
    let installed = admin::list_plugins(store).map_err(|e| match e {
        admin::AdminError::Store(s) => s,
        other => StoreError::Damaged(other.to_string()),
    })?;
    for row in installed {
        let slot = match load_installed(app, &row.digest, &row.policy).await {
            Ok(p) => PluginSlot::Ready(Arc::new(p)),
            Err(reason) => {
                tracing::error!(tenant = %store.code(), plugin = %row.name, "plugin refused: {reason}");
                PluginSlot::Refused(reason)
            }
        };
        plugins.insert(row.name, slot);
    }
    Ok(Registry {
        generation,
        roles,
        plugins,
    })
}

async fn load_installed(app: &App, digest: &str, policy: &str) -> Result<LoadedPlugin, String> {
    let pinned = Digest::parse(digest).ok_or("the pinned digest is malformed")?;
    let policy = Policy::parse(policy).map_err(|e| e.to_string())?;
    let bytes = app.dir.read_component(&pinned).map_err(|e| e.to_string())?;
    app.runtime
        .load(&bytes, Arc::new(policy), Some(&pinned))
        .await
        .map_err(|e| e.to_string())
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
    tenants: Mutex<HashMap<TenantCode, Arc<Tenant>>>,
}

impl App {
    /// A host over `dir`.
    pub fn new(dir: DataDir, runtime: Arc<Runtime>) -> App {
        App {
            dir,
            runtime,
            jobs: crate::jobs::Jobs::default(),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// Opens every tenant in the data directory and loads its plugins.
    pub async fn open_all(&self) -> Result<Vec<TenantCode>, StoreError> {
        let codes = self.dir.tenant_codes()?;
        for code in &codes {
            let tenant = self.tenant(code)?.expect("listed tenants exist");
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
        }
        Ok(codes)
    }

    /// The open tenant with this code, opening it on first use.
    pub fn tenant(&self, code: &TenantCode) -> Result<Option<Arc<Tenant>>, StoreError> {
        let mut tenants = self.tenants.lock().expect("tenants lock");
        if let Some(t) = tenants.get(code) {
            return Ok(Some(t.clone()));
        }
        if !self.dir.tenant_exists(code) {
            return Ok(None);
        }
        let store = Arc::new(TenantStore::open(&self.dir, code)?);
        let committer = Committer::start(
            code.as_str(),
            store.db().clone(),
            store.keys().clone(),
            store.facts().clone(),
        );
        let tenant = Arc::new(Tenant {
            store,
            committer,
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
