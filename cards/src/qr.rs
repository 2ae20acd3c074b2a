//! QR codes: the health card's numeric `shc:/` form (a byte segment
//! `shc:/`, then a numeric segment of two digits per JWS character, error
//! correction L, the smallest version that fits and at most 22), a plain
//! byte-mode code for VDS-NC, and PNG and SVG renderings.

use crate::qr_draw::Symbol;
use crate::qr_encode::{self, Segment};
use crate::qr_png::QUIET;
use crate::{CardError, err, qr_mask};

/// Error correction levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcLevel {
    /// About 7% of the code can be restored (what health cards use).
    L,
    /// About 15%.
    M,
}

/// A QR code's modules.
#[derive(Debug, Clone)]
pub struct QrCode {
    width: usize,
    dark: Vec<bool>,
    version: i16,
    level: EcLevel,
    mask: u8,
}

/// The code of `segments` at `level` (not raised) in the smallest version
/// up to `max`, with the mask of the lowest penalty.
fn encode(segments: &[Segment], level: EcLevel, max: usize) -> Option<QrCode> {
    let version = qr_encode::version_for(segments, level, max)?;
    let symbol = Symbol::draw(version, &qr_encode::codewords(segments, version, level));
    let (mask, dark) = qr_mask::choose(&symbol, level);
    Some(QrCode {
        width: symbol.size,
        dark,
        version: version as i16,
        level,
        mask,
    })
}

impl QrCode {
    /// Modules per side.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Its error correction level.
    pub fn error_correction_level(&self) -> EcLevel {
        self.level
    }

    /// Its mask (0-7).
    pub fn mask(&self) -> u8 {
        self.mask
    }
}

/// The largest QR version a health card may use.
pub const MAX_SHC_VERSION: i16 = 22;

/// `shc:/` then each JWS character as two digits (its code minus 45).
pub fn shc_text(jws: &str) -> String {
    let mut out = String::with_capacity(5 + 2 * jws.len());
    out.push_str("shc:/");
    for b in jws.bytes() {
        let n = b.saturating_sub(45);
        out.push(char::from(b'0' + n / 10));
        out.push(char::from(b'0' + n % 10));
    }
    out
}

/// The JWS held by one QR text or by the (deprecated) chunks
/// `shc:/C/N/...` of one card, in any order.
pub fn jws_from_texts(texts: &[&str]) -> Result<String, CardError> {
    if texts.is_empty() || texts.len() > 99 {
        return err("between 1 and 99 QR texts make one card");
    }
    let mut chunks: Vec<(usize, usize, &str)> = Vec::with_capacity(texts.len());
    for text in texts {
        let rest = text
            .trim()
            .strip_prefix("shc:/")
            .ok_or_else(|| CardError("a health card QR text starts with shc:/".into()))?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [digits] => chunks.push((1, 1, digits)),
            [c, n, digits] => {
                let (Ok(c), Ok(n)) = (c.parse::<usize>(), n.parse::<usize>()) else {
                    return err("a chunked QR text is shc:/C/N/ with numbers C and N");
                };
                chunks.push((c, n, digits));
            }
            _ => return err("a QR text is shc:/DIGITS or shc:/C/N/DIGITS"),
        }
    }
    let total = chunks[0].1;
    chunks.sort_by_key(|c| c.0);
    let complete = chunks.len() == total
        && chunks
            .iter()
            .enumerate()
            .all(|(i, c)| c.0 == i + 1 && c.1 == total);
    if !complete {
        return err(format!(
            "the QR texts are not chunks 1 to {total} of one card"
        ));
    }
    let mut jws = String::new();
    for (_, _, digits) in chunks {
        let bytes = digits.as_bytes();
        if !bytes.len().is_multiple_of(2) || !bytes.iter().all(u8::is_ascii_digit) {
            return err("a QR text's numeric part is an even number of digits");
        }
        for pair in bytes.chunks(2) {
            let n = (pair[0] - b'0') * 10 + (pair[1] - b'0');
            if n > 77 {
                return err("a QR text's digit pair is above 77 (no JWS character)");
            }
            jws.push(char::from(n + 45));
        }
    }
    if jws.len() > crate::MAX_JWS_BYTES {
        return err(format!(
            "the JWS is longer than {} bytes",
            crate::MAX_JWS_BYTES
        ));
    }
    Ok(jws)
}

/// The health card QR of `text` (from [`shc_text`]): a byte segment
/// `shc:/` and a numeric segment, error correction L (not raised), the
/// smallest version up to 22 that holds it.
pub fn shc_code(text: &str) -> Result<QrCode, CardError> {
    let digits = text
        .strip_prefix("shc:/")
        .ok_or_else(|| CardError("a health card QR text starts with shc:/".into()))?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return err("a health card QR text is shc:/ and digits");
    }
    let segments = [
        Segment::Bytes(b"shc:/"),
        Segment::Numeric(digits.as_bytes()),
    ];
    encode(&segments, EcLevel::L, MAX_SHC_VERSION as usize).ok_or_else(|| {
        CardError(format!(
            "the card does not fit one QR code of version {MAX_SHC_VERSION}"
        ))
    })
}

/// A byte-mode QR code of `text` at error correction `level`.
pub fn byte_code(text: &str, level: EcLevel) -> Result<QrCode, CardError> {
    encode(&[Segment::Bytes(text.as_bytes())], level, 40)
        .ok_or_else(|| CardError("the text does not fit one QR code".into()))
}

