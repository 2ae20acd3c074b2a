//! The node-wide memory budget (`serve --memory-mib`): what every open
//! tenant's redb cache and cohort facts may hold together. A tenant is
//! charged its cache bound (redb keeps read cache and write buffer under
//! it) plus its facts (measured once built, estimated from its persons
//! until then). When an open would pass the budget, idle tenants are
//! closed, least recently used first; a tenant in use is never closed.

/// Smallest cache a tenant is opened with, whatever the budget left.
pub const MIN_TENANT_CACHE: usize = 8 << 20;
/// Cache beyond the file's size, for the pages a campaign's writes add.
const CACHE_HEADROOM: usize = 16 << 20;
/// Heap the cohort facts take per person until measured (about 120 bytes
/// measured on the demo data; rounded up).
pub const FACTS_BYTES_PER_PERSON: usize = 256;
/// Budget when the machine's memory cannot be read.
const FALLBACK_BYTES: usize = 4 << 30;

/// The budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    total: usize,
}

impl MemoryBudget {
    /// A budget of `mib` MiB.
    pub fn from_mib(mib: u64) -> MemoryBudget {
        MemoryBudget {
            total: usize::try_from(mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
        }
    }

    /// Half the memory this process may use: the machine's, or its
    /// cgroup's limit when lower.
    pub fn machine_default() -> MemoryBudget {
        let total = [mem_total(), cgroup_limit()]
            .into_iter()
            .flatten()
            .min()
            .map_or(FALLBACK_BYTES, |b| b / 2);
        MemoryBudget { total }
    }

    /// Bytes in all.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The cache bound of a tenant file of `file_len` bytes: the whole
    /// file and some growth, at most half the budget, at least
    /// [`MIN_TENANT_CACHE`].
    pub fn cache_for(&self, file_len: u64) -> usize {
        let want = usize::try_from(file_len)
            .unwrap_or(usize::MAX)
            .saturating_add(CACHE_HEADROOM);
        want.min(self.total / 2).max(MIN_TENANT_CACHE)
    }
}

/// What a tenant holds against the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge {
    /// Its redb cache bound.
    pub cache: usize,
    /// Its cohort facts (measured or estimated).
    pub facts: usize,
}

impl Charge {
    /// Both together.
    pub fn bytes(&self) -> usize {
        self.cache.saturating_add(self.facts)
    }
}

/// An open tenant as the budget sees it.
#[derive(Debug, Clone, Copy)]
pub struct Holder {
    /// What it holds.
    pub charge: Charge,
    /// When it was last used (ms, any monotonic clock).
    pub last_used: i64,
    /// Whether it can be closed now (no request, job or commit holds it).
    pub idle: bool,
}

/// Which holders to close so that `need` more bytes fit: idle ones, least
/// recently used first, until the rest plus `need` fit (or no idle one is
/// left, and the budget is overrun by what is in use).
pub fn to_close(budget: &MemoryBudget, holders: &[Holder], need: usize) -> Vec<usize> {
    let mut held: usize = holders.iter().map(|h| h.charge.bytes()).sum();
    let mut idle: Vec<usize> = (0..holders.len()).filter(|&i| holders[i].idle).collect();
    idle.sort_by_key(|&i| holders[i].last_used);
    let mut out = Vec::new();
    for i in idle {
        if held.saturating_add(need) <= budget.total {
            break;
        }
        held -= holders[i].charge.bytes();
        out.push(i);
    }
    out
}

fn mem_total() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

fn cgroup_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(mib: usize, last_used: i64, idle: bool) -> Holder {
        Holder {
            charge: Charge {
                cache: mib << 20,
                facts: 0,
            },
            last_used,
            idle,
        }
    }

    #[test]
    fn the_cache_covers_the_file_within_half_the_budget() {
        let budget = MemoryBudget::from_mib(1024);
        assert_eq!(budget.cache_for(0), CACHE_HEADROOM);
        assert_eq!(budget.cache_for(100 << 20), (100 << 20) + CACHE_HEADROOM);
        assert_eq!(budget.cache_for(10 << 30), 512 << 20);
        assert_eq!(
            MemoryBudget::from_mib(4).cache_for(1 << 30),
            MIN_TENANT_CACHE
        );
    }

    #[test]
    fn idle_tenants_close_least_recently_used_first_until_the_need_fits() {
        let budget = MemoryBudget::from_mib(100);
        let holders = [
            holder(30, 5, true),
            holder(30, 1, false),
            holder(30, 3, true),
        ];
        let mib = |n: usize| n << 20;
        assert!(to_close(&budget, &holders, mib(10)).is_empty());
        assert_eq!(to_close(&budget, &holders, mib(20)), vec![2]);
        assert_eq!(to_close(&budget, &holders, mib(50)), vec![2, 0]);
        // What is in use stays open even when the budget is overrun.
        assert_eq!(to_close(&budget, &holders, mib(90)), vec![2, 0]);
    }

    #[test]
    fn the_machine_default_is_half_of_what_can_be_had() {
        let budget = MemoryBudget::machine_default();
        assert!(budget.total() >= 64 << 20, "{budget:?}");
        if let Some(total) = mem_total() {
            assert!(budget.total() <= total / 2);
        }
    }
}
