//! Renderings: QR codes as PNG (base64) and the printed certificate, an A4
//! PDF in Japanese and English with the health card QR at least 40 mm wide
//! (and the VDS-NC QR beside it for overseas use).

use base64::Engine;
use kiroku_cards::qr::QrCode;
use kiroku_print::{A4, Document, PT_PER_MM};
use serde_json::Value;

use crate::bindings::exports::kiroku::plugin::handler::Error;
use crate::bindings::kiroku::certificates::certificates::Kind;
use crate::content::Card;
use crate::invalid;

/// Pixels per module of the PNGs (a version 10-15 code is 300-400 px).
const PNG_SCALE: usize = 5;
/// The printed width of the health card QR (modules only).
const QR_MM: f32 = 45.0;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A QR code as a base64 PNG.
pub fn png_base64(code: &QrCode) -> String {
    b64(&kiroku_cards::qr::png(code, PNG_SCALE))
}

/// The VDS-NC document's QR code (byte mode, its JSON as is).
pub fn vds_code(doc: &Value) -> Result<QrCode, Error> {
    kiroku_cards::qr::byte_code(&doc.to_string(), kiroku_cards::qr::EcLevel::L)
        .map_err(|_| invalid("the VDS-NC document does not fit one QR code"))
}

/// 令和 dates for the Japanese lines (the western date beside them).
fn wareki(date: &str) -> String {
    let Ok(d) = kiroku_rules::Date::parse(date) else {
        return date.to_owned();
    };
    let (y, m, day) = (u32::from(d.year), d.month, d.day);
    let (era, start) = match (y, m, day) {
        (2019.., _, _) if (y, m, day) >= (2019, 5, 1) => ("令和", 2018),
        (1989.., _, _) if (y, m, day) >= (1989, 1, 8) => ("平成", 1988),
        (1926.., _, _) if (y, m, day) >= (1926, 12, 25) => ("昭和", 1925),
        _ => ("大正", 1911),
    };
    let n = y - start;
    let year = if n == 1 {
        "元".to_owned()
    } else {
        n.to_string()
    };
    format!("{era}{year}年{m}月{day}日")
}

/// The PDF certificate as base64.
pub fn pdf_base64(
    card: &Card,
    out: &Value,
    code: &QrCode,
    vds: Option<&QrCode>,
) -> Result<String, Error> {
    let mut doc = Document::new(A4).map_err(invalid)?;
    let (w, h) = doc.size();
    let left = 56.0;
    let id = out["certificate_id"].as_str().unwrap_or("");
    doc.page(|p| {
        let mut y = h - 72.0;
        p.text(left, y, 18.0, "新型コロナウイルス感染症 予防接種証明書");
        y -= 22.0;
        p.text(left, y, 12.0, "Vaccination Certificate of COVID-19");
        y -= 12.0;
        p.rule(left, w - left, y);
        y -= 24.0;
        let overseas = card.kind == Kind::Overseas;
        let purpose = if overseas {
            "海外用 / For use abroad"
        } else {
            "日本国内用 / For use in Japan"
        };
        p.text(left, y, 11.0, purpose);
        y -= 24.0;
        p.text(
            left,
            y,
            12.0,
            &format!(
                "氏名 Name: {}",
                card.romanised_name.as_deref().unwrap_or(&card.kanji_name)
            ),
        );
        if overseas {
            y -= 18.0;
            p.text(left, y, 11.0, &format!("氏名（漢字）: {}", card.kanji_name));
            y -= 18.0;
            p.text(
                left,
                y,
                11.0,
                &format!(
                    "旅券番号 Passport No.: {}",
                    card.passport_number.as_deref().unwrap_or("")
                ),
            );
        }
        y -= 18.0;
        p.text(
            left,
            y,
            11.0,
            &format!(
                "生年月日 Date of birth: {} ({})",
                card.birth_date,
                wareki(&card.birth_date)
            ),
        );
        y -= 28.0;
        p.text(
            left,
            y,
            11.0,
            "回 Dose   接種日 Date          ワクチン Vaccine            ロット Lot",
        );
        y -= 6.0;
        p.rule(left, w - left, y);
        for d in &card.doses {
            y -= 16.0;
            p.text(
                left,
                y,
                10.0,
                &format!(
                    "{:>2}       {}        {} ({})        {}",
                    d.number, d.date, d.product, d.maker, d.lot
                ),
            );
        }
        y -= 28.0;
        p.text(left, y, 9.0, &format!("証明書ID Certificate ID: {id}"));
        y -= 14.0;
        p.text(
            left,
            y,
            9.0,
            "発行: 市区町村長 / Issued by the mayor of the municipality",
        );
        let module = QR_MM * PT_PER_MM / code.width() as f32;
        let side = module * code.width() as f32;
        let qr_y = (y - 40.0 - side).max(48.0);
        p.modules(
            left,
            qr_y,
            module,
            code.width(),
            &kiroku_cards::qr::dark_modules(code),
        );
        p.text(left, qr_y - 14.0, 8.0, "SMART Health Card");
        if let Some(v) = vds {
            let vmodule = (w - 2.0 * left - side - 40.0) / v.width() as f32;
            let vmodule = vmodule.min(module);
            p.modules(
                left + side + 40.0,
                qr_y,
                vmodule,
                v.width(),
                &kiroku_cards::qr::dark_modules(v),
            );
            p.text(left + side + 40.0, qr_y - 14.0, 8.0, "ICAO VDS-NC");
        }
        Ok::<(), String>(())
    })
    .map_err(invalid)?;
    Ok(b64(&doc.finish().map_err(invalid)?))
}
