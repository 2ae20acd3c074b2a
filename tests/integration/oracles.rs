//! Containment, classes 4 and 5: a host answer depends only on what the
//! plugin may read (no oracles through write-only interfaces), and without
//! the population grant a plugin reaches only the persons its lookups
//! returned or its request names (no walking the town).

use std::sync::Arc;

use hyper::StatusCode;
use kiroku::clock::SeededEntropy;
use kiroku::store::draft::Draft;
use serde_json::{Value, json};

use crate::support::*;

fn my_number_of(host: &TestHost, serial: u64) -> Option<String> {
    let mut d = Draft::new(host.store(), Arc::new(SeededEntropy::new(5)));
    d.my_number(serial).unwrap()
}

fn answers(body: &Value) -> Vec<String> {
    body.as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn my_number_intake_answers_the_same_for_the_holder_anyone_else_and_a_new_number() {
    let host = hostile(&["hostile-oracle"], 8).await;
    let persons: Vec<u64> = (1..=8).map(|s| host.person(s)).collect();
    let held = host.residents[2].my_number.clone();
    let before: Vec<_> = (1..=8).map(|s| my_number_of(&host, s)).collect();
    let (status, body) = host
        .call(
            "supervisor",
            "hostile-oracle",
            "register-probe",
            json!({ "number": held, "persons": persons }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let seen = answers(&body);
    assert_eq!(seen.len(), 8);
    assert!(
        seen.iter().all(|a| a == "ok: true"),
        "the holder stands out: {seen:?}"
    );
    // Nothing moved: the holder keeps it, the others keep theirs, and the
    // seven conflicts wait for a supervisor.
    let after: Vec<_> = (1..=8).map(|s| my_number_of(&host, s)).collect();
    assert_eq!(before, after);
    let token = host.token("supervisor").to_owned();
    let (_, list) = host
        .request(
            "GET",
            &format!("/v1/{FUJISAWA}/reviews"),
            Some(&token),
            Default::default(),
        )
        .await;
    assert_eq!(list["reviews"].as_array().unwrap().len(), 7, "{list}");
    assert!(
        list["reviews"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["holder"] == persons[2])
    );
    // A number nobody holds answers the same, and is stored.
    let fresh = kiroku::synth::residents(30, 99, kiroku_rules::Date::parse(TODAY).unwrap())[29]
        .my_number
        .clone();
    let (_, body) = host
        .call(
            "supervisor",
            "hostile-oracle",
            "register-probe",
            json!({ "number": fresh, "persons": [persons[0]] }),
        )
        .await;
    assert_eq!(answers(&body), ["ok: true"]);
    assert_eq!(my_number_of(&host, 1).as_deref(), Some(fresh.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_feed_tells_no_admin_who_holds_a_my_number() {
    let host = hostile(&[], 40).await;
    let number = host.residents[7].my_number.clone();
    let rows: Vec<Value> = host
        .residents
        .iter()
        .map(|r| json!({"op": "update", "address_number": r.address_number, "my_number": number}))
        .collect();
    let (status, body) = host
        .call(
            "admin",
            "resident-sync",
            "apply",
            json!({ "records": rows }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let outcomes = body["outcomes"].as_array().unwrap();
    assert!(outcomes.iter().all(|o| o == "updated"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_answers_only_about_fields_the_plugin_may_read() {
    let host = hostile(&["hostile-oracle"], 3).await;
    let person = host.person(1);
    let phone = host.residents[0].phone.clone();
    let probe = |p: &str| json!({ "phone": p, "persons": [person] });
    let (_, same) = host
        .call(
            "supervisor",
            "hostile-oracle",
            "update-probe",
            probe(&phone),
        )
        .await;
    let (_, other) = host
        .call(
            "supervisor",
            "hostile-oracle",
            "update-probe",
            probe("0466-99-9999"),
        )
        .await;
    assert_eq!(answers(&same), ["ok: false"]);
    assert_eq!(
        answers(&other),
        ["ok: false"],
        "write-only: a change is not told"
    );
    // A plugin that may read phones hears whether its write changed one.
    let readable = kiroku::admin::install_plugin(
        &host.app.dir,
        &host.app.runtime,
        &host.store(),
        &policy("hostile-oracle").replace(
            "write = [\"phone\"]",
            "read = [\"phone\"]\nwrite = [\"phone\"]",
        ),
        &component("hostile-oracle"),
        &kiroku::admin::AdminActor {
            name: "system".into(),
            request_id: "t".into(),
            now_ms: 0,
            identity: None,
        },
    )
    .await;
    readable.unwrap();
    let (_, again) = host
        .call(
            "supervisor",
            "hostile-oracle",
            "update-probe",
            probe("0466-99-9999"),
        )
        .await;
    let (_, new) = host
        .call(
            "supervisor",
            "hostile-oracle",
            "update-probe",
            probe("0466-88-8888"),
        )
        .await;
    assert_eq!(
        (answers(&again), answers(&new)),
        (vec!["ok: false".to_owned()], vec!["ok: true".to_owned()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessed_person_ids_reach_no_one_and_look_like_missing_persons() {
    let host = hostile(&["hostile-walk"], 150).await;
    let (status, body) = host
        .call("supervisor", "hostile-walk", "read-guessed", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], 0, "{body}");
    assert_eq!(
        body["errors"],
        json!(["not-found: no such person in this tenant"]),
        "{body}"
    );
    let phones = |h: &TestHost| {
        let mut d = Draft::new(h.store(), Arc::new(SeededEntropy::new(5)));
        (1..=150)
            .map(|s| d.resident(s).unwrap().get(8).map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let before = phones(&host);
    let (_, body) = host
        .call("supervisor", "hostile-walk", "write-guessed", json!({}))
        .await;
    assert_eq!(body["ok"], 0, "{body}");
    assert_eq!(phones(&host), before, "no phone changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_reaches_exactly_the_persons_it_names() {
    let host = hostile(&["hostile-walk"], 5).await;
    let named = [host.person(2), host.person(4)];
    let (_, body) = host
        .call(
            "supervisor",
            "hostile-walk",
            "read-named",
            json!({ "persons": named }),
        )
        .await;
    assert_eq!(body["ok"], 2, "{body}");
    // A valid id of no one, and an id of another tenant's form: the same
    // answer as a guess.
    let nobody = host.person(999);
    let (_, body) = host
        .call(
            "supervisor",
            "hostile-walk",
            "read-named",
            json!({ "persons": [nobody, named[0] ^ (1 << 30)] }),
        )
        .await;
    assert_eq!(body["ok"], 0, "{body}");
    assert_eq!(
        body["errors"],
        json!(["not-found: no such person in this tenant"]),
        "{body}"
    );
}
