//! history-list and statistics through the real plugins, over synthetic
//! residents with synthetic dose histories; and the rule that no export
//! ever carries a My Number.

use std::collections::{BTreeMap, BTreeSet};

use hyper::StatusCode;
use kiroku_rules::Date;
use serde_json::{Value, json};

use crate::support::*;
use kiroku_rules::vaccine::maker_key;

async fn host() -> TestHost {
    TestHost::new()
        .plugin("dose-entry")
        .plugin("target-extraction")
        .plugin("history-list")
        .plugin("statistics")
        .residents(400)
        .doses()
        .user("clerk", "clerk")
        .user("supervisor", "supervisor")
        .start()
        .await
}

/// Pages through `history-list/search` (or `export`) and returns each page.
async fn pages(host: &TestHost, op: &str, mut query: Value) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let (status, page) = host
            .call("supervisor", "history-list", op, query.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let next = page["next_after"].as_u64();
        out.push(page);
        match next {
            Some(after) => query["after"] = json!(after),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_search_finds_exactly_the_matching_persons_page_by_page() {
    let host = host().await;
    let (from, to) = (
        Date::parse("2022-01-01").unwrap(),
        Date::parse("2022-12-31").unwrap(),
    );
    let maker = "ファイザー";
    let expected: BTreeSet<String> = host
        .residents
        .iter()
        .zip(&host.histories)
        .filter(|(_, h)| {
            h.iter()
                .any(|d| d.maker == maker && d.dose_number == 3 && d.date >= from && d.date <= to)
        })
        .map(|(r, _)| kiroku::normalize::clean(&r.kanji_name) + &r.birth_date.to_string())
        .collect();
    assert!(expected.len() > 10);
    let query = json!({"maker": maker, "dose_number": 3, "date_from": "2022-01-01", "date_to": "2022-12-31", "limit": 9});
    let listed = pages(&host, "search", query).await;
    assert!(listed.len() > 1);
    let mut seen = BTreeSet::new();
    for page in &listed {
        for p in page["persons"].as_array().unwrap() {
            // The 4 basic facts, and only the matching doses.
            for fact in ["kanji_name", "kana_name", "sex", "birth_date", "address"] {
                assert!(p[fact].is_string(), "{p}");
            }
            for d in p["doses"].as_array().unwrap() {
                assert_eq!(
                    (
                        d["maker"].as_str().map(maker_key),
                        d["dose_number"].as_u64()
                    ),
                    (Some(maker_key(maker)), Some(3))
                );
            }
            let key = format!(
                "{}{}",
                p["kanji_name"].as_str().unwrap(),
                p["birth_date"].as_str().unwrap()
            );
            assert!(seen.insert(key), "a person on two pages");
        }
    }
    assert_eq!(seen, expected);

    // With a small read budget, pages come back short but the cursor
    // carries on, and together they find exactly the same persons.
    let query = json!({"maker": maker, "dose_number": 3, "date_from": "2022-01-01",
        "date_to": "2022-12-31", "limit": 9, "max_scan": 4});
    let budgeted = pages(&host, "search", query).await;
    assert!(budgeted.len() >= expected.len() / 4);
    assert!(
        budgeted
            .iter()
            .any(|p| p["persons"].as_array().unwrap().len() < 9 && !p["next_after"].is_null())
    );
    let again: BTreeSet<String> = budgeted
        .iter()
        .flat_map(|p| p["persons"].as_array().unwrap().clone())
        .map(|p| {
            format!(
                "{}{}",
                p["kanji_name"].as_str().unwrap(),
                p["birth_date"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(again, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_search_by_age_band_and_campaign_status() {
    let host = host().await;
    let campaign = json!({"id": "spring", "dose_number": 8, "starts_on": TODAY, "min_age": 65});
    let (status, extracted) = host
        .call(
            "supervisor",
            "target-extraction",
            "extract",
            json!({"campaign": campaign}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{extracted}");
    let issued = extracted["issued"].as_u64().unwrap();
    let not_done =
        json!({"campaign": {"id": "spring", "dose_number": 8, "status": "not-done"}, "limit": 100});
    let count = |pages: Vec<Value>| {
        pages
            .iter()
            .map(|p| p["persons"].as_array().unwrap().len() as u64)
            .sum::<u64>()
    };
    assert_eq!(
        count(pages(&host, "search", not_done.clone()).await),
        issued
    );

    // One of them is vaccinated: they move from not done to done.
    let person = extracted["sample"][0]["person_id"].as_u64().unwrap();
    let mut form = dose_form(person, 8, "2026-03-31");
    form["override_reason"] = json!("booster campaign");
    let (status, body) = host.call("clerk", "dose-entry", "record-dose", form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(count(pages(&host, "search", not_done).await), issued - 1);
    let done = json!({"campaign": {"id": "spring", "dose_number": 8, "status": "done"}});
    let done = pages(&host, "search", done).await;
    assert_eq!(done[0]["persons"][0]["person_id"], person);

    // Age band 70-74 on today.
    let today = Date::parse(TODAY).unwrap();
    let expected = host
        .residents
        .iter()
        .filter(|r| (70..=74).contains(&r.birth_date.age_on(today)))
        .count() as u64;
    let band = pages(&host, "search", json!({"age_from": 70, "age_to": 74})).await;
    assert_eq!(count(band), expected);
}

fn expected_summary(host: &TestHost) -> BTreeMap<(Date, usize), u64> {
    let mut out = BTreeMap::new();
    for (r, h) in host.residents.iter().zip(&host.histories) {
        for d in h {
            let col =
                (d.dose_number as usize - 1) * 2 + usize::from(r.birth_date.age_on(d.date) >= 65);
            *out.entry((d.date, col)).or_default() += 1;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_match_the_data_with_small_cells_suppressed() {
    let host = host().await;
    let (status, body) = host
        .call("supervisor", "statistics", "summary-by-date", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["threshold"], 10);
    let csv = body["csv"].as_str().unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("date,count_first_shot_general,count_first_shot_elderly,count_second_shot_general,count_second_shot_elderly,count_third_shot_general"));
    let expected = expected_summary(&host);
    let (mut shown, mut suppressed) = (0, 0);
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let date = Date::parse(cells[0]).unwrap();
        for (col, cell) in cells[1..].iter().enumerate() {
            let n = expected.get(&(date, col)).copied().unwrap_or(0);
            if n > 0 && n < 10 {
                assert_eq!(*cell, "*");
                suppressed += 1;
            } else {
                assert_eq!(*cell, n.to_string());
                shown += u64::from(n > 0);
            }
        }
    }
    assert!(suppressed > 0, "a town of 400 has small daily counts");
    let _ = shown;

    // Grouped counts: a shown total cannot give back a suppressed cell.
    let (status, body) = host
        .call(
            "supervisor",
            "statistics",
            "counts",
            json!({"group_by": ["dose_number"], "threshold": 40}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let all: u64 = host.histories.iter().map(|h| h.len() as u64).sum();
    assert_eq!(body["total"], all);
    let cells = body["cells"].as_array().unwrap();
    let hidden = cells.iter().filter(|c| c["count"] == "suppressed").count();
    assert!(
        hidden != 1,
        "one suppressed cell could be derived from the total: {body}"
    );
    for c in cells {
        let n = host
            .histories
            .iter()
            .flatten()
            .filter(|d| d.dose_number.to_string() == c["dose_number"].as_str().unwrap())
            .count() as u64;
        match c["count"].as_u64() {
            Some(shown) => assert_eq!(shown, n),
            None => assert!(n < 40 || hidden >= 2),
        }
        assert!(c.get("person_id").is_none());
    }
    for (bad, fragment) in [
        (json!({"threshold": 2}), "threshold"),
        (json!({"group_by": ["name"]}), "group_by"),
        (json!({"from": "2022-13-01"}), "from"),
    ] {
        let (status, body) = host.call("supervisor", "statistics", "counts", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(fragment),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_export_ever_contains_a_my_number() {
    let host = host().await;
    let (status, _) = host
        .call(
            "supervisor",
            "target-extraction",
            "extract",
            json!({"campaign": {"id": "all", "dose_number": 1, "starts_on": TODAY}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut exports = String::new();
    // Every export path: the mailing vendor's print batch, the history-list
    // CSV, and the statistics files.
    let (status, batch) = host
        .call(
            "supervisor",
            "target-extraction",
            "print-batch",
            json!({"campaign": "all", "dose_number": 1, "limit": 5000}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    exports.push_str(&batch.to_string());
    for page in pages(&host, "export", json!({"limit": 5000})).await {
        exports.push_str(&page.to_string());
    }
    for (op, input) in [
        ("summary-by-date", json!({})),
        (
            "counts",
            json!({"group_by": ["district", "age_band", "maker"]}),
        ),
    ] {
        let (status, body) = host.call("supervisor", "statistics", op, input).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        exports.push_str(&body.to_string());
    }
    assert!(exports.len() > 100_000);
    assert!(exports.contains(&kiroku::normalize::clean(&host.residents[0].kanji_name)));
    for r in &host.residents {
        assert!(!exports.contains(&r.my_number), "a My Number was exported");
        assert!(!exports.contains(&r.phone), "a phone number was exported");
    }
}
