//! What each role's browser flow must have shown: the summary's fields
//! checked one flow at a time.

use serde_json::{Value, json};

/// The page's own guarantees: served, strict CSP, no inline script runs.
pub(super) fn check_page(summary: &Value) {
    assert_eq!(summary["status"], 200, "{summary}");
    assert_eq!(
        summary["csp"],
        kiroku::server::console::CONTENT_SECURITY_POLICY,
        "{summary}"
    );
    assert_eq!(summary["inline_scripts"], 0, "{summary}");
    assert_eq!(
        summary["inline_ran"], false,
        "an inline script ran: {summary}"
    );
    assert_eq!(summary["inline_refused"], true, "{summary}");
}

pub(super) fn check_clerk(clerk: &Value, expected: usize) {
    assert_eq!(clerk["who"], json!(["demo-clerk", "窓口担当"]), "{clerk}");
    assert_eq!(clerk["token_in_login_answer"], Value::Null, "{clerk}");
    // The person is found; the previous town is not reachable from here.
    let movein = clerk["movein_answer"].as_str().unwrap();
    assert!(movein.contains("照会に参加していません"), "{clerk}");
    assert_eq!(clerk["menu"], json!(CLERK_MENU), "{clerk}");
    assert_eq!(clerk["birth_shown"], true, "{clerk}");
    assert_eq!(clerk["dose_rows"], expected, "{clerk}");
    assert_eq!(
        clerk["url_has_digits"], false,
        "a value in the URL: {clerk}"
    );
    // Locked: nothing personal in the DOM; a wrong code keeps it locked.
    assert_eq!(
        clerk["locked"],
        json!({"local": 0, "session": 0, "idb": 0, "text_has_birth": false, "dom_has_birth": false}),
        "{clerk}"
    );
    assert_eq!(clerk["wrong_unlock_refused"], true, "{clerk}");
    assert_eq!(clerk["unlocked"], true, "{clerk}");
    assert_eq!(clerk["prefilled_number"], expected + 1, "{clerk}");
    assert_eq!(
        clerk["future_date_error"], "接種日が未来の日付です。",
        "{clerk}"
    );
    assert_eq!(
        clerk["override_message"],
        format!(
            "通常の規則に合わない入力です：接種回数は{}回目のはずです（記録済みは{}回目まで）。 記録するには理由を入力して、もう一度確認へ進んでください。",
            expected + 2,
            expected + 1
        ),
        "{clerk}"
    );
    assert_eq!(clerk["rows_after_override"], expected + 2, "{clerk}");
    assert_eq!(clerk["rows_after_refusal"], expected, "{clerk}");
    assert_eq!(clerk["rows_after_record"], expected + 1, "{clerk}");
    assert_eq!(clerk["dose_error"], "", "{clerk}");
    assert_eq!(clerk["qr_is_shc"], true, "the QR did not decode: {clerk}");
    assert_eq!(clerk["pdf_magic"], "%PDF-", "{clerk}");
    assert_eq!(clerk["qr_verdict"], "有効な証明書です。", "{clerk}");
    assert_eq!(clerk["qr_birth_shown"], true, "{clerk}");
}

pub(super) fn check_verifier(verifier: &Value) {
    assert_eq!(
        verifier["menu"],
        json!(["窓口", "照合・確認"]),
        "{verifier}"
    );
    assert!(verifier["waiting"].as_u64().unwrap() >= 2, "{verifier}");
    assert_eq!(verifier["lot_shown"], false, "{verifier}");
    assert_eq!(
        verifier["mismatch"],
        json!({"lot": "入力内容と一致しません", "date": ""}),
        "{verifier}"
    );
    assert!(
        verifier["done"]
            .as_str()
            .unwrap()
            .ends_with("回目を確認済にしました。"),
        "{verifier}"
    );
    assert_eq!(
        verifier["waiting_after"].as_u64().unwrap() + 1,
        verifier["waiting"].as_u64().unwrap(),
        "{verifier}"
    );
}

