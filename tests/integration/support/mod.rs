//! Test support: a builder for an in-process host over a temp data dir
//! (`TestHost::new().plugin(..).residents(..).user(..).start()`), the real
//! plugin components; the real `kiroku` binary's commands (`cli`) and
//! server on a loopback port (`server`).

#![allow(dead_code)]

mod cli;
mod server;

pub use cli::*;
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

/// A host under test.
pub struct TestHost {
    pub dir: TempDir,
    pub app: Arc<App>,
    pub clock: Arc<FakeClock>,
    pub code: TenantCode,
    pub tokens: HashMap<String, String>,
    /// Each test account's TOTP secret (their password is [`TEST_PASSWORD`]).
    pub secrets: HashMap<String, Vec<u8>>,
    pub residents: Vec<kiroku::synth::Resident>,
    /// Each resident's synthetic dose history (empty unless `doses()`).
    pub histories: Vec<Vec<kiroku::synth::SynthDose>>,
    request_counter: std::sync::atomic::AtomicU64,
}

/// Builds a [`TestHost`].
pub struct Builder {
    plugins: Vec<(String, String)>,
    residents: usize,
    doses: bool,
    users: Vec<(String, String)>,
    roles: Option<String>,
}

impl TestHost {
    #[allow(clippy::new_ret_no_self)] // the builder reads as TestHost::new()...start()
    pub fn new() -> Builder {
        Builder {
            plugins: Vec::new(),
            residents: 0,
            doses: false,
            users: Vec::new(),
            roles: None,
        }
    }
}

impl Builder {
    /// Installs a plugin with its shipped policy.
    pub fn plugin(mut self, name: &str) -> Builder {
        self.plugins.push((name.to_owned(), policy(name)));
        self
    }

    /// Installs a plugin under a given policy.
    pub fn plugin_with_policy(mut self, name: &str, policy: &str) -> Builder {
        self.plugins.push((name.to_owned(), policy.to_owned()));
        self
    }

    /// Loads synthetic residents (and tickets) through the real plugins.
    pub fn residents(mut self, n: usize) -> Builder {
        self.residents = n;
        self
    }

    /// Also imports each resident's synthetic dose history (a VRS export)
    /// through the real dose-import plugin.
    pub fn doses(mut self) -> Builder {
        self.doses = true;
        self
    }

    /// Replaces the default roles file.
    pub fn roles(mut self, text: &str) -> Builder {
        self.roles = Some(text.to_owned());
        self
    }

    /// Adds a user with a role.
    pub fn user(mut self, name: &str, role: &str) -> Builder {
        self.users.push((name.to_owned(), role.to_owned()));
        self
    }

    pub async fn start(self) -> TestHost {
        // Hundreds of test accounts: cheap hashes (the binary, which the
        // real-server tests run, keeps OWASP's cost).
        kiroku::identity::password::use_cheap_parameters_for_tests();
        let dir = tempfile::tempdir().unwrap();
        let clock = FakeClock::at(Date::parse(TODAY).unwrap());
        let entropy = Arc::new(SeededEntropy::new(7));
        let runtime = Arc::new(Runtime::new(clock.clone(), entropy.clone()).unwrap());
        let app = Arc::new(App::new(DataDir::open(dir.path()).unwrap(), runtime));
        let code = TenantCode::parse(FUJISAWA).unwrap();
        let store = TenantStore::create(
            &app.dir,
            &code,
            "藤沢市",
            kiroku::roles::DEFAULT_ROLES,
            clock.as_ref(),
            entropy.as_ref(),
        )
        .unwrap();
        let actor = AdminActor::system("test-setup", clock.now_ms());
        let mut plugins = self.plugins;
        if self.residents > 0 {
            let mut needed = vec!["resident-sync", "ticket-issuance"];
            if self.doses {
                needed.push("dose-import");
            }
            for needed in needed {
                if !plugins.iter().any(|(n, _)| n == needed) {
                    plugins.push((needed.to_owned(), policy(needed)));
                }
            }
        }
        for (name, policy) in &plugins {
            admin::install_plugin(
                &app.dir,
                &app.runtime,
                &store,
                policy,
                &component(name),
                &actor,
            )
            .await
            .unwrap_or_else(|e| panic!("installing {name}: {e}"));
        }
        if let Some(roles) = &self.roles {
            admin::set_roles(&store, roles, &actor).unwrap();
        }
        let mut secrets = HashMap::new();
        let mut users = self.users.clone();
        users.push(("admin".into(), "admin".into()));
        for (name, role) in &users {
            let new = NewAccount {
                name: name.clone(),
                role: role.clone(),
                kind: Kind::Staff,
                valid_until_ms: None,
            };
            let enrolled =
                accounts::add_enrolled(&store, &new, TEST_PASSWORD, &actor, entropy.as_ref())
                    .unwrap();
            secrets.insert(name.clone(), secret_of(&enrolled.otpauth_uri));
        }
        // Tests move the clock by days; the idle-lock tests set their own.
        let long = Limits {
            idle_s: 86_400,
            lifetime_s: 30 * 86_400,
        };
        kiroku::identity::sessions::set_limits(&store, long, &actor).unwrap();
        drop(store);
        let residents = kiroku::synth::residents(self.residents, 11, Date::parse(TODAY).unwrap());
        let histories = if self.doses {
            kiroku::synth::dose_histories(&residents, 11)
        } else {
            vec![Vec::new(); residents.len()]
        };
        let mut host = TestHost {
            dir,
            app,
            clock,
            code,
            tokens: HashMap::new(),
            secrets,
            residents,
            histories,
            request_counter: Default::default(),
        };
        host.relogin().await;
        if !host.residents.is_empty() {
            host.load_residents().await;
        }
        if self.doses {
            let csv = kiroku::synth::to_vrs_csv(&host.residents, &host.histories, FUJISAWA);
            let (status, body) = host
                .upload("admin", "dose-import", "import", "", csv.into_bytes())
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body["error_rows"], 0, "{body}");
        }
        host
    }
}

