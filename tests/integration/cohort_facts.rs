//! The cohort facts behind `kiroku:population`: they follow every commit
//! (this server's and another process's), a condition reads what it names,
//! a ticket batch is all or nothing, and population events stay findable
//! by person through the block index.

use std::sync::Arc;

use hyper::StatusCode;
use kiroku::clock::SeededEntropy;
use kiroku::fields::{Class, FieldValues, ticket};
use kiroku::store::commit::apply_batch;
use kiroku::store::draft::{Draft, DraftError};
use kiroku::store::facts::FactsCache;
use serde_json::json;

use crate::support::*;

/// A lot no synthetic history uses.
const NEW_LOT: &str = "ZZ9999";

async fn host(policy_of_history: Option<&str>) -> TestHost {
    let history = match policy_of_history {
        Some(p) => p.to_owned(),
        None => policy("history-list"),
    };
    TestHost::new()
        .plugin("dose-entry")
        .plugin("target-extraction")
        .plugin_with_policy("history-list", &history)
        .residents(60)
        .doses()
        .user("clerk", "clerk")
        .user("supervisor", "supervisor")
        .start()
        .await
}

/// Person ids of a one-page history search by lot.
async fn persons_with_lot(host: &TestHost, lot: &str) -> Vec<u64> {
    let (status, page) = host
        .call(
            "supervisor",
            "history-list",
            "search",
            json!({"lot": lot, "limit": 100}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["persons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| host.serial(p["person_id"].as_u64().unwrap()))
        .collect()
}

fn dose_values(lot: &str) -> FieldValues {
    let mut v = FieldValues::empty(Class::Dose);
    for (field, value) in [
        ("dose-number", "5"),
        ("date", "2026-03-02"),
        ("vaccine", "covid-19"),
        ("maker", "ファイザー"),
        ("lot", lot),
    ] {
        v.set(Class::Dose.field_index(field).unwrap(), Some(value.into()));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facts_follow_this_servers_commits_and_another_process() {
    let host = host(None).await;
    assert!(persons_with_lot(&host, NEW_LOT).await.is_empty());

    // A first dose recorded at the counter is in the next search.
    let first_timer = (0..host.residents.len())
        .find(|&i| {
            let r = &host.residents[i];
            host.histories[i].is_empty() && r.moved_out.is_none() && r.died.is_none()
        })
        .expect("someone in town without doses") as u64
        + 1;
    let mut form = dose_form(host.person(first_timer), 1, "2026-03-01");
    form["lot"] = json!(NEW_LOT);
    let (status, body) = host.call("clerk", "dose-entry", "record-dose", form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(persons_with_lot(&host, NEW_LOT).await, [first_timer]);

    // Another process (its own facts, not this server's) adds a dose: the
    // data generation moved, so the server rebuilds before answering.
    let store = host.store();
    let mut draft = Draft::new(store.clone(), Arc::new(SeededEntropy::new(1)));
    let other = if first_timer == 7 { 8 } else { 7 };
    draft.add_dose(other, &dose_values(NEW_LOT)).unwrap();
    let elsewhere = FactsCache::default();
    let outcome = apply_batch(
        store.db(),
        store.keys(),
        store.keyring(),
        &elsewhere,
        vec![draft.into_write_set(Vec::new())],
    )
    .unwrap();
    assert!(outcome[0].is_ok());
    let mut expected = vec![first_timer, other];
    expected.sort_unstable();
    assert_eq!(persons_with_lot(&host, NEW_LOT).await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condition_reads_the_fields_it_names() {
    let shipped = policy("history-list");
    let no_lot = shipped.replace("\"maker\", \"lot\",", "\"maker\",");
    assert_ne!(no_lot, shipped);
    let host = host(Some(&no_lot)).await;
    // Searching by lot would read lots: refused, and on record.
    let (status, body) = host
        .call(
            "supervisor",
            "history-list",
            "search",
            json!({"lot": "FA1234"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let denied = host.audit_with("cohort-facts.read", kiroku::audit::Outcome::Deny);
    assert_eq!(denied.len(), 1);
    assert!(denied[0].fields.contains(&"lot".to_owned()), "{denied:?}");
}

fn new_ticket(number: &str) -> FieldValues {
    let mut v = FieldValues::empty(Class::Ticket);
    for (i, value) in [
        (ticket::NUMBER, number),
        (ticket::ISSUED_ON, "2026-03-01"),
        (ticket::CAMPAIGN, "batch-test"),
        (ticket::TICKET_TYPE, "1"),
        (ticket::DOSE_NUMBER, "8"),
    ] {
        v.set(i, Some(value.into()));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_batch_is_all_or_nothing() {
    let host = host(None).await;
    let store = host.store();
    let fresh = |p: u64| kiroku_rules::ticket::for_person(p, 50).unwrap();
    let draft = || Draft::new(store.clone(), Arc::new(SeededEntropy::new(2)));
    let message = |e: DraftError| e.to_string();

    // The same number twice: refused at its second place, nothing added.
    let mut d = draft();
    let twice = vec![
        (1, new_ticket(&fresh(1))),
        (2, new_ticket(&fresh(2))),
        (3, new_ticket(&fresh(1))),
    ];
    let e = message(d.issue_tickets(twice).unwrap_err());
    assert!(e.starts_with("item 2:"), "{e}");
    assert!(!d.has_changes());

    // A number already registered (the resident's first ticket), a bad
    // check digit, an unknown person: each refused by position.
    let taken = host.ticket_of(&host.residents[4]).await;
    let mut wrong = fresh(2);
    let last = wrong.pop().unwrap();
    wrong.push(if last == '0' { '1' } else { '0' });
    for (batch, place) in [
        (
            vec![(1, new_ticket(&fresh(1))), (5, new_ticket(&taken))],
            "item 1:",
        ),
        (vec![(2, new_ticket(&wrong))], "item 0:"),
        (
            vec![(1, new_ticket(&fresh(1))), (999_999, new_ticket(&fresh(3)))],
            "item 1:",
        ),
    ] {
        let mut d = draft();
        let e = message(d.issue_tickets(batch).unwrap_err());
        assert!(e.starts_with(place), "{e}");
        assert!(!d.has_changes(), "nothing of a refused batch stays");
    }

    // A good batch commits, and its tickets find their holders.
    let mut d = draft();
    d.issue_tickets(vec![(1, new_ticket(&fresh(1))), (2, new_ticket(&fresh(2)))])
        .unwrap();
    store.commit_now(d.into_write_set(Vec::new())).unwrap();
    let (status, found) = host
        .call(
            "clerk",
            "dose-entry",
            "find-person",
            json!({"ticket_number": fresh(2)}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["persons"][0]["person_id"], host.person(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn population_reads_stay_findable_by_person_and_verified() {
    let host = host(None).await;
    let campaign = json!({"campaign": {"id": "c", "dose_number": 8, "starts_on": TODAY,
        "statuses": ["resident", "moved-out", "deceased"]}});
    let (status, preview) = host
        .call("supervisor", "target-extraction", "preview", campaign)
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let store = host.store();
    let who_looked = |person: u64| {
        let q = kiroku::audit::Query {
            subject: Some(person),
            limit: usize::MAX,
            ..Default::default()
        };
        kiroku::audit::query(store.db().as_ref(), &q).unwrap()
    };
    let read_of = |person: u64| {
        who_looked(person)
            .into_iter()
            .filter(|e| e.action == "cohort-facts.read")
            .count()
    };
    // Every resident was read once; a person id never issued was not.
    for person in [1, 30, 60] {
        assert_eq!(read_of(person), 1, "person {person}");
    }
    assert_eq!(read_of(61), 0);
    assert!(matches!(
        kiroku::audit::verify(store.db().as_ref(), store.keys()).unwrap(),
        kiroku::audit::Verified::Intact(_)
    ));

    // Clearing one person's bit hides the read from "who looked at them":
    // verification notices.
    let txn = store.db().begin_write().unwrap();
    {
        let mut t = txn
            .open_table(kiroku::store::tables::AUDIT_BY_SUBJECT_BLOCK)
            .unwrap();
        let (key, mut bits) = {
            let (k, v) = redb::ReadableTable::first(&t).unwrap().unwrap();
            (k.value(), v.value())
        };
        bits[0] &= !(1 << 1); // person 1
        t.insert(key, bits).unwrap();
    }
    txn.commit().unwrap();
    assert_eq!(read_of(1), 0);
    let verified = kiroku::audit::verify(store.db().as_ref(), store.keys()).unwrap();
    assert!(
        matches!(verified, kiroku::audit::Verified::Broken(_)),
        "{verified:?}"
    );
}
