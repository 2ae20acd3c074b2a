//! The staff console: its assets served with a strict policy, and the
//! counter's flow driven in Debian's Chromium against the real server.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{Value, json};

use crate::support::*;

mod checks;
use checks::*;

/// A GET's status, headers (lowercase names) and body.
fn get(addr: &str, path: &str) -> (u16, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let raw = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(raw.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn export_value(printed: &str, name: &str) -> String {
    let line = printed
        .lines()
        .find(|l| l.starts_with("export "))
        .expect("the demo prints an export line");
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in the export line"))
        .to_owned()
}

#[test]
fn the_console_is_served_from_the_binary_under_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    demo_output(d, 20);
    let server = RealServer::spawn(dir.path(), None);
    server.wait_ready();

    let (status, headers, _) = get(&server.addr, "/console");
    assert_eq!(status, 308);
    assert_eq!(header(&headers, "location"), Some("/console/"));

    let (status, headers, html) = get(&server.addr, "/console/");
    assert_eq!(status, 200, "{html}");
    assert_eq!(
        header(&headers, "content-security-policy"),
        Some(kiroku::server::console::CONTENT_SECURITY_POLICY)
    );
    let csp = kiroku::server::console::CONTENT_SECURITY_POLICY;
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert!(html.contains("lang=\"ja\""), "Japanese page");
    // No inline script, no event-handler attributes, nothing from elsewhere.
    for tag in html.split("<script").skip(1) {
        let open = &tag[..tag.find('>').unwrap()];
        assert!(
            open.contains("src=\"/console/"),
            "an inline or foreign script: {open}"
        );
    }
    let lower = html.to_ascii_lowercase();
    for bad in [
        " onclick=",
        " onload=",
        " onsubmit=",
        "javascript:",
        "http://",
        "https://",
    ] {
        assert!(!lower.contains(bad), "{bad} in the page");
    }
    // Every file of console/ is built in (a screen's module left out of
    // the list would fail in the browser), and served with the headers.
    let built: Vec<&str> = kiroku::server::console::files().collect();
    for entry in std::fs::read_dir(root().join("console")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            built.contains(&name.as_str()),
            "console/{name} is not built in"
        );
    }
    for file in kiroku::server::console::files() {
        let (status, headers, body) = get(&server.addr, &format!("/console/{file}"));
        assert_eq!(status, 200, "{file}");
        assert!(!body.is_empty(), "{file}");
        assert_eq!(header(&headers, "cache-control"), Some("no-store"));
        assert!(header(&headers, "content-security-policy").is_some());
        if file.ends_with(".js") {
            for store in ["localStorage", "sessionStorage", "indexedDB.open"] {
                assert!(!body.contains(store), "{file} uses {store}");
            }
        }
    }
    // Anything else is the JSON error contract.
    for path in ["/console/nope.js", "/console/../readyz", "/console/a/b"] {
        let (status, _, body) = get(&server.addr, path);
        assert_eq!(status, 404, "{path}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["error"]["code"].is_string(), "{body}");
    }
    let (status, body) = server.request("POST", "/console/", None, "{}");
    assert_eq!(status, 405, "{body}");
}

/// Each role's main flow in a real browser, keyboard first: the clerk
/// finds a person, is locked out by the idle timer and back in with the
/// factor, records a dose and issues a certificate whose QR decodes and
/// verifies; the verifier re-types the form (a mismatch named, then
/// verified); the supervisor previews and extracts a campaign, the bar
/// reaching 100%, and downloads the mailing CSV; the auditor finds the
/// person's entries and the clerk's whole session and checks the chain;
/// the administrator creates a user, whose holder enrols from the QR and
/// logs in. After each logout the browser holds nothing.
#[test]
fn each_role_works_its_screens_in_a_real_browser() {
    let browser_dir = root().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules is missing: `cargo xtask test` installs it"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let printed = demo_output(d, 200);
    // The demo leaves exchanges out; this town has the move-in query.
    let (wasm, policy) = plugin_paths("move-in-query");
    kiroku_ok(&[
        "plugin", "install", "--data", d, "--tenant", FUJISAWA, "--policy", &policy, &wasm,
    ]);
    let clerk = demo_token(&printed, "clerk");
    let admin = demo_token(&printed, "admin");
    let server = RealServer::spawn(dir.path(), None);
    server.wait_ready();

    // A resident living in the town, as the demo made them.
    let today = kiroku_rules::Date::parse(kiroku::demo::DEMO_DATA_DAY).unwrap();
    let town = kiroku::synth::residents(200, 142_051, today);
    let index = living_after(&town, None);
    let person = server.find_person(&clerk, index as u64 + 1);
    let expected = server.doses(&clerk, person).len();
    // Another resident, whose dose the supervisor imports from a VRS file.
    let imported = living_after(&town, Some(index));
    let imported_person = server.find_person(&clerk, imported as u64 + 1);
    let imported_before = server.doses(&clerk, imported_person).len();
    // A third resident died in 2019: past the 5 years the demo's rules keep
    // them, so the administrator's purge has one to do.
    let died = living_after(&town, Some(imported));
    let feed = json!({"records": [{"op": "death", "address_number": town[died].address_number, "date": "2019-03-01"}]});
    let apply = format!("/v1/{FUJISAWA}/resident-sync/apply");
    server.ok_json("POST", &apply, &admin, &feed.to_string());
    // What the retention rules would purge now (the admin purges it).
    let preview = format!("/v1/{FUJISAWA}/retention-purge/preview");
    let purgeable = server.ok_json("POST", &preview, &admin, "{}")["persons"]
        .as_u64()
        .unwrap();

    let mut staff = serde_json::Map::new();
    staff.insert(
        "clerk".into(),
        json!({"name": "demo-clerk", "password": export_value(&printed, "CLERK_PASSWORD"),
               "secret": export_value(&printed, "CLERK_SECRET")}),
    );
    for role in [
        "verifier",
        "supervisor",
        "auditor",
        "admin",
        "federation-approver",
    ] {
        let name = format!("console-{role}");
        let secret = server.enrolled(&admin, &name, role);
        staff.insert(
            role.into(),
            json!({"name": name, "password": TEST_PASSWORD, "secret": secret}),
        );
    }

    let shots = root().join("target/console-screens");
    let out = std::process::Command::new("node")
        .arg("console.mjs")
        .current_dir(&browser_dir)
        .env("KIROKU_URL", format!("http://{}", server.addr))
        .env("KIROKU_TENANT", FUJISAWA)
        .env("STAFF", Value::Object(staff).to_string())
        .env(
            "TICKET",
            kiroku_rules::ticket::for_person(index as u64 + 1, 0).unwrap(),
        )
        .env("PERSON_ID", person.to_string())
        .env("MOVEIN_ADDRESS", &town[index].address_number)
        .env(
            "IMPORT_TICKET",
            kiroku_rules::ticket::for_person(imported as u64 + 1, 0).unwrap(),
        )
        .env("EXPECT_BIRTH", town[index].birth_date.to_string())
        .env("EXPECT_DOSES", expected.to_string())
        .env("NEW_USER", "console-new-clerk")
        .env(
            "TODAY",
            kiroku::clock::Clock::today(&kiroku::clock::SystemClock).to_string(),
        )
        .env("SCREENSHOTS", &shots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["failed"], Value::Null, "{summary}");
    check_page(&summary);
    check_clerk(&summary["clerk"], expected);
    check_verifier(&summary["verifier"]);
    check_supervisor(&summary["supervisor"]);
    check_auditor(&summary["auditor"]);
    check_admin(&summary["admin"], purgeable);
    check_approver(&summary["approver"]);
    for role in [
        "clerk",
        "verifier",
        "supervisor",
        "auditor",
        "admin",
        "approver",
    ] {
        assert_eq!(
            summary[role]["after_logout"],
            json!({"local": 0, "session": 0, "idb": 0, "text_has_birth": false,
                   "dom_has_birth": false, "cookies": 0}),
            "{role}: {summary}"
        );
    }
    for screen in [
        "login",
        "counter",
        "lock",
        "certificates",
        "verify",
        "campaigns",
        "history",
        "import",
        "rights",
        "retention",
        "audit",
        "admin",
        "enrol",
        "movein",
        "approval",
    ] {
        assert_eq!(
            summary["axe"][screen],
            json!([]),
            "axe on {screen}: {summary}"
        );
        // Every screen is photographed (the certificates' one as
        // certificate.png; login, retention and approval share others).
        let shared = ["certificates", "login", "retention", "approval"].contains(&screen);
        assert!(
            shared || shots.join(format!("{screen}.png")).exists(),
            "{screen}.png"
        );
    }
    assert_eq!(summary["violations"], json!([]), "{summary}");

    // Stored once, entered by the clerk, verified by the verifier.
    let after = server.doses(&clerk, person);
    assert_eq!(after.len(), expected + 2, "{after:?}");
    let overridden = after
        .iter()
        .find(|d| d["lot"] == "QX7Q33")
        .expect("recorded");
    assert_eq!(overridden["dose_number"], expected + 3, "{overridden}");
    assert_eq!(
        overridden["override_reason"], "他院で接種済みの記録を後日登録",
        "{overridden}"
    );
    let recorded = after
        .iter()
        .find(|d| d["lot"] == "QX7Q21")
        .expect("recorded");
    assert_eq!(recorded["entered_by"], "demo-clerk", "{recorded}");
    assert_eq!(recorded["verified_by"], "console-verifier", "{recorded}");

    // The import stored the good row only.
    assert_eq!(
        server.doses(&clerk, imported_person).len(),
        imported_before + 1,
        "{summary}"
    );

    // The campaign's tickets are stored: the print batch has the CSV's rows.
    let supervisor = demo_token(&printed, "supervisor");
    let batch = server.ok_json(
        "POST",
        &format!("/v1/{FUJISAWA}/target-extraction/print-batch"),
        &supervisor,
        r#"{"campaign":"covid-2026-autumn","dose_number":8,"limit":1000}"#,
    );
    assert_eq!(
        batch["rows"], summary["supervisor"]["csv_rows"],
        "{summary}"
    );

    // The console went through the audited API: the certificate and the
    // verification are in the log, by the accounts that did them.
    let auditor = demo_token(&printed, "auditor");
    let events = server.ok_json(
        "GET",
        &format!("/v1/{FUJISAWA}/audit?subject={person}&limit=1000"),
        &auditor,
        "",
    );
    let by = |actor: &str, action: &str| {
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == actor && e["action"].as_str().unwrap_or("").contains(action))
    };
    assert!(by("demo-clerk", "issue"), "{events}");
    assert!(by("console-verifier", "verify"), "{events}");
}

/// The first resident after `after` (in the town's order) living there.
fn living_after(town: &[kiroku::synth::Resident], after: Option<usize>) -> usize {
    town.iter()
        .enumerate()
        .position(|(i, r)| after.is_none_or(|a| i > a) && r.moved_out.is_none() && r.died.is_none())
        .unwrap()
}
