//! Every limit the host enforces, in one place. Each says why it has the
//! value it has; policies may lower (and for some, raise) the per-plugin ones
//! within the hard caps.

/// Default linear-memory cap of a plugin instance. A dose-entry call needs
/// well under 4 MiB; 32 MiB leaves room for batch imports.
pub const DEFAULT_MEMORY_BYTES: u64 = 32 << 20;
/// No policy may give a plugin more memory than this: the pool reserves
/// address space per slot and a tenant shares the node with others.
pub const MAX_MEMORY_BYTES: u64 = 512 << 20;

/// Default wall-clock budget of one invocation. Counter operations take
/// about a millisecond; a second is a runaway.
pub const DEFAULT_DEADLINE_MS: u64 = 1_000;
/// Longest budget a policy may set (bulk jobs such as resident sync).
pub const MAX_DEADLINE_MS: u64 = 10 * 60 * 1_000;
/// Granularity of the engine's epoch clock. Deadlines are rounded up to it.
pub const EPOCH_TICK_MS: u64 = 5;

/// Default number of host calls one invocation may make ("host-call fuel").
pub const DEFAULT_HOST_CALLS: u64 = 10_000;
/// Most host calls a policy may allow per invocation.
pub const MAX_HOST_CALLS: u64 = 10_000_000;

/// Default number of rows a single list or search call may return.
pub const DEFAULT_ROWS: u32 = 100;
/// Most rows a policy may allow one call to return.
pub const MAX_ROWS: u32 = 100_000;

/// Default cap on a plugin's JSON output: a page of results, not a dump.
pub const DEFAULT_OUTPUT_BYTES: u64 = 1 << 20;
/// Hard cap on a plugin's output, whatever the policy says.
pub const MAX_OUTPUT_BYTES: u64 = 64 << 20;

/// Largest request body the server reads (a municipality's daily resident
/// change feed as CSV fits with room to spare).
pub const MAX_REQUEST_BODY_BYTES: usize = 32 << 20;
/// Largest file a job accepts (a city's VRS export of a campaign's doses).
/// A job's body is read whole, so this bounds its memory.
pub const MAX_JOB_BODY_BYTES: usize = 128 << 20;
/// Jobs running at once per server; more get 503. Each may hold a large
/// draft in memory until it commits.
pub const MAX_RUNNING_JOBS: usize = 4;
/// Longest log message a plugin may write; longer ones are truncated.
pub const MAX_LOG_MESSAGE_BYTES: usize = 512;
/// Longest string value the host accepts in any record field.
pub const MAX_FIELD_BYTES: usize = 1_024;

/// Concurrent plugin instances per node: the pooling allocator's slots and
/// the semaphore in front of them.
pub const INSTANCE_POOL_SLOTS: u32 = 256;
/// Guest stack for async host calls (fibers).
pub const ASYNC_STACK_BYTES: usize = 512 << 10;

/// Most write sets the group committer applies in one durable commit.
pub const MAX_COMMIT_BATCH: usize = 1_024;
/// Requests waiting for a tenant's committer beyond this get 503.
pub const COMMIT_QUEUE_DEPTH: usize = 8_192;
/// How often an invocation whose writes conflicted with a concurrent one is
/// re-run before the request gets 409.
pub const MAX_CONFLICT_RETRIES: u32 = 4;

/// Most audit events one query returns; the caller pages with `after`.
pub const MAX_AUDIT_QUERY_ROWS: usize = 1_000;
/// Longest client-supplied request id kept; longer ones are replaced.
pub const MAX_REQUEST_ID_BYTES: usize = 64;

/// How long a client-supplied request id of a writing request is
/// remembered to refuse replays: far longer than any client retries.
pub const REPLAY_WINDOW_MS: i64 = 7 * 24 * 3_600 * 1_000;
/// Most expired request ids forgotten per commit, so pruning never makes a
/// commit slow.
pub const MAX_PRUNED_PER_COMMIT: usize = 256;
