//! `kiroku job`: long plugin operations on a running server, with a
//! progress bar; Ctrl-C cancels.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use super::ServerArgs;

#[derive(Subcommand)]
pub enum JobCmd {
    /// Starts PLUGIN/OPERATION as a job, draws its progress, prints its
    /// output. Ctrl-C cancels it (a cancelled job applies nothing).
    Run {
        #[command(flatten)]
        at: ServerArgs,
        /// `plugin/operation`, e.g. `target-extraction/extract`.
        what: String,
        /// The input as a JSON file.
        #[arg(long, conflicts_with = "file")]
        input: Option<PathBuf>,
        /// A file to upload as is (CSV in UTF-8 or Shift_JIS).
        #[arg(long)]
        file: Option<PathBuf>,
        /// An option sent with --file, as key=value (repeatable).
        #[arg(long = "option", requires = "file")]
        options: Vec<String>,
    },
    /// Shows a job's state.
    Status {
        #[command(flatten)]
        at: ServerArgs,
        /// The job id.
        id: String,
    },
    /// Cancels a job.
    Cancel {
        #[command(flatten)]
        at: ServerArgs,
        /// The job id.
        id: String,
    },
}

/// Runs a `kiroku job` command.
pub async fn job(cmd: JobCmd) -> anyhow::Result<ExitCode> {
    use kiroku::client::{JobClient, JobInput};
    let client = |at: &ServerArgs| JobClient::new(&at.server, &at.tenant, &at.token);
    match cmd {
        JobCmd::Run {
            at,
            what,
            input,
            file,
            options,
        } => {
            let input = match (input, file) {
                (Some(path), None) => JobInput::Json(
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
                ),
                (None, Some(path)) => {
                    let bytes = std::fs::read(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let mut query = form_urlencoded::Serializer::new(String::new());
                    for option in &options {
                        let (k, v) = option
                            .split_once('=')
                            .with_context(|| format!("--option {option:?} is not key=value"))?;
                        query.append_pair(k, v);
                    }
                    JobInput::File(bytes, query.finish())
                }
                _ => JobInput::Json(b"{}".to_vec()),
            };
            let client = client(&at);
            let id = client.start(&what, input).await?;
            eprintln!("job {id} started");
            let end = client.follow(&id).await?;
            match end["state"].as_str() {
                Some("done") => {
                    println!("{}", serde_json::to_string_pretty(&end["output"])?);
                    Ok(ExitCode::SUCCESS)
                }
                state => {
                    let message = end["error"]["message"].as_str().unwrap_or("no details");
                    eprintln!("job {id} {}: {message}", state.unwrap_or("ended"));
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        JobCmd::Status { at, id } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&client(&at).status(&id).await?)?
            );
            Ok(ExitCode::SUCCESS)
        }
        JobCmd::Cancel { at, id } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&client(&at).cancel(&id).await?)?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
