//! An open tenant: its store, its group committer, its registry, and
//! what it holds of the node's memory budget.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use redb::ReadableDatabase;

use super::App;
use super::budget::{Charge, FACTS_BYTES_PER_PERSON};
use super::registry::{Registry, load_registry};
use crate::identity::sessions::Activity;
use crate::ids::TenantCode;
use crate::runtime::{InvokeError, InvokeOutput, LoadedPlugin, RequestInfo};
use crate::store::commit::Committer;
use crate::store::{StoreError, TenantStore, registry_generation};

/// An open tenant.
#[derive(Debug)]
pub struct Tenant {
    /// Its store.
    pub store: Arc<TenantStore>,
    /// Its group committer.
    pub committer: Committer,
    /// When each live staff session was last used (kept by the node
    /// across the tenant's closing and re-opening).
    pub activity: Arc<Activity>,
    registry: RwLock<Arc<Registry>>,
    reload: tokio::sync::Mutex<()>,
    /// Its redb cache bound.
    cache_bytes: usize,
    /// Persons when opened (estimates its facts until they are built).
    persons_at_open: u64,
    /// When it was last used, in ms of the node's clock of uptime.
    last_used: AtomicI64,
    /// Whether its plugins load when first asked for (a tenant opened on
    /// use) rather than all at once (at start).
    lazy_plugins: bool,
}

impl Tenant {
    /// Opens a tenant: its file with a cache of at most `cache_bytes`,
    /// its certificate keys, and its committer.
    pub(super) fn open(
        app: &App,
        code: &TenantCode,
        cache_bytes: usize,
        activity: Arc<Activity>,
        now: i64,
        lazy_plugins: bool,
    ) -> Result<Tenant, StoreError> {
        let store = Arc::new(TenantStore::open_with_cache(&app.dir, code, cache_bytes)?);
        let wall = app.runtime.clock().now_ms();
        crate::certificates::keys::ensure(&store, app.runtime.entropy().as_ref(), wall)?;
        let committer = Committer::start(
            code.as_str(),
            store.db().clone(),
            store.keys().clone(),
            store.keyring().clone(),
            store.facts().clone(),
        );
        Ok(Tenant {
            persons_at_open: store.person_count()?,
            store,
            committer,
            activity,
            registry: RwLock::new(Arc::new(Registry {
                generation: u64::MAX,
                ..Registry::default()
            })),
            reload: tokio::sync::Mutex::new(()),
            cache_bytes,
            last_used: AtomicI64::new(now),
            lazy_plugins,
        })
    }

    /// What it holds of the node's memory budget.
    pub fn charge(&self) -> Charge {
        let facts = match self.store.facts().stats() {
            Some((_, bytes)) => bytes,
            None => usize::try_from(self.persons_at_open)
                .unwrap_or(usize::MAX)
                .saturating_mul(FACTS_BYTES_PER_PERSON),
        };
        Charge {
            cache: self.cache_bytes,
            facts,
        }
    }

    /// Marks it used now.
    pub(super) fn touch(&self, now: i64) {
        self.last_used.fetch_max(now, Ordering::Relaxed);
    }

    /// When it was last used.
    pub(super) fn last_used(&self) -> i64 {
        self.last_used.load(Ordering::Relaxed)
    }

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
        let fresh = Arc::new(load_registry(
            app,
            &self.store,
            generation,
            &current,
            self.lazy_plugins,
        )?);
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
