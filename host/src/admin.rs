//! Administration of a tenant: plugins and roles (accounts: `identity`). Used by the CLI
//! and the admin API alike; every change commits with its audit event.

use redb::ReadableDatabase;

use crate::audit::{Event, Identity, Outcome};
use crate::datadir::DataDir;
use crate::ids::Digest;
use crate::policy::Policy;
use crate::roles::Roles;
use crate::runtime::{LoadError, OperationInfo, Runtime};
use crate::store::commit::{Op, WriteSet};
use crate::store::rows::{self, InstalledPlugin};
use crate::store::tables::{PLUGINS, meta};
use crate::store::{StoreError, TenantStore};

/// Who makes an administrative change, for its audit event.
#[derive(Debug, Clone)]
pub struct AdminActor {
    /// Staff user, or `system` for the local CLI.
    pub name: String,
    /// Request id.
    pub request_id: String,
    /// When (ms since epoch).
    pub now_ms: i64,
    /// The session it acts in (over the API), for the audit log.
    pub identity: Option<Identity>,
}

impl AdminActor {
    /// The local CLI (or the host itself) acting at `now_ms`.
    pub fn system(what: &str, now_ms: i64) -> AdminActor {
        AdminActor {
            name: crate::store::SYSTEM_ACTOR.into(),
            request_id: format!("cli-{what}-{now_ms}"),
            now_ms,
            identity: None,
        }
    }

    pub(crate) fn event(&self, action: &str, reason: String) -> Event {
        let event = Event::new(
            self.now_ms,
            &self.request_id,
            &self.name,
            action,
            Outcome::Ok,
        )
        .with_reason(reason);
        match &self.identity {
            Some(who) => event.with_identity(who),
            None => event,
        }
    }
}

/// Why an administrative change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// No such user or plugin.
    #[error("{0}")]
    NotFound(String),
    /// Already exists or contradicts stored state.
    #[error("{0}")]
    Conflict(String),
    /// The plugin failed its checks.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<redb::TransactionError> for AdminError {
    fn from(e: redb::TransactionError) -> AdminError {
        AdminError::Store(e.into())
    }
}

impl From<redb::StorageError> for AdminError {
    fn from(e: redb::StorageError) -> AdminError {
        AdminError::Store(e.into())
    }
}

fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: redb::TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What an install did.
#[derive(Debug, Clone)]
pub struct Installed {
    /// Plugin name.
    pub name: String,
    /// Pinned digest.
    pub digest: Digest,
    /// Operations the plugin offers.
    pub operations: Vec<OperationInfo>,
    /// The component's imports, all granted.
    pub imports: Vec<String>,
}

/// Checks a component against its policy (imports granted, digest as
/// pinned by the policy if it pins one), stores it under its digest and
/// pins that digest for the tenant.
pub async fn install_plugin(
    dir: &DataDir,
    runtime: &Runtime,
    store: &TenantStore,
    policy_text: &str,
    component: &[u8],
    actor: &AdminActor,
) -> Result<Installed, AdminError> {
    let policy = Policy::parse(policy_text).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let loaded = runtime
        .load(component, std::sync::Arc::new(policy), None)
        .await?;
    let digest = loaded.identity.digest.clone();
    dir.store_component(&digest, component)
        .map_err(StoreError::from)?;
    let name = loaded.identity.name.clone();
    let row = InstalledPlugin {
        name: name.clone(),
        digest: digest.to_string(),
        policy: policy_text.to_owned(),
        installed_ms: actor.now_ms,
    };
    store.commit_now(WriteSet {
        ops: vec![
            Op::PutPlugin(name.clone(), rows::encode(&row)),
            Op::BumpGeneration,
        ],
        events: vec![actor.event(
            "plugin.install",
            format!("{name} pinned to sha256:{digest}"),
        )],
        ..WriteSet::default()
    })?;
    Ok(Installed {
        name,
        digest,
        operations: loaded.operations.clone(),
        imports: loaded.imports.clone(),
    })
}

/// Installed plugins of a tenant, by name.
pub fn list_plugins(store: &TenantStore) -> Result<Vec<InstalledPlugin>, AdminError> {
    read_all(store, PLUGINS)
}

/// Every row of a name-keyed table, in name order.
fn read_all<T: serde::de::DeserializeOwned>(
    store: &TenantStore,
    table: redb::TableDefinition<&str, &[u8]>,
) -> Result<Vec<T>, AdminError> {
    let txn = store.db().begin_read()?;
    let mut out = Vec::new();
    if let Some(t) = open_read(&txn, table)? {
        for entry in t.range::<&str>(..).map_err(StoreError::from)? {
            let (_, v) = entry.map_err(StoreError::from)?;
            out.push(rows::decode(v.value()).map_err(StoreError::from)?);
        }
    }
    Ok(out)
}

/// The roles in force for a tenant.
pub fn roles(store: &TenantStore) -> Result<Roles, AdminError> {
    let text = store.meta(meta::ROLES)?.unwrap_or_default();
    Roles::parse(&String::from_utf8_lossy(&text)).map_err(|e| AdminError::Invalid(e.to_string()))
}

/// Replaces the tenant's roles file.
pub fn set_roles(store: &TenantStore, text: &str, actor: &AdminActor) -> Result<(), AdminError> {
    let roles = Roles::parse(text).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let names: Vec<_> = roles.names().collect();
    store.commit_now(WriteSet {
        ops: vec![
            Op::SetMeta(meta::ROLES.into(), text.as_bytes().to_vec()),
            Op::BumpGeneration,
        ],
        events: vec![actor.event("roles.set", format!("roles now: {}", names.join(", ")))],
        ..WriteSet::default()
    })?;
    Ok(())
}
