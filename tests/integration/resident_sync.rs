//! resident-sync through the real plugin: JSON and CSV feeds, validation
//! that changes nothing, idempotent re-application.

use std::sync::Arc;

use bytes::Bytes;
use hyper::StatusCode;
use kiroku::clock::SeededEntropy;
use kiroku::crypto::IndexKind;
use kiroku::store::draft::Draft;
use kiroku_rules::Date;
use serde_json::{Value, json};

use crate::support::*;

async fn host() -> TestHost {
    TestHost::new()
        .plugin("dose-entry")
        .plugin("resident-sync")
        .user("clerk", "clerk")
        .start()
        .await
}

fn feed(n: usize, seed: u64) -> Vec<kiroku::synth::Resident> {
    kiroku::synth::residents(n, seed, Date::parse(TODAY).unwrap())
}

fn records(residents: &[kiroku::synth::Resident]) -> Value {
    let mut r: Vec<Value> = residents.iter().map(|r| r.add_record()).collect();
    r.extend(residents.iter().flat_map(|r| r.change_records()));
    json!({ "records": r })
}

#[tokio::test]
async fn applies_a_json_feed_and_reapplying_it_changes_nothing() {
    let host = host().await;
    let people = feed(500, 3);
    let (status, body) = host
        .call("admin", "resident-sync", "apply", records(&people))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], 500);
    let gone = people.iter().filter(|p| p.moved_out.is_some()).count();
    assert_eq!(body["moved_out"], gone);
    let store = host.store();
    let versions_before = snapshot(&store);
    let (status, body) = host
        .call("admin", "resident-sync", "apply", records(&people))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.get("changed").is_none() && body.get("unchanged").is_none(),
        "the feed cannot know whether a stored value differed: {body}"
    );
    assert_eq!(
        snapshot(&store),
        versions_before,
        "re-applying wrote something"
    );
}

/// Every person's version: changes whenever anything of theirs is written.
fn snapshot(store: &kiroku::store::TenantStore) -> Vec<(u64, u64)> {
    use redb::ReadableDatabase;
    let txn = store.db().begin_read().unwrap();
    let t = txn
        .open_table(kiroku::store::tables::PERSON_VERSIONS)
        .unwrap();
    t.range(0u64..)
        .unwrap()
        .map(|e| e.map(|(k, v)| (k.value(), v.value())).unwrap())
        .collect()
}

