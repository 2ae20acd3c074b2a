//! Printed notices: one A4 page per person with the address block, the
//! ticket number, the OCR line and a QR code holding the OCR line's 18
//! digits, set with `kiroku-print` (Japanese font subset, vector QR).

use kiroku_print::{A4 as PAGE, Document, Page};

/// Left margin.
const LEFT: f32 = 64.0;
/// Side of one QR module in points (about 0.9 mm: phone cameras and
/// counter scanners read it).
const QR_MODULE: f32 = 2.5;

/// What one notice shows.
#[derive(Debug, Clone, Default)]
pub struct Notice {
    /// Postal code, 7 digits.
    pub postal_code: String,
    /// Address.
    pub address: String,
    /// Building and room.
    pub building: String,
    /// Name in kanji.
    pub name: String,
    /// Name in katakana.
    pub kana: String,
    /// Campaign id.
    pub campaign: String,
    /// Dose the ticket is for.
    pub dose_number: u32,
    /// Ticket number.
    pub ticket_number: String,
    /// The 18-digit OCR line.
    pub ocr: String,
    /// The municipality's code.
    pub municipality: String,
}

fn qr(page: &mut Page<'_>, data: &str, x: f32, y: f32) -> Result<(), String> {
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M)
        .map_err(|e| format!("QR code: {e}"))?;
    let dark: Vec<bool> = code
        .to_colors()
        .iter()
        .map(|c| *c == qrcode::Color::Dark)
        .collect();
    page.modules(x, y, QR_MODULE, code.width(), &dark);
    Ok(())
}

fn draw(c: &mut Page<'_>, n: &Notice) -> Result<(), String> {
    let top = PAGE.1 - 72.0;
    let postal = if n.postal_code.len() == 7 {
        format!("〒{}-{}", &n.postal_code[..3], &n.postal_code[3..])
    } else {
        format!("〒{}", n.postal_code)
    };
    c.text(LEFT, top, 11.0, &postal);
    c.text(LEFT, top - 18.0, 12.0, &n.address);
    if !n.building.is_empty() {
        c.text(LEFT, top - 34.0, 12.0, &n.building);
    }
    c.text(LEFT, top - 62.0, 9.0, &n.kana);
    c.text(LEFT, top - 80.0, 16.0, &format!("{} 様", n.name));

    let body = top - 170.0;
    c.text(LEFT, body, 18.0, "予防接種のお知らせ（接種券）");
    let lines = [
        format!(
            "接種の対象となりましたので、第{}回接種の接種券をお送りします。",
            n.dose_number
        ),
        "接種当日は、この接種券と本人確認書類をお持ちください。".to_owned(),
        "接種券を紛失したときは、保健センターで再発行できます。".to_owned(),
        format!("キャンペーン: {}", n.campaign),
    ];
    for (i, line) in lines.iter().enumerate() {
        c.text(LEFT, body - 36.0 - 18.0 * i as f32, 11.0, line);
    }

    let ticket = body - 150.0;
    c.text(
        LEFT,
        ticket,
        12.0,
        &format!("接種券番号 {}", n.ticket_number),
    );
    c.text(
        LEFT,
        ticket - 20.0,
        12.0,
        &format!("接種回数 {}回目", n.dose_number),
    );
    c.text(
        LEFT,
        ticket - 40.0,
        12.0,
        &format!("市区町村コード {}", n.municipality),
    );
    c.text(LEFT, ticket - 72.0, 14.0, &n.ocr);
    qr(c, &n.ocr, PAGE.0 - LEFT - 29.0 * QR_MODULE, ticket - 80.0)?;
    Ok(())
}

/// Renders the notices as one PDF, a page each.
pub fn render(notices: &[Notice]) -> Result<Vec<u8>, String> {
    let mut doc = Document::new(PAGE)?;
    for n in notices {
        doc.page(|p| draw(p, n))?;
    }
    doc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_page_per_notice_with_a_subset_font() {
        let n = Notice {
            postal_code: "2510861".into(),
            address: "神奈川県藤沢市大庭1丁目2番3号".into(),
            name: "佐藤 花子".into(),
            kana: "サトウ ハナコ".into(),
            campaign: "covid-2026-spring".into(),
            dose_number: 8,
            ticket_number: "0000001008".into(),
            ocr: "181420510000001008".into(),
            municipality: "142051".into(),
            ..Notice::default()
        };
        let pdf = render(&[n.clone(), n]).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&pdf);
        assert_eq!(
            text.matches("/Type /Page\n").count()
                + text.matches("/Type /Page ").count()
                + text.matches("/Type /Page/").count(),
            2,
            "{}",
            &text[..200.min(text.len())]
        );
        assert!(
            pdf.len() < 200_000,
            "the font is subset, not embedded whole: {} bytes",
            pdf.len()
        );
        if let Ok(path) = std::env::var("KIROKU_WRITE_NOTICE") {
            std::fs::write(path, &pdf).unwrap();
        }
    }
}
