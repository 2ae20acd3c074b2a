//! `cargo xtask fuzz [--minutes N] [TARGET...]`: runs the `fuzz/` targets
//! with cargo-fuzz on the stable toolchain (`--sanitizer none`), sharing
//! the minutes among them, and prints each target's runs, CPU time and
//! crashes. A crash input is kept in `fuzz/artifacts/TARGET/`; make it a
//! regression test (the targets' corpora in `fuzz/corpus/` grow as it runs).

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// The cargo-fuzz release the targets are written for.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut minutes: f64 = 10.0;
    let mut chosen = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--minutes" => {
                minutes = it
                    .next()
                    .context("--minutes takes a number")?
                    .parse()
                    .context("--minutes takes a number")?;
            }
            other => chosen.push(other.to_owned()),
        }
    }
    ensure_cargo_fuzz()?;
    let fuzz_dir = super::root().join("fuzz");
    let targets = if chosen.is_empty() {
        list_targets(&fuzz_dir)?
    } else {
        chosen
    };
    let seconds = ((minutes * 60.0) / targets.len() as f64).max(10.0) as u64;
    eprintln!(
        "xtask: fuzzing {} targets for {seconds} s each",
        targets.len()
    );
    let mut crashed = Vec::new();
    let mut report = Vec::new();
    for target in &targets {
        std::fs::create_dir_all(fuzz_dir.join("corpus").join(target))?;
        let started = Instant::now();
        let out = fuzz_cmd(&fuzz_dir)
            .args(["run", "--sanitizer", "none", "-O", target])
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-rss_limit_mb=2048")
            .arg("-timeout=10")
            .output()
            .context("running cargo fuzz")?;
        let log = String::from_utf8_lossy(&out.stderr);
        let runs = log
            .lines()
            .rev()
            .find_map(|l| {
                l.strip_prefix("Done ")
                    .and_then(|r| r.split_whitespace().next())
            })
            .unwrap_or("?")
            .to_owned();
        let ok = out.status.success();
        if !ok {
            crashed.push(target.clone());
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        report.push(format!(
            "{target:<20} {:>8.0} s on one core  {runs:>12} runs  {}",
            started.elapsed().as_secs_f64(),
            if ok {
                "no crash"
            } else {
                "CRASH (see fuzz/artifacts)"
            }
        ));
    }
    println!("fuzz targets (cargo-fuzz {CARGO_FUZZ_VERSION}, --sanitizer none):");
    for line in &report {
        println!("  {line}");
    }
    if !crashed.is_empty() {
        bail!("crashes in {}", crashed.join(", "));
    }
    Ok(())
}

/// cargo-fuzz in its own target directory (it builds with coverage flags).
fn fuzz_cmd(fuzz_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(fuzz_dir)
        .arg("fuzz")
        .env("CARGO_TARGET_DIR", super::root().join("target/fuzz"));
    cmd
}

fn list_targets(fuzz_dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(fuzz_dir.join("fuzz_targets"))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".rs"))
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Installs the pinned cargo-fuzz when it is missing or another version.
fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let have = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if have.contains(CARGO_FUZZ_VERSION) {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION}");
    let ok = Command::new("cargo")
        .args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
        ])
        .status()?
        .success();
    if !ok {
        bail!("could not install cargo-fuzz {CARGO_FUZZ_VERSION}");
    }
    Ok(())
}
