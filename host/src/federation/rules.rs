//! The answering tenant's allow-list: which municipality may ask for what
//! purpose and receive which data items, and which answers wait for a
//! staff decision ("no automatic answer": for the whole tenant, for a
//! querying municipality, or for a data item). Kept in the tenant's meta
//! table; every change is audited. The host checks it before any plugin
//! runs and keeps only the listed items of what the plugin answers.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::admin::{AdminActor, AdminError};
use crate::fields::{DOSE_FIELDS, dose};
use crate::ids::TenantCode;
use crate::policy::PURPOSES;
use crate::store::TenantStore;
use crate::store::commit::{Op, WriteSet};

/// The meta key holding the rules (JSON).
pub const META_KEY: &str = "federation-rules";

/// The purposes a municipality may be allowed to ask for.
pub const EXCHANGE_PURPOSES: &[&str] = &["move-in-query"];

/// Items answered when a rule names none: what the next dose needs, not
/// the doctor's name or who entered it.
pub const DEFAULT_ITEMS: &[&str] = &[
    "dose-number",
    "date",
    "vaccine",
    "maker",
    "product",
    "lot",
    "amount",
    "facility-code",
];

/// One allowed (querier, purpose) and what it receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// The querying municipality.
    pub querier: String,
    /// What for.
    pub purpose: String,
    /// Dose items it receives.
    pub items: Vec<String>,
}

/// A tenant's allow-list and its manual-answer flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Allowed exchanges.
    #[serde(default)]
    pub allow: Vec<Allow>,
    /// No automatic answer to anyone.
    #[serde(default)]
    pub manual_all: bool,
    /// No automatic answer to these municipalities.
    #[serde(default)]
    pub manual_queriers: BTreeSet<String>,
    /// No automatic answer that would include these items.
    #[serde(default)]
    pub manual_items: BTreeSet<String>,
}

/// What the rules say of one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not allowed.
    Refuse,
    /// Answer with these items (dose field indexes), at once or after a
    /// staff decision.
    Answer {
        /// Dose fields answered.
        items: Vec<usize>,
        /// Whether a staff member must approve first.
        manual: bool,
    },
}

impl Rules {
    /// The rules of `store` (none set: nothing is allowed).
    pub fn load(store: &TenantStore) -> Result<Rules, AdminError> {
        match store.meta(META_KEY)? {
            None => Ok(Rules::default()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|_| AdminError::Invalid("the federation rules are damaged".into())),
        }
    }

    /// What to do with a query from `querier` for `purpose`.
    pub fn decide(&self, querier: &TenantCode, purpose: &str) -> Decision {
        let Some(rule) = self
            .allow
            .iter()
            .find(|a| a.querier == querier.as_str() && a.purpose == purpose)
        else {
            return Decision::Refuse;
        };
        let items: Vec<usize> = rule.items.iter().filter_map(|i| item_index(i)).collect();
        let manual = self.manual_all
            || self.manual_queriers.contains(querier.as_str())
            || rule.items.iter().any(|i| self.manual_items.contains(i));
        Decision::Answer { items, manual }
    }

    /// Allows `querier` to ask for `purpose` and receive `items` (the
    /// defaults when empty), replacing an earlier rule for the pair.
    pub fn allow(
        &mut self,
        querier: &TenantCode,
        purpose: &str,
        items: &[String],
    ) -> Result<(), AdminError> {
        check_purpose(purpose)?;
        let items: Vec<String> = if items.is_empty() {
            DEFAULT_ITEMS.iter().map(|s| (*s).to_owned()).collect()
        } else {
            items.to_vec()
        };
        for item in &items {
            check_item(item)?;
        }
        self.revoke(querier, purpose);
        self.allow.push(Allow {
            querier: querier.to_string(),
            purpose: purpose.to_owned(),
            items,
        });
        Ok(())
    }

    /// Removes the rule for (querier, purpose); whether there was one.
    pub fn revoke(&mut self, querier: &TenantCode, purpose: &str) -> bool {
        let before = self.allow.len();
        self.allow
            .retain(|a| !(a.querier == querier.as_str() && a.purpose == purpose));
        before != self.allow.len()
    }

    /// Saves the rules, with an audit event saying what changed.
    pub fn save(
        &self,
        store: &TenantStore,
        actor: &AdminActor,
        change: String,
    ) -> Result<(), AdminError> {
        let bytes = serde_json::to_vec(self).expect("rules serialise");
        store.commit_now(WriteSet {
            ops: vec![Op::SetMeta(META_KEY.into(), bytes)],
            events: vec![actor.event("federation.rules", change)],
            ..Default::default()
        })?;
        Ok(())
    }
}

/// The dose field an item names, if it may be answered at all.
pub fn item_index(name: &str) -> Option<usize> {
    let index = DOSE_FIELDS.iter().position(|f| *f == name)?;
    // Who entered and verified a dose here is this municipality's business.
    (!dose::HOST_SET.contains(&index)).then_some(index)
}

/// Checks an item name.
pub fn check_item(item: &str) -> Result<(), AdminError> {
    if item_index(item).is_none() {
        return Err(AdminError::Invalid(format!(
            "{item:?} is not a dose item that may be answered (items: {})",
            DOSE_FIELDS
                .iter()
                .filter(|f| item_index(f).is_some())
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

fn check_purpose(purpose: &str) -> Result<(), AdminError> {
    if !EXCHANGE_PURPOSES.contains(&purpose) {
        debug_assert!(EXCHANGE_PURPOSES.iter().all(|p| PURPOSES.contains(p)));
        return Err(AdminError::Invalid(format!(
            "{purpose:?} is not an exchange purpose (purposes: {})",
            EXCHANGE_PURPOSES.join(", ")
        )));
    }
    Ok(())
}
