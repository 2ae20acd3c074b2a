//! The real `kiroku` binary's commands: demo tenants, accounts and tokens
//! made as an operator would.

use std::process::Command;

use super::*;

/// The session token of `role` in the output of `kiroku demo`.
pub fn demo_token(out: &str, role: &str) -> String {
    out.lines()
        .find(|l| l.trim_start().starts_with(role))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("no {role} token in {out}"))
        .to_owned()
}

/// The real `kiroku` binary.
pub fn kiroku() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kiroku"))
}

/// Runs the binary; returns (success, stdout, stderr).
pub fn run_kiroku(args: &[&str]) -> (bool, String, String) {
    run_kiroku_with(&[], args)
}

/// Runs the binary with extra environment variables.
pub fn run_kiroku_with(
    env: &[(&str, std::ffi::OsString)],
    args: &[&str],
) -> (bool, String, String) {
    let out = kiroku()
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the binary, which must succeed; returns its stdout.
pub fn kiroku_ok(args: &[&str]) -> String {
    let (ok, out, err) = run_kiroku(args);
    assert!(ok, "kiroku {args:?} failed: {err}");
    out
}

/// Creates tenant 142051 in the data directory `d` with the CLI.
pub fn create_fujisawa(d: &str) {
    kiroku_ok(&[
        "tenant",
        "create",
        "--data",
        d,
        "--code",
        FUJISAWA,
        "--name",
        "藤沢市",
    ]);
}

/// The component and policy paths of a plugin, for the CLI.
pub fn plugin_paths(name: &str) -> (String, String) {
    let wasm = root().join(format!(
        "target/wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    ));
    let shipped = root().join(format!("policies/{name}.toml"));
    let policy = if shipped.exists() {
        shipped
    } else {
        root().join(format!("tests/plugins/{name}/policy.toml"))
    };
    (
        wasm.to_string_lossy().into_owned(),
        policy.to_string_lossy().into_owned(),
    )
}

/// Tenant 142051 with dose-entry installed and one clerk, all through the
/// CLI; returns the clerk's token (a service token with the clerk role, so
/// it works before and across server starts).
pub fn fujisawa_with_clerk(d: &str, clerk: &str) -> String {
    create_fujisawa(d);
    let (wasm, policy) = plugin_paths("dose-entry");
    kiroku_ok(&[
        "plugin", "install", "--data", d, "--tenant", FUJISAWA, "--policy", &policy, &wasm,
    ]);
    service_token(d, clerk, "clerk")
}

/// A service token for `name` with `role`, made by the CLI.
pub fn service_token(d: &str, name: &str, role: &str) -> String {
    let out = kiroku_ok(&[
        "token",
        "add",
        "--data",
        d,
        "--tenant",
        FUJISAWA,
        "--service",
        name,
        "--role",
        role,
        "--expires",
        "2099-12-31",
    ]);
    out.lines().last().unwrap().to_owned()
}

/// A staff account made by the CLI's non-interactive path; returns its
/// TOTP secret (the password is [`TEST_PASSWORD`]).
pub fn staff_account(d: &str, name: &str, role: &str) -> Vec<u8> {
    let mut child = kiroku()
        .args([
            "user",
            "add",
            "--data",
            d,
            "--tenant",
            FUJISAWA,
            "--name",
            name,
            "--role",
            role,
            "--password-stdin",
        ])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{TEST_PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let uri = stdout.lines().last().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{stdout}");
    secret_of(uri)
}

/// A demo tenant of `persons` residents (with tickets) made by the real
/// binary, and a clerk; returns the clerk's token.
pub fn demo_with_clerk(d: &str, persons: usize, clerk: &str) -> String {
    demo_output(d, persons);
    service_token(d, clerk, "clerk")
}

/// Runs `kiroku demo --no-serve` with `persons` residents in `d` on the
/// built plugins; returns what it printed (the role tokens among it).
pub fn demo_output(d: &str, persons: usize) -> String {
    let plugins = root().join("target/wasm32-wasip2/release");
    let policies = root().join("policies");
    let persons = persons.to_string();
    let (ok, out, err) = run_kiroku(&[
        "demo",
        "--data",
        d,
        "--persons",
        &persons,
        "--no-serve",
        "--plugins",
        plugins.to_str().unwrap(),
        "--policies",
        policies.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    format!("{out}{err}")
}
