//! Certificates through the real path: the `certificate` plugin built to
//! wasm, host-held keys, the public issuer documents, revocation,
//! rotation, passport data for VDS-NC, and card applications whose
//! signature the host checks before the plugin runs.

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};

use kiroku::clock::Clock;

use crate::support::*;

pub(crate) async fn host() -> TestHost {
    TestHost::new()
        .plugin("dose-entry")
        .plugin("certificate")
        .residents(60)
        .doses()
        .user("clerk", "clerk")
        .user("supervisor", "supervisor")
        .start()
        .await
}

/// A resident in town with at least one dose, and their person id.
pub(crate) async fn vaccinated(host: &TestHost) -> (kiroku::synth::Resident, u64) {
    for (i, r) in host.residents.iter().enumerate() {
        if r.moved_out.is_none() && r.died.is_none() && !host.histories[i].is_empty() {
            return (r.clone(), host.person_of(r).await);
        }
    }
    panic!("a vaccinated resident lives here");
}

async fn issue(host: &TestHost, person: u64, kind: &str) -> Value {
    let (status, body) = host
        .call(
            "clerk",
            "certificate",
            "issue",
            json!({"person_id": person, "kind": kind}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub(crate) async fn verify(host: &TestHost, input: Value) -> Value {
    let (status, body) = host.call("clerk", "certificate", "verify", input).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn public(host: &TestHost, path: &str) -> Value {
    let (status, body) = host.request("GET", path, None, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn a_counter_card_verifies_decodes_to_the_doses_and_revokes_into_the_crl() {
    let host = host().await;
    let (r, person) = vaccinated(&host).await;
    let card = issue(&host, person, "domestic").await;
    assert!(card["qr"][0].as_str().unwrap().starts_with("shc:/"));
    assert!(card["qr_version"].as_i64().unwrap() <= 22);
    assert!(card["pdf_base64"].as_str().unwrap().len() > 1000);
    assert!(card["qr_svg"][0].as_str().unwrap().starts_with("<svg"));
    assert!(card.get("vds").is_none());

    let v = verify(&host, json!({"qr": card["qr"][0]})).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["issuer"], format!("http://localhost/issuers/{FUJISAWA}"));
    assert_eq!(v["patient"]["birth_date"], r.birth_date.to_string());
    assert_eq!(v["patient"]["name"], r.kanji_name.replace('\u{3000}', " "));
    let stored = host.doses_of(person).await;
    let covid: Vec<&Value> = stored
        .iter()
        .filter(|d| d["vaccine"] == "covid-19")
        .collect();
    assert_eq!(v["doses"].as_array().unwrap().len(), covid.len(), "{v}");
    for form in ["jws", "health_card"] {
        let input = if form == "jws" {
            json!({"jws": card["jws"]})
        } else {
            json!({"health_card": card["health_card"]})
        };
        assert_eq!(verify(&host, input).await["valid"], true);
    }

    // A flipped byte and a card of another issuer are invalid, with reasons.
    let mut jws = card["jws"].as_str().unwrap().to_owned().into_bytes();
    let i = jws.len() - 10;
    jws[i] = if jws[i] == b'A' { b'B' } else { b'A' };
    let v = verify(&host, json!({"jws": String::from_utf8(jws).unwrap()})).await;
    assert_eq!(
        (v["valid"].clone(), v["reason"].clone()),
        (json!(false), json!("the signature does not verify"))
    );
    let example =
        std::fs::read_to_string(root().join("tests/vectors/shc/example-00-d-jws.txt")).unwrap();
    let v = verify(&host, json!({"jws": example.trim()})).await;
    assert_eq!(v["reason"], "no key of the issuer has this kid");

    // Revocation: only a supervisor; then the card is revoked and listed.
    let id = card["certificate_id"].as_str().unwrap();
    let revoke = json!({"certificate_id": id, "reason": "issued-in-error"});
    let (status, _) = host
        .call("clerk", "certificate", "revoke", revoke.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = host
        .call("supervisor", "certificate", "revoke", revoke.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v = verify(&host, json!({"qr": card["qr"][0]})).await;
    assert_eq!(
        (v["valid"].clone(), v["revoked"].clone()),
        (json!(false), json!(true))
    );
    let jwks = public(&host, &format!("/issuers/{FUJISAWA}/.well-known/jwks.json")).await;
    let kid = v["kid"].as_str().unwrap();
    assert_eq!(jwks["keys"][0]["kid"], kid);
    assert_eq!(jwks["keys"][0]["crlVersion"], 1);
    let crl = public(
        &host,
        &format!("/issuers/{FUJISAWA}/.well-known/crl/{kid}.json"),
    )
    .await;
    assert_eq!(crl["method"], "rid");
    assert_eq!(crl["rids"].as_array().unwrap().len(), 1);
    let (status, _) = host
        .call("supervisor", "certificate", "revoke", revoke)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "revoked once only");
    // A card issued after the revocation still verifies.
    host.clock.advance_ms(2_000);
    let again = issue(&host, person, "domestic").await;
    assert_eq!(
        verify(&host, json!({"jws": again["jws"]})).await["valid"],
        true
    );
    let (status, _) = host
        .request(
            "GET",
            &format!("/issuers/{FUJISAWA}/.well-known/crl/nope.json"),
            None,
            Bytes::new(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_publishes_a_new_key_and_old_cards_keep_verifying() {
    let host = host().await;
    let (_, person) = vaccinated(&host).await;
    let old = issue(&host, person, "domestic").await;
    let kid = kiroku::certificates::keys::rotate(
        &host.store(),
        &kiroku::clock::OsEntropy,
        host.clock.now_ms(),
        "test",
    )
    .unwrap();
    let new = issue(&host, person, "domestic").await;
    let jwks = public(&host, &format!("/issuers/{FUJISAWA}/.well-known/jwks.json")).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let v_new = verify(&host, json!({"jws": new["jws"]})).await;
    assert_eq!(
        (v_new["valid"].clone(), v_new["kid"].clone()),
        (json!(true), json!(kid))
    );
    let v_old = verify(&host, json!({"jws": old["jws"]})).await;
    assert_eq!(v_old["valid"], true);
    assert_ne!(v_old["kid"], v_new["kid"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn overseas_needs_passport_data_and_its_vds_verifies_and_detects_tampering() {
    let host = host().await;
    let (_, person) = vaccinated(&host).await;
    let (status, body) = host
        .call(
            "clerk",
            "certificate",
            "issue",
            json!({"person_id": person, "kind": "overseas"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("register-passport")
    );
    let passport = json!({"person_id": person, "romanised_name": "SATO HANAKO", "passport_number": "TK1234567", "nationality": "JPN"});
    let (status, body) = host
        .call("clerk", "certificate", "register-passport", passport)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let card = issue(&host, person, "overseas").await;
    assert_eq!(card["vds"]["data"]["msg"]["pid"]["n"], "SATO HANAKO");
    assert_eq!(card["vds"]["data"]["msg"]["uvci"], card["certificate_id"]);
    assert!(card["vds_qr_png_base64"].as_str().is_some());
    let v = verify(&host, json!({"vds": card["vds"]})).await;
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(
        verify(&host, json!({"jws": card["jws"]})).await["patient"]["name"],
        "SATO HANAKO"
    );
    let mut tampered = card["vds"].clone();
    tampered["data"]["msg"]["pid"]["dob"] = json!("1999-01-01");
    let v = verify(&host, json!({"vds": tampered})).await;
    assert_eq!(
        (v["valid"].clone(), v["reason"].clone()),
        (json!(false), json!("the signature does not verify"))
    );
}

#[test]
fn no_plugin_but_certificate_may_import_passport_or_the_certificate_keys() {
    for name in [
        "dose-entry",
        "target-extraction",
        "history-list",
        "resident-sync",
    ] {
        let text = policy(name).replace(
            "[grants.context]",
            "[grants.passport]\nread = [\"passport-number\"]\n[grants.context]",
        );
        let e = kiroku::policy::Policy::parse(&text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("certificate-issuance"), "{name}: {e}");
        let text = policy(name).replace(
            "[grants.context]",
            "[grants.certificates]\n[grants.context]",
        );
        assert!(kiroku::policy::Policy::parse(&text).is_err(), "{name}");
    }
    kiroku::policy::Policy::parse(&policy("certificate")).unwrap();
}

/// The Python interpreter with the checkers (`cargo xtask test` installs it).
fn python_tools() -> std::path::PathBuf {
    let python = root().join("target/pytools/bin/python");
    assert!(
        python.exists(),
        "the Python checkers are missing: run `cargo xtask test`, which installs them"
    );
    python
}

#[tokio::test(flavor = "multi_thread")]
async fn independent_tools_verify_what_kiroku_issues() {
    let host = host().await;
    let (_, person) = vaccinated(&host).await;
    let passport = json!({"person_id": person, "romanised_name": "SATO HANAKO", "passport_number": "TK1234567", "nationality": "JPN"});
    assert_eq!(
        host.call("clerk", "certificate", "register-passport", passport)
            .await
            .0,
        StatusCode::OK
    );
    let doses = host
        .doses_of(person)
        .await
        .iter()
        .filter(|d| d["vaccine"] == "covid-19")
        .count();
    let jwks = public(&host, &format!("/issuers/{FUJISAWA}/.well-known/jwks.json")).await;
    let csca = kiroku::certificates::keys::csca(&host.store())
        .unwrap()
        .unwrap();
    for kind in ["domestic", "overseas"] {
        let card = issue(&host, person, kind).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("card.json"), card.to_string()).unwrap();
        std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
        std::fs::write(dir.path().join("csca.der"), &csca).unwrap();
        std::fs::write(dir.path().join("doses.txt"), doses.to_string()).unwrap();
        let out = std::process::Command::new(python_tools())
            .arg(root().join("tests/tools/check_cards.py"))
            .arg(dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{kind}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("ok error correction L"), "{text}");
        if kind == "overseas" {
            assert!(text.contains("ok the BSC is issued by the CSCA"), "{text}");
            // And the offline verifier, with the CSCA only.
            let doc = dir.path().join("vds.json");
            std::fs::write(&doc, card["vds"].to_string()).unwrap();
            let csca = dir.path().join("csca.der");
            let out = kiroku_ok(&[
                "certificate",
                "verify",
                "--csca",
                csca.to_str().unwrap(),
                doc.to_str().unwrap(),
            ]);
            assert!(out.contains("\"valid\":true"), "{out}");
        }
    }
}

#[test]
fn the_offline_verifier_reads_the_published_examples_and_exits_by_the_verdict() {
    let vectors = root().join("tests/vectors/shc");
    let jwks = vectors.join("jwks.json");
    let jwks = jwks.to_str().unwrap();
    for input in [
        "example-00-f-qr-code-numeric-value-0.txt",
        "example-00-d-jws.txt",
        "example-00-e-file.smart-health-card",
    ] {
        let out = kiroku_ok(&[
            "certificate",
            "verify",
            "--jwks",
            jwks,
            vectors.join(input).to_str().unwrap(),
        ]);
        assert!(out.contains("\"valid\":true"), "{input}: {out}");
    }
    let dir = tempfile::tempdir().unwrap();
    let chunks: Vec<String> = (0..3)
        .map(|i| std::fs::read_to_string(vectors.join(format!("ex02-{i}.txt"))).unwrap())
        .collect();
    let joined = dir.path().join("chunks.txt");
    std::fs::write(&joined, chunks.join("\n")).unwrap();
    assert!(
        kiroku_ok(&[
            "certificate",
            "verify",
            "--jwks",
            jwks,
            joined.to_str().unwrap()
        ])
        .contains("\"valid\":true")
    );
    let mut jws = std::fs::read_to_string(vectors.join("example-00-d-jws.txt"))
        .unwrap()
        .trim()
        .to_owned();
    jws.insert(jws.len() - 3, 'x');
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, &jws).unwrap();
    let (ok, out, _) = run_kiroku(&[
        "certificate",
        "verify",
        "--jwks",
        jwks,
        bad.to_str().unwrap(),
    ]);
    assert!(!ok, "an invalid card exits non-zero: {out}");
    assert!(out.contains("\"valid\":false"), "{out}");
}

#[test]
fn tenant_create_makes_the_issuer_and_rotate_adds_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    create_fujisawa(d);
    let out = kiroku_ok(&["issuer", "rotate", "--data", d, "--tenant", FUJISAWA]);
    assert!(out.contains("2 keys published"), "{out}");
}
