//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP):
//! HMAC-SHA-1, 6 digits, 30-second steps, one step of clock skew either
//! way. The caller stores the last accepted step so a code works once.

use hmac::{Hmac, Mac};

/// Seconds per step.
pub const STEP_S: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Steps of clock skew accepted either side of now.
pub const SKEW_STEPS: i64 = 1;
/// Bytes of a generated secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// HOTP value of `secret` at `counter`, `digits` long.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// The step of a moment (ms since epoch).
pub fn step_at(now_ms: i64) -> i64 {
    now_ms.div_euclid(1000).div_euclid(STEP_S)
}

/// The 6-digit code of `secret` at `now_ms`, as typed.
pub fn code_at(secret: &[u8], now_ms: i64) -> String {
    let step = u64::try_from(step_at(now_ms)).unwrap_or(0);
    format!("{:06}", hotp(secret, step, DIGITS))
}

/// The step `code` is valid for within the skew window around `now_ms`,
/// if any and if it is later than `last_used` (each code works once).
pub fn accept(secret: &[u8], code: &str, now_ms: i64, last_used: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let typed: u32 = code.parse().ok()?;
    let now = step_at(now_ms);
    (now - SKEW_STEPS..=now + SKEW_STEPS)
        .filter(|&s| s > last_used && s >= 0)
        .find(|&s| hotp(secret, s as u64, DIGITS) == typed)
}

/// Base32 (RFC 4648, no padding) as authenticator apps read it.
pub fn base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// Decodes [`base32`] (upper case, no padding).
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD
        .decode(text.trim().to_ascii_uppercase().as_bytes())
        .ok()
}

/// The `otpauth://` URI an authenticator app enrols from.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let label = enc(&format!("{issuer}:{account}")).replace('+', "%20");
    format!(
        "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_S}",
        base32(secret),
        enc(issuer).replace('+', "%20"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows: (time in s, 8-digit TOTP).
    const RFC6238_SHA1: &[(i64, u32)] = &[
        (59, 94287082),
        (1111111109, 7081804),
        (1111111111, 14050471),
        (1234567890, 89005924),
        (2000000000, 69279037),
        (20000000000, 65353130),
    ];

    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for &(t, expected) in RFC6238_SHA1 {
            let step = (t / STEP_S) as u64;
            assert_eq!(hotp(secret, step, 8), expected, "T = {t}");
            // The 6-digit code is the last six digits of the same value.
            assert_eq!(
                code_at(secret, t * 1000),
                format!("{:06}", expected % 1_000_000)
            );
        }
    }

    #[test]
    fn rfc_4226_vectors() {
        let secret = b"12345678901234567890";
        let expected = [755224, 287082, 359152, 969429, 338314];
        for (counter, value) in expected.iter().enumerate() {
            assert_eq!(hotp(secret, counter as u64, 6), *value);
        }
    }

    #[test]
    fn a_code_works_once_and_within_the_skew_window() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111_000;
        let code = code_at(secret, now);
        let step = accept(secret, &code, now, 0).unwrap();
        assert_eq!(step, step_at(now));
        assert_eq!(accept(secret, &code, now, step), None, "replayed");
        assert!(
            accept(secret, &code, now + 30_000, 0).is_some(),
            "one step late"
        );
        assert_eq!(accept(secret, &code, now + 90_000, 0), None, "too late");
        assert_eq!(accept(secret, "12345", now, 0), None);
        assert_eq!(accept(secret, "abcdef", now, 0), None);
    }

    #[test]
    fn the_uri_carries_the_secret_in_base32() {
        let uri = otpauth_uri("Kiroku 142051", "sato", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/Kiroku%20142051%3Asato?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Kiroku%20142051&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(
            from_base32("gezdgnbvgy3tqojqgezdgnbvgy3tqojq").unwrap(),
            b"12345678901234567890"
        );
    }
}
