//! Test plugin for job cancellation: `run` issues the ticket it is given,
//! then reports progress until staff cancel the job (or its deadline
//! passes), so a test can cancel it at a known point and check that the
//! ticket was never applied.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/records", "../../../wit/health", "../../../wit/plugin", "wit"],
        world: "kiroku-test:slow-job/slow-job",
        generate_all,
    });
    use super::SlowJob;
    export!(SlowJob);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::health::campaign_tickets::{self, CampaignTicket};
use bindings::kiroku::health::jobs;

struct SlowJob;

impl Guest for SlowJob {
    fn describe() -> Vec<Operation> {
        vec![Operation {
            name: "run".into(),
            summary: "Issues a ticket, then runs until cancelled.".into(),
            writes: true,
        }]
    }

    fn handle(_operation: String, input: String) -> Result<String, Error> {
        let input: serde_json::Value =
            serde_json::from_str(&input).map_err(|_| Error::Invalid("not JSON".into()))?;
        let person = input["person"].as_u64().unwrap_or(1);
        let number = input["number"].as_str().unwrap_or_default().to_owned();
        campaign_tickets::issue(
            person,
            &CampaignTicket {
                number: Some(number),
                issued_on: Some("2026-04-01".into()),
                campaign: Some("slow".into()),
                ticket_type: Some(1),
                dose_number: Some(1),
                status: None,
                void_reason: None,
                voided_on: None,
            },
        )
        .map_err(|e| Error::Internal(format!("{e:?}")))?;
        let mut done = 0u64;
        loop {
            done += 1;
            if jobs::progress(done, u64::MAX) {
                return Err(Error::Conflict("cancelled".into()));
            }
        }
    }
}
