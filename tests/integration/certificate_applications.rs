//! Card applications from the app and kiosk: the host checks the My
//! Number card's signature and chain before the `certificate` plugin runs,
//! refuses with a reason and an audit event, and keeps nothing of the
//! application but the certificate id.

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::certificates::{host, vaccinated, verify};
use crate::support::*;

/// A test card CA and a card certificate it issued (or one it did not).
fn card_pki() -> (Vec<u8>, rcgen::KeyPair, Vec<u8>, rcgen::KeyPair, Vec<u8>) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test JPKI CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let card_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "card holder");
    let card = params.signed_by(&card_key, &issuer).unwrap();
    let stranger_key = rcgen::KeyPair::generate().unwrap();
    let stranger = params.self_signed(&stranger_key).unwrap();
    (
        ca.der().to_vec(),
        card_key,
        card.der().to_vec(),
        stranger_key,
        stranger.der().to_vec(),
    )
}

fn application(card: &Value, key: &rcgen::KeyPair, cert: &[u8]) -> Bytes {
    use base64::Engine;
    use rcgen::SigningKey;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let signed = kiroku_cards::jcs(card).unwrap();
    let signature = key.sign(&signed).unwrap();
    Bytes::from(json!({"kind": "domestic", "card": card, "signature": b64(&signature), "certificate": b64(cert)}).to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn card_applications_are_checked_before_the_plugin_and_leave_nothing_stored() {
    let host = host().await;
    let (r, _) = vaccinated(&host).await;
    let (ca, card_key, card_cert, stranger_key, stranger_cert) = card_pki();
    let store = host.store();
    let value = kiroku::certificates::application::with_card_ca(&store, ca).unwrap();
    store
        .commit_now(kiroku::store::commit::WriteSet {
            ops: vec![kiroku::store::commit::Op::SetMeta("card-cas".into(), value)],
            ..Default::default()
        })
        .unwrap();
    let kiosk = host.service_token("kiosk");
    let path = format!("/v1/{FUJISAWA}/certificate-applications");
    let card = json!({
        "kana_name": r.kana_name, "kanji_name": r.kanji_name, "birth_date": r.birth_date.to_string(),
        "sex": r.sex, "address": r.address, "my_number": r.my_number,
    });
    let before = host.raw_files();
    let (status, body) = host
        .request(
            "POST",
            &path,
            Some(&kiosk),
            application(&card, &card_key, &card_cert),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["channel"], "kiosk");
    assert!(body["pdf_base64"].as_str().is_some(), "the kiosk prints");
    assert_eq!(
        verify(&host, json!({"jws": body["jws"]})).await["valid"],
        true
    );

    // Refused before any plugin runs, each with its reason and no value.
    let mut tampered = card.clone();
    tampered["birth_date"] = json!("1901-01-01");
    let mut forged = application(&card, &card_key, &card_cert).to_vec();
    let signed_other = application(&tampered, &card_key, &card_cert);
    let other: Value = serde_json::from_slice(&signed_other).unwrap();
    let mut forged_v: Value = serde_json::from_slice(&forged).unwrap();
    forged_v["card"] = other["card"].clone();
    forged = forged_v.to_string().into_bytes();
    let cases = [
        (Bytes::from(forged), "bad-signature"),
        (
            application(&card, &stranger_key, &stranger_cert),
            "untrusted-certificate",
        ),
        (Bytes::from_static(b"{\"kind\":\"domestic\"}"), "malformed"),
    ];
    for (body, code) in cases {
        let (status, answer) = host.request("POST", &path, Some(&kiosk), body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["code"], code);
        assert!(!answer.to_string().contains(&r.my_number));
    }
    // Signed correctly but not this tenant's resident, or facts that differ.
    let mut stranger = card.clone();
    stranger["my_number"] = json!("123456789018");
    let (status, answer) = host
        .request(
            "POST",
            &path,
            Some(&kiosk),
            application(&stranger, &card_key, &card_cert),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (status, answer) = host
        .request(
            "POST",
            &path,
            Some(&kiosk),
            application(&tampered, &card_key, &card_cert),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("birth_date")
    );
    assert!(!answer.to_string().contains("1901"));
    // The generic route cannot fake an application.
    let (status, _) = host
        .request(
            "POST",
            &format!("/v1/{FUJISAWA}/certificate/apply"),
            Some(&kiosk),
            Bytes::from_static(b"{}"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Nothing of the applicant reached the files.
    for (path, bytes) in host.raw_files() {
        for value in [
            r.my_number.as_str(),
            r.kanji_name.as_str(),
            r.address.as_str(),
        ] {
            let was = before
                .iter()
                .any(|(p, b)| p == &path && contains(b, value.as_bytes()));
            assert!(
                was || !contains(&bytes, value.as_bytes()),
                "{} holds an applicant's value",
                path.display()
            );
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Rows of every table of the tenant file.
fn table_rows(store: &kiroku::store::TenantStore) -> std::collections::BTreeMap<String, u64> {
    use redb::{MultimapTableHandle, ReadableDatabase, ReadableTableMetadata, TableHandle};
    let txn = store.db().begin_read().unwrap();
    let mut out = std::collections::BTreeMap::new();
    for handle in txn.list_tables().unwrap() {
        let name = handle.name().to_owned();
        out.insert(name, txn.open_untyped_table(handle).unwrap().len().unwrap());
    }
    for handle in txn.list_multimap_tables().unwrap() {
        let name = handle.name().to_owned();
        out.insert(
            name,
            txn.open_untyped_multimap_table(handle)
                .unwrap()
                .len()
                .unwrap(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_application_adds_only_its_certificate_id_and_audit_events_and_expired_cards_are_refused()
 {
    let host = host().await;
    let (r, _) = vaccinated(&host).await;
    let (ca, card_key, card_cert, _, _) = card_pki();
    let store = host.store();
    let value = kiroku::certificates::application::with_card_ca(&store, ca.clone()).unwrap();
    store
        .commit_now(kiroku::store::commit::WriteSet {
            ops: vec![kiroku::store::commit::Op::SetMeta("card-cas".into(), value)],
            ..Default::default()
        })
        .unwrap();
    let app = host.service_token("app");
    let path = format!("/v1/{FUJISAWA}/certificate-applications");
    let card = json!({
        "kana_name": r.kana_name, "kanji_name": r.kanji_name, "birth_date": r.birth_date.to_string(),
        "sex": r.sex, "address": r.address, "my_number": r.my_number,
    });
    let before = table_rows(&store);
    let (status, body) = host
        .request(
            "POST",
            &path,
            Some(&app),
            application(&card, &card_key, &card_cert),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("pdf_base64").is_none(), "the app gets no print");
    let after = table_rows(&store);
    for (table, rows) in &after {
        let was = before.get(table).copied().unwrap_or(0);
        match table.as_str() {
            "certificates" => assert_eq!(*rows, was + 1, "one certificate id for revocation"),
            "audit" | "audit-by-subject" => assert!(*rows > was),
            // The replay guard of a writing request: its id, the account,
            // the operation and the time (pruned after the replay window).
            "requests" | "requests-by-time" => assert!(*rows <= was + 1),
            _ => assert_eq!(*rows, was, "table {table} changed"),
        }
    }
    let row =
        kiroku::certificates::revocation::load(&store, body["certificate_id"].as_str().unwrap())
            .unwrap()
            .unwrap();
    assert_eq!(
        (
            row.channel.as_str(),
            row.kind.clone(),
            row.issued_on.clone()
        ),
        ("app", None, None)
    );

    // An expired card certificate is refused, audited, with no value.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Old JPKI CA");
    let old_ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.not_before = rcgen::date_time_ymd(2015, 1, 1);
    params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let expired = params.signed_by(&key, &issuer).unwrap();
    let value =
        kiroku::certificates::application::with_card_ca(&store, old_ca.der().to_vec()).unwrap();
    store
        .commit_now(kiroku::store::commit::WriteSet {
            ops: vec![kiroku::store::commit::Op::SetMeta("card-cas".into(), value)],
            ..Default::default()
        })
        .unwrap();
    let (status, answer) = host
        .request(
            "POST",
            &path,
            Some(&app),
            application(&card, &key, expired.der()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "certificate-expired");
    let refused = host.audit_with("certificate.application", kiroku::audit::Outcome::Deny);
    assert_eq!(
        refused.last().unwrap().reason.as_deref(),
        Some("certificate-expired")
    );
    // A staff clerk cannot post applications.
    let (status, _) = host
        .request(
            "POST",
            &path,
            Some(host.token("clerk")),
            application(&card, &card_key, &card_cert),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
