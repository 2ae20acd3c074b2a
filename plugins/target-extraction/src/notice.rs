//! Printed notices: one A4 page per person with the address block, the
//! ticket number, the OCR line and a QR code holding the OCR line's 18
//! digits. Japanese text is set in IPAGothic, embedded as a subset (only
//! the glyphs used), so every PDF reader shows it the same way.

use std::collections::BTreeMap;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

/// The embedded font (see `.cargo/config.toml`).
static FONT: &[u8] = include_bytes!(env!("KIROKU_NOTICE_FONT"));

/// A4 in points.
const PAGE: (f32, f32) = (595.0, 842.0);
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

/// Glyphs used so far: char -> new glyph id in the subset.
struct Glyphs<'f> {
    face: ttf_parser::Face<'f>,
    remapper: subsetter::GlyphRemapper,
    used: BTreeMap<u16, (char, f32)>,
}

impl<'f> Glyphs<'f> {
    /// Encodes text as 2-byte CIDs (= glyph ids in the subset).
    fn encode(&mut self, text: &str) -> Vec<u8> {
        let units = f32::from(self.face.units_per_em());
        let mut out = Vec::with_capacity(text.len() * 2);
        for c in text.chars() {
            let old = self.face.glyph_index(c).map_or(0, |g| g.0);
            let new = self.remapper.remap(old);
            let width = self
                .face
                .glyph_hor_advance(ttf_parser::GlyphId(old))
                .map_or(1000.0, |w| f32::from(w) * 1000.0 / units);
            self.used.entry(new).or_insert((c, width));
            out.extend_from_slice(&new.to_be_bytes());
        }
        out
    }
}

fn text(content: &mut Content, glyphs: &mut Glyphs<'_>, x: f32, y: f32, size: f32, s: &str) {
    let encoded = glyphs.encode(s);
    content
        .begin_text()
        .set_font(Name(b"F1"), size)
        .next_line(x, y)
        .show(Str(&encoded))
        .end_text();
}

fn qr(content: &mut Content, data: &str, x: f32, y: f32) -> Result<(), String> {
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M)
        .map_err(|e| format!("QR code: {e}"))?;
    let width = code.width();
    let colors = code.to_colors();
    content.set_fill_gray(0.0);
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (col, row) = ((i % width) as f32, (i / width) as f32);
            // Rows run top to bottom; PDF y runs bottom to top.
            content.rect(
                x + col * QR_MODULE,
                y + (width as f32 - 1.0 - row) * QR_MODULE,
                QR_MODULE,
                QR_MODULE,
            );
        }
    }
    content.fill_nonzero();
    Ok(())
}

fn page_content(n: &Notice, glyphs: &mut Glyphs<'_>) -> Result<Vec<u8>, String> {
    let mut c = Content::new();
    let top = PAGE.1 - 72.0;
    let postal = if n.postal_code.len() == 7 {
        format!("〒{}-{}", &n.postal_code[..3], &n.postal_code[3..])
    } else {
        format!("〒{}", n.postal_code)
    };
    text(&mut c, glyphs, LEFT, top, 11.0, &postal);
    text(&mut c, glyphs, LEFT, top - 18.0, 12.0, &n.address);
    if !n.building.is_empty() {
        text(&mut c, glyphs, LEFT, top - 34.0, 12.0, &n.building);
    }
    text(&mut c, glyphs, LEFT, top - 62.0, 9.0, &n.kana);
    text(
        &mut c,
        glyphs,
        LEFT,
        top - 80.0,
        16.0,
        &format!("{} 様", n.name),
    );

    let body = top - 170.0;
    text(
        &mut c,
        glyphs,
        LEFT,
        body,
        18.0,
        "予防接種のお知らせ（接種券）",
    );
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
        text(
            &mut c,
            glyphs,
            LEFT,
            body - 36.0 - 18.0 * i as f32,
            11.0,
            line,
        );
    }

    let ticket = body - 150.0;
    text(
        &mut c,
        glyphs,
        LEFT,
        ticket,
        12.0,
        &format!("接種券番号 {}", n.ticket_number),
    );
    text(
        &mut c,
        glyphs,
        LEFT,
        ticket - 20.0,
        12.0,
        &format!("接種回数 {}回目", n.dose_number),
    );
    text(
        &mut c,
        glyphs,
        LEFT,
        ticket - 40.0,
        12.0,
        &format!("市区町村コード {}", n.municipality),
    );
    text(&mut c, glyphs, LEFT, ticket - 72.0, 14.0, &n.ocr);
    qr(
        &mut c,
        &n.ocr,
        PAGE.0 - LEFT - 29.0 * QR_MODULE,
        ticket - 80.0,
    )?;
    Ok(c.finish().to_vec())
}

