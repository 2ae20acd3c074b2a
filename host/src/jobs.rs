//! Long-running plugin operations run as jobs: staff start one, watch its
//! progress (done of total), and may cancel it. A job is one invocation
//! whose changes are committed at the end, all or nothing: a cancelled or
//! failed job applies nothing, and its audit events say so.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Jobs kept in memory per server, finished ones included; the oldest
/// finished job is forgotten beyond this, so a busy server stays bounded.
pub const MAX_KEPT_JOBS: usize = 256;

/// Progress shared between a running plugin and whoever watches it.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    cancel: AtomicBool,
    cancelled: tokio::sync::Notify,
}

impl Progress {
    /// Records a report from the plugin; returns whether to cancel.
    pub fn report(&self, done: u64, total: u64) -> bool {
        self.total.store(total, Ordering::Relaxed);
        self.done.store(done.min(total), Ordering::Relaxed);
        self.cancel.load(Ordering::Relaxed)
    }

    /// Stops the job: the host ends its invocation at once if it waits,
    /// else at its next epoch tick or progress report; nothing is applied.
    pub fn request_cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.cancelled.notify_waiters();
    }

    /// Resolves once cancelling is asked.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.cancelled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.cancel_requested() {
                return;
            }
            notified.await;
        }
    }

    /// Whether cancelling was asked.
    pub fn cancel_requested(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// (done, total) as last reported.
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    /// Still running.
    Running,
    /// Finished; its changes are committed.
    Done,
    /// Stopped at staff's request; nothing applied.
    Cancelled,
    /// Failed; nothing applied.
    Failed,
}

/// One job.
#[derive(Debug)]
pub struct Job {
    /// Its id (also the request id of its audit events).
    pub id: String,
    /// The tenant it runs in.
    pub tenant: String,
    /// The staff user who started it; only they (or an admin) see it.
    pub actor: String,
    /// `plugin/operation`.
    pub what: String,
    /// Shared with the plugin's host calls.
    pub progress: Arc<Progress>,
    finished: Mutex<Option<(JobState, serde_json::Value)>>,
}

impl Job {
    /// The job's state and, once finished, its output or error.
    pub fn status(&self) -> serde_json::Value {
        let (done, total) = self.progress.snapshot();
        let finished = self.finished.lock().expect("job lock").clone();
        let (state, result) = finished.unwrap_or((JobState::Running, serde_json::Value::Null));
        let mut out = serde_json::json!({
            "job_id": self.id,
            "operation": self.what,
            "state": state,
            "done": done,
            "total": total,
            "cancel_requested": self.progress.cancel_requested(),
        });
        if !result.is_null() {
            let key = if state == JobState::Done {
                "output"
            } else {
                "error"
            };
            out[key] = result;
        }
        out
    }

    /// Records how the job ended.
    pub fn finish(&self, state: JobState, result: serde_json::Value) {
        *self.finished.lock().expect("job lock") = Some((state, result));
    }

    fn is_finished(&self) -> bool {
        self.finished.lock().expect("job lock").is_some()
    }
}

/// Job ids in start order, and the jobs by id.
type JobTable = (Vec<String>, HashMap<String, Arc<Job>>);

/// The jobs of a server.
#[derive(Debug, Default)]
pub struct Jobs {
    jobs: Mutex<JobTable>,
}

impl Jobs {
    /// Registers a new running job.
    pub fn start(&self, id: &str, tenant: &str, actor: &str, what: &str) -> Arc<Job> {
        let job = Arc::new(Job {
            id: id.to_owned(),
            tenant: tenant.to_owned(),
            actor: actor.to_owned(),
            what: what.to_owned(),
            progress: Arc::default(),
            finished: Mutex::new(None),
        });
        let mut guard = self.jobs.lock().expect("jobs lock");
        let (order, map) = &mut *guard;
        if order.len() >= MAX_KEPT_JOBS
            && let Some(pos) = order.iter().position(|id| map[id].is_finished())
        {
            let old = order.remove(pos);
            map.remove(&old);
        }
        order.push(id.to_owned());
        map.insert(id.to_owned(), job.clone());
        job
    }

    /// A job of a tenant by id.
    pub fn get(&self, tenant: &str, id: &str) -> Option<Arc<Job>> {
        let guard = self.jobs.lock().expect("jobs lock");
        guard.1.get(id).filter(|j| j.tenant == tenant).cloned()
    }

    /// Asks every running job to cancel (shutdown); returns how many.
    pub fn cancel_all(&self) -> usize {
        let guard = self.jobs.lock().expect("jobs lock");
        let running: Vec<&Arc<Job>> = guard.1.values().filter(|j| !j.is_finished()).collect();
        for job in &running {
            job.progress.request_cancel();
        }
        running.len()
    }

    /// How many jobs are running (the cap on concurrent jobs).
    pub fn running(&self) -> usize {
        let guard = self.jobs.lock().expect("jobs lock");
        guard.1.values().filter(|j| !j.is_finished()).count()
    }

    /// How many jobs of a tenant are running (its share of the job slots).
    pub fn running_in(&self, tenant: &str) -> usize {
        let guard = self.jobs.lock().expect("jobs lock");
        guard
            .1
            .values()
            .filter(|j| j.tenant == tenant && !j.is_finished())
            .count()
    }
}
