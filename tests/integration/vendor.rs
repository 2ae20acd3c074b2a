//! The example vendor plugin (examples/vendor-plugin) installs under its
//! policy and works, and only within its grants.

use hyper::StatusCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_example_vendor_plugin_prints_a_card_within_its_grants() {
    let policy =
        std::fs::read_to_string(root().join("examples/vendor-plugin/policy.toml")).unwrap();
    let roles = format!(
        "{}\n[counter]\ninvoke = [\"dose-card/card\"]\n",
        kiroku::roles::DEFAULT_ROLES
    );
    let host = TestHost::new()
        .plugin("dose-entry")
        .plugin_with_policy("dose-card", &policy)
        .residents(5)
        .roles(&roles)
        .user("clerk", "clerk")
        .user("counter-1", "counter")
        .start()
        .await;
    let (r, person) = host.resident_in_town().await;
    let (status, _) = host.record_dose(person, 1).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = host
        .call(
            "counter-1",
            "dose-card",
            "card",
            json!({"person_id": person}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let card = body["card"].as_array().unwrap();
    assert!(
        card[1]
            .as_str()
            .unwrap()
            .contains(r.kanji_name.split('　').next().unwrap()),
        "{body}"
    );
    assert!(card[3].as_str().unwrap().starts_with("1回目"), "{body}");
    assert!(!body.to_string().contains(&r.my_number) && !body.to_string().contains(&r.address));
    // The card's reads are audited under the vendor plugin's digest.
    assert!(host.audit().iter().any(
        |e| e.plugin.as_deref() == Some("dose-card") && e.subject == Some(host.serial(person))
    ));
}
