//! `kiroku`: the server and its admin and vendor CLI.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

mod cli;

use cli::job::JobCmd;
use cli::users::{TokenCmd, UserCmd};
use cli::{ServerArgs, TenantArgs};
use kiroku::admin::{self, AdminActor};
use kiroku::app::App;
use kiroku::clock::{Clock, OsEntropy, SystemClock};
use kiroku::runtime::Runtime;

/// mimalloc: per-thread free lists instead of glibc's contended arenas (a
/// measured 12% of server CPU went to malloc/free under load).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "kiroku",
    version,
    about = "Vaccination-records server with capability-fenced WebAssembly plugins"
)]
struct Cli {
    #[command(flatten)]
    keys: cli::keys::KeyArgs,
    /// Log lines as `text` or `json` (one object per line).
    #[arg(long, global = true, env = "KIROKU_LOG_FORMAT", value_enum)]
    log_format: Option<cli::config::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Municipalities (tenants).
    #[command(subcommand)]
    Tenant(cli::tenants::TenantCmd),
    /// Installed plugins of a tenant.
    #[command(subcommand)]
    Plugin(PluginCmd),
    /// Capability policies.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Staff accounts of a tenant: issue, enrol, disable, review.
    #[command(subcommand)]
    User(UserCmd),
    /// Service accounts' tokens (automated work).
    #[command(subcommand)]
    Token(TokenCmd),
    /// Staff roles of a tenant.
    #[command(subcommand)]
    Roles(RolesCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// The tenant's certificate issuer (signing keys).
    #[command(subcommand)]
    Issuer(cli::certificates::IssuerCmd),
    /// The My Number card CAs trusted for app and kiosk applications.
    #[command(subcommand)]
    CardCa(cli::certificates::CardCaCmd),
    /// Vaccination certificates, offline.
    #[command(subcommand)]
    Certificate(cli::certificates::CertificateCmd),
    /// Exchanges between municipalities.
    #[command(subcommand)]
    Federation(cli::federation::FederationCmd),
    /// The root keys: how each is kept; sealing them with a PKCS#11 token.
    #[command(subcommand)]
    Keys(cli::keys::KeysCmd),
    /// Retention rules and deletion records of a tenant.
    #[command(subcommand)]
    Retention(cli::retention::RetentionCmd),
    /// Writes an encrypted backup of a tenant, online (the server may run).
    Backup {
        #[command(flatten)]
        at: cli::TenantArgs,
        /// The backup file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Restores a tenant from a backup (stop the server first); persons
    /// purged since the backup stay purged.
    Restore {
        #[command(flatten)]
        at: cli::TenantArgs,
        /// The backup file.
        file: PathBuf,
        /// Replace the tenant's existing database.
        #[arg(long)]
        replace: bool,
    },
    /// Jobs on a running server: long plugin operations with progress.
    #[command(subcommand)]
    Job(JobCmd),
    /// Downloads a campaign's whole print batch from a running server: the
    /// mailing vendor's CSV and the PDF notices, page by page.
    PrintBatch {
        #[command(flatten)]
        at: ServerArgs,
        /// The campaign id.
        #[arg(long)]
        campaign: String,
        /// The dose the tickets are for.
        #[arg(long)]
        dose: u32,
        /// Notices per PDF file (at most 500).
        #[arg(long, default_value_t = 500)]
        per_pdf: u32,
        /// Folder to write batch.csv and notices-NNNN.pdf into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Runs the HTTP API.
    Serve(cli::serve::ServeArgs),
    /// Configuration files.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Sets up the demo tenant 142051 with synthetic residents and serves it.
    Demo(cli::demo::DemoArgs),
    /// Prints a synthetic resident feed (JSON or CSV) for examples and tests.
    Synth {
        /// Number of residents.
        #[arg(long, default_value_t = 10)]
        persons: usize,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// `json` or `csv`.
        #[arg(long, default_value = "json")]
        format: String,
    },
}

#[derive(Subcommand)]
enum PluginCmd {
    /// Checks a component against a policy and pins its digest for a tenant.
    Install {
        #[command(flatten)]
        at: TenantArgs,
        /// Policy file.
        #[arg(long)]
        policy: PathBuf,
        /// The component (.wasm).
        component: PathBuf,
    },
    /// Lists a tenant's plugins with their pinned digests, and loads each
    /// as a server would (compiled, imports checked, described within its
    /// deadline) to say whether it is ready or why it is refused.
    List {
        #[command(flatten)]
        at: TenantArgs,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Parses a `serve --config` file, checks the files it names, and
    /// explains every setting and where it comes from; unknown keys are
    /// an error.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum PolicyCmd {
    /// Validates a policy and explains what the plugin can touch; with a
    /// component, also checks its imports against the policy.
    Check {
        /// Policy file.
        policy: PathBuf,
        /// Optional component to check against it.
        component: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RolesCmd {
    /// Replaces a tenant's roles file.
    Set {
        #[command(flatten)]
        at: TenantArgs,
        #[arg(long)]
        file: PathBuf,
    },
    /// Explains each role of a tenant in words.
    Show {
        #[command(flatten)]
        at: TenantArgs,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Verifies hash chains; exit 0 when all intact, else names the first bad event.
    Verify {
        #[arg(long)]
        data: PathBuf,
        /// Only this tenant (default: every tenant and the system file).
        #[arg(long)]
        tenant: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match &cli.command {
        Command::Serve(args) => match args.config.as_deref().map(cli::config::ConfigFile::load) {
            Some(Ok(file)) => file,
            Some(Err(e)) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
            None => cli::config::ConfigFile::default(),
        },
        _ => cli::config::ConfigFile::default(),
    };
    cli::logging::init(cli.log_format.or(config.log_format()).unwrap_or_default());
    if let Err(e) = cli::keys::configure(&config.merge_keys(&cli.keys)) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

use cli::open_tenant;

fn cli_actor(clock: &dyn Clock, what: &str) -> AdminActor {
    AdminActor::system(what, clock.now_ms())
}

fn new_runtime() -> anyhow::Result<Arc<Runtime>> {
    Ok(Arc::new(Runtime::new(
        Arc::new(SystemClock),
        Arc::new(OsEntropy),
    )?))
}

async fn run(command: Command, config: cli::config::ConfigFile) -> anyhow::Result<ExitCode> {
    let clock = SystemClock;
    match command {
        Command::Tenant(cmd) => cli::tenants::tenant(cmd, &clock)?,
        Command::Plugin(PluginCmd::Install {
            at,
            policy,
            component,
        }) => {
            let (dir, store) = open_tenant(&at)?;
            let actor = cli_actor(&clock, "install");
            cli::plugins::install(&dir, &store, &*new_runtime()?, &policy, &component, &actor)
                .await?;
        }
        Command::Plugin(PluginCmd::List { at }) => {
            let (dir, store) = open_tenant(&at)?;
            cli::plugins::list(&dir, &store, &*new_runtime()?).await?;
        }
        Command::Policy(PolicyCmd::Check { policy, component }) => {
            cli::plugins::policy_check(&policy, component.as_deref()).await?;
        }
        Command::User(cmd) => cli::users::user(cmd, &clock)?,
        Command::Issuer(cmd) => cli::certificates::issuer(cmd, &clock)?,
        Command::CardCa(cmd) => cli::certificates::card_ca(cmd, &clock)?,
        Command::Certificate(cmd) => {
            if !cli::certificates::certificate(cmd, &clock)? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Token(cmd) => cli::users::token(cmd, &clock)?,
        Command::Federation(cmd) => cli::federation::federation(cmd)?,
        Command::Roles(RolesCmd::Set { at, file }) => {
            let (_, store) = open_tenant(&at)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            admin::set_roles(&store, &text, &cli_actor(&clock, "roles-set"))?;
            println!("roles of tenant {} replaced", at.tenant);
        }
        Command::Roles(RolesCmd::Show { at }) => {
            let (_, store) = open_tenant(&at)?;
            print!("{}", cli::users::explain_roles(&store)?);
        }
        Command::Audit(AuditCmd::Verify { data, tenant }) => {
            return cli::audit::audit_verify(&data, tenant.as_deref());
        }
        Command::Job(cmd) => return cli::job::job(cmd).await,
        Command::Keys(cmd) => cli::keys::keys(cmd, &clock)?,
        Command::Retention(cmd) => cli::retention::retention(cmd, &clock)?,
        Command::Backup { at, out } => cli::retention::backup(&at, &out, &clock)?,
        Command::Restore { at, file, replace } => {
            cli::retention::restore(&at, &file, replace, &clock)?
        }
        Command::PrintBatch {
            at,
            campaign,
            dose,
            per_pdf,
            out,
        } => {
            let client = kiroku::client::JobClient::new(&at.server, &at.tenant, &at.token);
            let (rows, files) = client.print_batch(&campaign, dose, per_pdf, &out).await?;
            println!(
                "{rows} tickets: {} and {files} PDF file(s) of notices",
                out.join("batch.csv").display()
            );
        }
        Command::Serve(args) => {
            let settings = cli::config::Settings::resolve(&args, &config)?;
            let app = Arc::new(App::new(cli::data_dir(&settings.data)?, new_runtime()?));
            cli::serve::federate(&app, &settings).await?;
            cli::serve::serve(app, &settings).await?;
        }
        Command::Config(ConfigCmd::Check { file }) => cli::config::check(&file)?,
        Command::Demo(args) => cli::demo::run(args, &config, new_runtime()?).await?,
        Command::Synth {
            persons,
            seed,
            format,
        } => {
            let residents = kiroku::synth::residents(persons, seed, clock.today());
            let text = match format.as_str() {
                "csv" => kiroku::synth::to_csv(&residents),
                "json" => {
                    let mut records: Vec<_> = residents.iter().map(|r| r.add_record()).collect();
                    records.extend(residents.iter().flat_map(|r| r.change_records()));
                    format!("{}\n", serde_json::json!({ "records": records }))
                }
                other => bail!("--format {other:?}: use json or csv"),
            };
            // `kiroku synth | head` closes the pipe early: not an error.
            use std::io::Write as _;
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
