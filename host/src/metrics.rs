//! Operational metrics in the Prometheus / OpenMetrics text format
//! (`prometheus-client`), served by `kiroku serve --metrics-listen ADDR`
//! on a listener of its own.
//!
//! One node-wide set, reached through [`get`], so the committer thread, the
//! runtime and the router count without a handle threaded through them.
//! Labels carry only bounded, non-personal values: a tenant code that
//! exists, a route template (never a raw path), an installed plugin's name
//! and operation, and error codes.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A request's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// A tenant code that exists, else `-`.
    pub tenant: String,
    /// The route template, e.g. `POST /v1/{tenant}/{plugin}/{operation}`.
    pub route: String,
    /// The HTTP status answered.
    pub status: u16,
}

/// A route's labels (latency).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Tenant code or `-`.
    pub tenant: String,
    /// Route template.
    pub route: String,
}

/// An invocation's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InvocationLabels {
    /// Tenant code.
    pub tenant: String,
    /// Installed plugin.
    pub plugin: String,
    /// Its operation.
    pub operation: String,
    /// `ok` or the error code.
    pub outcome: String,
}

/// A contained trap's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TrapLabels {
    /// Tenant code.
    pub tenant: String,
    /// Installed plugin.
    pub plugin: String,
    /// The trap's kind: `deadline`, `plugin-memory`, `plugin-trap`, ...
    pub kind: String,
}

/// Per-tenant labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    /// Tenant code.
    pub tenant: String,
}

/// Why a tenant was closed (`idle`, `budget`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// The reason.
    pub reason: &'static str,
}

/// Per-tenant labels with an outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// Tenant code.
    pub tenant: String,
    /// `ok`, `deny`, `error`, ...
    pub outcome: String,
}

type Timed<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds() -> Histogram {
    // 0.25 ms .. about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

fn batch_sizes() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 10))
}

