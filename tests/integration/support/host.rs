//! [`TestHost`]: an in-process host over a temp data directory, called
//! through the real router as its accounts.

use super::*;

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
    pub(super) request_counter: std::sync::atomic::AtomicU64,
}

impl TestHost {
    pub(super) async fn load_residents(&self) {
        self.load(&self.residents).await;
    }

    /// Loads `residents` (and their tickets) through resident-sync and
    /// ticket-issuance, a thousand at a time.
    pub async fn load(&self, residents: &[kiroku::synth::Resident]) {
        for chunk in residents.chunks(1_000) {
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

    pub(super) async fn call_as_clerk(&self, op: &str, input: Value) -> (StatusCode, Value) {
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
