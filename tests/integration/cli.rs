//! The operator contract of the `kiroku` binary.

use crate::support::*;

fn wasm(name: &str) -> String {
    plugin_paths(name).0
}

fn policy_path(name: &str) -> String {
    plugin_paths(name).1
}

#[test]
fn creates_tenants_only_with_a_valid_check_digit() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let (ok, _, err) = run_kiroku(&[
        "tenant",
        "create",
        "--data",
        d,
        "--code",
        "142052",
        "--name",
        "藤沢市",
    ]);
    assert!(!ok && err.contains("check digit"), "{err}");
    assert!(!data.path().join("tenants/142052.redb").exists());
    let (ok, out, err) = run_kiroku(&[
        "tenant",
        "create",
        "--data",
        d,
        "--code",
        "141003",
        "--name",
        "横浜市",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("141003"));
    let (ok, _, err) = run_kiroku(&[
        "tenant",
        "create",
        "--data",
        d,
        "--code",
        "141003",
        "--name",
        "横浜市",
    ]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, out, _) = run_kiroku(&["tenant", "list", "--data", d]);
    assert!(
        ok && out.contains("141003") && out.contains("横浜市"),
        "{out}"
    );
    // The key file is private to the operator.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("keys/141003.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn installs_plugins_pinning_their_digest_and_refuses_ungranted_imports() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    create_fujisawa(d);
    let (ok, out, err) = run_kiroku(&[
        "plugin",
        "install",
        "--data",
        d,
        "--tenant",
        FUJISAWA,
        "--policy",
        &policy_path("dose-entry"),
        &wasm("dose-entry"),
    ]);
    assert!(ok, "{err}");
    let digest = kiroku::ids::Digest::of(&component("dose-entry")).to_string();
    assert_eq!(out.lines().last().unwrap(), format!("sha256:{digest}"));
    assert!(out.contains("record-dose"), "{out}");
    let (ok, out, _) = run_kiroku(&["plugin", "list", "--data", d, "--tenant", FUJISAWA]);
    assert!(
        ok && out.contains("dose-entry") && out.contains(&digest),
        "{out}"
    );
    let (ok, _, err) = run_kiroku(&[
        "plugin",
        "install",
        "--data",
        d,
        "--tenant",
        FUJISAWA,
        "--policy",
        &policy_path("hostile-import"),
        &wasm("hostile-import"),
    ]);
    assert!(
        !ok && err.contains("kiroku:records/my-number@0.1.0"),
        "{err}"
    );
    let (_, out, _) = run_kiroku(&["plugin", "list", "--data", d, "--tenant", FUJISAWA]);
    assert!(!out.contains("hostile-import"));
}

#[test]
fn policy_check_explains_and_names_refused_imports() {
    let (ok, out, err) = run_kiroku(&[
        "policy",
        "check",
        &policy_path("dose-entry"),
        &wasm("dose-entry"),
    ]);
    assert!(ok, "{err}");
    for expected in [
        "Plugin dose-entry (purpose: dose-entry)",
        "It may read from residents: kana-name, kanji-name, birth-date",
        "It may look up tickets by: ticket-number",
        "It can never see or search a My Number.",
        "granted  kiroku:records/doses@0.1.0",
        "operation record-dose (writes)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let (ok, out, _) = run_kiroku(&[
        "policy",
        "check",
        &policy_path("hostile-import"),
        &wasm("hostile-import"),
    ]);
    assert!(
        !ok && out.contains("REFUSED  kiroku:records/my-number@0.1.0"),
        "{out}"
    );
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "[plugin]\nname = \"x\"\npurpose = \"dose-entry\"\n[grants.my-number]\nread = [\"my-number\"]\n").unwrap();
    let (ok, _, err) = run_kiroku(&["policy", "check", bad.path().to_str().unwrap()]);
    assert!(!ok && err.contains("My Number Act"), "{err}");
}

