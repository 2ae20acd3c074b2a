//! Printable PDF pages for plugins (notices, certificates): Japanese text
//! set in IPAGothic, embedded as a subset (only the glyphs used) so every
//! PDF reader shows it the same way, and QR codes drawn as filled squares
//! so they stay sharp at any print size.

use std::collections::BTreeMap;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};

/// The embedded font (see `.cargo/config.toml`).
static FONT: &[u8] = include_bytes!(env!("KIROKU_NOTICE_FONT"));

/// A4 portrait in points.
pub const A4: (f32, f32) = (595.0, 842.0);
/// Points per millimetre.
pub const PT_PER_MM: f32 = 72.0 / 25.4;

/// Glyphs used so far: char -> new glyph id in the subset.
struct Glyphs {
    face: ttf_parser::Face<'static>,
    remapper: subsetter::GlyphRemapper,
    used: BTreeMap<u16, (char, f32)>,
}

impl Glyphs {
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

/// A PDF being written, page by page.
pub struct Document {
    glyphs: Glyphs,
    size: (f32, f32),
    pages: Vec<Vec<u8>>,
}

/// One page's drawing.
pub struct Page<'d> {
    glyphs: &'d mut Glyphs,
    content: Content,
}

impl Page<'_> {
    /// Writes `s` with its baseline starting at (`x`, `y`).
    pub fn text(&mut self, x: f32, y: f32, size: f32, s: &str) {
        let encoded = self.glyphs.encode(s);
        self.content
            .begin_text()
            .set_font(Name(b"F1"), size)
            .next_line(x, y)
            .show(Str(&encoded))
            .end_text();
    }

    /// Draws a QR code's modules (`dark`, row by row, `width` per row) with
    /// its bottom-left corner at (`x`, `y`), each module `module` points.
    pub fn modules(&mut self, x: f32, y: f32, module: f32, width: usize, dark: &[bool]) {
        self.content.set_fill_gray(0.0);
        for (i, _) in dark.iter().enumerate().filter(|(_, d)| **d) {
            let (col, row) = ((i % width) as f32, (i / width) as f32);
            // Rows run top to bottom; PDF y runs bottom to top.
            self.content.rect(
                x + col * module,
                y + (width as f32 - 1.0 - row) * module,
                module,
                module,
            );
        }
        self.content.fill_nonzero();
    }

    /// A horizontal rule from `x0` to `x1` at `y`.
    pub fn rule(&mut self, x0: f32, x1: f32, y: f32) {
        self.content
            .set_line_width(0.5)
            .move_to(x0, y)
            .line_to(x1, y)
            .stroke();
    }
}

impl Document {
    /// An empty document of pages `size` points wide and high.
    pub fn new(size: (f32, f32)) -> Result<Document, String> {
        let face = ttf_parser::Face::parse(FONT, 0).map_err(|_| "the print font is unreadable")?;
        Ok(Document {
            glyphs: Glyphs {
                face,
                remapper: subsetter::GlyphRemapper::new(),
                used: BTreeMap::new(),
            },
            size,
            pages: Vec::new(),
        })
    }

    /// The page size in points.
    pub fn size(&self) -> (f32, f32) {
        self.size
    }

    /// Adds a page drawn by `draw`.
    pub fn page<E>(&mut self, draw: impl FnOnce(&mut Page<'_>) -> Result<(), E>) -> Result<(), E> {
        let mut page = Page {
            glyphs: &mut self.glyphs,
            content: Content::new(),
        };
        draw(&mut page)?;
        self.pages.push(page.content.finish().to_vec());
        Ok(())
    }

    /// The finished PDF.
    pub fn finish(self) -> Result<Vec<u8>, String> {
        let Document {
            glyphs,
            size,
            pages: contents,
        } = self;
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
        let mut pages = Vec::with_capacity(contents.len());
        for bytes in contents {
            let (page, content) = (Ref::new(next), Ref::new(next + 1));
            next += 2;
            let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&bytes, 6);
            pdf.stream(content, &compressed).filter(Filter::FlateDecode);
            let mut p = pdf.page(page);
            p.media_box(Rect::new(0.0, 0.0, size.0, size.1))
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
            .map_err(|e| format!("subsetting the print font: {e:?}"))?;
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&subset, 6);
        pdf.stream(file, &compressed).filter(Filter::FlateDecode);
        Ok(pdf.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_each_with_a_subset_font() {
        let mut doc = Document::new(A4).unwrap();
        for name in ["佐藤 花子", "鈴木 一郎"] {
            doc.page(|p| {
                p.text(64.0, 700.0, 16.0, name);
                p.modules(64.0, 500.0, 2.0, 2, &[true, false, false, true]);
                p.rule(64.0, 500.0, 480.0);
                Ok::<(), String>(())
            })
            .unwrap();
        }
        let pdf = doc.finish().unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        let text = String::from_utf8_lossy(&pdf);
        assert_eq!(
            text.matches("/Type /Page\n").count()
                + text.matches("/Type /Page ").count()
                + text.matches("/Type /Page/").count(),
            2
        );
        assert!(
            pdf.len() < 200_000,
            "subset, not the whole font: {}",
            pdf.len()
        );
    }
}
