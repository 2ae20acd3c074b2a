//! `kiroku audit verify`: every chain of a data directory, offline.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use kiroku::audit::Verified;
use kiroku::store::{SystemStore, open_tenant_for_verify};

use super::tenant_code;

/// Verifies the chains; exit 2 names the first bad event.
pub fn audit_verify(data: &Path, tenant: Option<&str>) -> anyhow::Result<ExitCode> {
    let dir = crate::cli::data_dir(data)?;
    let codes = match tenant {
        Some(code) => vec![tenant_code(code)?],
        None => dir.tenant_codes()?,
    };
    let mut intact = true;
    let mut report = |label: String, verified: Verified, started: std::time::Instant| {
        let secs = started.elapsed().as_secs_f64();
        match verified {
            Verified::Intact(n) => {
                println!(
                    "{label}: intact, {n} events ({:.0} events/s)",
                    n as f64 / secs.max(1e-9)
                );
            }
            Verified::Broken(b) => {
                intact = false;
                println!("{label}: BROKEN at event {}: {}", b.seq, b.problem);
            }
        }
    };
    for code in codes {
        let (db, keys) = open_tenant_for_verify(&dir, &code)
            .with_context(|| format!("opening tenant {code}"))?;
        let started = std::time::Instant::now();
        // A file torn below what it records fails only as it is read.
        let verified = db
            .verify(&keys)
            .map_err(|e| kiroku::store::unusable_file(&dir, &code, e))?;
        report(format!("tenant {code}"), verified, started);
    }
    if tenant.is_none()
        && let Ok((db, keys)) = SystemStore::open_for_verify(&dir)
    {
        let started = std::time::Instant::now();
        report("system".into(), db.verify(&keys)?, started);
    }
    Ok(if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
