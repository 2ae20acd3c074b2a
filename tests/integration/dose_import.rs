//! dose-import through the real plugin: VRS exports and Kiroku CSV in
//! UTF-8 (with and without BOM) and Shift_JIS, idempotent re-imports,
//! per-row error reports, all-or-nothing, and refused files.

use hyper::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn host() -> TestHost {
    TestHost::new()
        .plugin("dose-entry")
        .plugin("dose-import")
        .residents(120)
        .user("clerk", "clerk")
        .user("supervisor", "supervisor")
        .start()
        .await
}

fn vrs(host: &TestHost, upto: usize) -> String {
    let histories = kiroku::synth::dose_histories(&host.residents, 5);
    kiroku::synth::to_vrs_csv(&host.residents[..upto], &histories[..upto], FUJISAWA)
}

fn shift_jis(text: &str) -> Vec<u8> {
    let (bytes, _, lossy) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!lossy);
    bytes.into_owned()
}

async fn import(host: &TestHost, query: &str, file: Vec<u8>) -> (StatusCode, Value) {
    host.upload("supervisor", "dose-import", "import", query, file)
        .await
}

/// Every stored dose of the first `n` residents, as (person, number, date, lot).
async fn stored(host: &TestHost, n: usize) -> Vec<(u64, u64, String, String)> {
    let mut out = Vec::new();
    for r in &host.residents[..n] {
        let person = host.person_of(r).await;
        for d in host.doses_of(person).await {
            out.push((
                person,
                d["dose_number"].as_u64().unwrap(),
                d["date"].as_str().unwrap().to_owned(),
                d["lot"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_a_vrs_export_once_whatever_its_encoding() {
    let host = host().await;
    let text = vrs(&host, 40);
    let total = text.lines().count() - 1;
    assert!(total > 40);
    let with_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
    let (status, body) = import(&host, "", with_bom).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["layout"], "vrs");
    assert_eq!(
        (body["applied"].as_u64(), body["error_rows"].as_u64()),
        (Some(total as u64), Some(0))
    );
    let first = stored(&host, 40).await;
    assert_eq!(first.len(), total);
    // Dose numbers follow the dates, as the VRS export has none.
    let histories = kiroku::synth::dose_histories(&host.residents, 5);
    let expected: usize = histories[..40].iter().map(Vec::len).sum();
    assert_eq!(first.len(), expected);
    for (r, doses) in host.residents[..40].iter().zip(&histories) {
        let person = host.person_of(r).await;
        let mine: Vec<_> = first.iter().filter(|d| d.0 == person).collect();
        for (d, s) in doses.iter().zip(mine) {
            assert_eq!(
                (s.1, s.2.as_str(), s.3.as_str()),
                (
                    u64::from(d.dose_number),
                    d.date.to_string().as_str(),
                    d.lot.as_str()
                )
            );
        }
    }

    // The same file again, now in Shift_JIS and without BOM: nothing new.
    for file in [shift_jis(&text), text.clone().into_bytes()] {
        let (status, body) = import(&host, "", file).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["applied"], 0);
        assert_eq!(body["already_recorded"], total);
    }
    assert_eq!(stored(&host, 40).await, first);
    // Every applied row was audited as a dose write.
    let adds = host
        .audit()
        .iter()
        .filter(|e| e.action == "doses.add")
        .count();
    assert_eq!(adds, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_bad_rows_and_applies_the_good_ones_or_none() {
    let host = host().await;
    let good = vrs(&host, 10);
    let good_rows = good.lines().count() - 1;
    let a = &host.residents[20].address_number;
    let mut file = good.clone();
    file.push_str(&format!(
        "{a},20240102103000,20240230,,{FUJISAWA},会場,医師,ファイザー,FA1234\n"
    ));
    file.push_str(&format!(
        "9999999999,20240102103000,20240102,,{FUJISAWA},会場,医師,ファイザー,FA1234\n"
    ));
    file.push_str(&format!(
        "{a},20240102103000,20240102,,131016,会場,医師,ファイザー,FA1234\n"
    ));
    file.push_str(&format!(
        "{a},20240102103000,20240102,1234567890,{FUJISAWA},会場,医師,ファイザー,FA1234\n"
    ));
    let first_bad = good_rows + 2;

    let before = stored(&host, 25).await;
    let (status, body) = import(&host, "all_or_nothing=true", file.clone().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["applied"], 0);
    assert_eq!(body["nothing_applied_because_of_errors"], true);
    assert_eq!(stored(&host, 25).await, before, "all or nothing: nothing");
    let report: Vec<(u64, String)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let line = |k: usize| (first_bad as u64) + k as u64;
    assert_eq!(
        report,
        [
            (line(0), "接種日".to_owned()),
            (line(1), "宛名番号".to_owned()),
            (line(2), "自治体コード".to_owned()),
            (line(3), "接種券番号".to_owned()),
        ]
    );
    // The report names lines and fields, never the values sent.
    let text = body.to_string();
    assert!(!text.contains("9999999999") && !text.contains(a.as_str()) && !text.contains("FA1234"));

    let (status, body) = import(&host, "", file.into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["applied"].as_u64(), body["error_rows"].as_u64()),
        (Some(good_rows as u64), Some(4))
    );
    assert_eq!(stored(&host, 25).await.len(), before.len() + good_rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_wrong_header_or_encoding_and_changes_nothing() {
    let host = host().await;
    let events = host.audit().len();
    let good = vrs(&host, 5);
    let wrong_header = good.replacen("接種日", "接種年月日", 1);
    let (status, body) = import(&host, "", wrong_header.into_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("header"),
        "{body}"
    );

    let mut broken = shift_jis(&good);
    broken.extend_from_slice(b"\x82\xff\xfd\n");
    let (status, body) = import(&host, "", broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Shift_JIS"),
        "{body}"
    );

    let (status, body) = import(&host, "encoding=utf-8", shift_jis(&good)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = import(&host, "colour=red", good.into_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Only the failed invocations were recorded; no dose was written.
    let after = host.audit();
    assert!(after[events..].iter().all(|e| e.action != "doses.add"));
    assert_eq!(stored(&host, 5).await.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_the_kiroku_layout_by_ticket_and_refuses_voided_tickets() {
    let host = host().await;
    let (r, person) = host.resident_in_town().await;
    let ticket = host.ticket_of(&r).await;
    let other = &host.residents[1];
    let header = "address_number,ticket_number,dose_number,date,vaccine,maker,product,lot,amount,facility_code,doctor";
    let file = format!(
        "{header}\n,{ticket},1,2025-10-01,influenza,第一三共,インフルエンザHAワクチン,HA123,0.5,1412345678,湘南 太郎\n{},,1,2025-10-02,influenza,第一三共,,HA124,,,\n",
        other.address_number
    );
    let (status, body) = import(&host, "", file.clone().into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["layout"], "kiroku");
    assert_eq!(body["applied"], 2, "{body}");
    let doses = host.doses_of(person).await;
    assert_eq!(doses[0]["vaccine"], "influenza");
    assert_eq!(doses[0]["entered_by"], "supervisor");

    // After the ticket is reissued, the old number no longer matches.
    let (status, body) = host
        .call(
            "admin",
            "ticket-issuance",
            "reissue",
            json!({"ticket_number": ticket, "reason": "lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let file = format!("{header}\n,{ticket},2,2025-11-01,influenza,第一三共,,HA125,,,\n");
    let (status, body) = import(&host, "", file.into_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["applied"], 0);
    assert!(
        body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("voided"),
        "{body}"
    );
}
