//! The specification's published examples (`tests/vectors/shc/`, from the specification),
//! reproduced byte for byte by the decoder and verified with their JWKS.

#![cfg(feature = "crypto")]

use kiroku_cards::keys::{Jwks, verify_card};
use kiroku_cards::{jws, qr, shc};

fn vector(name: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/shc/");
    std::fs::read_to_string(format!("{dir}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn jwks() -> Jwks {
    serde_json::from_str(&vector("jwks.json")).unwrap()
}

#[test]
fn example_00_qr_decodes_to_the_jws_and_the_payload_byte_for_byte() {
    let jws_text = vector("example-00-d-jws.txt");
    let qr_text = vector("example-00-f-qr-code-numeric-value-0.txt");
    assert_eq!(qr::jws_from_texts(&[&qr_text]).unwrap(), jws_text.trim());
    assert_eq!(qr::shc_text(jws_text.trim()), qr_text.trim());
    let parts = jws::split(&jws_text).unwrap();
    assert_eq!(
        parts.payload,
        vector("example-00-c-jws-payload-minified.json")
            .trim()
            .as_bytes()
    );
    let file: serde_json::Value =
        serde_json::from_str(&vector("example-00-e-file.smart-health-card")).unwrap();
    assert_eq!(
        shc::file_credentials(&file).unwrap(),
        vec![jws_text.trim().to_owned()]
    );
}

#[test]
fn example_00_verifies_with_its_jwks() {
    let v = verify_card(
        &vector("example-00-d-jws.txt"),
        &jwks(),
        &[],
        Some("https://spec.smarthealth.cards/examples/issuer"),
        2.0e9,
    );
    assert!(v.valid, "{:?}", v.reason);
    let card = v.card.unwrap();
    assert_eq!(card.nbf, 1687450764.656, "a fractional nbf is read as is");
    let patient = card.patient.unwrap();
    assert_eq!(patient.family, "Anyperson");
    assert_eq!(patient.birth_date, "1951-01-20");
    assert_eq!(card.doses.len(), 3);
    assert_eq!(card.doses[0].code, "207");
    assert_eq!(card.doses[0].date, "2021-01-01");
}

#[test]
fn example_02_joins_its_three_chunks_and_verifies() {
    let chunks: Vec<String> = (0..3).map(|i| vector(&format!("ex02-{i}.txt"))).collect();
    let mut shuffled: Vec<&str> = chunks.iter().map(String::as_str).collect();
    shuffled.reverse();
    let joined = qr::jws_from_texts(&shuffled).unwrap();
    assert_eq!(joined, vector("ex02-jws.txt").trim());
    let v = verify_card(&joined, &jwks(), &[], None, 2.0e9);
    assert!(v.valid, "{:?}", v.reason);
}

#[test]
fn a_flipped_byte_or_another_issuers_keys_make_it_invalid_with_a_reason() {
    let jws_text = vector("example-00-d-jws.txt");
    let mut bytes = jws_text.trim().as_bytes().to_vec();
    let last = bytes.len() - 5;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let v = verify_card(
        std::str::from_utf8(&bytes).unwrap(),
        &jwks(),
        &[],
        None,
        2.0e9,
    );
    assert!(!v.valid);
    assert_eq!(v.reason.as_deref(), Some("the signature does not verify"));
    let v = verify_card(&jws_text, &Jwks::default(), &[], None, 2.0e9);
    assert_eq!(
        v.reason.as_deref(),
        Some("no key of the issuer has this kid")
    );
    let v = verify_card(
        &jws_text,
        &jwks(),
        &[],
        Some("https://other.example/issuer"),
        2.0e9,
    );
    assert_eq!(
        v.reason.as_deref(),
        Some("the card's iss is not this issuer")
    );
}
