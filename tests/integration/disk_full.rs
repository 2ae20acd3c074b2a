//! The data directory's disk fills up during writes: writes fail with a
//! clear 503 and apply nothing, nothing acknowledged is lost, reads keep
//! being served, and writing resumes once space is freed. The disk is a
//! size-limited tmpfs the test mounts (the test runs as root, as CI does).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::*;

/// A tmpfs of `mib` MiB at `at`, unmounted when dropped.
struct SmallDisk {
    at: PathBuf,
}

impl SmallDisk {
    fn mount(at: &Path, mib: u32) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { at: at.to_owned() }
    }

    fn free_bytes(&self) -> u64 {
        let out = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(&self.at)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().nth(1).unwrap().trim().parse().unwrap()
    }

    /// Fills the disk up to `leave` free bytes with a ballast file.
    fn fill(&self, leave: u64) -> PathBuf {
        let ballast = self.at.join("ballast");
        let size = self.free_bytes().saturating_sub(leave);
        let ok = Command::new("fallocate")
            .args(["-l", &size.to_string()])
            .arg(&ballast)
            .status()
            .unwrap();
        assert!(ok.success());
        ballast
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

fn record(server: &RealServer, token: &str, person: u64, number: u64) -> (u16, Value) {
    let mut form = dose_form(person, number as u32, "2026-11-20");
    form["override_reason"] = json!("catch-up entry");
    let (status, body) = server.request(
        "POST",
        &format!("/v1/{FUJISAWA}/dose-entry/record-dose"),
        Some(token),
        &form.to_string(),
    );
    (status, serde_json::from_str(&body).unwrap())
}

fn doses(server: &RealServer, token: &str, person: u64) -> Vec<u64> {
    let doses = server.doses(token, person);
    doses
        .iter()
        .map(|d| d["dose_id"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_full_disk_refuses_writes_with_503_keeps_reads_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&tmp.path().join("disk"), 96);
    let data = disk.at.join("data");
    let d = data.to_str().unwrap();
    let output = demo_output(d, 300);
    let (clerk, supervisor) = (
        demo_token(&output, "clerk"),
        demo_token(&output, "supervisor"),
    );
    let mut server = RealServer::start(&data);
    let persons: Vec<u64> = (1..=20).map(|n| server.find_person(&clerk, n)).collect();
    let mut acknowledged: Vec<(u64, u64)> = Vec::new();
    let mut next: Vec<u64> = persons
        .iter()
        .map(|p| doses(&server, &clerk, *p).len() as u64 + 1)
        .collect();

    // Full: a large write fails whole with 503 and a clear message.
    let ballast = disk.fill(8 << 10);
    let (done, said) = import_one_dose_each(
        &server.addr,
        &supervisor,
        &tmp.path().join("a.csv"),
        300,
        "20251001",
    );
    assert!(!done && said.contains("disk full"), "{said}");
    // Single entries fail the same way, or fit in pages the file had free.
    let mut refused = 0;
    for round in 0..3 {
        for (i, person) in persons.iter().enumerate() {
            let (status, body) = record(&server, &clerk, *person, next[i]);
            match status {
                200 => {
                    acknowledged.push((*person, body["dose_id"].as_u64().unwrap()));
                    next[i] += 1;
                }
                503 => {
                    assert_eq!(body["error"]["code"], "storage-unavailable", "{body}");
                    refused += 1;
                }
                other => panic!("round {round}: {other} {body}"),
            }
        }
    }
    assert!(refused > 0, "the disk never filled");
    // Reads are served meanwhile.
    for person in &persons {
        doses(&server, &clerk, *person);
    }

    // Space freed: writing resumes.
    std::fs::remove_file(&ballast).unwrap();
    for (i, person) in persons.iter().enumerate() {
        let (status, body) = record(&server, &clerk, *person, next[i]);
        assert_eq!(status, 200, "{body}");
        acknowledged.push((*person, body["dose_id"].as_u64().unwrap()));
    }
    let (done, said) = import_one_dose_each(
        &server.addr,
        &supervisor,
        &tmp.path().join("b.csv"),
        300,
        "20251101",
    );
    assert!(done, "{said}");

    // Nothing acknowledged is lost, across a restart, and the chain holds.
    server.kill();
    let (ok, out, err) = run_kiroku(&["audit", "verify", "--data", d]);
    assert!(ok, "{out}{err}");
    let server = RealServer::start(&data);
    for (person, dose) in &acknowledged {
        assert!(
            doses(&server, &clerk, *person).contains(dose),
            "dose {dose} lost"
        );
    }
    drop(server);
}
