//! Many tenants on one node under a memory budget: tenants open at start
//! while the budget holds them, the rest on first use; an idle tenant is
//! closed to make room, and every tenant keeps its data and its sessions
//! across being closed and opened again.

use serde_json::{Value, json};

use crate::support::*;

/// 3 tenants of 300 residents: each file is about 3 MB, so each is
/// charged about 19 MiB of cache (the file and 16 MiB of headroom) plus
/// its facts; a 40 MiB budget holds two of them.
const BUDGET_MIB: &str = "40";

fn tenant_token(d: &str, tenant: &str) -> String {
    let out = kiroku_ok(&[
        "token",
        "add",
        "--data",
        d,
        "--tenant",
        tenant,
        "--service",
        "svc-clerk",
        "--role",
        "clerk",
        "--expires",
        "2099-12-31",
    ]);
    out.lines().last().unwrap().to_owned()
}

fn call(server: &RealServer, tenant: &str, op: &str, token: &str, body: Value) -> Value {
    let (status, text) = server.request(
        "POST",
        &format!("/v1/{tenant}/dose-entry/{op}"),
        Some(token),
        &body.to_string(),
    );
    assert_eq!(status, 200, "{tenant} {op}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn states(server: &RealServer) -> Value {
    let (_, body) = server.request("GET", "/readyz", None, "");
    let ready: Value = serde_json::from_str(&body).unwrap();
    let states: serde_json::Map<String, Value> = ready["tenants"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(code, t)| (code.clone(), t["state"].clone()))
        .collect();
    Value::Object(states)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[test]
fn tenants_share_the_memory_budget_opening_on_use_and_closing_when_idle() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let plugins = root().join("target/wasm32-wasip2/release");
    let policies = root().join("policies");
    kiroku_ok(&[
        "demo",
        "--data",
        d,
        "--persons",
        "300",
        "--tenants",
        "3",
        "--no-serve",
        "--plugins",
        plugins.to_str().unwrap(),
        "--policies",
        policies.to_str().unwrap(),
    ]);
    let codes: Vec<String> = kiroku::demo::demo_tenants(3)
        .into_iter()
        .map(|(c, _)| c.to_string())
        .collect();
    let tokens: Vec<String> = codes.iter().map(|c| tenant_token(d, c)).collect();
    let mut server = RealServer::spawn_args(
        &[
            "serve",
            "--data",
            d,
            "--listen",
            "127.0.0.1:0",
            "--memory-mib",
            BUDGET_MIB,
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[],
        None,
    );
    let metrics_at = server.metrics_addr();
    server.wait_ready();
    let open = |s: &Value| {
        s.as_object()
            .unwrap()
            .values()
            .filter(|v| *v == "open")
            .count()
    };
    let at_start = states(&server);
    assert_eq!(
        open(&at_start),
        2,
        "two fit the budget at start: {at_start}"
    );

    // Every tenant answers, in turn, twice: each use of the closed one
    // closes the least recently used idle one.
    let today = kiroku::clock::Clock::today(&kiroku::clock::SystemClock).to_string();
    let mut persons = Vec::new();
    for (code, token) in codes.iter().zip(&tokens) {
        let ticket = kiroku_rules::ticket::for_person(1, 0).unwrap();
        let found = call(
            &server,
            code,
            "find-person",
            token,
            json!({"ticket_number": ticket}),
        );
        let person = found["persons"][0]["person_id"].as_u64().unwrap();
        let before = call(
            &server,
            code,
            "list-doses",
            token,
            json!({"person_id": person}),
        );
        let next = before["doses"].as_array().unwrap().len() as u32 + 1;
        let mut form = dose_form(person, next, &today);
        form["override_reason"] = json!("many-tenants test");
        call(&server, code, "record-dose", token, form);
        persons.push((person, next));
        let now = states(&server);
        assert_eq!(now[code], "open", "{now}");
        assert!(open(&now) <= 2, "the budget holds two: {now}");
    }
    for ((code, token), (person, recorded)) in codes.iter().zip(&tokens).zip(&persons) {
        let listed = call(
            &server,
            code,
            "list-doses",
            token,
            json!({"person_id": person}),
        );
        let numbers: Vec<u64> = listed["doses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["dose_number"].as_u64().unwrap())
            .collect();
        assert!(
            numbers.contains(&u64::from(*recorded)),
            "{code}: the dose recorded before the tenant was closed is there: {numbers:?}"
        );
    }

    let text = scrape(&metrics_at);
    assert_eq!(
        metric(&text, "kiroku_memory_budget_bytes"),
        40.0 * 1048576.0,
        "{text}"
    );
    assert!(metric(&text, "kiroku_memory_charged_bytes") <= 40.0 * 1048576.0);
    assert!(metric(&text, "kiroku_tenant_closes_total{reason=\"budget\"}") >= 3.0);
    assert!(metric(&text, "kiroku_tenant_opens_total") >= 5.0);
    assert_eq!(metric(&text, "kiroku_tenants_open"), 2.0);
    drop(server);

    for code in &codes {
        let (ok, _, err) = run_kiroku(&["audit", "verify", "--data", d, "--tenant", code]);
        assert!(ok, "{code}: {err}");
    }
    // What a file holds, for the operator: tables and sizes, no values.
    let stats = kiroku_ok(&["tenant", "stats", "--data", d, "--tenant", &codes[1]]);
    let persons = stats
        .lines()
        .find(|l| l.trim_start().starts_with("persons "))
        .unwrap();
    assert_eq!(persons.split_whitespace().nth(1), Some("300"), "{stats}");
    assert!(stats.contains("free or fragmented"), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tenant_closes_but_never_one_in_use_and_opens_again_with_its_sessions() {
    let host = TestHost::new()
        .plugin("dose-entry")
        .residents(20)
        .user("clerk", "clerk")
        .start()
        .await;
    let person = host.person_of(&host.residents[0]).await;
    let today = kiroku::clock::Clock::today(host.clock.as_ref()).to_string();
    let mut form = dose_form(person, 1, &today);
    form["override_reason"] = json!("idle test");
    let (status, body) = host.call("clerk", "dose-entry", "record-dose", form).await;
    assert_eq!(status, 200, "{body}");
    let before = host.app.open_tenants()[0].activity.clone();

    // Held (as by a request or a job): not closed.
    let held = host.app.tenant(&host.code).unwrap().unwrap();
    assert_eq!(host.app.close_idle(std::time::Duration::ZERO), 0);
    drop(held);
    assert_eq!(host.app.close_idle(std::time::Duration::ZERO), 1);
    assert!(host.app.open_tenants().is_empty());
    // Not idle long enough: kept.
    host.app.tenant(&host.code).unwrap().unwrap();
    assert_eq!(host.app.close_idle(std::time::Duration::from_secs(3600)), 0);
    assert_eq!(host.app.close_idle(std::time::Duration::ZERO), 1);

    // The next request opens it again: the session still works, with the
    // same activity record, and the dose is there.
    let (status, body) = host
        .call(
            "clerk",
            "dose-entry",
            "list-doses",
            json!({"person_id": person}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["doses"].as_array().unwrap().len(), 1, "{body}");
    let after = host.app.open_tenants()[0].activity.clone();
    assert!(std::sync::Arc::ptr_eq(&before, &after));

    // A background look at an open tenant (the federation sweep's) is not
    // a use: it does not keep the tenant from closing when idle.
    std::thread::sleep(std::time::Duration::from_millis(60));
    assert!(host.app.if_open(&host.code).is_some());
    assert_eq!(host.app.close_idle(std::time::Duration::from_millis(50)), 1);
    assert!(host.app.if_open(&host.code).is_none());

    // A request that could not be served does not open a closed tenant
    // (nor close another to make room): without credentials it is refused
    // before the file is touched, and the refusals spend the source's
    // failure budget until even that is refused.
    let path = format!("/v1/{FUJISAWA}/dose-entry/list-doses");
    let (status, body) = host
        .request("POST", &path, None, bytes::Bytes::from("{}"))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    assert!(host.app.open_tenants().is_empty());
    let mut statuses = Vec::new();
    for _ in 0..kiroku::identity::throttle::UNAUTHENTICATED_BURST + 1 {
        let (status, _) = host
            .request(
                "GET",
                &format!("/v1/{FUJISAWA}/session"),
                None,
                bytes::Bytes::new(),
            )
            .await;
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Then even a credential does not open it from that source until the
    // budget refills: whether it is valid is only known once open.
    let (status, _) = host
        .call(
            "clerk",
            "dose-entry",
            "list-doses",
            json!({"person_id": person}),
        )
        .await;
    assert_eq!(status, 429);
    assert!(host.app.open_tenants().is_empty());
    let (status, _) = host
        .request(
            "POST",
            "/v1/999999/dose-entry/list-doses",
            None,
            bytes::Bytes::from("{}"),
        )
        .await;
    assert_eq!(status, 404, "an unknown tenant is not found");

    // The public key set, open to anyone, is read from the file once a
    // minute: fetches in between, and made-up kids, leave the tenant closed.
    let jwks = format!("/issuers/{FUJISAWA}/.well-known/jwks.json");
    let (status, body) = host.request("GET", &jwks, None, bytes::Bytes::new()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(host.app.close_idle(std::time::Duration::ZERO), 1);
    let (status, again) = host.request("GET", &jwks, None, bytes::Bytes::new()).await;
    assert_eq!((status.as_u16(), &again), (200, &body));
    let crl = format!("/issuers/{FUJISAWA}/.well-known/crl/made-up.json");
    let (status, _) = host.request("GET", &crl, None, bytes::Bytes::new()).await;
    assert_eq!(status, 404);
    assert!(host.app.open_tenants().is_empty());
}

/// A tenant whose file grew past twice the cache bound it was opened with
/// is closed while idle (reason `outgrown`) though it was used just now,
/// and its next use opens it with a bound that fits the file: redb fixes
/// the bound at open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_outgrew_its_cache_reopens_with_a_larger_one() {
    let host = TestHost::new()
        .plugin("resident-sync")
        .plugin("ticket-issuance")
        .plugin("dose-entry")
        .user("clerk", "clerk")
        .start()
        .await;
    // Opened again under a budget, with a cache that fits the small file.
    assert_eq!(host.app.close_idle(std::time::Duration::ZERO), 1);
    let _ = host
        .app
        .memory
        .set(kiroku::app::MemoryBudget::from_mib(512));
    let file = host
        .dir
        .path()
        .join("tenants")
        .join(format!("{FUJISAWA}.redb"));
    let len = || std::fs::metadata(&file).unwrap().len() as usize;
    let first = host.app.tenant(&host.code).unwrap().unwrap().charge().cache;
    assert!(
        first < len() + (17 << 20),
        "{first} for a {} byte file",
        len()
    );
    assert_eq!(host.app.close_idle(std::time::Duration::from_secs(3600)), 0);

    // The town moves in: the file grows past twice that bound.
    let today = kiroku_rules::Date::parse(TODAY).unwrap();
    let town = kiroku::synth::residents(40_000, 12, today);
    let mut loaded = 0;
    while len() <= 2 * first && loaded < town.len() {
        host.load(&town[loaded..loaded + 2_000]).await;
        loaded += 2_000;
    }
    assert!(
        len() > 2 * first,
        "{} residents made {} bytes",
        loaded,
        len()
    );
    // Tickets were issued in resident order, as person ids were.
    let last = town[..loaded]
        .iter()
        .rposition(|r| r.moved_out.is_none() && r.died.is_none())
        .unwrap() as u64;
    let ticket = kiroku_rules::ticket::for_person(last + 1, 0).unwrap();
    let find = json!({ "ticket_number": ticket });
    let (status, found) = host
        .call("clerk", "dose-entry", "find-person", find.clone())
        .await;
    assert_eq!(status, 200, "{found}");

    // Used a moment ago, so not idle: closed as outgrown all the same.
    assert_eq!(host.app.close_idle(std::time::Duration::from_secs(3600)), 1);
    assert!(host.app.open_tenants().is_empty());
    let (status, again) = host.call("clerk", "dose-entry", "find-person", find).await;
    assert_eq!((status.as_u16(), &again), (200, &found));
    let bigger = host.app.open_tenants()[0].charge().cache;
    assert!(bigger > 2 * first, "{bigger} after {first}");
    // It fits now: not closed again.
    assert_eq!(host.app.close_idle(std::time::Duration::from_secs(3600)), 0);
    let text = kiroku::metrics::get().encode();
    let outgrown = r#"kiroku_tenant_closes_total{reason="outgrown"}"#;
    assert!(metric(&text, outgrown) >= 1.0, "{text}");
}