#[test]
fn a_disabled_account_and_a_revoked_token_fail_at_once_on_the_running_server() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let service = fujisawa_with_clerk(d, "counter-feed");
    assert!(
        service.starts_with("krk_") && service.len() == 68,
        "{service}"
    );
    let secret = staff_account(d, "sato", "clerk");
    let server = RealServer::start(data.path());
    let find = |t: &str| {
        server.request(
            "POST",
            "/v1/142051/dose-entry/find-person",
            Some(t),
            r#"{"ticket_number":"0000001008"}"#,
        )
    };
    let (status, body) = server.login("sato", &secret);
    assert_eq!(status, 200, "{body}");
    let login: serde_json::Value = serde_json::from_str(&body).unwrap();
    let session = login["token"].as_str().unwrap().to_owned();
    assert!(session.starts_with("krs_"), "{session}");
    assert_eq!(login["idle_timeout_s"], 900, "the default idle limit");
    assert_eq!(
        find(&session).0,
        404,
        "a live session reaches the plugin (no such ticket)"
    );
    assert_eq!(find(&service).0, 404, "so does a service token");
    // While the server runs, the CLI disables in another process.
    let (ok, out, err) = run_kiroku(&[
        "user", "disable", "--data", d, "--tenant", FUJISAWA, "--name", "sato", "--reason",
        "transfer",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("1 live session(s) ended"), "{out}");
    assert_eq!(find(&session).0, 401, "the session ended at once");
    assert_eq!(
        server.login("sato", &secret).0,
        401,
        "and a disabled account cannot log in"
    );
    // A role typo is refused; a new token replaces the old one at once.
    let (ok, _, err) = run_kiroku(&[
        "user", "add", "--data", d, "--tenant", FUJISAWA, "--name", "x", "--role", "clark",
    ]);
    assert!(!ok && err.contains("no role"), "{err}");
    let rotated = service_token(d, "counter-feed", "clerk");
    assert_eq!(find(&service).0, 401, "the old token stops working");
    assert_eq!(find(&rotated).0, 404);
    let (ok, _, err) = run_kiroku(&[
        "token",
        "revoke",
        "--data",
        d,
        "--tenant",
        FUJISAWA,
        "--service",
        "counter-feed",
    ]);
    assert!(ok, "{err}");
    assert_eq!(find(&rotated).0, 401, "a revoked token fails at once");
    // The server's stores hold hashes only.
    let raw = std::fs::read(data.path().join("tenants/142051.redb")).unwrap();
    for secret in [&rotated, &session] {
        assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
    assert!(
        !raw.windows(TEST_PASSWORD.len())
            .any(|w| w == TEST_PASSWORD.as_bytes())
    );
}

#[test]
fn falls_back_to_on_demand_allocation_when_address_space_is_limited() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let token = fujisawa_with_clerk(d, "sato");
    // 6 GiB of address space: far less than the pool reserves.
    let script = format!(
        "ulimit -v 6000000 && exec {} serve --data {d} --listen 127.0.0.1:0",
        env!("CARGO_BIN_EXE_kiroku")
    );
    let mut child = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .env("RUST_LOG", "error")
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let server = RealServer {
        child,
        stdout: None,
        addr: line
            .split("http://")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned(),
    };
    assert!(line.contains("on-demand"), "{line}");
    let (status, body) = server.request(
        "POST",
        "/v1/142051/dose-entry/find-person",
        Some(&token),
        r#"{"ticket_number":"0000001008"}"#,
    );
    assert_eq!(
        status, 404,
        "the plugin ran and found no such ticket: {body}"
    );
}

#[test]
fn jobs_run_from_the_cli_with_a_progress_bar() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let token = demo_token(&demo_output(d, 3000), "supervisor");
    let server = RealServer::start(data.path());
    let url = format!("http://{}", server.addr);
    let campaign = data.path().join("campaign.json");
    std::fs::write(
        &campaign,
        r#"{"campaign": "id = \"autumn\"\ndose_number = 7\nstarts_on = \"2026-10-01\"\nmin_age = 65\nmin_doses = 6\n"}"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = kiroku()
            .args(["job", "run", "--server", &url, "--tenant", FUJISAWA])
            .args(args)
            .env("KIROKU_TOKEN", &token)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&[
        "target-extraction/extract",
        "--input",
        campaign.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains("[##############################] 100%  3000/3000"),
        "{err}"
    );
    let output: serde_json::Value = serde_json::from_str(&out).unwrap();
    let issued = output["issued"].as_u64().unwrap();
    assert!(issued > 40, "{output}");

    // The whole print batch to files: one CSV, PDFs of at most 40 notices.
    let batch = data.path().join("batch");
    let out = kiroku()
        .args([
            "print-batch",
            "--server",
            &url,
            "--tenant",
            FUJISAWA,
            "--campaign",
            "autumn",
        ])
        .args([
            "--dose",
            "7",
            "--per-pdf",
            "40",
            "--out",
            batch.to_str().unwrap(),
        ])
        .env("KIROKU_TOKEN", &token)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(batch.join("batch.csv")).unwrap();
    assert_eq!(
        csv.lines().count() as u64,
        issued + 1,
        "a header and a row per ticket"
    );
    let pdfs = issued.div_ceil(40);
    let mut pages = 0;
    for n in 1..=pdfs {
        let pdf = batch.join(format!("notices-{n:04}.pdf"));
        let info = std::process::Command::new("pdfinfo")
            .arg(&pdf)
            .output()
            .unwrap();
        let info = String::from_utf8_lossy(&info.stdout).into_owned();
        pages += info
            .lines()
            .find_map(|l| l.strip_prefix("Pages:"))
            .map(|p| p.trim().parse::<u64>().unwrap())
            .unwrap_or_else(|| panic!("{}: {info}", pdf.display()));
    }
    assert_eq!(pages, issued, "a notice page per ticket");
    assert!(!batch.join(format!("notices-{:04}.pdf", pdfs + 1)).exists());

    // A file upload as a job: the same VRS export again adds nothing.
    // The demo counts its residents back from a fixed day.
    let anchor = kiroku_rules::Date::parse(kiroku::demo::DEMO_DATA_DAY).unwrap();
    let residents = kiroku::synth::residents(3000, 142_051, anchor);
    let histories = kiroku::synth::dose_histories(&residents, 142_051);
    let file = data.path().join("vrs.csv");
    std::fs::write(
        &file,
        kiroku::synth::to_vrs_csv(&residents[..100], &histories[..100], FUJISAWA),
    )
    .unwrap();
    let (ok, out, err) = run(&[
        "dose-import/check",
        "--file",
        file.to_str().unwrap(),
        "--option",
        "encoding=utf-8",
    ]);
    assert!(ok, "{err}");
    let output: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(output["layout"], "vrs");
    assert_eq!(output["to_apply"], 0, "{output}");

    // A refused job says why and fails.
    let (ok, _, err) = run(&["statistics/counts", "--input", campaign.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("403") || err.contains("failed"), "{err}");
}
