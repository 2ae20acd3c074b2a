//! dose-entry through the real plugin: finding persons, validation,
//! four-eyes verification.

use hyper::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

async fn host() -> TestHost {
    TestHost::new()
        .plugin("dose-entry")
        .residents(200)
        .user("clerk", "clerk")
        .user("clerk2", "clerk")
        .user("verifier", "verifier")
        .user("supervisor", "supervisor")
        .start()
        .await
}

fn message(body: &Value) -> &str {
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {body}"))
}

fn half_width(katakana: &str) -> String {
    // Enough of JIS X 0201 for the synthetic names.
    const FULL: &str = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンァィゥェォャュョッー";
    const HALF: &str = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝｧｨｩｪｫｬｭｮｯｰ";
    const VOICED: &str = "ガギグゲゴザジズゼゾダヂヅデドバビブベボ";
    const SEMI: &str = "パピプペポ";
    let full: Vec<char> = FULL.chars().collect();
    let half: Vec<char> = HALF.chars().collect();
    let mut out = String::new();
    for c in katakana.chars() {
        if let Some(i) = full.iter().position(|f| *f == c) {
            out.push(half[i]);
        } else if let Some(i) = VOICED.chars().position(|v| v == c) {
            let base = "カキクケコサシスセソタチツテトハヒフヘホ"
                .chars()
                .nth(i)
                .unwrap();
            out.push(half[full.iter().position(|f| *f == base).unwrap()]);
            out.push('ﾞ');
        } else if let Some(i) = SEMI.chars().position(|v| v == c) {
            let base = "ハヒフヘホ".chars().nth(i).unwrap();
            out.push(half[full.iter().position(|f| *f == base).unwrap()]);
            out.push('ﾟ');
        } else if c == '　' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

fn hiragana(katakana: &str) -> String {
    katakana
        .chars()
        .map(|c| {
            if ('ァ'..='ヶ').contains(&c) {
                char::from_u32(c as u32 - 0x60).unwrap()
            } else {
                c
            }
        })
        .collect()
}

#[tokio::test]
async fn finds_a_person_however_the_name_is_typed_and_never_shows_a_my_number() {
    let host = host().await;
    let r = host
        .residents
        .iter()
        .find(|r| r.kana_name.contains('ョ') || r.kana_name.contains('ュ'))
        .unwrap_or(&host.residents[0])
        .clone();
    let birth = r.birth_date.to_string();
    let person = host.person_of(&r).await;
    let large_kana = r
        .kana_name
        .replace('ョ', "ヨ")
        .replace('ュ', "ユ")
        .replace('ャ', "ヤ");
    for typed in [
        r.kana_name.clone(),
        half_width(&r.kana_name),
        hiragana(&r.kana_name),
        large_kana,
        r.kanji_name.replace('　', ""),
        r.kanji_name.replace('　', " "),
    ] {
        let (status, body) = host
            .call(
                "clerk",
                "dose-entry",
                "find-person",
                json!({"name": typed, "birth_date": birth}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let ids: Vec<u64> = body["persons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["person_id"].as_u64().unwrap())
            .collect();
        assert!(
            ids.contains(&person),
            "{typed:?} did not find the person: {body}"
        );
        assert!(
            !body.to_string().contains(&r.my_number),
            "a My Number was returned"
        );
        assert!(body["persons"][0].get("my_number").is_none());
    }
    // Variant kanji: 髙 finds 高, 齋 finds 斎, 渡邊 finds 渡辺.
    if let Some(r) = host
        .residents
        .iter()
        .find(|r| r.kanji_name.starts_with("高橋"))
    {
        let (_, body) = host.call("clerk", "dose-entry", "find-person", json!({"name": r.kanji_name.replace('高', "髙"), "birth_date": r.birth_date.to_string()})).await;
        assert!(!body["persons"].as_array().unwrap().is_empty(), "{body}");
    }
    let (_, body) = host
        .call(
            "clerk",
            "dose-entry",
            "find-person",
            json!({"name": r.kana_name, "birth_date": "1900-01-01"}),
        )
        .await;
    assert_eq!(body["persons"], json!([]));
}

#[tokio::test]
async fn never_searches_by_my_number() {
    let host = host().await;
    let r = host.residents[0].clone();
    let (status, body) = host
        .call(
            "clerk",
            "dose-entry",
            "find-person",
            json!({"my_number": r.my_number}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("unknown field my_number"), "{body}");
    assert!(
        !body.to_string().contains(&r.my_number),
        "the value is not echoed"
    );
    let (_, body) = host
        .call(
            "clerk",
            "dose-entry",
            "find-person",
            json!({"name": r.my_number, "birth_date": r.birth_date.to_string()}),
        )
        .await;
    assert_eq!(body["persons"], json!([]));
}

#[tokio::test]
async fn finds_by_ticket_and_catches_a_mistyped_ticket_number() {
    let host = host().await;
    let r = host.residents[3].clone();
    let ticket = host.ticket_of(&r).await;
    let (status, body) = host
        .call(
            "clerk",
            "dose-entry",
            "find-person",
            json!({"ticket_number": ticket}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["persons"][0]["kanji_name"]
            .as_str()
            .unwrap()
            .replace(' ', "　"),
        r.kanji_name
    );
    let mut typo: Vec<char> = ticket.chars().collect();
    typo.swap(2, 3);
    let typo: String = typo.into_iter().collect();
    if typo != ticket {
        let (status, body) = host
            .call(
                "clerk",
                "dose-entry",
                "find-person",
                json!({"ticket_number": typo}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(message(&body).contains("check digit"));
    }
}

#[tokio::test]
async fn validates_a_dose_and_names_what_is_wrong() {
    let host = host().await;
    let r = host
        .residents
        .iter()
        .find(|r| r.moved_out.is_none() && r.died.is_none() && r.birth_date.year < 2020)
        .unwrap()
        .clone();
    let person = host.person_of(&r).await;
    let with = |change: Value| {
        let mut form = dose_form(person, 1, "2026-03-01");
        for (k, v) in change.as_object().unwrap() {
            form[k] = v.clone();
        }
        form
    };
    let cases = [
        (json!({"date": "2026-04-02"}), "date is in the future"),
        (
            json!({"date": "1899-01-01"}),
            "before the person's birth date",
        ),
        (json!({"date": "2026-02-30"}), "real date"),
        (
            json!({"maker": "acme"}),
            "maker is not a known vaccine maker",
        ),
        (
            json!({"product": "スパイクバックス"}),
            "product is not a product of pfizer",
        ),
        (json!({"lot": "x"}), "lot must be"),
        (json!({"amount": "5"}), "amount must be"),
        (json!({"facility_code": "123"}), "facility_code must be"),
        (json!({"dose_number": 3}), "dose_number should be 1"),
        (
            json!({"dose_number": "1"}),
            "dose_number must be a whole number",
        ),
        (json!({"doctor": null}), "doctor is required"),
    ];
    for (change, expected) in cases {
        let (status, body) = host
            .call("clerk", "dose-entry", "record-dose", with(change.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{change}: {body}");
        assert!(message(&body).contains(expected), "{change}: {body}");
    }
    let doses = host.doses_of(person).await;
    assert!(doses.is_empty(), "no invalid dose was stored");
    // Out of order with a reason is recorded, and says which rule it overrode.
    let (status, body) = host
        .call(
            "clerk",
            "dose-entry",
            "record-dose",
            with(json!({"dose_number": 3, "override_reason": "doses 1-2 given abroad"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["overridden"][0]
            .as_str()
            .unwrap()
            .contains("should be 1")
    );
    let (status, body) = host
        .call(
            "clerk",
            "dose-entry",
            "record-dose",
            with(json!({"dose_number": 4, "date": "2026-02-01"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message(&body).contains("earlier than a dose already recorded"),
        "{body}"
    );
}

#[tokio::test]
async fn refuses_new_doses_for_persons_who_moved_out_or_died_unless_overridden() {
    let host = TestHost::new()
        .plugin("dose-entry")
        .residents(1000)
        .user("clerk", "clerk")
        .start()
        .await;
    for gone in [
        host.residents.iter().find(|r| r.moved_out.is_some()),
        host.residents.iter().find(|r| r.died.is_some()),
    ] {
        let r = gone.expect("the generator makes some").clone();
        let person = host.person_of(&r).await;
        let date = "2026-03-31";
        let (status, body) = host
            .call(
                "clerk",
                "dose-entry",
                "record-dose",
                dose_form(person, 1, date),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            message(&body).contains("moved out") || message(&body).contains("deceased"),
            "{body}"
        );
        let mut form = dose_form(person, 1, date);
        form["override_reason"] = json!("vaccinated before the move was registered");
        let (status, body) = host.call("clerk", "dose-entry", "record-dose", form).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test]
async fn needs_a_second_person_to_verify_an_entry() {
    let host = host().await;
    let (_, person) = host.resident_in_town().await;
    let (status, body) = host
        .call(
            "supervisor",
            "dose-entry",
            "record-dose",
            dose_form(person, 1, "2026-03-01"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let dose = body["dose_id"].as_u64().unwrap();
    // The one who entered it cannot verify it.
    let (status, body) = host
        .call(
            "supervisor",
            "dose-entry",
            "verify-dose",
            json!({"person_id": person, "dose_id": dose}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("second person"));
    // Clerks may not verify at all.
    let (status, _) = host
        .call(
            "clerk",
            "dose-entry",
            "verify-dose",
            json!({"person_id": person, "dose_id": dose}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A verifier comparing against the form catches a difference.
    let (status, body) = host.call("verifier", "dose-entry", "verify-dose", json!({"person_id": person, "dose_id": dose, "expect": {"lot": "QX7Q22", "amount": "0.30"}})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        message(&body).contains("differs from the form in: lot"),
        "{body}"
    );
    let (status, body) = host.call("verifier", "dose-entry", "verify-dose", json!({"person_id": person, "dose_id": dose, "expect": {"lot": "qx7q21", "amount": "0.30", "maker": "Pfizer", "dose_number": 1}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let doses = host.doses_of(person).await;
    let d = &doses[0];
    assert_eq!(
        (d["entered_by"].as_str(), d["verified_by"].as_str()),
        (Some("supervisor"), Some("verifier"))
    );
    let (status, _) = host
        .call(
            "verifier",
            "dose-entry",
            "verify-dose",
            json!({"person_id": person, "dose_id": dose}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "verified once only");
}

#[tokio::test]
async fn never_records_a_dose_number_twice_even_with_an_override() {
    let host = host().await;
    let (_, person) = host.resident_in_town().await;
    let (status, body) = host
        .call(
            "clerk",
            "dose-entry",
            "record-dose",
            dose_form(person, 1, "2026-03-01"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The same form again (a retry without a request id), with a reason.
    let mut again = dose_form(person, 1, "2026-03-01");
    again["override_reason"] = json!("entered twice by mistake");
    let (status, body) = host.call("clerk", "dose-entry", "record-dose", again).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("already has dose 1"), "{body}");
    assert_eq!(host.doses_of(person).await.len(), 1);
}
