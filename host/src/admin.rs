//! Administration of a tenant: plugins, users and roles. Used by the CLI
//! and the admin API alike; every change commits with its audit event.

use redb::ReadableDatabase;

use crate::audit::{Event, Outcome};
use crate::clock::Entropy;
use crate::crypto::token_hash;
use crate::datadir::DataDir;
use crate::ids::{Digest, is_valid_user_name};
use crate::policy::Policy;
use crate::roles::Roles;
use crate::runtime::{LoadError, OperationInfo, Runtime};
use crate::store::commit::{Op, WriteSet};
use crate::store::rows::{self, InstalledPlugin, UserRow};
use crate::store::tables::{PLUGINS, TOKENS, USERS, meta};
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
}

impl AdminActor {
    fn event(&self, action: &str, reason: String) -> Event {
        Event::new(
            self.now_ms,
            &self.request_id,
            &self.name,
            action,
            Outcome::Ok,
        )
        .with_reason(reason)
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

fn new_token(entropy: &dyn Entropy) -> String {
    let mut bytes = [0u8; 32];
    entropy.fill(&mut bytes);
    format!("krk_{}", hex::encode(bytes))
}

/// A user as stored.
pub fn user(store: &TenantStore, name: &str) -> Result<Option<UserRow>, AdminError> {
    let txn = store.db().begin_read()?;
    let Some(t) = open_read(&txn, USERS)? else {
        return Ok(None);
    };
    let row = t.get(name).map_err(StoreError::from)?;
    Ok(match row {
        Some(v) => Some(rows::decode(v.value()).map_err(StoreError::from)?),
        None => None,
    })
}

/// Adds a staff user with a role; returns their bearer token (stored only
/// as a hash).
pub fn add_user(
    store: &TenantStore,
    name: &str,
    role: &str,
    actor: &AdminActor,
    entropy: &dyn Entropy,
) -> Result<String, AdminError> {
    if !is_valid_user_name(name) {
        return Err(AdminError::Invalid(
            "a user name is 1-64 letters, digits, '.', '-' or '_'".into(),
        ));
    }
    let roles = roles(store)?;
    if roles.get(role).is_none() {
        let known: Vec<_> = roles.names().collect();
        return Err(AdminError::Invalid(format!(
            "no role {role:?} (roles: {})",
            known.join(", ")
        )));
    }
    if user(store, name)?.is_some() {
        return Err(AdminError::Conflict(format!(
            "user {name} already exists; use `user token` for a new token"
        )));
    }
    let token = new_token(entropy);
    let hash = token_hash(&token);
    let row = UserRow {
        name: name.to_owned(),
        role: role.to_owned(),
        token_hash: hash,
        created_ms: actor.now_ms,
        revoked_ms: None,
    };
    store.commit_now(WriteSet {
        ops: vec![
            Op::PutUser(name.to_owned(), rows::encode(&row)),
            Op::PutToken(hash, name.to_owned()),
            Op::BumpGeneration,
        ],
        events: vec![actor.event("user.add", format!("user {name} added with role {role}"))],
        ..WriteSet::default()
    })?;
    Ok(token)
}

/// Issues a new token for a user, invalidating the old one.
pub fn reissue_token(
    store: &TenantStore,
    name: &str,
    actor: &AdminActor,
    entropy: &dyn Entropy,
) -> Result<String, AdminError> {
    let Some(mut row) = user(store, name)? else {
        return Err(AdminError::NotFound(format!("no user {name}")));
    };
    if row.revoked_ms.is_some() {
        return Err(AdminError::Conflict(format!("user {name} is revoked")));
    }
    let old = row.token_hash;
    let token = new_token(entropy);
    row.token_hash = token_hash(&token);
    store.commit_now(WriteSet {
        ops: vec![
            Op::RemoveToken(old),
            Op::PutToken(row.token_hash, name.to_owned()),
            Op::PutUser(name.to_owned(), rows::encode(&row)),
            Op::BumpGeneration,
        ],
        events: vec![actor.event(
            "user.token",
            format!("new token for user {name}; the old one no longer works"),
        )],
        ..WriteSet::default()
    })?;
    Ok(token)
}

/// Revokes a user: their token stops working at once.
pub fn revoke_user(store: &TenantStore, name: &str, actor: &AdminActor) -> Result<(), AdminError> {
    let Some(mut row) = user(store, name)? else {
        return Err(AdminError::NotFound(format!("no user {name}")));
    };
    if row.revoked_ms.is_some() {
        return Err(AdminError::Conflict(format!(
            "user {name} is already revoked"
        )));
    }
    row.revoked_ms = Some(actor.now_ms);
    store.commit_now(WriteSet {
        ops: vec![
            Op::RemoveToken(row.token_hash),
            Op::PutUser(name.to_owned(), rows::encode(&row)),
            Op::BumpGeneration,
        ],
        events: vec![actor.event("user.revoke", format!("user {name} revoked"))],
        ..WriteSet::default()
    })?;
    Ok(())
}

/// Every user of a tenant.
pub fn list_users(store: &TenantStore) -> Result<Vec<UserRow>, AdminError> {
    read_all(store, USERS)
}

/// The user a bearer token belongs to, if it is current.
pub fn authenticate(
    txn: &redb::ReadTransaction,
    token: &str,
) -> Result<Option<UserRow>, StoreError> {
    let Some(tokens) = open_read(txn, TOKENS)? else {
        return Ok(None);
    };
    let Some(name) = tokens.get(token_hash(token))?.map(|v| v.value().to_owned()) else {
        return Ok(None);
    };
    let Some(users) = open_read(txn, USERS)? else {
        return Ok(None);
    };
    let Some(row) = users.get(name.as_str())? else {
        return Ok(None);
    };
    let row: UserRow = rows::decode(row.value())?;
    Ok((row.revoked_ms.is_none() && row.token_hash == token_hash(token)).then_some(row))
}