/// Renders the notices as one PDF, a page each.
pub fn render(notices: &[Notice]) -> Result<Vec<u8>, String> {
    let face = ttf_parser::Face::parse(FONT, 0).map_err(|_| "the notice font is unreadable")?;
    let mut glyphs = Glyphs {
        face,
        remapper: subsetter::GlyphRemapper::new(),
        used: BTreeMap::new(),
    };
    let (catalog, tree, font, cid_font, descriptor, file, cmap) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
        Ref::new(6),
        Ref::new(7),
    );
    let mut next = 8;
    let mut pdf = Pdf::new();
    let mut pages = Vec::with_capacity(notices.len());
    for n in notices {
        let (page, content) = (Ref::new(next), Ref::new(next + 1));
        next += 2;
        let bytes = page_content(n, &mut glyphs)?;
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&bytes, 6);
        pdf.stream(content, &compressed).filter(Filter::FlateDecode);
        let mut p = pdf.page(page);
        p.media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1))
            .parent(tree)
            .contents(content);
        p.resources().fonts().pair(Name(b"F1"), font);
        p.finish();
        pages.push(page);
    }
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(pages.iter().copied())
        .count(pages.len() as i32);

    let base = Name(b"KIROKU+IPAGothic");
    let info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    pdf.type0_font(font)
        .base_font(base)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid_font)
        .to_unicode(cmap);
    let mut cid = pdf.cid_font(cid_font);
    cid.subtype(CidFontType::Type2)
        .base_font(base)
        .system_info(info)
        .font_descriptor(descriptor)
        .default_width(1000.0)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    {
        let mut widths = cid.widths();
        for (&gid, &(_, w)) in &glyphs.used {
            widths.consecutive(gid, [w]);
        }
    }
    cid.finish();
    let face = &glyphs.face;
    let scale = 1000.0 / f32::from(face.units_per_em());
    let b = face.global_bounding_box();
    pdf.font_descriptor(descriptor)
        .name(base)
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(
            f32::from(b.x_min) * scale,
            f32::from(b.y_min) * scale,
            f32::from(b.x_max) * scale,
            f32::from(b.y_max) * scale,
        ))
        .italic_angle(0.0)
        .ascent(f32::from(face.ascender()) * scale)
        .descent(f32::from(face.descender()) * scale)
        .cap_height(f32::from(face.capital_height().unwrap_or(face.ascender())) * scale)
        .stem_v(80.0)
        .font_file2(file);
    let mut unicode = UnicodeCmap::new(Name(b"Custom"), info);
    for (&gid, &(c, _)) in &glyphs.used {
        unicode.pair(gid, c);
    }
    let unicode = unicode.finish();
    pdf.cmap(cmap, &unicode);
    let subset = subsetter::subset(FONT, 0, &glyphs.remapper)
        .map_err(|e| format!("subsetting the notice font: {e:?}"))?;
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&subset, 6);
    pdf.stream(file, &compressed).filter(Filter::FlateDecode);
    Ok(pdf.finish())
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
