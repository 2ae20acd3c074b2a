//! The enrolment QR code as a PNG, for an authenticator app to scan (the
//! certificates' QR writer, at error correction M).

use kiroku_cards::qr::{EcLevel, byte_code, png as render};

/// Pixels per module.
const SCALE: usize = 6;

/// A PNG of `text` as a QR code (ECC level M).
pub fn png(text: &str) -> Option<Vec<u8>> {
    byte_code(text, EcLevel::M)
        .ok()
        .map(|code| render(&code, SCALE))
}
