//! Where and when plugin code runs (invariant 14).
//!
//! - **Admission:** an invocation takes a slot of its plugin's share, of
//!   its tenant's share and of the instance pool, waiting at most its
//!   deadline; a plugin or tenant at its share queues alone.
//! - **First slice, then the lane:** it starts on the worker that received
//!   the request (no thread hop for the common sub-millisecond call); one
//!   still running after [`FIRST_SLICE_MS`] moves to the plugin lane,
//!   threads at a lower OS priority, so runaways give way to request
//!   handling and to fresh invocations.
//! - **Host work off the workers:** long host calls run in
//!   [`blocking_section`], which hands the worker's other tasks to another
//!   thread meanwhile.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::limits::{
    FIRST_SLICE_MS, INSTANCE_POOL_SLOTS, PLUGIN_LANE_NICE, PLUGIN_SHARE, TENANT_SHARE,
};

/// A boxed invocation that can move between threads.
pub type Task<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Why an invocation was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy(pub String);

/// The slots an admitted invocation holds until it ends.
#[derive(Debug)]
pub struct Slots(#[allow(dead_code)] Vec<OwnedSemaphorePermit>);

/// A tenant's share and its plugins' shares.
#[derive(Debug)]
struct TenantShares {
    tenant: Arc<Semaphore>,
    plugins: HashMap<String, Arc<Semaphore>>,
}

/// The instance pool and the per-tenant and per-plugin shares of it.
#[derive(Debug)]
pub struct Admission {
    pool: Arc<Semaphore>,
    shares: Mutex<HashMap<String, TenantShares>>,
}

impl Default for Admission {
    fn default() -> Admission {
        Admission {
            pool: Arc::new(Semaphore::new(INSTANCE_POOL_SLOTS as usize)),
            shares: Mutex::new(HashMap::new()),
        }
    }
}

impl Admission {
    /// The plugin's and the tenant's semaphores (made on first use).
    fn shares(&self, tenant: &str, plugin: &str) -> (Arc<Semaphore>, Arc<Semaphore>) {
        let mut shares = self.shares.lock().expect("shares lock");
        if !shares.contains_key(tenant) {
            let fresh = TenantShares {
                tenant: Arc::new(Semaphore::new(TENANT_SHARE as usize)),
                plugins: HashMap::new(),
            };
            shares.insert(tenant.to_owned(), fresh);
        }
        let t = shares.get_mut(tenant).expect("just made");
        if !t.plugins.contains_key(plugin) {
            let share = Arc::new(Semaphore::new(PLUGIN_SHARE as usize));
            t.plugins.insert(plugin.to_owned(), share);
        }
        (t.plugins[plugin].clone(), t.tenant.clone())
    }

    /// Takes a slot of the plugin's share (when it serves a tenant), of the
    /// tenant's share and of the pool, narrowest first, so a plugin at its
    /// share waits without holding anything of its tenant or the pool.
    pub async fn admit(
        &self,
        tenant: Option<&str>,
        plugin: &str,
        wait: Duration,
    ) -> Result<Slots, Busy> {
        let until = tokio::time::Instant::now() + wait;
        let mut queues = Vec::with_capacity(3);
        if let Some(tenant) = tenant {
            let (plugin_share, tenant_share) = self.shares(tenant, plugin);
            queues.push(plugin_share);
            queues.push(tenant_share);
        }
        queues.push(self.pool.clone());
        let mut slots = Vec::with_capacity(queues.len());
        for (i, queue) in queues.into_iter().enumerate() {
            // A free slot is taken at once, without arming a timer.
            let permit = match queue.clone().try_acquire_owned() {
                Ok(p) => Ok(p),
                Err(_) => match tokio::time::timeout_at(until, queue.acquire_owned()).await {
                    Ok(Ok(p)) => Ok(p),
                    _ => Err(()),
                },
            };
            match permit {
                Ok(permit) => slots.push(permit),
                Err(()) => {
                    let why = match (tenant, i) {
                        (Some(_), 0) => format!(
                            "plugin {plugin} is running its share of {PLUGIN_SHARE} invocations"
                        ),
                        (Some(t), 1) => {
                            format!("tenant {t} is running its share of {TENANT_SHARE} invocations")
                        }
                        _ => format!("all {INSTANCE_POOL_SLOTS} plugin instances are busy"),
                    };
                    return Err(Busy(format!("{why}; try again")));
                }
            }
        }
        Ok(Slots(slots))
    }

    /// Free slots of the pool, for diagnostics.
    pub fn pool_available(&self) -> usize {
        self.pool.available_permits()
    }
}

/// The plugin lane: a runtime of its own whose threads run at
/// [`PLUGIN_LANE_NICE`]. One per process.
struct Lane(tokio::runtime::Runtime);

fn lane() -> &'static tokio::runtime::Handle {
    static LANE: OnceLock<Lane> = OnceLock::new();
    let lane = LANE.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("kiroku-plugin-lane")
            .on_thread_start(lower_priority)
            // Look at newly moved invocations at every scheduling tick, not
            // after 31 turns of the long runners already there.
            .global_queue_interval(1)
            .enable_all()
            .build()
            .expect("starting the plugin lane");
        Lane(runtime)
    });
    lane.0.handle()
}

