//! Closing tenants: for room in the memory budget, when idle, and when
//! their file outgrew the cache bound they were opened with.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{App, CLOSE_WAIT, MemoryBudget, Tenant, budget};
use crate::ids::TenantCode;

impl App {
    /// Takes out of `tenants` the idle ones to close so that `need` more
    /// bytes fit the budget.
    pub(super) fn make_room(
        &self,
        tenants: &mut HashMap<TenantCode, Arc<Tenant>>,
        budget: &MemoryBudget,
        need: usize,
    ) -> Vec<Arc<Tenant>> {
        let codes: Vec<TenantCode> = tenants.keys().cloned().collect();
        let holders: Vec<budget::Holder> = codes
            .iter()
            .map(|c| {
                let t = &tenants[c];
                budget::Holder {
                    charge: t.charge(),
                    last_used: t.last_used(),
                    idle: is_idle(t),
                }
            })
            .collect();
        let chosen = budget::to_close(budget, &holders, need);
        let held: usize = holders.iter().map(|h| h.charge.bytes()).sum::<usize>()
            - chosen
                .iter()
                .map(|&i| holders[i].charge.bytes())
                .sum::<usize>();
        if held.saturating_add(need) > budget.total() {
            tracing::warn!(
                held_mib = held >> 20,
                need_mib = need >> 20,
                budget_mib = budget.total() >> 20,
                "the memory budget is overrun by tenants in use"
            );
        }
        chosen
            .into_iter()
            .filter_map(|i| self.take_out(tenants, &codes[i], "budget"))
            .collect()
    }

    /// Closes the tenants idle for at least `idle`, and the idle ones
    /// whose file outgrew their cache bound (a tenant opened small and
    /// loaded since: its next use opens it with a bound that fits, as redb
    /// fixes the bound at open); returns how many.
    pub fn close_idle(&self, idle: Duration) -> usize {
        let cutoff = self.uptime_ms() - i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
        let closed: Vec<Arc<Tenant>> = {
            let mut tenants = self.tenants.lock().expect("tenants lock");
            let chosen: Vec<(TenantCode, &'static str)> = tenants
                .iter()
                .filter(|(_, t)| is_idle(t))
                .filter_map(|(c, t)| {
                    if t.last_used() <= cutoff {
                        Some((c.clone(), "idle"))
                    } else {
                        self.outgrown(c, t).then(|| (c.clone(), "outgrown"))
                    }
                })
                .collect();
            chosen
                .iter()
                .filter_map(|(c, why)| self.take_out(&mut tenants, c, why))
                .collect()
        };
        closed.len()
    }

    /// Whether the budget would give `tenant`'s file now more than twice
    /// the cache bound it was opened with.
    fn outgrown(&self, code: &TenantCode, tenant: &Tenant) -> bool {
        self.memory
            .get()
            .is_some_and(|budget| budget.cache_for(self.file_len(code)) / 2 > tenant.charge().cache)
    }

    fn take_out(
        &self,
        tenants: &mut HashMap<TenantCode, Arc<Tenant>>,
        code: &TenantCode,
        why: &'static str,
    ) -> Option<Arc<Tenant>> {
        let tenant = tenants.remove(code)?;
        self.closing
            .lock()
            .expect("closing lock")
            .insert(code.clone(), Arc::downgrade(tenant.store.db()));
        tracing::debug!(tenant = %code, reason = why, "tenant closed");
        crate::metrics::get()
            .tenant_closes
            .get_or_create(&crate::metrics::ReasonLabels { reason: why })
            .inc();
        Some(tenant)
    }

    /// Waits until a closed handle of `code` has let go of its file, so
    /// the process never holds two handles of one file.
    pub(super) fn wait_for_close(&self, code: &TenantCode) {
        let Some(old) = self.closing.lock().expect("closing lock").remove(code) else {
            return;
        };
        let until = Instant::now() + CLOSE_WAIT;
        while old.strong_count() > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        if old.strong_count() > 0 {
            tracing::warn!(tenant = %code, "the closed handle still holds the file; opening beside it");
        }
    }

    pub(super) fn file_len(&self, code: &TenantCode) -> u64 {
        std::fs::metadata(self.dir.tenant_file_path(code)).map_or(0, |m| m.len())
    }
}

/// Whether nothing but the node's map holds the tenant: no request, job,
/// facts build or snapshot (each holds the tenant or its store).
pub(super) fn is_idle(tenant: &Arc<Tenant>) -> bool {
    Arc::strong_count(tenant) == 1 && Arc::strong_count(&tenant.store) == 1
}