pub(super) fn check_supervisor(supervisor: &Value) {
    assert_eq!(
        supervisor["menu"],
        json!([
            "窓口",
            "照合・確認",
            "証明書",
            "転入照会",
            "接種券発行",
            "履歴・統計",
            "取込み",
            "保存・開示"
        ]),
        "{supervisor}"
    );
    assert_eq!(supervisor["history_error"], "", "{supervisor}");
    assert!(
        supervisor["history_rows"].as_u64().unwrap() >= 1,
        "{supervisor}"
    );
    assert_eq!(supervisor["stats_error"], "", "{supervisor}");
    let bars = supervisor["stats_bars"].as_u64().unwrap();
    assert!(bars >= 2, "{supervisor}");
    assert_eq!(
        supervisor["stats_rows"].as_u64().unwrap(),
        bars,
        "{supervisor}"
    );
    assert!(
        supervisor["stats_suppressed_bars"].as_u64().unwrap() >= 1,
        "{supervisor}"
    );
    assert_eq!(
        supervisor["stats_suppressed_bars"], supervisor["stats_suppressed_cells"],
        "{supervisor}"
    );
    assert_eq!(
        supervisor["import_error_lines"],
        json!(["3"]),
        "{supervisor}"
    );
    assert_eq!(
        supervisor["import_state"], "1 件を取り込みました。",
        "{supervisor}"
    );
    assert_eq!(supervisor["import_percent"], "100%", "{supervisor}");
    assert_eq!(supervisor["letter_magic"], "%PDF-", "{supervisor}");
    assert_eq!(supervisor["revoke_error"], "", "{supervisor}");
    assert_eq!(
        supervisor["revoked_verdict"], "無効な証明書です（失効しています）。",
        "{supervisor}"
    );
    assert_eq!(
        supervisor["overflow"],
        json!([]),
        "screens wider than the window: {supervisor}"
    );
    assert_eq!(
        supervisor["suspended"], "利用を停止しました。",
        "{supervisor}"
    );
    assert_eq!(
        supervisor["lifted"], "利用停止を解除しました。",
        "{supervisor}"
    );
    assert!(
        supervisor["preview"].as_str().unwrap().contains("対象者は"),
        "{supervisor}"
    );
    assert_eq!(supervisor["progress_final"], "100%", "{supervisor}");
    let seen = supervisor["progress_seen"].as_array().unwrap();
    assert_eq!(seen.last(), Some(&json!(100)), "{supervisor}");
    assert!(
        seen.windows(2).all(|w| w[0].as_f64() <= w[1].as_f64()),
        "the bar went back: {supervisor}"
    );
    assert!(
        supervisor["job_state"]
            .as_str()
            .unwrap()
            .ends_with("枚の接種券を発行しました。"),
        "{supervisor}"
    );
    assert!(
        supervisor["csv_header"]
            .as_str()
            .unwrap()
            .contains("接種券番号"),
        "{supervisor}"
    );
    assert!(supervisor["csv_rows"].as_u64().unwrap() > 0, "{supervisor}");
}

pub(super) fn check_auditor(auditor: &Value) {
    assert_eq!(auditor["menu"], json!(["監査"]), "{auditor}");
    assert!(auditor["rows"].as_u64().unwrap() > 0, "{auditor}");
    assert_eq!(
        auditor["mentions"],
        json!({"clerk": true, "verifier": true}),
        "{auditor}"
    );
    assert_eq!(auditor["birth_shown"], false, "{auditor}");
    assert_eq!(auditor["overflow"], json!([]), "{auditor}");
    let actions = auditor["session_actions"].as_array().unwrap();
    assert_eq!(auditor["login_in_japanese"], true, "{auditor}");
    for action in ["login", "logout", "session.unlock"] {
        assert!(actions.contains(&json!(action)), "{action}: {auditor}");
    }
    // The session's refusals (the future date, the wrong unlock code).
    let filter = &auditor["outcome_filter"];
    assert!(filter["expected"].as_u64().unwrap() > 0, "{auditor}");
    assert_eq!(filter["shown"], filter["expected"], "{auditor}");
    assert_eq!(filter["only"], json!([filter["refusal"]]), "{auditor}");
    assert!(
        auditor["verified"]
            .as_str()
            .unwrap()
            .starts_with("改ざんはありません"),
        "{auditor}"
    );
}

/// What a clerk's menu holds.
pub(super) const CLERK_MENU: [&str; 4] = ["窓口", "証明書", "転入照会", "保存・開示"];

/// The approver sees the queue only (the counter for the person); the
/// query from the counter, with no exchange set up, gets an answer.
pub(super) fn check_approver(approver: &Value) {
    assert_eq!(approver["menu"], json!(["窓口", "転入照会"]), "{approver}");
    assert_eq!(
        approver["sections"],
        json!({"query": false, "batch": false, "queue": true}),
        "{approver}"
    );
    assert_eq!(approver["queue_rows"], 0, "{approver}");
    assert_eq!(approver["queue_error"], "", "{approver}");
    assert_eq!(approver["overflow"], json!([]), "{approver}");
}

pub(super) fn check_admin(admin: &Value, purgeable: u64) {
    assert_eq!(
        admin["menu"],
        json!(["取込み", "保存・開示", "管理"]),
        "{admin}"
    );
    let row = admin["review_row"].as_array().unwrap();
    assert_eq!(row[0], "console-new-clerk", "{admin}");
    assert_eq!(row[3], "登録待ち", "{admin}");
    assert!(row[6].as_str().unwrap().contains("未登録"), "{admin}");
    assert!(admin["plugin_rows"].as_u64().unwrap() >= 5, "{admin}");
    assert!(
        admin["policy_words"]
            .as_str()
            .unwrap()
            .starts_with("Plugin dose-entry (purpose: "),
        "{admin}"
    );
    assert_eq!(admin["enrol_qr_is_otpauth"], true, "{admin}");
    assert_eq!(admin["overflow"], json!([]), "{admin}");
    assert_eq!(admin["enrolled_role"], "窓口担当", "{admin}");
    assert_eq!(admin["enrolled_menu"], json!(CLERK_MENU), "{admin}");
    assert!(admin["purge_rules"].as_u64().unwrap() >= 1, "{admin}");
    assert!(purgeable > 0, "the demo has nothing to purge: {admin}");
    {
        assert_eq!(admin["purge_percent"], "100%", "{admin}");
        assert_eq!(
            admin["purge_state"],
            format!("{purgeable} 人の記録を消去しました。"),
            "{admin}"
        );
    }
}