/// Lowers the calling thread's scheduling priority (Linux: per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let me = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(me), PLUGIN_LANE_NICE) {
            tracing::debug!("plugin lane thread keeps its priority: {e}");
        }
    }
}

/// Polls `task` where it is; if it is still running after the first
/// slice, moves it to the plugin lane and waits for it there.
pub async fn run<T: Send + 'static>(task: Task<T>) -> T {
    let first = FirstSlice {
        task: Some(task),
        started: None,
        slice: Duration::from_millis(FIRST_SLICE_MS),
    };
    match first.await {
        Ok(done) => done,
        Err(rest) => match lane().spawn(rest).await {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("the plugin lane stopped: {e}"),
        },
    }
}

/// Resolves with the task's output if it finishes within its slice, else
/// with the task itself (at a point where it yielded).
struct FirstSlice<T> {
    task: Option<Task<T>>,
    started: Option<Instant>,
    slice: Duration,
}

impl<T> Future for FirstSlice<T> {
    type Output = Result<T, Task<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let started = *self.started.get_or_insert_with(Instant::now);
        let task = self.task.as_mut().expect("polled after it resolved");
        match task.as_mut().poll(cx) {
            Poll::Ready(done) => Poll::Ready(Ok(done)),
            Poll::Pending if started.elapsed() >= self.slice => {
                Poll::Ready(Err(self.task.take().expect("present")))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Runs host work that may take long (population scans, large lookups,
/// sealing many records) so the worker's other tasks move to another
/// thread meanwhile. Outside a multi-threaded runtime it just runs.
pub fn blocking_section<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_short_task_finishes_in_place_and_a_long_one_on_the_lane() {
        let here = std::thread::current().id();
        let short = run(Box::pin(async move { std::thread::current().id() })).await;
        assert_eq!(short, here);
        let long = run(Box::pin(async move {
            let until = Instant::now() + Duration::from_millis(20);
            while Instant::now() < until {
                tokio::task::yield_now().await;
            }
            std::thread::current().name().map(str::to_owned)
        }))
        .await;
        assert_eq!(long.as_deref(), Some("kiroku-plugin-lane"));
    }

    #[tokio::test]
    async fn a_plugin_at_its_share_waits_alone_then_is_busy() {
        let admission = Admission::default();
        let wait = Duration::from_millis(20);
        let mut held = Vec::new();
        for _ in 0..PLUGIN_SHARE {
            held.push(admission.admit(Some("142051"), "hog", wait).await.unwrap());
        }
        let refused = admission
            .admit(Some("142051"), "hog", wait)
            .await
            .unwrap_err();
        assert!(refused.0.contains("plugin hog"), "{refused:?}");
        // Another plugin of the same tenant is admitted at once.
        admission.admit(Some("142051"), "noop", wait).await.unwrap();
        drop(held);
        admission.admit(Some("142051"), "hog", wait).await.unwrap();
    }
}
