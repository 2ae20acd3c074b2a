//! Running Kiroku as a service: a config file, JSON request logs, the
//! metrics listener, and the compile cache that makes restarts fast.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The value of the first sample line starting with `prefix` (0 if none).
fn sample(metrics: &str, prefix: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

/// A record-dose form for the person's next dose.
fn next_dose(server: &RealServer, clerk: &str, person: u64) -> String {
    let (status, body) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/dose-entry/list-doses"),
        Some(clerk),
        &json!({"person_id": person}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let doses: Value = serde_json::from_str(&body).unwrap();
    let next = doses["doses"].as_array().unwrap().len() as u32 + 1;
    dose_form(person, next, "2026-11-02").to_string()
}

#[test]
fn a_config_file_serves_with_json_request_logs_and_metrics_on_their_own_port() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let clerk = demo_with_clerk(data.to_str().unwrap(), 30, "counter-1");
    // Relative paths are the file's folder's; the flag's listen wins over
    // the file's (which plain HTTP would refuse off loopback).
    let config = tmp.path().join("etc/kiroku.toml");
    write(
        &config,
        r#"
data = "../data"
listen = "192.0.2.1:8080"
metrics_listen = "127.0.0.1:0"
log_format = "json"
shutdown_grace_seconds = 5

[limits]
max_connections = 200
header_timeout_seconds = 5
"#,
    );
    let log = tmp.path().join("server.log");
    let mut server = RealServer::spawn_args(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
        Some(&log),
    );
    let metrics = server.metrics_addr();
    server.wait_ready();

    let ok_route = "kiroku_http_requests_total{tenant=\"142051\",route=\"POST /v1/{tenant}/{plugin}/{operation}\",status=\"200\"}";
    let before = scrape(&metrics);
    let person = server.find_person(&clerk, 3);
    let form = next_dose(&server, &clerk, person);
    let raw = format!(
        "POST /v1/{FUJISAWA}/dose-entry/record-dose HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {clerk}\r\nX-Request-Id: ops-record-1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    );
    let (status, body) = raw_request(&server.addr, raw.as_bytes());
    assert_eq!(status, 200, "{body}");
    let (status, _) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/login"),
        None,
        &json!({"name": "nobody", "password": "wrong-password-1", "totp": "000000"}).to_string(),
    );
    assert_eq!(status, 401);
    let after = scrape(&metrics);

    // find-person, list-doses, record-dose.
    assert_eq!(sample(&after, ok_route) - sample(&before, ok_route), 3.0);
    let invoked = "kiroku_plugin_invocations_total{tenant=\"142051\",plugin=\"dose-entry\",operation=\"record-dose\",outcome=\"ok\"}";
    assert_eq!(sample(&after, invoked) - sample(&before, invoked), 1.0);
    let commits = "kiroku_commits_total{tenant=\"142051\"}";
    assert!(
        sample(&after, commits) > sample(&before, commits),
        "{after}"
    );
    let events = "kiroku_audit_events_total{tenant=\"142051\"}";
    assert!(sample(&after, events) >= sample(&before, events) + 2.0);
    assert!(after.contains("kiroku_logins_total{tenant=\"142051\",outcome=\"refused\"} 1"));
    assert!(after.contains("kiroku_http_request_duration_seconds_bucket{"));
    assert!(after.contains("kiroku_commit_duration_seconds_count{tenant=\"142051\"}"));
    assert_eq!(sample(&after, "kiroku_instance_pool_slots "), 256.0);
    assert_eq!(sample(&after, "kiroku_tenants_open "), 1.0);
    assert!(after.ends_with("# EOF\n"));
    // Not on the staff API's port; only GET /metrics on the metrics one.
    assert_eq!(server.request("GET", "/metrics", None, "").0, 404);
    let raw = format!(
        "POST /metrics HTTP/1.1\r\nHost: {metrics}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = raw_request(&metrics, raw.as_bytes());
    assert_eq!(status, 405);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "method-not-allowed");

    server.kill();
    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let answered: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "answered")
        .collect();
    assert!(answered.len() >= 4, "{log}");
    for line in &answered {
        let span = &line["span"];
        assert!(span["request_id"].is_string(), "{line}");
        assert!(span["tenant"].is_string(), "{line}");
        assert!(span["route"].is_string(), "{line}");
        assert!(line["status"].is_u64(), "{line}");
    }
    let recorded = answered
        .iter()
        .find(|l| l["span"]["request_id"] == "ops-record-1")
        .expect("the record-dose request's line");
    assert_eq!(recorded["status"], 200);
    assert_eq!(recorded["span"]["tenant"], FUJISAWA);
    assert_eq!(
        recorded["span"]["route"],
        "POST /v1/{tenant}/{plugin}/{operation}"
    );
    // The ticket number the counter searched for is not in the log.
    let ticket = kiroku_rules::ticket::for_person(3, 0).unwrap();
    assert!(
        !log.contains(&ticket),
        "a searched ticket number was logged"
    );
}