impl TestHost {
    async fn load_residents(&self) {
        for chunk in self.residents.chunks(1_000) {
            let mut records: Vec<Value> = chunk.iter().map(|r| r.add_record()).collect();
            records.extend(chunk.iter().flat_map(|r| r.change_records()));
            let (status, body) = self
                .call(
                    "admin",
                    "resident-sync",
                    "apply",
                    json!({ "records": records }),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let numbers: Vec<_> = chunk.iter().map(|r| r.address_number.clone()).collect();
            let (status, body) = self
                .call(
                    "admin",
                    "ticket-issuance",
                    "issue",
                    json!({ "address_numbers": numbers }),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }

    /// Logs `user` in through the real endpoint with the current code.
    pub async fn login(&self, user: &str) -> (StatusCode, Value) {
        let code = kiroku::identity::totp::code_at(&self.secrets[user], self.clock.now_ms());
        let body = json!({"name": user, "password": TEST_PASSWORD, "totp": code});
        self.request(
            "POST",
            &format!("/v1/{FUJISAWA}/login"),
            None,
            Bytes::from(body.to_string()),
        )
        .await
    }

    /// Logs every test account in again (after the clock moved past their
    /// sessions' lifetime, or a code step on, for a second login).
    pub async fn relogin(&mut self) {
        self.clock.advance_ms(30_000);
        let names: Vec<String> = self.secrets.keys().cloned().collect();
        for name in names {
            let (status, body) = self.login(&name).await;
            assert_eq!(status, StatusCode::OK, "login of {name}: {body}");
            self.tokens
                .insert(name, body["token"].as_str().unwrap().to_owned());
        }
    }

    /// A service token with `role` that works whatever the clock says
    /// (for the real server, which runs on the system clock).
    pub fn service_token(&self, role: &str) -> String {
        let actor = AdminActor::system("test-service", self.clock.now_ms());
        let until = kiroku::identity::accounts::parse_day_end("2099-12-31").unwrap();
        let entropy = SeededEntropy::new(self.clock.now_ms() as u64);
        kiroku::identity::service::add(
            &self.store(),
            &format!("svc-{role}"),
            role,
            until,
            None,
            &actor,
            &entropy,
        )
        .unwrap()
    }

    /// The bearer token of a user.
    pub fn token(&self, user: &str) -> &str {
        self.tokens
            .get(user)
            .unwrap_or_else(|| panic!("no user {user}"))
    }

    /// Sends a request through the router in process.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Bytes,
    ) -> (StatusCode, Value) {
        let n = self
            .request_counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("x-request-id", format!("test-{n}"));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let response =
            kiroku::server::router::handle(&self.app, req.body(Full::new(body)).unwrap()).await;
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("non-JSON body: {:?}", String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    /// Invokes `plugin/operation` as `user`.
    pub async fn call(
        &self,
        user: &str,
        plugin: &str,
        operation: &str,
        input: Value,
    ) -> (StatusCode, Value) {
        let token = self.token(user).to_owned();
        let path = format!("/v1/{FUJISAWA}/{plugin}/{operation}");
        self.request("POST", &path, Some(&token), Bytes::from(input.to_string()))
            .await
    }

    /// Uploads a file (`Content-Type: text/csv`) to `plugin/operation` as
    /// `user`, with options in the query string.
    pub async fn upload(
        &self,
        user: &str,
        plugin: &str,
        operation: &str,
        query: &str,
        file: Vec<u8>,
    ) -> (StatusCode, Value) {
        let token = self.token(user).to_owned();
        let path = format!("/v1/{FUJISAWA}/{plugin}/{operation}?{query}");
        let req = Request::builder()
            .method("POST")
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "text/csv")
            .body(Full::new(Bytes::from(file)))
            .unwrap();
        let response = kiroku::server::router::handle(&self.app, req).await;
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("non-JSON body: {:?}", String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    /// The tenant store (as the server holds it).
    pub fn store(&self) -> Arc<TenantStore> {
        self.app.tenant(&self.code).unwrap().unwrap().store.clone()
    }

    /// Every audit event of the tenant.
    pub fn audit(&self) -> Vec<Event> {
        let q = audit::Query {
            limit: usize::MAX,
            ..Default::default()
        };
        audit::query(self.store().db().as_ref(), &q).unwrap()
    }

    /// Audit events of one request.
    pub fn audit_of(&self, request_id: &str) -> Vec<Event> {
        self.audit()
            .into_iter()
            .filter(|e| e.request_id == request_id)
            .collect()
    }

    /// Audit events of one action with one outcome.
    pub fn audit_with(&self, action: &str, outcome: audit::Outcome) -> Vec<Event> {
        self.audit()
            .into_iter()
            .filter(|e| e.action == action && e.outcome == outcome)
            .collect()
    }

    /// The person id (handle) the host hands out for an internal serial.
    pub fn person(&self, serial: u64) -> u64 {
        self.store().keys().person_handles().handle(serial)
    }

    /// The internal serial (what audit events store) behind a person id.
    pub fn serial(&self, person: u64) -> u64 {
        self.store()
            .keys()
            .person_handles()
            .serial(person)
            .expect("a person id the host handed out")
    }

    /// A loaded plugin of the tenant (waiting for its load).
    pub async fn loaded(&self, name: &str) -> Result<Arc<kiroku::runtime::LoadedPlugin>, String> {
        let tenant = self.app.tenant(&self.code).unwrap().unwrap();
        let registry = tenant.registry(&self.app).await.unwrap();
        let slot = registry.plugins.get(name).ok_or("not installed")?;
        slot.ready(Duration::from_secs(30)).await
    }

    /// The person id of a synthetic resident (by address number).
    pub async fn person_of(&self, r: &kiroku::synth::Resident) -> u64 {
        let ticket = self.ticket_of(r).await;
        let (status, body) = self
            .call_as_clerk("find-person", json!({ "ticket_number": ticket }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["persons"][0]["person_id"].as_u64().unwrap()
    }

    /// A resident still living in the town (not moved out, not deceased)
    /// and their person id.
    pub async fn resident_in_town(&self) -> (kiroku::synth::Resident, u64) {
        let r = self
            .residents
            .iter()
            .find(|r| r.moved_out.is_none() && r.died.is_none())
            .expect("one lives here")
            .clone();
        let person = self.person_of(&r).await;
        (r, person)
    }

    /// The ticket number of a synthetic resident (reissue: false returns none,
    /// so look it up in the store through a fresh issue call's answer).
    pub async fn ticket_of(&self, r: &kiroku::synth::Resident) -> String {
        let index = self
            .residents
            .iter()
            .position(|x| x.address_number == r.address_number)
            .unwrap();
        // Tickets were issued in resident order: person ids follow the same order.
        kiroku_rules::ticket::for_person(index as u64 + 1, 0).unwrap()
    }

    async fn call_as_clerk(&self, op: &str, input: Value) -> (StatusCode, Value) {
        let user = self
            .tokens
            .keys()
            .find(|k| k.starts_with("clerk"))
            .cloned()
            .expect("a clerk user");
        self.call(&user, "dose-entry", op, input).await
    }

    /// Records dose `number` for `person` on 2026-03-01 from a valid form, as the clerk.
    pub async fn record_dose(&self, person: u64, number: u32) -> (StatusCode, Value) {
        self.call_as_clerk("record-dose", dose_form(person, number, "2026-03-01"))
            .await
    }

    /// A person's doses as dose-entry lists them (read by a clerk).
    pub async fn doses_of(&self, person: u64) -> Vec<Value> {
        let (status, body) = self
            .call_as_clerk("list-doses", json!({ "person_id": person }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["doses"].as_array().cloned().unwrap_or_default()
    }

    /// Every file of the data directory, concatenated (for grepping).
    pub fn raw_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((p.clone(), std::fs::read(&p).unwrap()));
                }
            }
        }
        out
    }
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
