//! Hostile plugins, each contained while the server keeps answering.

use std::time::{Duration, Instant};

use hyper::StatusCode;
use kiroku::admin::{self, AdminActor};
use kiroku::audit::Outcome;
use serde_json::json;

use crate::support::*;

/// Runs a hostile call while a stream of no-op requests is served next to
/// it; returns the hostile call's answer after checking every no-op got 200.
async fn contained_while_others_served(
    host: &TestHost,
    plugin: &str,
    op: &str,
) -> (StatusCode, serde_json::Value) {
    let done = std::sync::atomic::AtomicBool::new(false);
    let hostile = async {
        let answer = host.call("supervisor", plugin, op, json!({})).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        answer
    };
    let others = async {
        // At least once: under load the hostile call may end (by its
        // budget) before this future is first polled.
        let mut served = 0;
        loop {
            noop_still_answers(host).await;
            served += 1;
            if done.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        served
    };
    let (answer, served) = tokio::join!(hostile, others);
    assert!(served >= 1, "no request was served beside {plugin}/{op}");
    noop_still_answers(host).await;
    answer
}

async fn noop_still_answers(host: &TestHost) {
    let (status, body) = host.call("supervisor", "noop", "noop", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contains_an_endless_loop_with_its_deadline_while_others_are_served() {
    let host = TestHost::new()
        .plugin("hostile-loop")
        .plugin("noop")
        .user("supervisor", "admin")
        .start()
        .await;
    let roles = "[admin]\ninvoke = [\"hostile-loop/*\", \"noop/*\", \"resident-sync/*\", \"ticket-issuance/*\"]\nadmin = true\n";
    set_roles(&host, roles);
    let started = Instant::now();
    let looping = host.call("supervisor", "hostile-loop", "spin", json!({}));
    let others = async {
        // While the loop burns its deadline, other requests are answered.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = Instant::now();
        noop_still_answers(&host).await;
        t.elapsed()
    };
    let ((status, body), other_latency) = tokio::join!(looping, others);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"]["code"], "plugin-deadline", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("300 ms"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        other_latency < Duration::from_millis(250),
        "noop waited {other_latency:?} behind the loop"
    );
    noop_still_answers(&host).await;
}

#[tokio::test]
async fn stops_a_host_call_loop_with_its_budget() {
    let host = hostile_host("hostile-loop").await;
    let (status, body) =
        contained_while_others_served(&host, "hostile-loop", "spin-host-calls").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"]["code"], "plugin-host-call-budget", "{body}");
}

#[tokio::test]
async fn caps_a_memory_bomb() {
    let host = hostile_host("hostile-memory").await;
    let (status, body) = contained_while_others_served(&host, "hostile-memory", "bomb").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["error"]["code"], "plugin-memory", "{body}");
}

#[tokio::test]
async fn bounds_huge_output_and_refuses_output_that_is_not_json() {
    let host = hostile_host("hostile-output").await;
    let (status, body) = contained_while_others_served(&host, "hostile-output", "flood").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "plugin-output-too-large", "{body}");
    assert!(
        body.to_string().len() < 1_000,
        "the error must not carry the output"
    );
    let (status, body) = contained_while_others_served(&host, "hostile-output", "garbage").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "plugin-bad-output", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_output_and_bodies_nested_past_the_limit() {
    let host = hostile_host("hostile-output").await;
    let (status, body) = contained_while_others_served(&host, "hostile-output", "deep").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "plugin-bad-output", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("64 levels"),
        "{body}"
    );
    // As a job it fails the same way (it used to end `done` with nothing).
    let token = host.token("supervisor").to_owned();
    let (status, started) = host
        .request(
            "POST",
            &format!("/v1/{FUJISAWA}/jobs/hostile-output/deep"),
            Some(&token),
            "{}".into(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["job_id"].as_str().unwrap().to_owned();
    let mut end = serde_json::Value::Null;
    for _ in 0..500 {
        let (_, body) = host
            .request(
                "GET",
                &format!("/v1/{FUJISAWA}/jobs/{id}"),
                Some(&token),
                Default::default(),
            )
            .await;
        if body["state"] != "running" {
            end = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(end["state"], "failed", "{end}");
    assert_eq!(end["error"]["code"], "plugin-bad-output", "{end}");
    // A request body nested that deep never reaches a plugin.
    let deep = "{\"a\":".repeat(100_000) + "1" + &"}".repeat(100_000);
    let (status, body) = host
        .request(
            "POST",
            &format!("/v1/{FUJISAWA}/noop/noop"),
            Some(&token),
            deep.into(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("64 levels"),
        "{body}"
    );
}

#[tokio::test]
async fn refuses_an_ungranted_import_at_install_naming_it() {
    let host = TestHost::new().start().await;
    let store = host.store();
    let actor = AdminActor {
        name: "system".into(),
        request_id: "t".into(),
        now_ms: 0,
        identity: None,
    };
    let err = admin::install_plugin(
        &host.app.dir,
        &host.app.runtime,
        &store,
        &policy("hostile-import"),
        &component("hostile-import"),
        &actor,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("kiroku:records/my-number@0.1.0"), "{err}");
    assert!(err.contains("does not grant my-number"), "{err}");
    assert!(
        err.contains("does not grant passport"),
        "every refused import is named: {err}"
    );
    assert!(
        admin::list_plugins(&store).unwrap().is_empty(),
        "nothing is installed"
    );
    // Granting it is impossible for a dose-entry purpose.
    let widened = policy("hostile-import").replace(
        "[grants.residents]",
        "[grants.my-number]\nread = [\"my-number\"]\n\n[grants.residents]",
    );
    let err = admin::install_plugin(
        &host.app.dir,
        &host.app.runtime,
        &store,
        &widened,
        &component("hostile-import"),
        &actor,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("My Number Act"), "{err}");
}

#[tokio::test]
async fn denies_my_number_to_dose_entry() {
    let host = TestHost::new().plugin("dose-entry").start().await;
    let plugin = host.loaded("dose-entry").await.expect("dose-entry loads");
    assert!(
        !plugin
            .imports
            .iter()
            .any(|i| i.contains("my-number") || i.contains("passport")),
        "{:?}",
        plugin.imports
    );
    let policy = kiroku::policy::Policy::parse(&policy("dose-entry")).unwrap();
    assert!(
        policy
            .check_import("kiroku:records/my-number@0.1.0", true)
            .is_err()
    );
    assert!(
        policy
            .explain()
            .contains("It can never see or search a My Number.")
    );
}

#[tokio::test]
async fn denies_an_ungranted_field_lookup_and_write_with_deny_events() {
    let host = TestHost::new()
        .plugin("hostile-field")
        .residents(3)
        .user("supervisor", "admin")
        .user("clerk", "clerk")
        .start()
        .await;
    set_roles(
        &host,
        "[admin]\ninvoke = [\"hostile-field/*\", \"resident-sync/*\", \"ticket-issuance/*\"]\nadmin = true\n[clerk]\ninvoke = [\"dose-entry/*\"]\n",
    );
    // The request names the person by the id the host handed out.
    let person = host.person(1);
    let (status, body) = host
        .call(
            "supervisor",
            "hostile-field",
            "read-kana",
            json!({ "person": person }),
        )
        .await;
    assert_eq!(
        (status, body.as_str().unwrap()),
        (StatusCode::OK, "ok: true")
    );
    for (op, field) in [
        ("read-address", "address"),
        ("search-address-number", "address-number"),
        ("write-name", "kana-name"),
    ] {
        let before = host.audit().len();
        let (status, body) = host
            .call(
                "supervisor",
                "hostile-field",
                op,
                json!({ "person": person }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let answer = body.as_str().unwrap();
        assert!(
            answer.starts_with("access-denied:") && answer.contains(field),
            "{op}: {answer}"
        );
        let events = &host.audit()[before..];
        let deny = events
            .iter()
            .find(|e| e.outcome == Outcome::Deny)
            .unwrap_or_else(|| panic!("{op}: no deny event in {events:?}"));
        assert_eq!(deny.plugin.as_deref(), Some("hostile-field"));
        assert!(deny.digest.as_ref().is_some_and(|d| d.len() == 64));
        assert_eq!(deny.actor, "supervisor");
        assert!(deny.reason.as_ref().unwrap().contains(field), "{deny:?}");
    }
    // The denied read returned nothing; the denied write changed nothing.
    let resident = host.residents[0].clone();
    let (_, found) = host
        .call(
            "clerk",
            "dose-entry",
            "find-person",
            json!({"name": resident.kana_name, "birth_date": resident.birth_date.to_string()}),
        )
        .await;
    assert!(!found.to_string().contains("ハッカー"));
}

#[tokio::test]
async fn refuses_a_component_whose_digest_differs_from_the_pin() {
    let host = TestHost::new().start().await;
    let store = host.store();
    let actor = AdminActor {
        name: "system".into(),
        request_id: "t".into(),
        now_ms: 0,
        identity: None,
    };
    let other = kiroku::ids::Digest::of(b"another build");
    let pinned =
        format!("[plugin]\nname = \"noop\"\npurpose = \"testing\"\ndigest = \"sha256:{other}\"\n");
    let err = admin::install_plugin(
        &host.app.dir,
        &host.app.runtime,
        &store,
        &pinned,
        &component("noop"),
        &actor,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            admin::AdminError::Load(kiroku::runtime::LoadError::DigestMismatch { .. })
        ),
        "{err}"
    );
    assert!(admin::list_plugins(&store).unwrap().is_empty());
}

#[tokio::test]
async fn refuses_to_run_a_stored_component_that_was_swapped() {
    let host = TestHost::new()
        .plugin("noop")
        .user("supervisor", "admin")
        .start()
        .await;
    set_roles(&host, "[admin]\ninvoke = [\"noop/*\"]\nadmin = true\n");
    noop_still_answers(&host).await;
    let digest = admin::list_plugins(&host.store()).unwrap()[0]
        .digest
        .clone();
    // Someone replaces the stored component with another plugin's bytes.
    let path = host.dir.path().join(format!("components/{digest}.wasm"));
    std::fs::write(&path, component("hostile-loop")).unwrap();
    // A fresh server (nothing cached) must refuse it.
    let runtime = std::sync::Arc::new(
        kiroku::runtime::Runtime::new(
            host.clock.clone(),
            std::sync::Arc::new(kiroku::clock::OsEntropy),
        )
        .unwrap(),
    );
    let app = kiroku::app::App::new(
        kiroku::datadir::DataDir::open(host.dir.path()).unwrap(),
        runtime,
    );
    let tenant = app.tenant(&host.code).unwrap().unwrap();
    let registry = tenant.registry(&app).await.unwrap();
    let slot = registry.plugins.get("noop").expect("installed");
    match slot.ready(Duration::from_secs(30)).await {
        Err(reason) => assert!(reason.contains("does not match the pinned"), "{reason}"),
        Ok(_) => panic!("a swapped component was loaded"),
    }
}

#[tokio::test]
async fn stores_nothing_when_a_plugin_fails_mid_write() {
    let host = TestHost::new()
        .plugin("hostile-trap")
        .plugin("dose-entry")
        .residents(2)
        .user("supervisor", "admin")
        .user("clerk", "clerk")
        .start()
        .await;
    set_roles(
        &host,
        "[admin]\ninvoke = [\"hostile-trap/*\", \"resident-sync/*\", \"ticket-issuance/*\"]\nadmin = true\n[clerk]\ninvoke = [\"dose-entry/*\"]\n",
    );
    let person = host.person_of(&host.residents[0].clone()).await;
    for (op, code) in [
        ("panic", "plugin-trap"),
        ("loop", "plugin-deadline"),
        ("error", "internal"),
    ] {
        let (status, body) = host
            .call("supervisor", "hostile-trap", op, json!({"person": person}))
            .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{op}: {body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        let doses = host.doses_of(person).await;
        assert!(doses.is_empty(), "{op} left a dose behind");
        // The failure itself is audited.
        let failed = host
            .audit()
            .into_iter()
            .rev()
            .find(|e| e.action == format!("invoke hostile-trap/{op}"))
            .unwrap();
        assert_eq!(failed.outcome, Outcome::Error);
        assert_eq!(failed.reason.as_deref(), Some(code));
    }
    let (status, _) = host
        .call(
            "supervisor",
            "hostile-trap",
            "write",
            json!({"person": person}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let doses = host.doses_of(person).await;
    assert_eq!(
        doses.len(),
        1,
        "the same writes are stored when the plugin succeeds"
    );
}

/// A host with one hostile plugin and noop, and a supervisor allowed both.
async fn hostile_host(plugin: &str) -> TestHost {
    let roles = format!("[admin]\ninvoke = [\"{plugin}/*\", \"noop/*\"]\nadmin = true\n");
    TestHost::new()
        .plugin(plugin)
        .plugin("noop")
        .roles(&roles)
        .user("supervisor", "admin")
        .start()
        .await
}

fn set_roles(host: &TestHost, roles: &str) {
    let actor = AdminActor {
        name: "system".into(),
        request_id: "roles".into(),
        now_ms: 0,
        identity: None,
    };
    admin::set_roles(&host.store(), roles, &actor).unwrap();
}
