//! Exchanges between municipalities: the test PKI the CLI makes is one the
//! federation transport accepts.

use std::os::unix::fs::PermissionsExt;

use kiroku::federation::identity::MunicipalityIdentity;
use kiroku::federation::tls::load_roots;

use crate::support::{kiroku_ok, run_kiroku};

#[test]
fn test_pki_writes_a_ca_and_one_identity_per_municipality() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let printed = kiroku_ok(&[
        "federation",
        "test-pki",
        "--out",
        out.to_str().unwrap(),
        "--codes",
        "142051,131016",
    ]);
    assert!(printed.contains("2 municipality certificates"), "{printed}");
    assert_eq!(load_roots(&out.join("ca.pem")).unwrap().len(), 1);
    for code in ["142051", "131016"] {
        let key = out.join(format!("{code}.key"));
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{code}.key is {mode:o}");
        let identity = MunicipalityIdentity::load(&out.join(format!("{code}.crt")), &key).unwrap();
        assert_eq!(identity.code.as_str(), code);
    }
    // A certificate and another municipality's key do not make an identity.
    let mixed = MunicipalityIdentity::load(&out.join("142051.crt"), &out.join("131016.key"));
    assert!(
        mixed
            .unwrap_err()
            .to_string()
            .contains("federation identity")
    );
}

#[test]
fn test_pki_refuses_a_bad_code_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pki");
    let (ok, _, err) = run_kiroku(&[
        "federation",
        "test-pki",
        "--out",
        out.to_str().unwrap(),
        "--codes",
        "142051,142052",
    ]);
    assert!(!ok);
    assert!(
        err.contains("\"142052\" is not a municipality code"),
        "{err}"
    );
    assert!(!out.exists());
}
