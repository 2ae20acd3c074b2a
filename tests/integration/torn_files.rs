//! A torn or truncated tenant file is refused, naming the file, and left
//! as it is: never repaired into lost data, never replaced by an empty
//! database. The node's other tenants keep serving.

use std::time::Duration;

use serde_json::Value;

use crate::support::*;

const OTHER: &str = "131016";

fn sha256(path: &std::path::Path) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

/// `/readyz` of a server that will not become ready: polled until the
/// healthy tenant has opened.
fn readiness(server: &RealServer) -> Value {
    let until = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = server.request("GET", "/readyz", None, "");
        let value: Value = serde_json::from_str(&body).unwrap();
        if value["tenants"][FUJISAWA]["state"] == "unusable" && value["tenants"][OTHER].is_object()
        {
            return value;
        }
        assert!(std::time::Instant::now() < until, "{value}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_torn_or_empty_tenant_file_is_refused_naming_it_and_left_as_it_is() {
    for torn in ["half", "empty"] {
        let data = tempfile::tempdir().unwrap();
        let d = data.path().to_str().unwrap();
        create_fujisawa(d);
        kiroku_ok(&[
            "tenant",
            "create",
            "--data",
            d,
            "--code",
            OTHER,
            "--name",
            "千代田区",
        ]);
        let file = data.path().join(format!("tenants/{FUJISAWA}.redb"));
        let len = std::fs::metadata(&file).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(if torn == "half" { len / 2 } else { 0 }).unwrap();
        drop(f);
        let before = sha256(&file);

        // The CLI names the file and exits non-zero.
        let (ok, _, err) = run_kiroku(&["audit", "verify", "--data", d, "--tenant", FUJISAWA]);
        assert!(!ok, "{torn}: {err}");
        assert!(
            err.contains(&file.display().to_string()) && err.contains("cannot be opened"),
            "{torn}: {err}"
        );

        // The server starts, says the tenant is unusable, answers its
        // requests 503, and serves the other tenant.
        let server = RealServer::spawn(data.path(), None);
        let ready = readiness(&server);
        assert_eq!(ready["ready"], false, "{torn}: {ready}");
        let (status, body) = server.request(
            "POST",
            &format!("/v1/{FUJISAWA}/dose-entry/list-doses"),
            Some("krs_x"),
            "{}",
        );
        assert_eq!(status, 503, "{torn}: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["error"]["code"], "tenant-unavailable", "{torn}");
        assert!(!body.contains(d), "{torn}: the answer names a path: {body}");
        let (status, _) = server.request(
            "POST",
            &format!("/v1/{OTHER}/dose-entry/list-doses"),
            Some("krs_x"),
            "{}",
        );
        assert_eq!(status, 401, "{torn}: the healthy tenant answers as usual");
        drop(server);

        assert_eq!(sha256(&file), before, "{torn}: the file was changed");
        if torn == "empty" {
            assert_eq!(std::fs::metadata(&file).unwrap().len(), 0);
        }
    }
}
