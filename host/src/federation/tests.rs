//! Mutual TLS and signed requests on loopback, with certificates made by
//! rcgen: a municipality of the federation CA is let in, one of another
//! CA, an expired one and one naming another municipality are not.

use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, SanType};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Refusal;
use super::envelope::{ReplayGuard, open, seal};
use super::identity::{MunicipalityIdentity, code_of};
use super::test_pki::{CURRENT, TestCa, Validity};
use crate::clock::SeededEntropy;
use crate::ids::TenantCode;

fn ca(name: &str) -> TestCa {
    TestCa::new(name).unwrap()
}

fn municipality(ca: &TestCa, code: &str, validity: Validity) -> Arc<MunicipalityIdentity> {
    let code = TenantCode::parse(code).unwrap();
    Arc::new(ca.issue(&code, validity).unwrap().identity)
}

/// One handshake: `answering` serves `served`; `asking` asks for
/// `answerer`. The code the server read from the client, or the error.
async fn handshake(
    answering: &TestCa,
    served: &[Arc<MunicipalityIdentity>],
    asking: (&TestCa, &Arc<MunicipalityIdentity>),
    answerer: &str,
) -> Result<TenantCode, String> {
    let server = super::tls::server_config(answering.roots(), served).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = tokio_rustls::TlsAcceptor::from(server)
            .accept(tcp)
            .await
            .map_err(|e| e.to_string())?;
        let peer: CertificateDer<'static> = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        tls.write_all(b"ok").await.map_err(|e| e.to_string())?;
        tls.shutdown().await.ok();
        code_of(&peer).map_err(|e| e.to_string())
    });
    let answerer = TenantCode::parse(answerer).unwrap();
    let client = super::tls::client_config(asking.0.roots(), asking.1, answerer.clone()).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let connected = tokio_rustls::TlsConnector::from(client)
        .connect(super::tls::server_name_of(&answerer), tcp)
        .await;
    let client_side = match connected {
        Ok(mut tls) => {
            let mut buf = Vec::new();
            tls.read_to_end(&mut buf)
                .await
                .map(|_| buf)
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    let server_side = accept.await.unwrap();
    match (server_side, client_side) {
        (Ok(code), Ok(buf)) if buf == b"ok" => Ok(code),
        (s, c) => Err(format!("server: {s:?}, client: {c:?}")),
    }
}

#[tokio::test]
async fn a_municipality_of_the_federation_ca_is_let_in_and_named() {
    let fed = ca("federation");
    let fujisawa = municipality(&fed, "142051", CURRENT);
    let chiyoda = municipality(&fed, "131016", CURRENT);
    let code = handshake(
        &fed,
        std::slice::from_ref(&fujisawa),
        (&fed, &chiyoda),
        "142051",
    )
    .await;
    assert_eq!(code.unwrap().as_str(), "131016");
    // A node serving both answers for either.
    let both = [fujisawa.clone(), chiyoda.clone()];
    let code = handshake(&fed, &both, (&fed, &fujisawa), "131016").await;
    assert_eq!(code.unwrap().as_str(), "142051");
}

#[tokio::test]
async fn another_ca_an_expired_certificate_and_the_wrong_answerer_are_refused() {
    let fed = ca("federation");
    let other = ca("other");
    let fujisawa = municipality(&fed, "142051", CURRENT);
    // A client certificate from another CA.
    let stranger = municipality(&other, "131016", CURRENT);
    let refused = handshake(
        &fed,
        std::slice::from_ref(&fujisawa),
        (&fed, &stranger),
        "142051",
    )
    .await;
    assert!(refused.unwrap_err().contains("UnknownIssuer"));
    // An expired client certificate of the right CA.
    let expired = municipality(&fed, "131016", ((2010, 1, 1), (2020, 1, 1)));
    let refused = handshake(
        &fed,
        std::slice::from_ref(&fujisawa),
        (&fed, &expired),
        "142051",
    )
    .await;
    assert!(refused.unwrap_err().contains("certificate expired"));
    // The node does not serve the municipality asked for.
    let chiyoda = municipality(&fed, "131016", CURRENT);
    let refused = handshake(
        &fed,
        std::slice::from_ref(&fujisawa),
        (&fed, &chiyoda),
        "011002",
    )
    .await;
    assert!(
        refused
            .unwrap_err()
            .contains("no server certificate chain resolved")
    );
    // A server of another CA is not trusted by the client.
    let fake = municipality(&other, "142051", CURRENT);
    let refused = handshake(&other, &[fake], (&fed, &chiyoda), "142051").await;
    assert!(
        refused
            .unwrap_err()
            .contains("client: Err(\"invalid peer certificate: UnknownIssuer")
    );
}

#[test]
fn a_certificate_must_name_one_valid_code_and_match_its_key() {
    let fed = ca("federation");
    let mut params = CertificateParams::new(vec!["node.example".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::URI("urn:kiroku:lg:142052".try_into().unwrap()));
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.signed_by(&key, &fed.issuer).unwrap();
    assert_eq!(code_of(cert.der()), Err(Refusal::UntrustedCertificate));
    let pkcs8 = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    assert!(MunicipalityIdentity::new(vec![cert.der().clone()], pkcs8).is_err());
    let good = municipality(&fed, "142051", CURRENT);
    let other_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let wrong = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(other_key.serialize_der()));
    assert!(MunicipalityIdentity::new(good.chain.clone(), wrong).is_err());
}

#[test]
fn a_signed_request_opens_once_and_not_altered_stale_or_from_another() {
    let fed = ca("federation");
    let chiyoda = municipality(&fed, "131016", CURRENT);
    let fujisawa = municipality(&fed, "142051", CURRENT);
    let peer = &chiyoda.chain[0];
    let now = 1_800_000_000_000;
    let guard = ReplayGuard::new(now - 1_000);
    let entropy = SeededEntropy::new(3);
    let sealed = seal(
        &chiyoda.signing,
        &chiyoda.code,
        &fujisawa.code,
        serde_json::json!({"purpose": "move-in"}),
        now,
        &entropy,
    );
    let opened = |bytes: &[u8], sig: &str, peer: &CertificateDer<'_>, at: i64| {
        open::<serde_json::Value>(bytes, Some(sig), peer, &fujisawa.code, &guard, at)
            .map(|e| e.body)
    };
    assert_eq!(
        opened(&sealed.bytes, &sealed.signature, peer, now).unwrap()["purpose"],
        "move-in"
    );
    // The same request again.
    assert_eq!(
        opened(&sealed.bytes, &sealed.signature, peer, now + 10).unwrap_err(),
        Refusal::Replayed
    );
    // Altered: a body with another purpose and the old signature.
    let text = String::from_utf8(sealed.bytes.clone()).unwrap();
    let altered = text.replace("move-in", "move-ix");
    assert_eq!(
        opened(altered.as_bytes(), &sealed.signature, peer, now).unwrap_err(),
        Refusal::BadSignature
    );
    // Sent over another municipality's connection.
    let fresh = seal(
        &chiyoda.signing,
        &chiyoda.code,
        &fujisawa.code,
        1,
        now,
        &entropy,
    );
    assert_eq!(
        opened(&fresh.bytes, &fresh.signature, &fujisawa.chain[0], now).unwrap_err(),
        Refusal::WrongMunicipality
    );
    // Signed by another key than the connection's certificate.
    let forged = seal(
        &fujisawa.signing,
        &chiyoda.code,
        &fujisawa.code,
        1,
        now,
        &entropy,
    );
    assert_eq!(
        opened(&forged.bytes, &forged.signature, peer, now).unwrap_err(),
        Refusal::BadSignature
    );
    // Too old, from the future, from before the guard started.
    for at in [now - 10 * 60_000, now + 10 * 60_000, now - 2_000] {
        let late = seal(
            &chiyoda.signing,
            &chiyoda.code,
            &fujisawa.code,
            1,
            at,
            &entropy,
        );
        assert_eq!(
            opened(&late.bytes, &late.signature, peer, now).unwrap_err(),
            Refusal::Stale
        );
    }
    // Not addressed to this municipality.
    let elsewhere = seal(
        &chiyoda.signing,
        &chiyoda.code,
        &TenantCode::parse("011002").unwrap(),
        1,
        now,
        &entropy,
    );
    assert_eq!(
        opened(&elsewhere.bytes, &elsewhere.signature, peer, now).unwrap_err(),
        Refusal::Malformed
    );
    assert_eq!(
        opened(b"{}", "x", peer, now).unwrap_err(),
        Refusal::Malformed
    );
}
