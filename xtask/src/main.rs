//! Build glue for Kiroku.
//!
//! ```text
//! cargo xtask plugins          build every plugin component (adds wasm32-wasip2 if missing)
//! cargo xtask demo [ARGS]      build everything and run `kiroku demo ARGS` (default data dir ./data)
//! cargo xtask test             build plugins, run every test (what CI runs)
//! cargo xtask bench            build plugins, run the benchmarks and print their figures
//! cargo xtask fuzz [--minutes N] [TARGET...]   run the fuzz targets of every outside-input parser
//! cargo xtask soak [--minutes N]  100 kill -9 cycles, then N minutes (30) of mixed traffic
//! ```
//!
//! One profile (release) and one target directory for everything, so
//! wasmtime is compiled once per checkout.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

mod browser;
mod fuzz;

const WASM_TARGET: &str = "wasm32-wasip2";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// Adds the wasm32-wasip2 target through rustup when it is missing.
fn ensure_wasm_target() -> anyhow::Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match out {
        Ok(out)
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == WASM_TARGET) =>
        {
            Ok(())
        }
        Ok(_) => run(Command::new("rustup").args(["target", "add", WASM_TARGET])),
        Err(_) => {
            eprintln!("xtask: rustup not found; assuming the {WASM_TARGET} target is installed");
            Ok(())
        }
    }
}

/// Debian packages the build and the tests need, each with a file that
/// shows it is installed: the font embedded in printed notices, and the
/// tools the tests use to read those notices back (text and QR code), and
/// what the README's walk-through runs (its test runs it as written).
const SYSTEM_PACKAGES: &[(&str, &str)] = &[
    (
        "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
        "fonts-ipafont-gothic",
    ),
    ("/usr/bin/pdftotext", "poppler-utils"),
    ("/usr/bin/zbarimg", "zbar-tools"),
    ("/usr/bin/curl", "curl"),
    ("/usr/bin/python3", "python3"),
    ("/usr/bin/softhsm2-util", "softhsm2"),
    ("/usr/lib/softhsm/libsofthsm2.so", "softhsm2"),
];

/// Installs the missing [`SYSTEM_PACKAGES`] with apt (as root, or through
/// sudo), so a fresh machine needs no manual step.
fn ensure_system_packages() -> anyhow::Result<()> {
    ensure_packages(SYSTEM_PACKAGES, "the notices and their tests need them")
}

/// Installs those of `packages` (file that shows it, Debian package)
/// that are missing, with apt.
fn ensure_packages(packages: &[(&str, &str)], why: &str) -> anyhow::Result<()> {
    let mut missing: Vec<&str> = packages
        .iter()
        .filter(|(file, _)| !Path::new(file).exists())
        .map(|(_, package)| *package)
        .collect();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let apt = || {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.args(["-n", "apt-get"]);
            sudo
        };
        cmd.env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    let install = |mut cmd: Command| cmd.args(["install", "-y", "-q"]).args(&missing).status();
    if !install(apt()).is_ok_and(|s| s.success()) {
        // The package lists may be stale on a fresh machine.
        run(apt().args(["update", "-q"]))?;
        let status = install(apt())?;
        if !status.success() {
            bail!("could not install {}: {why}", missing.join(" "));
        }
    }
    Ok(())
}

/// The Python checkers the tests run (`tests/tools/requirements.txt`,
/// pinned), in a virtual environment under `target/pytools`; reinstalled
/// only when the requirements change.
fn ensure_python_tools() -> anyhow::Result<()> {
    let requirements = root().join("tests/tools/requirements.txt");
    let wanted =
        std::fs::read_to_string(&requirements).context("reading tests/tools/requirements.txt")?;
    let venv = root().join("target/pytools");
    let stamp = venv.join("requirements.installed");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(());
    }
    eprintln!("xtask: installing the Python test tools into target/pytools");
    if !venv.join("bin/python").exists() {
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "--disable-pip-version-check", "-r"])
        .arg(&requirements))?;
    std::fs::write(&stamp, wanted)?;
    Ok(())
}

/// Every plugin crate: `plugins/*`, `tests/plugins/*` and `examples/*`.
fn plugin_crates() -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for dir in ["plugins", "tests/plugins", "examples"] {
        names.extend(crates_in(dir)?);
    }
    names.sort();
    Ok(names)
}

/// The package names of the crates directly under `dir`.
fn crates_in(dir: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root().join(dir)).with_context(|| format!("listing {dir}"))? {
        let path = entry?.path();
        let manifest = path.join("Cargo.toml");
        if manifest.exists() {
            let text = std::fs::read_to_string(&manifest)?;
            let name = text
                .lines()
                .find_map(|l| l.strip_prefix("name = "))
                .map(|n| n.trim_matches('"').to_owned())
                .with_context(|| format!("no package name in {}", manifest.display()))?;
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

fn build_plugins() -> anyhow::Result<()> {
    ensure_wasm_target()?;
    ensure_system_packages()?;
    let mut cmd = cargo();
    cmd.args(["build", "--release", "--target", WASM_TARGET]);
    for name in plugin_crates()? {
        cmd.args(["-p", &name]);
    }
    run(&mut cmd)?;
    println!("xtask: plugin components are in target/{WASM_TARGET}/release/*.wasm");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let task = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match task.as_str() {
        "plugins" => build_plugins(),
        "demo" => {
            build_plugins()?;
            run(cargo().args(["build", "--release", "-p", "kiroku"]))?;
            let mut demo = Command::new(root().join("target/release/kiroku"));
            demo.current_dir(root()).arg("demo");
            if !rest.iter().any(|a| a == "--data") {
                demo.args(["--data", "data"]);
            }
            run(demo.args(&rest))
        }
        "test" => {
            build_plugins()?;
            ensure_python_tools()?;
            browser::ensure_tools()?;
            // Native crates (host, rules, xtask, integration tests) in release:
            // the same wasmtime build the demo and benches use.
            run(cargo().args(["test", "--release"]).args(&rest))?;
            // Business plugins' pure logic, natively.
            let mut cmd = cargo();
            cmd.args(["test", "--release", "--lib"]);
            for name in crates_in("plugins")? {
                cmd.args(["-p", &name]);
            }
            run(&mut cmd)
        }
        "fuzz" => fuzz::run(&rest),
        "soak" => {
            build_plugins()?;
            let minutes = match rest.as_slice() {
                [] => "30".to_owned(),
                [flag, n] if flag == "--minutes" => n.clone(),
                _ => bail!("usage: cargo xtask soak [--minutes N]"),
            };
            // The CI test's kill -9 loop, 100 cycles.
            run(cargo()
                .args(["test", "--release", "--test", "integration", "crash_loop"])
                .args(["--", "--nocapture"])
                .env("KIROKU_CRASH_CYCLES", "100"))?;
            run(cargo()
                .args(["bench", "-p", "kiroku", "--bench", "soak"])
                .env("BENCH_MINUTES", minutes))
        }
        "bench" => {
            build_plugins()?;
            run(cargo().args(["bench", "-p", "kiroku"]).args(&rest))
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <plugins | demo [ARGS] | test [ARGS] | bench [ARGS] | fuzz [--minutes N] [TARGET...] | soak [--minutes N]>"
            );
            std::process::exit(2);
        }
    }
}
