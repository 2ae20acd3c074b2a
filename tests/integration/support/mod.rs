//! Test support: a builder for an in-process host over a temp data dir
//! (`TestHost::new().plugin(..).residents(..).user(..).start()`), the real
//! plugin components; the real `kiroku` binary's commands (`cli`) and
//! server on a loopback port (`server`).

#![allow(dead_code)]

mod builder;
mod cli;
mod host;
mod server;

pub use cli::*;
pub use host::*;
pub use server::*;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode};
use kiroku::admin::{self, AdminActor};
use kiroku::app::App;
use kiroku::audit::{self, Event};
use kiroku::clock::{Clock, FakeClock, SeededEntropy};
use kiroku::datadir::DataDir;
use kiroku::identity::accounts::{self, Kind, NewAccount};
use kiroku::identity::sessions::Limits;
use kiroku::ids::TenantCode;
use kiroku::runtime::Runtime;
use kiroku::store::TenantStore;
use kiroku_rules::Date;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The demo's municipality, used by most tests.
pub const FUJISAWA: &str = "142051";
/// The date the fake clock starts at.
pub const TODAY: &str = "2026-04-01";
/// Every test account's password.
pub const TEST_PASSWORD: &str = "test-password-0001";

/// The secret of an `otpauth://` URI.
pub fn secret_of(uri: &str) -> Vec<u8> {
    let b32 = uri
        .split("secret=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .unwrap_or_else(|| panic!("no secret in {uri}"));
    kiroku::identity::totp::from_base32(b32).unwrap()
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Bytes of a built plugin component.
pub fn component(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("KIROKU_PLUGIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/wasm32-wasip2/release"));
    let path = dir.join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the plugins with `cargo xtask plugins`",
            path.display()
        )
    })
}

/// The policy shipped for a plugin: `policies/<name>.toml`, or the test
/// plugin's own `tests/plugins/<name>/policy.toml`.
pub fn policy(name: &str) -> String {
    let shipped = root().join(format!("policies/{name}.toml"));
    let test = root().join(format!("tests/plugins/{name}/policy.toml"));
    std::fs::read_to_string(&shipped)
        .or_else(|_| std::fs::read_to_string(&test))
        .unwrap_or_else(|e| panic!("no policy for {name}: {e}"))
}

/// A roles file whose `admin` and `supervisor` roles may invoke every
/// operation of `plugins` (and load residents), the supervisor also
/// resolving reviews; clerks use dose-entry.
pub fn roles_for(plugins: &[&str]) -> String {
    let mut invoke: Vec<String> = plugins.iter().map(|p| format!("\"{p}/*\"")).collect();
    for p in ["resident-sync", "ticket-issuance", "dose-import"] {
        invoke.push(format!("\"{p}/*\""));
    }
    let invoke = invoke.join(", ");
    format!(
        "[admin]\ninvoke = [{invoke}]\nadmin = true\n[supervisor]\ninvoke = [{invoke}]\nreview = true\n[clerk]\ninvoke = [\"dose-entry/*\"]\n[auditor]\naudit = true\n"
    )
}

/// A host with `plugins` (shipped or test policies), `residents`
/// synthetic residents, and a supervisor who may invoke them all.
pub async fn hostile(plugins: &[&str], residents: usize) -> TestHost {
    let mut b = TestHost::new()
        .roles(&roles_for(plugins))
        .residents(residents)
        .user("supervisor", "supervisor")
        .user("clerk", "clerk")
        .user("auditor", "auditor");
    for p in plugins {
        b = b.plugin(p);
    }
    b.start().await
}

/// A valid dose form for `person`.
pub fn dose_form(person: u64, number: u32, date: &str) -> Value {
    json!({
        "person_id": person,
        "dose_number": number,
        "date": date,
        "maker": "pfizer",
        "product": "コミナティ",
        "lot": "QX7Q21",
        "amount": "0.3",
        "facility_code": "1412345678",
        "doctor": "湘南 太郎",
    })
}

/// Runs a dose-import job through `kiroku job run` on the server at `addr`: one new
/// dose on `date` (`YYYYMMDD`) for each of the demo's first `persons`
/// residents, written to `file` as a VRS export. Whether the job
/// succeeded, and what it printed (output, then progress and errors).
pub fn import_one_dose_each(
    addr: &str,
    token: &str,
    file: &Path,
    persons: usize,
    date: &str,
) -> (bool, String) {
    let anchor = kiroku_rules::Date::parse(kiroku::demo::DEMO_DATA_DAY).unwrap();
    let residents = kiroku::synth::residents(persons, 142_051, anchor);
    let mut csv = String::from(kiroku::synth::VRS_HEADER);
    for r in &residents {
        csv.push_str(&format!(
            "\n{},{date}100000,{date},,{FUJISAWA},藤沢市保健所,佐藤 医師,ファイザー,FA1234",
            r.address_number
        ));
    }
    std::fs::write(file, csv + "\n").unwrap();
    let out = kiroku()
        .args(["job", "run", "--server", &format!("http://{addr}")])
        .args(["--tenant", FUJISAWA, "dose-import/import", "--file"])
        .arg(file)
        .args(["--option", "encoding=utf-8"])
        .env("KIROKU_TOKEN", token)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Awaits every future together, in place (no spawning: they may borrow),
/// and returns their outputs in order.
pub async fn join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (f, out) in pending.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("finished")).collect()
}

/// Polls a job as `user` until `until` holds of its status.
pub async fn wait_for_job(
    host: &TestHost,
    user: &str,
    id: &str,
    until: impl Fn(&Value) -> bool,
) -> Value {
    let token = host.token(user).to_owned();
    for _ in 0..600 {
        let (status, body) = host
            .request(
                "GET",
                &format!("/v1/{FUJISAWA}/jobs/{id}"),
                Some(&token),
                Default::default(),
            )
            .await;
        assert_eq!(status, hyper::StatusCode::OK, "{body}");
        if until(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {id} never got there");
}
