//! Containment, class 1: the deadline is wall-clock and covers everything
//! a plugin causes (instantiation, `describe`, `handle`, host calls, WASI
//! waits); a cancelled job stops within a tick; the server listens before
//! plugins load, and a plugin that fails to load fails alone.

use std::time::{Duration, Instant};

use hyper::StatusCode;
use kiroku::admin::{self, AdminActor};
use serde_json::{Value, json};

use crate::support::*;

fn actor() -> AdminActor {
    AdminActor {
        name: "system".into(),
        request_id: "t".into(),
        now_ms: 0,
        identity: None,
    }
}

/// 2026-07-01 at noon JST, when hostile-sleep's `describe` sleeps.
const DAYS_TO_JULY: i64 = 91;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_plugin_is_stopped_at_its_deadline_and_frees_its_slot() {
    let host = hostile(&["hostile-sleep", "noop"], 0).await;
    for op in ["sleep", "sleep-forever"] {
        let started = Instant::now();
        let (status, body) = host
            .call("supervisor", "hostile-sleep", op, json!({}))
            .await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
        assert_eq!(body["error"]["code"], "plugin-deadline", "{body}");
        assert!(
            took < Duration::from_secs(4),
            "{op} answered after {took:?}"
        );
    }
    let free = host.app.runtime.free_slots();
    assert_eq!(
        free,
        kiroku::limits::INSTANCE_POOL_SLOTS as usize,
        "every slot is back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sleepers_hold_only_their_plugins_share_while_others_are_served() {
    let host = hostile(&["hostile-sleep", "noop"], 0).await;
    let sleepers =
        (0..60).map(|_| host.call("supervisor", "hostile-sleep", "sleep-forever", json!({})));
    let others = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for _ in 0..20 {
            let (status, body) = host.call("supervisor", "noop", "noop", json!({})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    let (answers, ()) = tokio::join!(join_all(sleepers), others);
    let codes: Vec<&str> = answers
        .iter()
        .map(|(_, b)| b["error"]["code"].as_str().unwrap_or("?"))
        .collect();
    assert!(
        codes
            .iter()
            .all(|c| *c == "plugin-deadline" || *c == "busy"),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"busy"),
        "the plugin's share bounded it: {codes:?}"
    );
    assert_eq!(
        host.app.runtime.free_slots(),
        kiroku::limits::INSTANCE_POOL_SLOTS as usize
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_stops_within_a_tick_whether_it_sleeps_or_spins() {
    let long = |name: &str| {
        format!(
            "[plugin]\nname = \"{name}\"\npurpose = \"testing\"\n[limits]\ndeadline-ms = 600000\n"
        )
    };
    let host = TestHost::new()
        .plugin_with_policy("hostile-sleep", &long("hostile-sleep"))
        .plugin_with_policy(
            "hostile-loop",
            &format!("{}[grants.context]\n", long("hostile-loop")),
        )
        .roles(&roles_for(&["hostile-sleep", "hostile-loop"]))
        .start()
        .await;
    let token = host.token("admin").to_owned();
    for (plugin, op) in [("hostile-sleep", "sleep-forever"), ("hostile-loop", "spin")] {
        let (status, started) = host
            .request(
                "POST",
                &format!("/v1/{FUJISAWA}/jobs/{plugin}/{op}"),
                Some(&token),
                "{}".into(),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{started}");
        let id = started["job_id"].as_str().unwrap().to_owned();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let asked = Instant::now();
        let (status, _) = host
            .request(
                "DELETE",
                &format!("/v1/{FUJISAWA}/jobs/{id}"),
                Some(&token),
                Default::default(),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let end = wait_for_job(&host, "admin", &id, |b| b["state"] != "running").await;
        assert_eq!(end["state"], "cancelled", "{end}");
        assert_eq!(end["error"]["code"], "job-cancelled", "{end}");
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{plugin}: {:?}",
            asked.elapsed()
        );
    }
    assert_eq!(host.app.jobs.running(), 0, "the job slots are free again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_describe_that_sleeps_is_refused_at_install_within_its_deadline() {
    let host = TestHost::new().start().await;
    host.clock.advance_ms(DAYS_TO_JULY * 86_400_000);
    let started = Instant::now();
    let err = admin::install_plugin(
        &host.app.dir,
        &host.app.runtime,
        &host.store(),
        &policy("hostile-sleep"),
        &component("hostile-sleep"),
        &actor(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("describe failed") && err.contains("deadline"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(admin::list_plugins(&host.store()).unwrap().is_empty());
    // And from the CLI (the machine's clock is past the date).
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    create_fujisawa(d);
    let (wasm, policy) = plugin_paths("hostile-sleep");
    let started = Instant::now();
    let (ok, _, err) = run_kiroku(&[
        "plugin", "install", "--data", d, "--tenant", FUJISAWA, "--policy", &policy, &wasm,
    ]);
    assert!(!ok && err.contains("deadline"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_turning_hostile_after_install_fails_alone_at_the_next_load() {
    let mut host = hostile(&["hostile-sleep", "noop"], 0).await;
    let (status, _) = host.call("supervisor", "noop", "noop", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    // A registry change reloads only what changed: the loaded plugin is
    // not described again.
    host.clock.advance_ms(DAYS_TO_JULY * 86_400_000);
    host.relogin().await;
    admin::set_roles(
        &host.store(),
        &roles_for(&["hostile-sleep", "noop"]),
        &actor(),
    )
    .unwrap();
    let (status, body) = host
        .call("supervisor", "hostile-sleep", "sleep", json!({}))
        .await;
    assert_eq!(body["error"]["code"], "plugin-deadline", "{status} {body}");
    // A fresh server (nothing loaded) from July on: its describe sleeps; it
    // is refused by its deadline while noop serves at once.
    let fresh = |clock: std::sync::Arc<kiroku::clock::FakeClock>| {
        let runtime =
            kiroku::runtime::Runtime::new(clock, std::sync::Arc::new(kiroku::clock::OsEntropy));
        std::sync::Arc::new(kiroku::app::App::new(
            kiroku::datadir::DataDir::open(host.dir.path()).unwrap(),
            std::sync::Arc::new(runtime.unwrap()),
        ))
    };
    let app = fresh(host.clock.clone());
    // A service token: it outlives the clock's jumps below.
    let service = host.service_token("supervisor");
    let call = |app: std::sync::Arc<kiroku::app::App>, plugin: &str| {
        let token = service.clone();
        let path = format!(
            "/v1/{FUJISAWA}/{plugin}/{}",
            if plugin == "noop" { "noop" } else { "sleep" }
        );
        async move {
            let req = hyper::Request::builder()
                .method("POST")
                .uri(path)
                .header("authorization", format!("Bearer {token}"))
                .body(http_body_util::Full::new(bytes::Bytes::from("{}")))
                .unwrap();
            let response = kiroku::server::router::handle(&app, req).await;
            let status = response.status();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let started = Instant::now();
    let (status, body) = call(app.clone(), "noop").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "noop waited {:?}",
        started.elapsed()
    );
    let (status, body) = call(app.clone(), "hostile-sleep").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("deadline"), "{body}");
    let tenant = app.tenant(&host.code).unwrap().unwrap();
    let registry = tenant.registry(&app).await.unwrap();
    let states: Vec<(&str, &str)> = registry
        .plugins
        .iter()
        .map(|(n, s)| (n.as_str(), s.state()))
        .collect();
    assert_eq!(states, [("hostile-sleep", "refused"), ("noop", "ready")]);
    // From 2027 it describes 10,000 operations: refused at once.
    host.clock.advance_ms(200 * 86_400_000);
    let app = fresh(host.clock.clone());
    let started = Instant::now();
    let (status, body) = call(app, "hostile-sleep").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("at most 128"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_restarted_server_listens_before_plugins_load_and_reports_the_one_that_fails() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Installed while its describe still answered (the fake clock's April).
    let host = rt.block_on(hostile(&["hostile-sleep", "noop"], 0));
    let token = host.service_token("supervisor");
    let server = RealServer::spawn(host.dir.path(), None);
    let (status, _) = server.request("GET", "/healthz", None, "");
    assert_eq!(status, 200, "alive while plugins load");
    let (status, body) = server.request("GET", "/readyz", None, "");
    assert_eq!(
        status, 503,
        "not ready while hostile-sleep describes: {body}"
    );
    server.wait_ready();
    let (_, body) = server.request("GET", "/readyz", None, "");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        ready["tenants"][FUJISAWA]["plugins"]["hostile-sleep"], "refused",
        "{ready}"
    );
    assert_eq!(
        ready["tenants"][FUJISAWA]["plugins"]["noop"], "ready",
        "{ready}"
    );
    let (status, body) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/noop/noop"),
        Some(&token),
        "{}",
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/hostile-sleep/sleep"),
        Some(&token),
        "{}",
    );
    assert_eq!(status, 503, "{body}");
    // `plugin list` reports it too.
    let d = host.dir.path().to_str().unwrap();
    let out = kiroku_ok(&["plugin", "list", "--data", d, "--tenant", FUJISAWA]);
    assert!(
        out.lines()
            .any(|l| l.starts_with("hostile-sleep") && l.contains("REFUSED")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("noop") && l.contains("ready")),
        "{out}"
    );
}