/// The QR version (1-40) of a code.
pub fn version(code: &QrCode) -> i16 {
    code.version
}

/// The modules of a code, row by row, `true` for dark.
pub fn dark_modules(code: &QrCode) -> Vec<bool> {
    code.dark.clone()
}

/// A 1-bit greyscale PNG of `code`, `scale` pixels per module, with a
/// 4-module quiet zone.
pub fn png(code: &QrCode, scale: usize) -> Vec<u8> {
    crate::qr_png::png(&code.dark, code.width, scale)
}

/// Appends `n` in decimal (the SVG of a card QR holds thousands of small
/// numbers; `format!` was most of its cost in a plugin).
fn push_number(out: &mut String, n: usize) {
    if n >= 10 {
        push_number(out, n / 10);
    }
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// An SVG of `code` in a viewBox of modules plus the quiet zone, so it
/// scales to any size: one path whose 1-unit-wide strokes draw each run of
/// dark modules (`M x y.5 h run`, then `m gap 0 h run` along the row).
pub fn svg(code: &QrCode) -> String {
    let modules = code.width;
    let side = modules + 2 * QUIET;
    let mut out = String::with_capacity(modules * modules);
    out.push_str("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ");
    push_number(&mut out, side);
    out.push(' ');
    push_number(&mut out, side);
    out.push_str("\" shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path stroke=\"#000\" d=\"");
    for y in 0..modules {
        let row = &code.dark[y * modules..(y + 1) * modules];
        // Where the pen is along this row, once it is on it.
        let mut pen: Option<usize> = None;
        let mut x = 0;
        while x < modules {
            if !row[x] {
                x += 1;
                continue;
            }
            let run = row[x..].iter().take_while(|d| **d).count();
            match pen {
                None => {
                    out.push('M');
                    push_number(&mut out, x + QUIET);
                    out.push(' ');
                    push_number(&mut out, y + QUIET);
                    out.push_str(".5h");
                }
                Some(at) => {
                    out.push('m');
                    push_number(&mut out, x - at);
                    out.push_str(" 0h");
                }
            }
            push_number(&mut out, run);
            x += run;
            pen = Some(x);
        }
    }
    out.push_str("\"/></svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_form_round_trips() {
        let jws = "eyJ6aXAiOiJERUYi.ab_-z09.AZ";
        let text = shc_text(jws);
        assert!(text.starts_with("shc:/56"));
        assert_eq!(jws_from_texts(&[&text]).unwrap(), jws);
    }

    #[test]
    fn chunks_join_in_any_order_and_must_be_complete() {
        let a = format!("shc:/1/2/{}", &shc_text("abc")[5..]);
        let b = format!("shc:/2/2/{}", &shc_text("def")[5..]);
        assert_eq!(jws_from_texts(&[&b, &a]).unwrap(), "abcdef");
        assert!(jws_from_texts(&[&a]).is_err());
        assert!(jws_from_texts(&["shc:/99"]).is_err());
        assert!(jws_from_texts(&["shc:/123"]).is_err());
        assert!(jws_from_texts(&["http://x"]).is_err());
    }

    #[test]
    fn a_card_code_is_level_l_and_numeric() {
        let jws = "x".repeat(300);
        let code = shc_code(&shc_text(&jws)).unwrap();
        assert_eq!(code.error_correction_level(), EcLevel::L);
        assert!(version(&code) <= MAX_SHC_VERSION);
        assert!(shc_code(&shc_text(&"x".repeat(2000))).is_err());
        let png = png(&code, 4);
        assert!(png.starts_with(b"\x89PNG"));
        assert!(svg(&code).starts_with("<svg"));
    }

    /// Reads the modules back from [`svg`]'s path.
    fn svg_modules(svg: &str, width: usize) -> Vec<bool> {
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let mut dark = vec![false; width * width];
        let (mut x, mut y) = (0usize, 0usize);
        let mut rest = d;
        let number = |s: &str| -> (usize, usize) {
            let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            (s[..end].parse().unwrap(), end)
        };
        while let Some(c) = rest.chars().next() {
            rest = &rest[1..];
            match c {
                'M' => {
                    let (a, n) = number(rest);
                    let (b, m) = number(&rest[n + 1..]);
                    assert_eq!(&rest[n + 1 + m..n + 3 + m], ".5");
                    (x, y) = (a, b);
                    rest = &rest[n + 3 + m..];
                }
                'm' => {
                    let (a, n) = number(rest);
                    assert_eq!(&rest[n..n + 2], " 0");
                    x += a;
                    rest = &rest[n + 2..];
                }
                'h' => {
                    let (run, n) = number(rest);
                    for i in 0..run {
                        dark[(y - QUIET) * width + x + i - QUIET] = true;
                    }
                    x += run;
                    rest = &rest[n..];
                }
                other => panic!("unexpected {other:?} in the path"),
            }
        }
        dark
    }

    #[test]
    fn the_svg_draws_exactly_the_dark_modules() {
        let code = shc_code(&shc_text(&"eyJ6aXAiOiJERUYi.ab_-z09.AZ".repeat(20))).unwrap();
        assert_eq!(svg_modules(&svg(&code), code.width()), code.dark);
    }
}
