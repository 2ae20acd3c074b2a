//! A tenant's registry: its roles and the slots of its installed
//! plugins, each ready, refused with a reason, or loading in the
//! background.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::App;
use crate::admin;
use crate::ids::Digest;
use crate::policy::Policy;
use crate::roles::Roles;
use crate::runtime::LoadedPlugin;
use crate::store::{StoreError, TenantStore};

/// How long a request for a plugin still loading (being compiled and
/// described, as after a restart) waits for it before 503.
pub const MAX_LOAD_WAIT_MS: u64 = 15_000;

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

/// A load under way, or put off until the plugin is first asked for.
#[derive(Default)]
pub struct Loading {
    result: OnceLock<Result<Arc<LoadedPlugin>, String>>,
    done: tokio::sync::Notify,
    /// Starts the load when it was put off.
    deferred: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for Loading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loading")
            .field("finished", &self.result.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Loading {
    fn finish(&self, result: Result<Arc<LoadedPlugin>, String>) {
        let _ = self.result.set(result);
        self.done.notify_waiters();
    }

    /// Starts a load that was put off (once).
    fn begin(&self) {
        let start = self
            .deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(start) = start {
            start();
        }
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

    /// `ready`, `loading`, `on first use` or `refused`.
    pub fn state(&self) -> &'static str {
        match self.now() {
            PluginSlot::Ready(_) => "ready",
            PluginSlot::Refused(_) => "refused",
            PluginSlot::Loading(l) if l.deferred.lock().is_ok_and(|d| d.is_some()) => {
                "on first use"
            }
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
        loading.begin();
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
    pub(super) sources: BTreeMap<String, (String, String)>,
}

impl Registry {
    /// Whether every plugin has finished loading (ready or refused).
    pub fn settled(&self) -> bool {
        self.plugins
            .values()
            .all(|s| !matches!(s.now(), PluginSlot::Loading(_)))
    }
}

/// The registry at `generation`: roles parsed now, plugins whose digest
/// and policy are unchanged kept as they are, the others loaded in the
/// background (a slow or hostile `describe` delays only its own plugin).
pub(super) fn load_registry(
    app: &App,
    store: &TenantStore,
    generation: u64,
    previous: &Registry,
    lazily: bool,
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
        let slot = kept
            .unwrap_or_else(|| start_load(app, store, &row.name, &row.digest, &row.policy, lazily));
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

/// Starts loading an installed plugin in the background, or, `lazily`,
/// when a request first asks for it (a tenant opened on use loads only
/// the plugins it is asked for).
fn start_load(
    app: &App,
    store: &TenantStore,
    name: &str,
    digest: &str,
    policy: &str,
    lazily: bool,
) -> PluginSlot {
    let prepared = (|| {
        let pinned = Digest::parse(digest).ok_or("the pinned digest is malformed")?;
        let policy = Policy::parse(policy).map_err(|e| e.to_string())?;
        Ok::<_, String>((pinned, policy))
    })();
    let (pinned, policy) = match prepared {
        Ok(p) => p,
        Err(reason) => {
            tracing::error!(tenant = %store.code(), plugin = %name, "plugin refused: {reason}");
            return PluginSlot::Refused(reason);
        }
    };
    let loading = Arc::new(Loading::default());
    let slot = PluginSlot::Loading(loading.clone());
    let (runtime, components) = (app.runtime.clone(), app.dir.components());
    let (tenant, name) = (store.code().to_string(), name.to_owned());
    let task = loading.clone();
    let start = move || {
        tokio::spawn(async move {
            let result = match components.read(&pinned) {
                Ok(bytes) => runtime
                    .load(&bytes, Arc::new(policy), Some(&pinned))
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(reason) = &result {
                tracing::error!(%tenant, plugin = %name, "plugin refused at load: {reason}");
            }
            task.finish(result);
        });
    };
    if lazily {
        *loading.deferred.lock().expect("deferred lock") = Some(Box::new(start));
    } else {
        start();
    }
    slot
}
