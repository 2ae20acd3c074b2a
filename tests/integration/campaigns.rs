//! Target extraction, campaign tickets (reissue, move-in) and jobs, through
//! the real plugins: synthetic residents with synthetic dose histories
//! imported from a VRS export.

use hyper::StatusCode;
use kiroku_rules::Date;
use serde_json::{Value, json};

use crate::support::*;

async fn host(residents: usize) -> TestHost {
    TestHost::new()
        .plugin("dose-entry")
        .plugin("target-extraction")
        .residents(residents)
        .doses()
        .user("clerk", "clerk")
        .user("supervisor", "supervisor")
        .start()
        .await
}

/// A booster campaign for people 65 and over with 2+ doses, the last at
/// least 180 days before it starts.
fn booster() -> Value {
    json!({
        "id": "covid-2026-spring", "dose_number": 8, "starts_on": TODAY,
        "min_age": 65, "min_doses": 2, "min_days_since_last_dose": 180,
    })
}

/// The same criteria, computed from the synthetic data directly.
fn expected_targets(host: &TestHost) -> Vec<usize> {
    let start = Date::parse(TODAY).unwrap();
    host.residents
        .iter()
        .zip(&host.histories)
        .enumerate()
        .filter(|(_, (r, doses))| {
            r.moved_out.is_none()
                && r.died.is_none()
                && r.birth_date.age_on(start) >= 65
                && doses.len() >= 2
                && start.days_since_epoch() - doses.last().unwrap().date.days_since_epoch() >= 180
        })
        .map(|(i, _)| i)
        .collect()
}

