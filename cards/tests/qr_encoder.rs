//! Kiroku's QR encoder draws, for every version and both levels it uses,
//! exactly the symbol of the reference encoder (`qrcodegen`) given the
//! same mask, and picks the same (smallest) version.

use kiroku_cards::qr::{self, EcLevel, QrCode};
use qrcodegen::{Mask, QrCodeEcc, QrSegment, Version};

fn reference(segments: &[QrSegment], ecc: QrCodeEcc, max: u8, mask: u8) -> qrcodegen::QrCode {
    qrcodegen::QrCode::encode_segments_advanced(
        segments,
        ecc,
        Version::MIN,
        Version::new(max),
        Some(Mask::new(mask)),
        false,
    )
    .unwrap()
}

fn assert_same(ours: &QrCode, theirs: &qrcodegen::QrCode, what: &str) {
    assert_eq!(
        qr::version(ours),
        i16::from(theirs.version().value()),
        "{what}"
    );
    let width = ours.width();
    assert_eq!(width as i32, theirs.size(), "{what}");
    let dark = qr::dark_modules(ours);
    for y in 0..width {
        for x in 0..width {
            assert_eq!(
                dark[y * width + x],
                theirs.get_module(x as i32, y as i32),
                "{what}: module ({x},{y})"
            );
        }
    }
}

/// Deterministic pseudo-random bytes.
fn bytes(len: usize, seed: u64) -> String {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(b' ' + (state >> 33) as u8 % 95)
        })
        .collect()
}

#[test]
fn byte_codes_match_the_reference_at_every_version() {
    for (level, ecc, max_len) in [
        (EcLevel::L, QrCodeEcc::Low, 2953),
        (EcLevel::M, QrCodeEcc::Medium, 2331),
    ] {
        let mut versions = std::collections::BTreeSet::new();
        // Steps below the smallest capacity difference between versions.
        for len in (1..300)
            .step_by(11)
            .chain((300..=max_len).step_by(29))
            .chain([max_len])
        {
            let text = bytes(len, len as u64);
            let ours = qr::byte_code(&text, level).unwrap();
            let theirs = reference(
                &[QrSegment::make_bytes(text.as_bytes())],
                ecc,
                40,
                ours.mask(),
            );
            assert_same(&ours, &theirs, &format!("{level:?} {len} bytes"));
            versions.insert(qr::version(&ours));
        }
        assert_eq!(versions.len(), 40, "{level:?}: every version drawn");
        assert!(qr::byte_code(&bytes(max_len + 1, 1), level).is_err());
    }
}

#[test]
fn health_card_codes_match_the_reference_up_to_version_22() {
    let mut versions = std::collections::BTreeSet::new();
    for pairs in (1..=1_195).step_by(7) {
        let digits: String = bytes(pairs * 2, pairs as u64)
            .bytes()
            .map(|b| char::from(b'0' + b % 10))
            .collect();
        let text = format!("shc:/{digits}");
        let Ok(ours) = qr::shc_code(&text) else {
            // Past version 22 the reference needs a larger version too.
            let segments = [
                QrSegment::make_bytes(b"shc:/"),
                QrSegment::make_numeric(&digits),
            ];
            assert!(
                qrcodegen::QrCode::encode_segments_advanced(
                    &segments,
                    QrCodeEcc::Low,
                    Version::MIN,
                    Version::new(22),
                    None,
                    false
                )
                .is_err(),
                "{pairs} pairs fit version 22"
            );
            continue;
        };
        assert_eq!(ours.error_correction_level(), EcLevel::L);
        let segments = [
            QrSegment::make_bytes(b"shc:/"),
            QrSegment::make_numeric(&digits),
        ];
        let theirs = reference(&segments, QrCodeEcc::Low, 22, ours.mask());
        assert_same(&ours, &theirs, &format!("{pairs} digit pairs"));
        versions.insert(qr::version(&ours));
    }
    assert_eq!(versions.len(), 22, "every version 1-22 drawn: {versions:?}");
}