#[tokio::test]
async fn applies_the_csv_layout_with_updates_moves_and_deaths() {
    let host = host().await;
    let people = feed(20, 5);
    let (status, body) = host
        .call(
            "admin",
            "resident-sync",
            "apply",
            json!({"csv": kiroku::synth::to_csv(&people)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], 20);
    let target = &people[0];
    let csv = format!(
        "{}\nupdate,{},,,,,,,神奈川県藤沢市辻堂1丁目1番1号,,,,\nmove-out,{},,,,,,,,,,2026-03-15,東京都千代田区霞が関1丁目1番1号\n",
        kiroku::synth::CSV_HEADER,
        target.address_number,
        target.address_number
    );
    let (status, body) = host
        .call("admin", "resident-sync", "apply", json!({"csv": csv}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcomes"], json!(["updated", "moved-out"]));
    let (_, found) = host
        .call(
            "clerk",
            "dose-entry",
            "find-person",
            json!({"name": target.kana_name, "birth_date": target.birth_date.to_string()}),
        )
        .await;
    let p = &found["persons"][0];
    assert_eq!(
        (p["status"].as_str(), p["status_date"].as_str()),
        (Some("moved-out"), Some("2026-03-15")),
        "{found}"
    );
    assert_eq!(p["address"], "神奈川県藤沢市辻堂1丁目1番1号");
    let csv = format!(
        "{}\ndeath,{},,,,,,,,,,2026-03-20,\n",
        kiroku::synth::CSV_HEADER,
        target.address_number
    );
    let (_, body) = host
        .call("admin", "resident-sync", "apply", json!({"csv": csv}))
        .await;
    assert_eq!(body["outcomes"], json!(["deceased"]));
}

#[tokio::test]
async fn refuses_a_bad_batch_whole_listing_rows_without_values() {
    let host = host().await;
    let mut people = feed(5, 9);
    let good_number = people[0].my_number.clone();
    let mut bad = people[1].my_number.clone().into_bytes();
    bad[11] = if bad[11] == b'9' { b'0' } else { bad[11] + 1 };
    people[1].my_number = String::from_utf8(bad).unwrap();
    let mut batch = records(&people);
    batch["records"][2]["birth_date"] = json!("2099-01-01");
    batch["records"][3]
        .as_object_mut()
        .unwrap()
        .remove("kana_name");
    batch["records"][4]["sex"] = json!(7);
    let (status, body) = host
        .call("admin", "resident-sync", "apply", batch.clone())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("row 5: sex must be a string"), "{message}");
    batch["records"][4]["sex"] = json!("7");
    let (status, body) = host.call("admin", "resident-sync", "apply", batch).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["error"]["message"].as_str().unwrap();
    for expected in [
        "row 2: my_number: the My Number's check digit is wrong",
        "row 3: birth_date: is in the future",
        "row 4: kana_name: is required",
        "row 5: sex: must be 1",
    ] {
        assert!(
            message.contains(expected),
            "missing {expected:?} in {message}"
        );
    }
    assert!(
        !message.contains(&people[1].my_number) && !message.contains(&good_number),
        "values leaked: {message}"
    );
    assert_eq!(
        host.store().person_count().unwrap(),
        0,
        "nothing was stored"
    );
}

#[tokio::test]
async fn refuses_malformed_csv_and_unknown_columns_clearly() {
    let host = host().await;
    let cases = [
        (
            "op,address_number,shoe_size\nadd,1,27\n",
            "CSV column 3 of the header is unknown",
        ),
        (
            "op,address_number,kanji_name,kanji_name\nadd,1,甲,乙\n",
            "CSV column 4 repeats the kanji_name column",
        ),
        ("address_number\n1\n", "lacks the op column"),
        (
            "op,address_number\nadd,1,extra\n",
            "CSV row 1 has 3 fields where the header has 2",
        ),
        (
            "op,address_number\nexplode,1\n",
            "op must be add, update, move-out or death",
        ),
        ("op,address_number\n", "the batch is empty"),
    ];
    for (csv, expected) in cases {
        let (status, body) = host
            .call("admin", "resident-sync", "apply", json!({"csv": csv}))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{csv}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{csv}: {body}"
        );
    }
    let (status, _) = host
        .call("admin", "resident-sync", "apply", json!({"xml": "<a/>"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_my_number_held_by_another_goes_to_review_and_the_feed_is_not_told() {
    let host = TestHost::new()
        .plugin("resident-sync")
        .user("supervisor", "supervisor")
        .start()
        .await;
    let mut people = feed(2, 13);
    people[1].my_number = people[0].my_number.clone();
    let (status, body) = host
        .call("admin", "resident-sync", "apply", records(&people))
        .await;
    // The same answer as for any two new residents.
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcomes"], json!(["created", "created"]), "{body}");
    let store = host.store();
    let find = |address: &str| {
        let mut d = Draft::new(store.clone(), Arc::new(SeededEntropy::new(3)));
        d.find_unique(IndexKind::AddressNumber, address)
            .unwrap()
            .unwrap()
    };
    let (holder, claimant) = (
        find(&people[0].address_number),
        find(&people[1].address_number),
    );
    let number_of = |p: u64| {
        Draft::new(store.clone(), Arc::new(SeededEntropy::new(3)))
            .my_number(p)
            .unwrap()
    };
    assert_eq!(
        number_of(holder).as_deref(),
        Some(people[0].my_number.as_str())
    );
    assert_eq!(
        number_of(claimant),
        None,
        "a number held by another is not stored"
    );

    // A supervisor sees the conflict (never the number) and assigns it.
    let token = host.token("supervisor").to_owned();
    let (status, list) = host
        .request(
            "GET",
            &format!("/v1/{FUJISAWA}/reviews"),
            Some(&token),
            Default::default(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let reviews = list["reviews"].as_array().unwrap();
    assert_eq!(reviews.len(), 1, "{list}");
    assert_eq!(reviews[0]["claimant"], host.person(claimant));
    assert_eq!(reviews[0]["holder"], host.person(holder));
    assert!(!list.to_string().contains(&people[0].my_number));
    let id = reviews[0]["id"].as_str().unwrap().to_owned();
    let admin = host.token("admin").to_owned();
    let path = format!("/v1/{FUJISAWA}/reviews/{id}");
    let decide = |d: &str| Bytes::from(json!({ "decision": d }).to_string());
    let (status, _) = host
        .request("POST", &path, Some(&admin), decide("assign"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only reviewers resolve");
    let (status, body) = host
        .request("POST", &path, Some(&token), decide("assign"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        number_of(claimant).as_deref(),
        Some(people[0].my_number.as_str())
    );
    assert_eq!(number_of(holder), None);
    let (status, _) = host
        .request("POST", &path, Some(&token), decide("dismiss"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a resolved review is gone");
    let raised = host.audit_with("review.raise", kiroku::audit::Outcome::Ok);
    assert_eq!(raised.len(), 1);
    assert_eq!(
        (raised[0].subject, raised[0].subjects.clone()),
        (Some(claimant), vec![holder])
    );
    assert_eq!(
        host.audit_with("review.resolve", kiroku::audit::Outcome::Ok)
            .len(),
        1
    );
}

#[tokio::test]
async fn validate_checks_without_storing() {
    let host = host().await;
    let people = feed(3, 17);
    let (status, body) = host
        .call("admin", "resident-sync", "validate", records(&people))
        .await;
    assert_eq!(
        (status, body["valid"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    assert_eq!(host.store().person_count().unwrap(), 0);
}