#[test]
fn config_check_explains_a_file_and_refuses_unknown_keys_and_half_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    create_fujisawa(d);
    let good = tmp.path().join("good.toml");
    write(
        &good,
        &format!(
            "data = {d:?}\nmetrics_listen = \"127.0.0.1:9464\"\nmemory_mib = 2048\nclose_idle_minutes = 0\n"
        ),
    );
    let out = kiroku_ok(&["config", "check", good.to_str().unwrap()]);
    assert!(out.contains("valid"), "{out}");
    assert!(out.contains("2048 MiB  (file)"), "{out}");
    assert!(out.contains("0 (never)  (file)"), "{out}");
    assert!(out.contains("metrics_listen") && out.contains("127.0.0.1:9464  (file)"));
    assert!(out.contains("listen") && out.contains("127.0.0.1:8080  (default)"));

    let cases = [
        ("shutdown_grace_secs = 5\n", "shutdown_grace_secs"),
        ("[tls]\ncertificate = \"a.pem\"\n", "certificate"),
        (
            "[tls]\ncert = \"a.pem\"\n",
            "both a certificate and its key",
        ),
        ("listen = \"192.0.2.1:8080\"\n", "refusing plain HTTP"),
        ("[limits]\nmax_connections = 0\n", "max_connections"),
        (
            "[federation]\nca = \"ca.pem\"\n",
            "CA, directory and identity",
        ),
        ("log_format = \"xml\"\n", "log_format"),
        ("memory_mib = 8\n", "memory_mib must be"),
        (
            "close_idle_minutes = 100000\n",
            "close_idle_minutes must be",
        ),
    ];
    for (i, (extra, named)) in cases.iter().enumerate() {
        let bad = tmp.path().join(format!("bad-{i}.toml"));
        write(&bad, &format!("data = {d:?}\n{extra}"));
        let (ok, _, err) = run_kiroku(&["config", "check", bad.to_str().unwrap()]);
        assert!(!ok, "{extra}");
        assert!(err.contains(named), "{extra}: {err}");
    }
    // `serve` refuses the same file before it binds anything.
    let bad = tmp.path().join("bad-0.toml");
    let (ok, _, err) = run_kiroku(&["serve", "--config", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("shutdown_grace_secs"), "{err}");
}

fn cache_files(data: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(data.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    files.sort();
    files
}

#[test]
fn a_restart_loads_plugins_from_the_compile_cache_and_never_runs_a_tampered_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let clerk = demo_with_clerk(d, 20, "counter-1");
    let mut server = RealServer::start(tmp.path());
    server.kill();
    let files = cache_files(tmp.path());
    assert!(files.len() >= 5, "{files:?}");
    let stamps: Vec<_> = files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().modified().unwrap())
        .collect();

    // A clean restart uses every entry as it is (a miss would rewrite it).
    let mut server = RealServer::start(tmp.path());
    server.kill();
    for (f, stamp) in files.iter().zip(&stamps) {
        assert_eq!(std::fs::metadata(f).unwrap().modified().unwrap(), *stamp);
    }

    // A flipped byte in one entry, another cut short: both refused,
    // compiled afresh and rewritten, and the plugins still work.
    let mut flipped = std::fs::read(&files[0]).unwrap();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    std::fs::write(&files[0], &flipped).unwrap();
    std::fs::write(&files[1], b"short").unwrap();
    let log = tmp.path().join("restart.log");
    let server = RealServer::spawn(tmp.path(), Some(&log));
    server.wait_ready();
    let person = server.find_person(&clerk, 2);
    let (status, body) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/dose-entry/record-dose"),
        Some(&clerk),
        &next_dose(&server, &clerk, person),
    );
    assert_eq!(status, 200, "{body}");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("its tag does not verify"), "{log}");
    assert!(log.contains("too short"), "{log}");
    assert_ne!(std::fs::read(&files[0]).unwrap(), flipped);
    assert!(std::fs::metadata(&files[1]).unwrap().len() > 1000);
}

#[test]
fn the_example_systemd_unit_verifies_and_its_config_checks_out() {
    let tmp = tempfile::tempdir().unwrap();
    let examples = root().join("examples/systemd");
    let unit = std::fs::read_to_string(examples.join("kiroku.service")).unwrap();
    for hardening in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/kiroku",
        "DynamicUser=yes",
        "CapabilityBoundingSet=\n",
        "KillSignal=SIGTERM",
        "ExecStart=/usr/local/bin/kiroku serve --config /etc/kiroku/kiroku.toml",
    ] {
        assert!(unit.contains(hardening), "the unit lacks {hardening:?}");
    }
    // `systemd-analyze verify` wants the binary to exist: the built one.
    let here = tmp.path().join("kiroku.service");
    std::fs::write(
        &here,
        unit.replace("/usr/local/bin/kiroku", env!("CARGO_BIN_EXE_kiroku")),
    )
    .unwrap();
    match std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&here)
        .output()
    {
        Ok(out) => assert!(
            out.status.success() && out.stderr.is_empty(),
            "systemd-analyze verify: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("systemd-analyze is not available ({e}); only the text was checked"),
    }

    // The example config, its paths moved under a temp dir, checks out.
    let state = tmp.path().join("var/lib/kiroku");
    let etc = tmp.path().join("etc/kiroku");
    create_fujisawa(state.join("data").to_str().unwrap());
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    write(&etc.join("tls/server.crt"), &cert.pem());
    write(&etc.join("tls/server.key"), &key.serialize_pem());
    let config = std::fs::read_to_string(examples.join("kiroku.toml"))
        .unwrap()
        .replace("/var/lib/kiroku", state.to_str().unwrap())
        .replace("/etc/kiroku", etc.to_str().unwrap());
    let file = etc.join("kiroku.toml");
    write(&file, &config);
    let out = kiroku_ok(&["config", "check", file.to_str().unwrap()]);
    assert!(out.contains("log_format") && out.contains("json"), "{out}");
    assert!(out.contains("0.0.0.0:8443  (file)"), "{out}");
}
