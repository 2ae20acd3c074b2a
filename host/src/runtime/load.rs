//! Loading a plugin (fence a, invariant 8): the host compiles the
//! component itself, checks every import against the policy (naming every
//! refused one), links exactly the granted interfaces, pre-instantiates,
//! and asks the plugin to describe itself within a deadline.

use std::collections::HashSet;
use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

use super::call::{Export, Returned};
use super::invocation::{Invocation, PluginIdentity};
use super::{LoadError, LoadedPlugin, OperationInfo, Runtime, bindings, engine};
use crate::ids::{Digest, is_valid_plugin_name};
use crate::limits::{MAX_OPERATIONS, MAX_SUMMARY_BYTES};
use crate::policy::{ImportKind, Interface, Policy};

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

impl Runtime {
    /// Compiles a component (cached by digest, in memory and, when set,
    /// in the host's authenticated compile cache). The host compiles every
    /// component itself; precompiled code from anywhere else is never
    /// loaded.
    fn compile(&self, digest: &Digest, bytes: &[u8]) -> Result<Component, LoadError> {
        if let Some(c) = self.compiled.lock().expect("cache lock").get(digest) {
            return Ok(c.clone());
        }
        let cached = self
            .disk_cache
            .get()
            .and_then(|cache| cache.load(&self.engine, digest).0);
        let component = match cached {
            Some(c) => c,
            None => {
                let c = Component::new(&self.engine, bytes)
                    .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
                if let Some(cache) = self.disk_cache.get() {
                    cache.store(digest, &c);
                }
                c
            }
        };
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
        let component = super::sched::blocking_section(|| self.compile(&digest, bytes))?;
        let mut linker: Linker<Invocation> = Linker::new(&self.engine);
        engine::link_wasi(&mut linker).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let mut imports = Vec::new();
        let mut refused = Vec::new();
        for (name, item) in component.component_type().imports(&self.engine) {
            let import = Import::new(&self.engine, name, &item.ty);
            match policy.check_import(&import.name, import.calls_functions) {
                Ok(kind) => {
                    link(&mut linker, name, kind)
                        .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
                    imports.push(import.name);
                }
                Err(denied) => refused.push(denied.0),
            }
        }
        if !refused.is_empty() {
            return Err(LoadError::ImportRefused {
                plugin: policy.plugin.clone(),
                reason: refused.join("; "),
            });
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

    /// Asks the plugin for its operations, within
    /// [`crate::limits::DESCRIBE_DEADLINE_MS`], and checks them.
    async fn describe(&self, plugin: &LoadedPlugin) -> Result<Vec<OperationInfo>, LoadError> {
        let called = self.call(plugin, None, Export::Describe, None).await;
        match called.result {
            Ok(Returned::Described(ops)) => checked_operations(ops),
            Ok(Returned::Handled(_)) => unreachable!("describe was called"),
            Err(e) => Err(LoadError::Invalid(format!("describe failed: {e}"))),
        }
    }
}

/// The operations a plugin described, if they are well formed: at most
/// [`MAX_OPERATIONS`], each a valid name seen once with a short summary.
fn checked_operations(
    ops: Vec<bindings::handler::Operation>,
) -> Result<Vec<OperationInfo>, LoadError> {
    if ops.len() > MAX_OPERATIONS {
        return Err(LoadError::Invalid(format!(
            "describe returned {} operations; at most {MAX_OPERATIONS} are allowed",
            ops.len()
        )));
    }
    let mut seen = HashSet::with_capacity(ops.len());
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        if !is_valid_plugin_name(&op.name) {
            return Err(LoadError::Invalid(format!(
                "describe returned operation {i} with an invalid name (lowercase letters, digits and hyphens, at most 64)"
            )));
        }
        if op.summary.len() > MAX_SUMMARY_BYTES {
            return Err(LoadError::Invalid(format!(
                "operation {}: its summary exceeds {MAX_SUMMARY_BYTES} bytes",
                op.name
            )));
        }
        if !seen.insert(op.name.clone()) {
            return Err(LoadError::Invalid(format!(
                "describe returned operation {} twice",
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
            Interface::Certificates => {
                bindings::kiroku::certificates::certificates::add_to_linker::<_, H>(linker, get)
            }
            Interface::Federation => {
                bindings::kiroku::federation::federation::add_to_linker::<_, H>(linker, get)
            }
            Interface::Retention => {
                bindings::kiroku::subjects::retention::add_to_linker::<_, H>(linker, get)
            }
            Interface::SubjectRights => {
                bindings::kiroku::subjects::subject_rights::add_to_linker::<_, H>(linker, get)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str) -> bindings::handler::Operation {
        bindings::handler::Operation {
            name: name.into(),
            summary: "s".into(),
            writes: false,
        }
    }

    #[test]
    fn refuses_too_many_duplicate_or_badly_named_operations_quickly() {
        let many: Vec<_> = (0..120_000).map(|i| op(&format!("op-{i}"))).collect();
        let err = checked_operations(many).unwrap_err().to_string();
        assert!(err.contains("at most 128"), "{err}");
        let err = checked_operations(vec![op("a"), op("b"), op("a")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("operation a twice"), "{err}");
        let err = checked_operations(vec![op("Bad Name")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid name") && !err.contains("Bad"),
            "{err}"
        );
        assert_eq!(checked_operations(vec![op("a"), op("b")]).unwrap().len(), 2);
    }
}
