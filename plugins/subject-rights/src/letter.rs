//! The disclosure letter (保有個人情報開示通知書), set with `kiroku-print`.

use kiroku_print::{A4 as PAGE, Document, Page};
use serde_json::Value;

const LEFT: f32 = 56.0;
const LINE: f32 = 15.0;
const BOTTOM: f32 = 60.0;

/// Resident fields in the order the letter lists them, with their labels.
const RESIDENT: &[(&str, &str)] = &[
    ("address-number", "宛名番号"),
    ("kanji-name", "氏名"),
    ("kana-name", "氏名（カナ）"),
    ("birth-date", "生年月日"),
    ("sex", "性別"),
    ("postal-code", "郵便番号"),
    ("address", "住所"),
    ("building", "方書"),
    ("phone", "電話番号"),
    ("status", "住民状態"),
    ("status-date", "異動日"),
];

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    }
}

/// The lines of the letter, in order (a heading starts with `■`).
pub fn lines(d: &Value) -> Vec<String> {
    let mut out = vec![
        format!("開示日時: {}", text(d, "generated_at")),
        format!("請求者: {}", text(d, "enquirer")),
        String::new(),
        "■ 住民情報".to_owned(),
    ];
    let resident = &d["resident"];
    for (key, label) in RESIDENT {
        let v = text(resident, key);
        if !v.is_empty() {
            out.push(format!("{label}: {v}"));
        }
    }
    let my_number = text(d, "my_number");
    out.push(format!(
        "個人番号: {}",
        if my_number.is_empty() {
            "保有していません".to_owned()
        } else {
            my_number
        }
    ));
    out.push(String::new());
    out.push("■ 接種記録".to_owned());
    let doses = d["doses"].as_array().cloned().unwrap_or_default();
    if doses.is_empty() {
        out.push("保有していません".to_owned());
    }
    for dose in &doses {
        out.push(format!(
            "第{}回 {} {} {} ロット {}",
            text(dose, "dose-number"),
            text(dose, "date"),
            text(dose, "vaccine"),
            text(dose, "maker"),
            text(dose, "lot")
        ));
    }
    out.push(String::new());
    out.push("■ 接種券".to_owned());
    for t in d["tickets"].as_array().cloned().unwrap_or_default() {
        out.push(format!(
            "{} 発行日 {} 状態 {}",
            text(&t, "number"),
            text(&t, "issued-on"),
            text(&t, "status")
        ));
    }
    out.push(String::new());
    out.push("■ 訂正・請求の履歴".to_owned());
    for h in d["history"].as_array().cloned().unwrap_or_default() {
        out.push(format!(
            "{} {} {} {}",
            text(&h, "at"),
            text(&h, "kind"),
            text(&h, "field"),
            text(&h, "by")
        ));
    }
    out.push(String::new());
    out.push("■ アクセス履歴（いつ、だれが（役割）、どの処理で、どの項目を）".to_owned());
    for e in d["access_history"].as_array().cloned().unwrap_or_default() {
        let role = match text(&e, "role") {
            r if r.is_empty() => String::new(),
            r => format!("（{r}）"),
        };
        out.push(format!(
            "{} {}{role} {} {} [{}] {}",
            text(&e, "at"),
            text(&e, "who"),
            text(&e, "plugin"),
            text(&e, "action"),
            text(&e, "fields"),
            text(&e, "outcome")
        ));
    }
    out
}

fn header(c: &mut Page<'_>, d: &Value) -> f32 {
    let top = PAGE.1 - 64.0;
    c.text(LEFT, top, 18.0, "保有個人情報開示通知書");
    c.text(
        LEFT,
        top - 24.0,
        10.0,
        &format!("市区町村コード {}", text(d, "tenant")),
    );
    top - 52.0
}

/// Renders the letter: as many pages as its lines need.
pub fn render(d: &Value) -> Result<Vec<u8>, String> {
    let all = lines(d);
    let mut doc = Document::new(PAGE)?;
    let mut at = 0;
    while at < all.len() || at == 0 {
        doc.page(|c| -> Result<(), String> {
            let mut y = header(c, d);
            while at < all.len() && y > BOTTOM {
                c.text(LEFT, y, 9.0, &all[at]);
                y -= LINE;
                at += 1;
            }
            Ok(())
        })?;
        if all.is_empty() {
            break;
        }
    }
    doc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_letter_lists_the_facts_masked_number_and_accesses() {
        let d = serde_json::json!({
            "tenant": "142051", "generated_at": "2026-12-03T10:00:00Z", "enquirer": "本人",
            "resident": {"kanji-name": "藤沢 花子", "birth-date": "1980-01-02"},
            "my_number": "********9018",
            "doses": [{"dose-number": "1", "date": "2021-06-01", "vaccine": "covid-19", "lot": "AB1"}],
            "tickets": [], "history": [],
            "access_history": [{"at": "2026-01-01T00:00:00Z", "who": "clerk-1", "role": "clerk", "action": "residents.get", "fields": ["kanji-name"], "outcome": "ok"}],
        });
        let lines = lines(&d);
        assert!(lines.iter().any(|l| l == "個人番号: ********9018"));
        assert!(
            lines
                .iter()
                .any(|l| l.contains("clerk-1（clerk）") && l.contains("residents.get"))
        );
        let pdf = render(&d).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
    }
}
