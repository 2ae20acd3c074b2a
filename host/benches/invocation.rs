//! Benchmark 1: a fresh-instance invocation of a no-op plugin operation,
//! and the same small logic (My Number check digits) native vs in wasm.
//!
//! `cargo xtask bench -- invocation` (or `cargo bench -p kiroku --bench invocation`).
//! Prints medians.

mod common;

use std::sync::Arc;

use common::{component, per_iter, us};
use kiroku::clock::{OsEntropy, SystemClock};
use kiroku::policy::Policy;
use kiroku::runtime::Runtime;

fn my_numbers(n: usize) -> String {
    let mut rng = kiroku::synth::SplitMix::new(5);
    (0..n)
        .map(|i| {
            let mut digits = [0u8; 11];
            for d in digits.iter_mut() {
                *d = b'0' + rng.below(10) as u8;
            }
            let mut full = kiroku_rules::my_number::complete(&digits);
            if i % 10 == 0 {
                full[11] = b'0' + (full[11] - b'0' + 1) % 10; // some invalid ones
            }
            String::from_utf8(full.to_vec()).unwrap()
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// What is computed, the plugin operation, the input maker, the native code.
type Logic = (
    &'static str,
    &'static str,
    fn(usize) -> String,
    fn(&str) -> usize,
);

fn names(n: usize) -> String {
    let today = kiroku_rules::Date {
        year: 2026,
        month: 4,
        day: 1,
    };
    let people = kiroku::synth::residents(n, 3, today);
    people
        .iter()
        .map(|r| {
            if r.sex == "1" {
                r.kana_name.clone()
            } else {
                r.kanji_name.clone()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn birth_dates(n: usize) -> String {
    let mut rng = kiroku::synth::SplitMix::new(9);
    (0..n)
        .map(|_| {
            kiroku_rules::Date::from_days_since_epoch(-18_000 + rng.below(38_000) as i64)
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = Runtime::new(Arc::new(SystemClock), Arc::new(OsEntropy)).unwrap();
    let policy = Arc::new(
        Policy::parse(
            "[plugin]\nname = \"noop\"\npurpose = \"testing\"\n[limits]\noutput-kib = 64\n",
        )
        .unwrap(),
    );
    let plugin = rt
        .block_on(runtime.load(&component("noop"), policy, None))
        .unwrap();
    println!(
        "engine: {} instance allocation",
        if runtime.info().pooling {
            "pooling"
        } else {
            "on-demand"
        }
    );

    let fresh_noop = per_iter(31, 2_000, || {
        rt.block_on(runtime.invoke_detached(&plugin, "noop", ""))
            .unwrap();
    });
    println!(
        "fresh instance + no-op call: median {} per invocation (target ≤ 20 µs)",
        us(fresh_noop)
    );

    let mut warm = rt.block_on(runtime.warm_instance(&plugin)).unwrap();
    let warm_noop = per_iter(31, 20_000, || {
        rt.block_on(warm.call("noop", "")).unwrap();
    });
    println!("live instance, no-op call:   median {}", us(warm_noop));

    let logics: [Logic; 3] = [
        (
            "check digits of",
            "count-valid-my-numbers",
            my_numbers,
            kiroku_rules::my_number::count_valid,
        ),
        (
            "name keys (search normalisation) of",
            "name-keys-len",
            names,
            kiroku_rules::normalize::name_keys_len,
        ),
        (
            "ages (target extraction) of",
            "count-aged-65",
            birth_dates,
            |l| {
                kiroku_rules::date::count_aged_at_least(
                    l,
                    kiroku_rules::Date {
                        year: 2026,
                        month: 4,
                        day: 1,
                    },
                    65,
                )
            },
        ),
    ];
    for ((what, operation, make, native_fn), n) in
        logics.iter().flat_map(|l| [1_000, 10_000].map(|n| (*l, n)))
    {
        let input = make(n);
        let expected = native_fn(&input);
        let iters = if n == 1_000 { 500 } else { 50 };
        let native = per_iter(31, iters, || {
            assert_eq!(
                std::hint::black_box(native_fn(std::hint::black_box(&input))),
                expected
            );
        });
        let in_wasm = per_iter(31, iters, || {
            let out = rt.block_on(warm.call(operation, &input)).unwrap();
            assert_eq!(out, expected.to_string());
        });
        let fresh = per_iter(31, iters, || {
            let out = rt
                .block_on(runtime.invoke_detached(&plugin, operation, &input))
                .unwrap();
            assert_eq!(out, expected.to_string());
        });
        println!(
            "{what} {n}: native {}, wasm (live instance) {} = {:.2}x, wasm (fresh instance) {} = {:.2}x (target ≤ 1.5x)",
            us(native),
            us(in_wasm),
            in_wasm.as_secs_f64() / native.as_secs_f64(),
            us(fresh),
            fresh.as_secs_f64() / native.as_secs_f64(),
        );
    }
}
