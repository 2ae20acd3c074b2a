//! What one invocation may put in the server log (containment, class 6):
//! its log messages, stdout and stderr, and the host's warnings about it
//! (denials), each line redacted (see `redact`) and counted. An invocation
//! writes at most [`MAX_LOG_LINES_PER_INVOCATION`] lines, a plugin at most
//! [`PLUGIN_LOG_LINES_PER_SECOND`] over all its invocations; the rest are
//! counted in one closing line.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::limits::{
    MAX_LOG_LINES_PER_INVOCATION, MAX_LOG_MESSAGE_BYTES, PLUGIN_LOG_LINES_PER_SECOND,
};
use crate::redact::Redactor;

/// A line's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Detail for developers.
    Debug,
    /// Normal progress (and stdout).
    Info,
    /// Unexpected but handled (and stderr, and host denials).
    Warn,
    /// Failures.
    Error,
}

/// The log of one invocation, shared by its host calls and its WASI
/// stdout and stderr.
#[derive(Debug)]
pub struct GuestLog {
    plugin: String,
    /// The invocation's served values.
    pub redactor: Redactor,
    written: u32,
    suppressed: u32,
}

/// A log shared between a store's host functions and its output streams.
pub type SharedLog = Arc<Mutex<GuestLog>>;

impl GuestLog {
    /// A log for an invocation of `plugin`.
    pub fn shared(plugin: &str, redactor: Redactor) -> SharedLog {
        Arc::new(Mutex::new(GuestLog {
            plugin: plugin.to_owned(),
            redactor,
            written: 0,
            suppressed: 0,
        }))
    }

    fn admit(&mut self) -> bool {
        if self.written < MAX_LOG_LINES_PER_INVOCATION && bucket_allows(&self.plugin) {
            self.written += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }

    /// A line the plugin wrote (`source`: `log`, `stdout` or `stderr`).
    pub fn plugin_line(&mut self, level: Level, source: &str, text: &str) {
        let text = text.trim_end();
        if text.is_empty() || !self.admit() {
            return;
        }
        let mut end = text.len().min(MAX_LOG_MESSAGE_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let text = self.redactor.log_line(&text[..end]);
        emit(level, &self.plugin, source, &text);
    }

    /// A warning the host writes about the invocation (never a value).
    pub fn host_warn(&mut self, text: &str) {
        if self.admit() {
            emit(Level::Warn, &self.plugin, "host", text);
        }
    }

    /// Writes how many lines were suppressed, once, at the invocation's end.
    pub fn close(&mut self) {
        if self.suppressed > 0 {
            let n = std::mem::take(&mut self.suppressed);
            tracing::warn!(
                plugin = %self.plugin,
                "{n} more log lines of this invocation were suppressed (at most {MAX_LOG_LINES_PER_INVOCATION} per invocation, {PLUGIN_LOG_LINES_PER_SECOND}/s per plugin)"
            );
        }
    }
}

fn emit(level: Level, plugin: &str, source: &str, text: &str) {
    match level {
        Level::Debug => tracing::debug!(plugin, source, "{text}"),
        Level::Info => tracing::info!(plugin, source, "{text}"),
        Level::Warn => tracing::warn!(plugin, source, "{text}"),
        Level::Error => tracing::error!(plugin, source, "{text}"),
    }
}

/// A token bucket per plugin name, refilled at
/// [`PLUGIN_LOG_LINES_PER_SECOND`].
fn bucket_allows(plugin: &str) -> bool {
    static BUCKETS: OnceLock<Mutex<HashMap<String, (f64, Instant)>>> = OnceLock::new();
    let rate = f64::from(PLUGIN_LOG_LINES_PER_SECOND);
    let mut buckets = BUCKETS
        .get_or_init(Default::default)
        .lock()
        .expect("log buckets lock");
    let now = Instant::now();
    let (tokens, last) = buckets.entry(plugin.to_owned()).or_insert((rate, now));
    *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(rate);
    *last = now;
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invocation_writes_a_bounded_number_of_lines() {
        let log = GuestLog::shared("bounded-test", Redactor::default());
        let mut log = log.lock().unwrap();
        for _ in 0..10_000 {
            log.plugin_line(Level::Info, "log", "hello");
        }
        assert_eq!(log.written, MAX_LOG_LINES_PER_INVOCATION);
        assert_eq!(log.suppressed, 10_000 - MAX_LOG_LINES_PER_INVOCATION);
        log.close();
        assert_eq!(log.suppressed, 0);
    }
}
