//! The staff console: its assets served with a strict policy, and the
//! counter's flow driven in Debian's Chromium against the real server.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use crate::support::*;

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
    // Every file the page names is served, with the same headers.
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

/// The counter as a clerk would work it, in a real browser: log in with
/// the second factor, find a person by the ticket number a barcode reader
/// types, see the basic facts and the doses, log out.
#[test]
fn a_clerk_finds_a_person_at_the_counter_in_a_real_browser() {
    let browser_dir = root().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "tests/browser/node_modules is missing: `cargo xtask test` installs it"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let printed = demo_output(d, 200);
    let clerk = demo_token(&printed, "clerk");
    let server = RealServer::spawn(dir.path(), None);
    server.wait_ready();

    // A resident living in the town, as the demo made them.
    let today = kiroku_rules::Date::parse(kiroku::demo::DEMO_DATA_DAY).unwrap();
    let town = kiroku::synth::residents(200, 142_051, today);
    let index = town
        .iter()
        .position(|r| r.moved_out.is_none() && r.died.is_none())
        .unwrap();
    let person = server.find_person(&clerk, index as u64 + 1);
    let expected = server.doses(&clerk, person).len();

    let shots = root().join("target/console-screens");
    let out = std::process::Command::new("node")
        .arg("console.mjs")
        .current_dir(&browser_dir)
        .env("KIROKU_URL", format!("http://{}", server.addr))
        .env("KIROKU_TENANT", FUJISAWA)
        .env("CLERK_NAME", "demo-clerk")
        .env("CLERK_PASSWORD", export_value(&printed, "CLERK_PASSWORD"))
        .env("CLERK_SECRET", export_value(&printed, "CLERK_SECRET"))
        .env(
            "TICKET",
            kiroku_rules::ticket::for_person(index as u64 + 1, 0).unwrap(),
        )
        .env("EXPECT_BIRTH", town[index].birth_date.to_string())
        .env("EXPECT_DOSES", expected.to_string())
        .env(
            "TODAY",
            kiroku::clock::Clock::today(&kiroku::clock::SystemClock).to_string(),
        )
        .env("SCREENSHOTS", &shots)
        .output()
        .unwrap();
    // The summary holds no personal value (booleans and counts only).
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["status"], 200, "{summary}");
    assert_eq!(
        summary["csp"],
        kiroku::server::console::CONTENT_SECURITY_POLICY,
        "{summary}"
    );
    assert_eq!(summary["inline_scripts"], 0, "{summary}");
    assert_eq!(
        summary["inline_ran"], false,
        "an injected inline script ran: {summary}"
    );
    assert_eq!(summary["inline_refused"], true, "{summary}");
    assert_eq!(
        summary["who"],
        serde_json::json!(["demo-clerk", "窓口担当"]),
        "{summary}"
    );
    assert_eq!(summary["birth_shown"], true, "{summary}");
    assert_eq!(summary["dose_rows"], expected, "{summary}");
    assert_eq!(
        summary["url_has_digits"], false,
        "a value in the URL: {summary}"
    );
    assert_eq!(summary["axe_serious"], serde_json::json!([]), "{summary}");
    assert_eq!(
        summary["after_logout"],
        serde_json::json!({"local": 0, "session": 0, "idb": 0, "text_has_birth": false}),
        "{summary}"
    );
    assert_eq!(summary["cookies_after_logout"], 0, "{summary}");
    assert_eq!(summary["violations"], serde_json::json!([]), "{summary}");
    assert!(shots.join("counter.png").exists());

    // Stored once, entered by the clerk who logged in.
    let after = server.doses(&clerk, person);
    assert_eq!(after.len(), expected + 1, "{after:?}");
    assert!(
        after
            .iter()
            .any(|d| d["entered_by"] == "demo-clerk" && d["lot"] == "QX7Q21"),
        "{after:?}"
    );

    // The console went through the audited API: the lookup is in the log.
    let auditor = demo_token(&printed, "auditor");
    let (status, body) = server.request(
        "GET",
        &format!("/v1/{FUJISAWA}/audit?subject={person}&limit=1000"),
        Some(&auditor),
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("demo-clerk"), "{body}");
}