/// Runs the booster campaign's extraction as the supervisor.
async fn extract_booster(host: &TestHost) -> Value {
    let (status, extracted) = host
        .call(
            "supervisor",
            "target-extraction",
            "extract",
            json!({"campaign": booster()}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{extracted}");
    extracted
}

/// A clerk reissues a ticket with a reason.
async fn reissue(host: &TestHost, ticket: &str, reason: &str) -> (StatusCode, Value) {
    let input = json!({"ticket_number": ticket, "reason": reason});
    host.call("clerk", "ticket-issuance", "reissue", input)
        .await
}

fn message(body: &Value) -> &str {
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_counts_the_targets_and_extract_tickets_each_once() {
    let host = host(400).await;
    let expected = expected_targets(&host);
    assert!(
        expected.len() > 10,
        "the synthetic town has older residents"
    );

    let (status, preview) = host
        .call(
            "supervisor",
            "target-extraction",
            "preview",
            json!({"campaign": booster(), "sample": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["targets"], expected.len());
    assert_eq!(preview["sample"].as_array().unwrap().len(), 5);
    assert!(preview["sample"][0]["age"].as_i64().unwrap() >= 65);
    assert!(
        !host
            .audit()
            .iter()
            .any(|e| ["campaign-tickets.issue", "ticket-batches.issue-many"]
                .contains(&e.action.as_str())),
        "a dry run issues nothing"
    );
    // The walk is on record: one event per facts call naming every person
    // returned, and "who looked at this person" finds it; the chain
    // verifies. The host narrowed the town to the campaign's ages.
    let person = host.serial(preview["sample"][0]["person_id"].as_u64().unwrap());
    let store = host.store();
    let query = kiroku::audit::Query {
        subject: Some(person),
        limit: usize::MAX,
        ..Default::default()
    };
    let about = kiroku::audit::query(store.db().as_ref(), &query).unwrap();
    let scan = about
        .iter()
        .find(|e| e.action == "cohort-facts.read")
        .expect("the read that returned the person");
    assert!(scan.subjects.contains(&person));
    assert!(
        scan.subjects.len() >= expected.len() && scan.subjects.len() < 400,
        "{} persons returned",
        scan.subjects.len()
    );
    assert!(scan.fields.contains(&"residents.birth-date".to_owned()));
    assert!(
        !scan.fields.iter().any(|f| f.contains("name")),
        "no name was read"
    );
    match kiroku::audit::verify(store.db().as_ref(), store.keys()).unwrap() {
        kiroku::audit::Verified::Intact(n) => assert!(n > 0),
        broken => panic!("{broken:?}"),
    }

    let extracted = extract_booster(&host).await;
    assert_eq!(extracted["issued"], expected.len());
    // One write event per batch, naming every holder exactly once.
    let mut holders: Vec<u64> = host
        .audit()
        .into_iter()
        .filter(|e| e.action == "ticket-batches.issue-many")
        .flat_map(|e| e.subjects)
        .collect();
    holders.sort_unstable();
    let want: Vec<u64> = expected.iter().map(|&i| i as u64 + 1).collect();
    assert_eq!(holders, want, "every target's ticket is on record");

    // The new ticket finds its holder at the counter.
    let ticket = extracted["sample"][0]["ticket_number"].as_str().unwrap();
    let (status, found) = host
        .call(
            "clerk",
            "dose-entry",
            "find-person",
            json!({"ticket_number": ticket}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(
        found["persons"][0]["person_id"],
        extracted["sample"][0]["person_id"]
    );

    // Running it again tickets nobody twice; the campaign's TOML form works too.
    let toml = format!(
        "id = \"covid-2026-spring\"\ndose_number = 8\nstarts_on = \"{TODAY}\"\nmin_age = 65\nmin_doses = 2\nmin_days_since_last_dose = 180\n"
    );
    let (status, again) = host
        .call(
            "supervisor",
            "target-extraction",
            "extract",
            json!({"campaign": toml}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["issued"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_campaigns_are_refused_and_clerks_cannot_extract() {
    let host = host(20).await;
    for (campaign, fragment) in [
        (json!({"id": "x", "dose_number": 1}), "starts_on"),
        (
            json!({"id": "x", "dose_number": 12, "starts_on": TODAY}),
            "dose_number",
        ),
        (
            json!({"id": "x", "dose_number": 1, "starts_on": TODAY, "min_age": 70, "max_age": 60}),
            "min_age",
        ),
        (
            json!({"id": "x", "dose_number": 1, "starts_on": TODAY, "statuses": ["alive"]}),
            "statuses",
        ),
    ] {
        let (status, body) = host
            .call(
                "supervisor",
                "target-extraction",
                "extract",
                json!({"campaign": campaign}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(message(&body).contains(fragment), "{body}");
    }
    let (status, _) = host
        .call(
            "clerk",
            "target-extraction",
            "preview",
            json!({"campaign": booster()}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!host.audit().iter().any(|e| {
        ["campaign-tickets.issue", "ticket-batches.issue-many"].contains(&e.action.as_str())
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_print_batch_has_ocr_lines_and_never_a_my_number() {
    let host = host(300).await;
    let extracted = extract_booster(&host).await;
    let issued = extracted["issued"].as_u64().unwrap();

    // Page through the batch, 7 rows at a time.
    let (mut csv, mut after, mut pages) = (String::new(), 0u64, 0);
    loop {
        let (status, page) = host
            .call(
                "supervisor",
                "target-extraction",
                "print-batch",
                json!({"campaign": "covid-2026-spring", "dose_number": 8, "after": after, "limit": 7}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        csv.push_str(page["csv"].as_str().unwrap());
        pages += 1;
        match page["next_after"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert!(pages > 1);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "氏名",
            "フリガナ",
            "郵便番号",
            "住所",
            "方書",
            "接種券番号",
            "接種回数",
            "OCR"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as u64, issued);
    let mut tickets = std::collections::HashSet::new();
    for row in &rows {
        let (ticket, ocr) = (&row[5], &row[7]);
        assert!(kiroku_rules::ticket::validate(ticket).is_ok());
        assert_eq!(ocr.len(), 18);
        assert_eq!(ocr, format!("18{FUJISAWA}{ticket}"));
        let printed = |r: &kiroku::synth::Resident| {
            kiroku::normalize::clean(&r.kanji_name) == row[0]
                && r.postal_code == &row[2]
                && kiroku::normalize::clean(&r.address) == row[3]
        };
        assert!(
            host.residents.iter().any(printed),
            "name and address as registered"
        );
        tickets.insert(ticket.to_owned());
    }
    assert_eq!(tickets.len(), rows.len(), "every ticket printed once");
    for r in &host.residents {
        assert!(
            !csv.contains(&r.my_number),
            "a My Number leaked into the print batch"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reissued_ticket_voids_the_lost_one() {
    let host = TestHost::new()
        .plugin("dose-entry")
        .residents(30)
        .user("clerk", "clerk")
        .start()
        .await;
    let (r, person) = host.resident_in_town().await;
    let old = host.ticket_of(&r).await;

    let (status, body) = reissue(&host, &old, "because").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("reason must be one of"));

    let (status, body) = reissue(&host, &old, "lost").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = body["ticket"]["ticket_number"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(kiroku_rules::ticket::validate(&new).is_ok());

    // The voided ticket neither finds its holder nor records a dose.
    let (status, body) = host
        .call(
            "clerk",
            "dose-entry",
            "find-person",
            json!({"ticket_number": old}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("voided"), "{body}");
    let mut form = dose_form(person, 1, "2026-03-01");
    form.as_object_mut().unwrap().remove("person_id");
    form["ticket_number"] = json!(old);
    let (status, body) = host
        .call("clerk", "dose-entry", "record-dose", form.clone())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(host.doses_of(person).await.is_empty());

    // The replacement does both.
    form["ticket_number"] = json!(new);
    let (status, body) = host.call("clerk", "dose-entry", "record-dose", form).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // It cannot be voided twice; the void is audited with its subject.
    let (status, body) = reissue(&host, &old, "lost").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let voids = host.audit_with("campaign-tickets.void", kiroku::audit::Outcome::Ok);
    assert_eq!(voids.len(), 1);
    assert_eq!(voids[0].subject, Some(host.serial(person)));
    assert_eq!(voids[0].fields, ["status", "void-reason"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_who_moved_in_gets_one_ticket_per_campaign_dose() {
    let host = host(200).await;
    let targets = expected_targets(&host);
    let r = host
        .residents
        .iter()
        .enumerate()
        .find(|(i, r)| r.moved_out.is_none() && r.died.is_none() && !targets.contains(i))
        .map(|(_, r)| r)
        .expect("a resident the booster does not target");
    // Only a known campaign takes a move-in's ticket.
    let input = json!({"address_number": r.address_number, "campaign": "covid-2026-spring", "dose_number": 8});
    let (status, body) = host
        .call("clerk", "ticket-issuance", "issue-move-in", input)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    extract_booster(&host).await;
    let input = json!({"address_number": r.address_number, "campaign": "covid-2026-spring", "dose_number": 8});
    let (status, body) = host
        .call("clerk", "ticket-issuance", "issue-move-in", input.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ticket = body["ticket"]["ticket_number"].as_str().unwrap();
    assert_eq!(body["ticket"]["ocr_line"], format!("18{FUJISAWA}{ticket}"));
    let (status, body) = host
        .call("clerk", "ticket-issuance", "issue-move-in", input)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let gone = host
        .residents
        .iter()
        .find(|r| r.moved_out.is_some() || r.died.is_some())
        .expect("someone moved out or died");
    let input = json!({"address_number": gone.address_number, "campaign": "covid-2026-spring", "dose_number": 8});
    let (status, body) = host
        .call("clerk", "ticket-issuance", "issue-move-in", input)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(message(&body).contains("not a current resident"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extraction_runs_as_a_job_with_progress() {
    let host = host(300).await;
    let expected = expected_targets(&host).len();
    let token = host.token("supervisor").to_owned();
    let body = json!({"campaign": booster()}).to_string();
    let (status, started) = host
        .request(
            "POST",
            &format!("/v1/{FUJISAWA}/jobs/target-extraction/extract"),
            Some(&token),
            body.into(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["job_id"].as_str().unwrap().to_owned();
    let done = wait_for_job(&host, "supervisor", &id, |b| b["state"] != "running").await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["done"], 300);
    assert_eq!(done["total"], 300);
    assert_eq!(done["output"]["issued"], expected);

    // Another staff user cannot see it; an unknown id is 404 too.
    let clerk = host.token("clerk").to_owned();
    let (status, _) = host
        .request(
            "GET",
            &format!("/v1/{FUJISAWA}/jobs/{id}"),
            Some(&clerk),
            Default::default(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_job_applies_nothing() {
    let roles = "[admin]\ninvoke = [\"resident-sync/*\", \"ticket-issuance/*\", \"slow-job/*\", \"dose-import/*\", \"target-extraction/*\"]\nadmin = true\n[clerk]\ninvoke = [\"dose-entry/*\"]\n";
    let host = TestHost::new()
        .plugin("slow-job")
        .plugin("dose-entry")
        .plugin("target-extraction")
        .roles(roles)
        .residents(3)
        .user("clerk", "clerk")
        .start()
        .await;
    // The job's tickets join a campaign, which its extraction made known.
    let campaign = json!({"campaign": {"id": "slow", "dose_number": 1, "starts_on": TODAY, "statuses": ["resident", "moved-out", "deceased"]}});
    let (status, body) = host
        .call("admin", "target-extraction", "extract", campaign)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let number = kiroku_rules::ticket::for_person(1, 5).unwrap();
    let token = host.token("admin").to_owned();
    let body = json!({"person": host.person(1), "number": number}).to_string();
    let (status, started) = host
        .request(
            "POST",
            &format!("/v1/{FUJISAWA}/jobs/slow-job/run"),
            Some(&token),
            body.into(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["job_id"].as_str().unwrap().to_owned();
    wait_for_job(&host, "admin", &id, |b| b["done"].as_u64().unwrap() > 0).await;
    let (status, body) = host
        .request(
            "DELETE",
            &format!("/v1/{FUJISAWA}/jobs/{id}"),
            Some(&token),
            Default::default(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let end = wait_for_job(&host, "admin", &id, |b| b["state"] != "running").await;
    assert_eq!(end["state"], "cancelled", "{end}");
    // The ticket it issued before the cancel was never applied.
    let (status, body) = host
        .call(
            "clerk",
            "dose-entry",
            "find-person",
            json!({"ticket_number": number}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let events = host.audit();
    assert!(
        events
            .iter()
            .any(|e| e.action == "job.start slow-job/run" && e.request_id == id)
    );
    assert!(events.iter().any(|e| e.action.starts_with("job.cancel")));
}

/// Runs a command-line tool the xtask installs; its stdout.
fn tool(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (cargo xtask test installs it)"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_print_japanese_text_and_a_qr_code_of_the_ocr_line() {
    use base64::Engine as _;
    let host = host(150).await;
    extract_booster(&host).await;
    let page = json!({"campaign": "covid-2026-spring", "dose_number": 8, "limit": 3});
    let (status, csv) = host
        .call(
            "supervisor",
            "target-extraction",
            "print-batch",
            page.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    let (status, notices) = host
        .call("supervisor", "target-extraction", "print-notices", page)
        .await;
    assert_eq!(status, StatusCode::OK, "{notices}");
    assert_eq!(notices["pages"], 3);
    assert_eq!(notices["next_after"], csv["next_after"]);

    let pdf = base64::engine::general_purpose::STANDARD
        .decode(notices["pdf_base64"].as_str().unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notices.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let path = path.to_str().unwrap();
    let text = tool("pdftotext", &["-layout", path, "-"]);
    let fonts = tool("pdffonts", &[path]);
    assert!(
        fonts.contains("IPAGothic") && fonts.contains("yes yes yes"),
        "embedded, subset, mapped: {fonts}"
    );

    let mut rows = csv::Reader::from_reader(csv["csv"].as_str().unwrap().as_bytes());
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    let pages: Vec<&str> = text.split('\u{c}').collect();
    for (row, page) in rows.iter().zip(&pages) {
        // Each page, in order: the name and address as registered, the
        // ticket number and the OCR line, in Japanese text a reader extracts.
        assert!(page.contains(&format!("{} 様", &row[0])), "{page}");
        assert!(page.contains(&row[3]) && page.contains(&row[5]) && page.contains(&row[7]));
        assert!(page.contains("予防接種のお知らせ"));
    }
    // The QR code on the first page holds the 18 digits of its OCR line.
    let png = dir.path().join("page");
    tool(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "100",
            "-f",
            "1",
            "-l",
            "1",
            path,
            png.to_str().unwrap(),
        ],
    );
    let image = dir.path().join("page-1.png");
    let decoded = tool("zbarimg", &["-q", "--raw", image.to_str().unwrap()]);
    assert_eq!(decoded.trim(), &rows[0][7]);
    for r in &host.residents {
        assert!(!text.contains(&r.my_number));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_population_scan_reads_only_what_the_policy_grants() {
    // Without the doses grant, a campaign that counts doses is refused, and
    // the refusal is on record.
    let shipped = policy("target-extraction");
    let no_doses = shipped.replace("[grants.doses]\nread = [\"date\", \"vaccine\"]\n", "");
    assert_ne!(no_doses, shipped);
    let host = TestHost::new()
        .plugin_with_policy("target-extraction", &no_doses)
        .residents(20)
        .user("supervisor", "supervisor")
        .start()
        .await;
    let (status, body) = host
        .call(
            "supervisor",
            "target-extraction",
            "preview",
            json!({"campaign": booster()}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(message(&body).contains("doses"), "{body}");
    let denied = host.audit_with("cohort-facts.read", kiroku::audit::Outcome::Deny);
    assert_eq!(denied.len(), 1);
    assert!(denied[0].fields.contains(&"date".to_owned()), "{denied:?}");

    // Without a population or batch grant the component is refused at
    // install, naming the import.
    let runtime = kiroku::runtime::Runtime::new(
        std::sync::Arc::new(kiroku::clock::SystemClock),
        std::sync::Arc::new(kiroku::clock::OsEntropy),
    )
    .unwrap();
    for (grant, import) in [
        (
            "[grants.cohort]\nsearch = [\"population\"]\n",
            "kiroku:health/cohort@0.1.0",
        ),
        (
            "[grants.cohort-facts]\nsearch = [\"population\"]\n",
            "kiroku:population/cohort-facts@0.1.0",
        ),
        (
            "[grants.ticket-batches]\n",
            "kiroku:population/ticket-batches@0.1.0",
        ),
    ] {
        let narrowed = shipped.replace(grant, "");
        assert_ne!(narrowed, shipped);
        let policy = kiroku::policy::Policy::parse(&narrowed).unwrap();
        let refused = runtime
            .load(
                &component("target-extraction"),
                std::sync::Arc::new(policy),
                None,
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(refused.contains(import), "{refused}");
    }
}
