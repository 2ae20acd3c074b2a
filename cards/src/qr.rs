//! QR codes: the health card's numeric `shc:/` form (a byte segment
//! `shc:/`, then a numeric segment of two digits per JWS character, error
//! correction L, the smallest version that fits and at most 22), a plain
//! byte-mode code for VDS-NC, and PNG and SVG renderings.

use qrcodegen::{QrCodeEcc, QrSegment, Version};

use crate::{CardError, err};

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
}

impl QrCode {
    fn of(code: &qrcodegen::QrCode, level: EcLevel) -> QrCode {
        let width = code.size() as usize;
        let mut dark = Vec::with_capacity(width * width);
        for y in 0..width as i32 {
            for x in 0..width as i32 {
                dark.push(code.get_module(x, y));
            }
        }
        QrCode {
            width,
            dark,
            version: i16::from(code.version().value()),
            level,
        }
    }

    /// Modules per side.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Its error correction level.
    pub fn error_correction_level(&self) -> EcLevel {
        self.level
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
        QrSegment::make_bytes(b"shc:/"),
        QrSegment::make_numeric(digits),
    ];
    let max = Version::new(MAX_SHC_VERSION as u8);
    crate::qr_mask::encode(&segments, QrCodeEcc::Low, max)
        .map(|c| QrCode::of(&c, EcLevel::L))
        .ok_or_else(|| {
            CardError(format!(
                "the card does not fit one QR code of version {MAX_SHC_VERSION}"
            ))
        })
}

/// A byte-mode QR code of `text` at error correction `level`.
pub fn byte_code(text: &str, level: EcLevel) -> Result<QrCode, CardError> {
    let ecc = match level {
        EcLevel::L => QrCodeEcc::Low,
        EcLevel::M => QrCodeEcc::Medium,
    };
    qrcodegen::QrCode::encode_binary(text.as_bytes(), ecc)
        .map(|c| QrCode::of(&c, level))
        .map_err(|_| CardError("the text does not fit one QR code".into()))
}

/// The QR version (1-40) of a code.
pub fn version(code: &QrCode) -> i16 {
    code.version
}

/// The modules of a code, row by row, `true` for dark.
pub fn dark_modules(code: &QrCode) -> Vec<bool> {
    code.dark.clone()
}

/// Modules of quiet zone around a rendered code.
const QUIET: usize = 4;

/// A 1-bit greyscale PNG of `code`, `scale` pixels per module, with a
/// 4-module quiet zone.
pub fn png(code: &QrCode, scale: usize) -> Vec<u8> {
    let modules = code.width;
    let side = (modules + 2 * QUIET) * scale;
    let row_bytes = side.div_ceil(8);
    let white_row: Vec<u8> = std::iter::once(0)
        .chain(std::iter::repeat_n(0xff, row_bytes))
        .collect();
    let mut raw = Vec::with_capacity((row_bytes + 1) * side);
    for _ in 0..QUIET * scale {
        raw.extend_from_slice(&white_row);
    }
    for my in 0..modules {
        // One pixel row of this module row (1-bit greyscale: 1 is white).
        let mut row = white_row.clone();
        for mx in 0..modules {
            if code.dark[my * modules + mx] {
                for x in (mx + QUIET) * scale..(mx + QUIET + 1) * scale {
                    row[1 + x / 8] &= !(0x80 >> (x % 8));
                }
            }
        }
        for _ in 0..scale {
            raw.extend_from_slice(&row);
        }
    }
    for _ in 0..QUIET * scale {
        raw.extend_from_slice(&white_row);
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&(side as u32).to_be_bytes());
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]); // 1-bit greyscale
    chunk(&mut out, b"IHDR", &ihdr);
    // Repeated rows compress well at the fastest level.
    chunk(
        &mut out,
        b"IDAT",
        &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 1),
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// An SVG of `code`: one path of unit squares in a viewBox of modules plus
/// the quiet zone, so it scales to any size.
pub fn svg(code: &QrCode) -> String {
    use std::fmt::Write;
    let modules = code.width;
    let side = modules + 2 * QUIET;
    let mut path = String::with_capacity(modules * modules);
    for y in 0..modules {
        let row = &code.dark[y * modules..(y + 1) * modules];
        let mut x = 0;
        while x < modules {
            if !row[x] {
                x += 1;
                continue;
            }
            let run = row[x..].iter().take_while(|d| **d).count();
            let _ = write!(path, "M{} {}h{run}v1h-{run}z", x + QUIET, y + QUIET);
            x += run;
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    )
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
}
