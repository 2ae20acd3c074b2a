//! Shared by the bench binaries: the server's allocator, timing samples
//! and their median.

#![allow(dead_code)]

use std::time::{Duration, Instant};

/// The server binary's allocator, so benches measure what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Median of a list of durations.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Per-iteration time of `f`, as the median over `samples` samples of
/// `iters` iterations each (after one warm-up sample).
pub fn per_iter(samples: usize, iters: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iters {
        f();
    }
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        out.push(start.elapsed() / iters);
    }
    median(out)
}

/// The workspace root (benches run with the package as cwd).
pub fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Bytes of a built plugin component.
pub fn component(name: &str) -> Vec<u8> {
    let path = root().join(format!(
        "target/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    ));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `cargo xtask plugins` (or `cargo xtask bench`)",
            path.display()
        )
    })
}

/// A scratch directory on the same disk as the build (not tmpfs), so
/// durability costs are real.
pub fn scratch(name: &str) -> tempfile::TempDir {
    let base = root().join("target/bench-data");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix(name)
        .tempdir_in(base)
        .unwrap()
}

/// Microseconds with two decimals.
pub fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}