/// Every metric of the node.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests answered.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency.
    pub latency: Timed<RouteLabels>,
    /// Plugin invocations ended.
    pub invocations: Family<InvocationLabels, Counter>,
    /// Invocation latency.
    pub invocation_latency: Timed<TenantLabels>,
    /// Traps contained.
    pub traps: Family<TrapLabels, Counter>,
    /// Instance pool slots in use (set at scrape).
    pub pool_in_use: Gauge,
    /// Instance pool slots in all.
    pub pool_slots: Gauge,
    /// Durable group commits.
    pub commits: Family<TenantLabels, Counter>,
    /// Write sets per group commit.
    pub commit_batch: Family<TenantLabels, Histogram, fn() -> Histogram>,
    /// Group commit latency.
    pub commit_latency: Timed<TenantLabels>,
    /// Group commits that failed.
    pub commit_failures: Family<TenantLabels, Counter>,
    /// Audit events made durable.
    pub audit_events: Family<TenantLabels, Counter>,
    /// Logins by outcome.
    pub logins: Family<OutcomeLabels, Counter>,
    /// Sessions open (set at scrape, tenants open).
    pub sessions_open: Family<TenantLabels, Gauge>,
    /// Jobs started.
    pub jobs_started: Family<TenantLabels, Counter>,
    /// Jobs running (set at scrape).
    pub jobs_running: Gauge,
    /// Tenants open (set at scrape).
    pub tenants_open: Gauge,
    /// Tenants opened (at start, on first use, again after closing).
    pub tenant_opens: Counter,
    /// Tenants closed, by reason.
    pub tenant_closes: Family<ReasonLabels, Counter>,
    /// The node's memory budget (set at scrape; 0 without one).
    pub memory_budget: Gauge,
    /// What the open tenants' caches and facts hold of it (set at scrape).
    pub memory_charged: Gauge,
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("kiroku");
        let m = Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(seconds),
            invocations: Family::default(),
            invocation_latency: Family::new_with_constructor(seconds),
            traps: Family::default(),
            pool_in_use: Gauge::default(),
            pool_slots: Gauge::default(),
            commits: Family::default(),
            commit_batch: Family::new_with_constructor(batch_sizes),
            commit_latency: Family::new_with_constructor(seconds),
            commit_failures: Family::default(),
            audit_events: Family::default(),
            logins: Family::default(),
            sessions_open: Family::default(),
            jobs_started: Family::default(),
            jobs_running: Gauge::default(),
            tenants_open: Gauge::default(),
            tenant_opens: Counter::default(),
            tenant_closes: Family::default(),
            memory_budget: Gauge::default(),
            memory_charged: Gauge::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("http_requests", "Requests answered", m.requests.clone());
        r.register(
            "http_request_duration_seconds",
            "Time to answer a request",
            m.latency.clone(),
        );
        r.register(
            "plugin_invocations",
            "Plugin invocations, by outcome",
            m.invocations.clone(),
        );
        r.register(
            "plugin_invocation_duration_seconds",
            "Time of a plugin invocation, commit included",
            m.invocation_latency.clone(),
        );
        r.register(
            "plugin_traps",
            "Plugin traps contained, by kind",
            m.traps.clone(),
        );
        r.register(
            "instance_pool_in_use",
            "Instance pool slots in use",
            m.pool_in_use.clone(),
        );
        r.register(
            "instance_pool_slots",
            "Instance pool slots",
            m.pool_slots.clone(),
        );
        r.register("commits", "Durable group commits", m.commits.clone());
        r.register(
            "commit_batch_write_sets",
            "Write sets per group commit",
            m.commit_batch.clone(),
        );
        r.register(
            "commit_duration_seconds",
            "Time of a group commit",
            m.commit_latency.clone(),
        );
        r.register(
            "commit_failures",
            "Group commits that failed",
            m.commit_failures.clone(),
        );
        r.register(
            "audit_events",
            "Audit events made durable",
            m.audit_events.clone(),
        );
        r.register("logins", "Login attempts, by outcome", m.logins.clone());
        r.register("sessions_open", "Sessions open", m.sessions_open.clone());
        r.register("jobs_started", "Jobs started", m.jobs_started.clone());
        r.register("jobs_running", "Jobs running", m.jobs_running.clone());
        r.register("tenants_open", "Tenants open", m.tenants_open.clone());
        r.register("tenant_opens", "Tenants opened", m.tenant_opens.clone());
        r.register(
            "tenant_closes",
            "Tenants closed, by reason",
            m.tenant_closes.clone(),
        );
        r.register(
            "memory_budget_bytes",
            "The node's memory budget for tenant caches and facts",
            m.memory_budget.clone(),
        );
        r.register(
            "memory_charged_bytes",
            "What open tenants' caches and facts hold of the budget",
            m.memory_charged.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }

    /// Counts an answered request.
    pub fn request(&self, tenant: &str, route: &str, status: u16, took: Duration) {
        let route = route.to_owned();
        let tenant = tenant.to_owned();
        self.latency
            .get_or_create(&RouteLabels {
                tenant: tenant.clone(),
                route: route.clone(),
            })
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                tenant,
                route,
                status,
            })
            .inc();
    }

    /// Counts a group commit of `write_sets` with `events` audit events.
    pub fn commit(&self, tenant: &str, write_sets: usize, events: usize, took: Duration) {
        let labels = TenantLabels {
            tenant: tenant.to_owned(),
        };
        self.commits.get_or_create(&labels).inc();
        self.commit_batch
            .get_or_create(&labels)
            .observe(write_sets as f64);
        self.commit_latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.audit_events
            .get_or_create(&labels)
            .inc_by(events as u64);
    }

    /// Counts an invocation that ended with `outcome` (`ok` or an error
    /// code); `trap` names a contained trap's kind.
    pub fn invocation(&self, labels: InvocationLabels, trap: Option<&str>, took: Duration) {
        if let Some(kind) = trap {
            self.traps
                .get_or_create(&TrapLabels {
                    tenant: labels.tenant.clone(),
                    plugin: labels.plugin.clone(),
                    kind: kind.to_owned(),
                })
                .inc();
        }
        self.invocation_latency
            .get_or_create(&TenantLabels {
                tenant: labels.tenant.clone(),
            })
            .observe(took.as_secs_f64());
        self.invocations.get_or_create(&labels).inc();
    }

    /// Counts a login attempt.
    pub fn login(&self, tenant: &str, outcome: &str) {
        self.logins
            .get_or_create(&OutcomeLabels {
                tenant: tenant.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts a job started.
    pub fn job_started(&self, tenant: &str) {
        self.jobs_started
            .get_or_create(&TenantLabels {
                tenant: tenant.to_owned(),
            })
            .inc();
    }
}

/// The node's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_each_family_with_its_prefix_and_moves() {
        let m = get();
        m.request("142051", "GET /healthz", 200, Duration::from_millis(2));
        m.commit("142051", 3, 7, Duration::from_millis(4));
        let text = m.encode();
        assert!(text.contains(
            "kiroku_http_requests_total{tenant=\"142051\",route=\"GET /healthz\",status=\"200\"}"
        ));
        assert!(text.contains("kiroku_audit_events_total{tenant=\"142051\"}"));
        assert!(text.contains("kiroku_commit_duration_seconds_bucket"));
        assert!(text.ends_with("# EOF\n"));
    }
}
