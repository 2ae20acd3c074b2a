//! The CLI's side of jobs: starts a plugin operation as a job on a running
//! server, draws its progress as a bar on stderr, cancels it on Ctrl-C,
//! and prints its output.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// How often the CLI asks for progress.
const POLL_EVERY: Duration = Duration::from_millis(200);
/// Width of the progress bar in characters.
const BAR_WIDTH: usize = 30;

/// A staff user's connection to one tenant of a server.
pub struct JobClient {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    tenant: String,
    token: String,
}

/// What to send as a job's input.
pub enum JobInput {
    /// A JSON object.
    Json(Vec<u8>),
    /// A file (sent as `text/csv`), with options for the query string.
    File(Vec<u8>, String),
}

impl JobClient {
    /// A client of `server` (e.g. `http://127.0.0.1:8080`).
    pub fn new(server: &str, tenant: &str, token: &str) -> JobClient {
        JobClient {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base: server.trim_end_matches('/').to_owned(),
            tenant: tenant.to_owned(),
            token: token.to_owned(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let uri = format!("{}/v1/{}/{path}", self.base, self.tenant);
        let req = Request::builder()
            .method(method)
            .uri(&uri)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .context("building the request")?;
        let response = self
            .client
            .request(req)
            .await
            .with_context(|| format!("connecting to {}", self.base))?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let message = value["error"]["message"].as_str().unwrap_or("no details");
            bail!("{status}: {message}");
        }
        Ok(value)
    }

    /// Invokes `plugin/operation` and waits for its answer.
    pub async fn invoke(&self, what: &str, input: &Value) -> anyhow::Result<Value> {
        let body = serde_json::to_vec(input)?;
        self.send(Method::POST, what, "application/json", body)
            .await
    }

    /// Writes a campaign's whole print batch into `out`: the mailing
    /// vendor's CSV (`batch.csv`) and the notices, `notices-0001.pdf` ...
    /// (`per_pdf` pages each). Returns (rows, PDF files).
    pub async fn print_batch(
        &self,
        campaign: &str,
        dose_number: u32,
        per_pdf: u32,
        out: &std::path::Path,
    ) -> anyhow::Result<(u64, u64)> {
        use base64::Engine as _;
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let mut csv = Vec::new();
        let (mut after, mut rows) = (0u64, 0u64);
        loop {
            let input = serde_json::json!({"campaign": campaign, "dose_number": dose_number,
                "after": after, "limit": 5000});
            let page = self.invoke("target-extraction/print-batch", &input).await?;
            csv.extend_from_slice(page["csv"].as_str().unwrap_or("").as_bytes());
            rows += page["rows"].as_u64().unwrap_or(0);
            match page["next_after"].as_u64() {
                Some(next) => after = next,
                None => break,
            }
        }
        std::fs::write(out.join("batch.csv"), &csv).context("writing batch.csv")?;
        let (mut after, mut files) = (0u64, 0u64);
        loop {
            let input = serde_json::json!({"campaign": campaign, "dose_number": dose_number,
                "after": after, "limit": per_pdf});
            let page = self
                .invoke("target-extraction/print-notices", &input)
                .await?;
            if let Some(pdf) = page["pdf_base64"].as_str() {
                files += 1;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(pdf)
                    .context("the server sent a notice PDF that is not base64")?;
                let name = format!("notices-{files:04}.pdf");
                std::fs::write(out.join(&name), bytes)
                    .with_context(|| format!("writing {name}"))?;
            }
            match page["next_after"].as_u64() {
                Some(next) => after = next,
                None => break,
            }
        }
        Ok((rows, files))
    }

    /// Starts `plugin/operation` as a job; returns its id.
    pub async fn start(&self, what: &str, input: JobInput) -> anyhow::Result<String> {
        let started = match input {
            JobInput::Json(body) => {
                self.send(
                    Method::POST,
                    &format!("jobs/{what}"),
                    "application/json",
                    body,
                )
                .await?
            }
            JobInput::File(body, query) => {
                self.send(
                    Method::POST,
                    &format!("jobs/{what}?{query}"),
                    "text/csv",
                    body,
                )
                .await?
            }
        };
        started["job_id"]
            .as_str()
            .map(str::to_owned)
            .context("the server answered without a job id")
    }

    /// A job's state.
    pub async fn status(&self, id: &str) -> anyhow::Result<Value> {
        self.send(
            Method::GET,
            &format!("jobs/{id}"),
            "application/json",
            Vec::new(),
        )
        .await
    }

    /// Asks a job to stop.
    pub async fn cancel(&self, id: &str) -> anyhow::Result<Value> {
        self.send(
            Method::DELETE,
            &format!("jobs/{id}"),
            "application/json",
            Vec::new(),
        )
        .await
    }

    /// Follows a job to its end, drawing a progress bar on stderr; the
    /// first Ctrl-C cancels it. Returns its final status.
    pub async fn follow(&self, id: &str) -> anyhow::Result<Value> {
        let started = Instant::now();
        let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
        let mut cancelled = false;
        loop {
            let status = self.status(id).await?;
            draw(&status, started.elapsed());
            if status["state"] != "running" {
                eprintln!();
                return Ok(status);
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL_EVERY) => {}
                _ = &mut ctrl_c, if !cancelled => {
                    cancelled = true;
                    eprintln!("\ncancelling job {id} (nothing will be applied)...");
                    self.cancel(id).await?;
                }
            }
        }
    }
}

/// One line of progress: `[#######.......]  45%  450000/1000000  12.3 s`.
pub fn bar(done: u64, total: u64, elapsed: Duration) -> String {
    let fraction = if total == 0 {
        0.0
    } else {
        done as f64 / total as f64
    };
    let filled = ((fraction * BAR_WIDTH as f64) as usize).min(BAR_WIDTH);
    format!(
        "[{}{}] {:>3.0}%  {done}/{total}  {:.1} s",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled),
        fraction * 100.0,
        elapsed.as_secs_f64()
    )
}

fn draw(status: &Value, elapsed: Duration) {
    let (done, total) = (
        status["done"].as_u64().unwrap_or(0),
        status["total"].as_u64().unwrap_or(0),
    );
    let mut err = std::io::stderr();
    let _ = write!(err, "\r{}", bar(done, total, elapsed));
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_bar() {
        assert_eq!(
            bar(45, 100, Duration::from_millis(1500)),
            "[#############.................]  45%  45/100  1.5 s"
        );
        assert!(bar(0, 0, Duration::ZERO).starts_with("[.............................."));
        assert!(bar(7, 5, Duration::ZERO).contains("[##############################]"));
    }
}
