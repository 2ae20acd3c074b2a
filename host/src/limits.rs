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
/// Granularity of the engine's epoch clock: a running plugin yields to the
/// scheduler at each tick, and deadlines are rounded up to it. A looping
/// plugin's first slice on a request worker is at most [`FIRST_SLICE_MS`]
/// plus one tick; a 2 ms tick measured no better under hostile load and
/// woke the ticker 2.5 times as often.
pub const EPOCH_TICK_MS: u64 = 5;
/// How long an invocation runs on the worker that received its request
/// before it moves to the plugin lane (low-priority threads): a counter
/// operation takes well under a millisecond and never moves, a runaway
/// costs the request workers at most this slice and one tick.
pub const FIRST_SLICE_MS: u64 = 2;
/// OS scheduling priority (nice) of the plugin lane's threads: long plugin
/// runs give way to request handling and to fresh invocations.
pub const PLUGIN_LANE_NICE: i32 = 10;
/// Longest a plugin's `describe` may take, at install and at load; a
/// description is a constant list, so a slow one is refused.
pub const DESCRIBE_DEADLINE_MS: u64 = 2_000;

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
/// By default a plugin is handed an input of at most this share of its
/// memory (1/8): the guest holds the input text, what it parses from it
/// and its answer at once, so a larger input could only end in a memory
/// trap. A policy's `input-mib` may raise it to half.
pub const INPUT_SHARE_OF_MEMORY: u64 = 8;

/// Jobs running at once per server; more get 503. Each may hold a large
/// draft in memory until it commits.
pub const MAX_RUNNING_JOBS: usize = 4;
/// Jobs running at once per tenant: one municipality cannot take every
/// job slot of a shared node.
pub const MAX_RUNNING_JOBS_PER_TENANT: usize = 2;
/// Longest log message a plugin may write; longer ones are truncated.
pub const MAX_LOG_MESSAGE_BYTES: usize = 512;
/// Log lines (log messages, stdout and stderr writes) one invocation may
/// put in the server log; the rest are counted in one closing line.
pub const MAX_LOG_LINES_PER_INVOCATION: u32 = 32;
/// Plugin log lines per second per plugin, all invocations together (a
/// token bucket): many invocations cannot flood the log either.
pub const PLUGIN_LOG_LINES_PER_SECOND: u32 = 100;
/// Denied or failed host calls of one kind (action and reason) that one
/// invocation records with their persons; past this, the event counts them.
pub const MAX_AGGREGATED_SUBJECTS: usize = 256;
/// Longest string value the host accepts in any record field.
pub const MAX_FIELD_BYTES: usize = 1_024;
/// Longest name `residents.find-by-name` accepts: a name and its readings
/// fit in far less, and normalising a longer one is host time for nothing.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest identifier a lookup accepts (address, ticket and My Numbers,
/// dates, campaign ids, reasons): all are a few dozen bytes at most.
pub const MAX_KEY_BYTES: usize = 64;
/// Longest list of field names a call may pass: each interface has at
/// most 15 fields, so a longer list only repeats them.
pub const MAX_FIELD_LIST: usize = 64;
/// Most operations a plugin may describe, and the longest name and
/// summary of one: a description is read at every load.
pub const MAX_OPERATIONS: usize = 128;
/// Longest operation summary.
pub const MAX_SUMMARY_BYTES: usize = 500;
/// Deepest JSON nesting the host accepts in a request body or a plugin's
/// output: real documents nest a handful of levels, and common parsers
/// (serde_json's 128, browsers' stacks) fail on much deeper ones.
pub const MAX_JSON_DEPTH: usize = 64;

/// Concurrent plugin instances per node: the pooling allocator's slots and
/// the semaphore in front of them.
pub const INSTANCE_POOL_SLOTS: u32 = 256;
/// Concurrent invocations of one plugin of one tenant: two cores run at
/// most two at a time, and 16 in flight keep a busy counter fed, while a
/// runaway plugin holds at most this share of the pool. More wait, at most
/// their deadline, then get 503.
pub const PLUGIN_SHARE: u32 = 16;
/// Longest an invocation waits for a slot of its shares (never more than
/// its deadline): past this the node is saturated and the client should
/// hear so at once.
pub const MAX_ADMISSION_WAIT_MS: u64 = 5_000;
/// Concurrent invocations of one tenant, all plugins together: a quarter of
/// the pool, so one municipality cannot take a shared node.
pub const TENANT_SHARE: u32 = 64;
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
/// Largest request head (request line and headers) read; a larger one is
/// answered 431 (or 414 for the URI) before any handler runs.
pub const MAX_REQUEST_HEAD_BYTES: usize = 64 << 10;
/// Longest client-supplied request id kept; longer ones are replaced.
pub const MAX_REQUEST_ID_BYTES: usize = 64;

/// How long a client-supplied request id of a writing request is
/// remembered to refuse replays: far longer than any client retries.
pub const REPLAY_WINDOW_MS: i64 = 7 * 24 * 3_600 * 1_000;
/// Most expired request ids forgotten per commit, so pruning never makes a
/// commit slow.
pub const MAX_PRUNED_PER_COMMIT: usize = 256;
