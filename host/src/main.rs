//! `kiroku`: the server and its admin and vendor CLI.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use kiroku::admin::{self, AdminActor};
use kiroku::app::App;
use kiroku::audit::Verified;
use kiroku::clock::{Clock, OsEntropy, SystemClock, format_timestamp};
use kiroku::datadir::DataDir;
use kiroku::ids::TenantCode;
use kiroku::policy::Policy;
use kiroku::runtime::Runtime;
use kiroku::store::{SYSTEM_ACTOR, SystemStore, TenantStore, open_tenant_for_verify};

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Municipalities (tenants).
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Installed plugins of a tenant.
    #[command(subcommand)]
    Plugin(PluginCmd),
    /// Capability policies.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Staff users of a tenant.
    #[command(subcommand)]
    User(UserCmd),
    /// Staff roles of a tenant.
    #[command(subcommand)]
    Roles(RolesCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
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
    Serve {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
        /// Address to listen on (port 0 picks one; the chosen address is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Sets up the demo tenant 142051 with synthetic residents and serves it.
    Demo {
        /// Data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Number of synthetic residents.
        #[arg(long, default_value_t = 10_000)]
        persons: usize,
        /// Seed of the synthetic data.
        #[arg(long, default_value_t = 142_051)]
        seed: u64,
        /// Folder with the plugin components.
        #[arg(long, default_value = "target/wasm32-wasip2/release")]
        plugins: PathBuf,
        /// Folder with the plugin policies.
        #[arg(long, default_value = "policies")]
        policies: PathBuf,
        /// Set up only; do not serve.
        #[arg(long)]
        no_serve: bool,
    },
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

/// Where a tenant is: the data directory and the tenant's code.
#[derive(clap::Args)]
struct TenantArgs {
    /// Data directory.
    #[arg(long)]
    data: PathBuf,
    /// 6-digit local government code.
    #[arg(long)]
    tenant: String,
}

/// A staff user on a running server.
#[derive(clap::Args)]
struct ServerArgs {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// 6-digit local government code.
    #[arg(long)]
    tenant: String,
    /// The staff user's bearer token.
    #[arg(long, env = "KIROKU_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(Subcommand)]
enum JobCmd {
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

#[derive(Subcommand)]
enum TenantCmd {
    /// Creates a tenant (validates the code's check digit).
    Create {
        #[arg(long)]
        data: PathBuf,
        /// 6-digit local government code, e.g. 142051.
        #[arg(long)]
        code: String,
        /// Municipality name.
        #[arg(long)]
        name: String,
        /// Roles file (default: the built-in policies/roles.toml).
        #[arg(long)]
        roles: Option<PathBuf>,
    },
    /// Lists tenants.
    List {
        #[arg(long)]
        data: PathBuf,
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
    /// Lists a tenant's plugins with their pinned digests.
    List {
        #[command(flatten)]
        at: TenantArgs,
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
enum UserCmd {
    /// Adds a user; prints their bearer token as the last line.
    Add {
        #[command(flatten)]
        at: TenantArgs,
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
    },
    /// Revokes a user; their token fails at once.
    Revoke {
        #[command(flatten)]
        at: TenantArgs,
        #[arg(long)]
        name: String,
    },
    /// Issues a new token for a user (the old one stops working).
    Token {
        #[command(flatten)]
        at: TenantArgs,
        #[arg(long)]
        name: String,
    },
    /// Lists users.
    List {
        #[command(flatten)]
        at: TenantArgs,
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
    /// Prints a tenant's roles file.
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn tenant_code(code: &str) -> anyhow::Result<TenantCode> {
    TenantCode::parse(code).map_err(|e| anyhow::anyhow!("{code:?}: {e}"))
}

fn open_tenant(at: &TenantArgs) -> anyhow::Result<(DataDir, TenantStore)> {
    let code = tenant_code(&at.tenant)?;
    let dir = DataDir::open(&at.data)?;
    let store = TenantStore::open(&dir, &code).with_context(|| format!("opening tenant {code}"))?;
    Ok((dir, store))
}

fn cli_actor(clock: &dyn Clock, what: &str) -> AdminActor {
    AdminActor {
        name: SYSTEM_ACTOR.into(),
        request_id: format!("cli-{what}-{}", clock.now_ms()),
        now_ms: clock.now_ms(),
    }
}

fn new_runtime() -> anyhow::Result<Arc<Runtime>> {
    Ok(Arc::new(Runtime::new(
        Arc::new(SystemClock),
        Arc::new(OsEntropy),
    )?))
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    let clock = SystemClock;
    match command {
        Command::Tenant(TenantCmd::Create {
            data,
            code,
            name,
            roles,
        }) => {
            let code = tenant_code(&code)?;
            let roles_text = match roles {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => kiroku::roles::DEFAULT_ROLES.to_owned(),
            };
            kiroku::roles::Roles::parse(&roles_text)?;
            let dir = DataDir::open(&data)?;
            TenantStore::create(&dir, &code, &name, &roles_text, &clock, &OsEntropy)?;
            println!("created tenant {code} ({name})");
        }
        Command::Tenant(TenantCmd::List { data }) => {
            let dir = DataDir::open(&data)?;
            for (code, row) in SystemStore::open(&dir, &OsEntropy)?.tenants()? {
                println!(
                    "{code}  {}  created {}",
                    row.name,
                    format_timestamp(row.created_ms)
                );
            }
        }
        Command::Plugin(PluginCmd::Install {
            at,
            policy,
            component,
        }) => {
            let (dir, store) = open_tenant(&at)?;
            let policy_text = std::fs::read_to_string(&policy)
                .with_context(|| format!("reading {}", policy.display()))?;
            let bytes = std::fs::read(&component)
                .with_context(|| format!("reading {}", component.display()))?;
            let runtime = new_runtime()?;
            let done = admin::install_plugin(
                &dir,
                &runtime,
                &store,
                &policy_text,
                &bytes,
                &cli_actor(&clock, "install"),
            )
            .await?;
            println!("installed {} for tenant {}", done.name, at.tenant);
            for op in &done.operations {
                println!(
                    "  {} {}: {}",
                    if op.writes { "writes" } else { "reads " },
                    op.name,
                    op.summary
                );
            }
            println!("sha256:{}", done.digest);
        }
        Command::Plugin(PluginCmd::List { at }) => {
            let (_, store) = open_tenant(&at)?;
            for p in admin::list_plugins(&store)? {
                println!(
                    "{}  sha256:{}  installed {}",
                    p.name,
                    p.digest,
                    format_timestamp(p.installed_ms)
                );
            }
        }
        Command::Policy(PolicyCmd::Check { policy, component }) => {
            let text = std::fs::read_to_string(&policy)
                .with_context(|| format!("reading {}", policy.display()))?;
            let parsed = Policy::parse(&text)?;
            print!("{}", parsed.explain());
            if let Some(component) = component {
                let bytes = std::fs::read(&component)
                    .with_context(|| format!("reading {}", component.display()))?;
                let runtime = new_runtime()?;
                let mut refused = false;
                println!(
                    "Component {} (sha256:{}):",
                    component.display(),
                    kiroku::ids::Digest::of(&bytes)
                );
                for import in runtime.imports(&bytes)? {
                    let name = &import.name;
                    match parsed.check_import(name, import.calls_functions) {
                        Ok(kiroku::policy::ImportKind::Types) => println!("  types    {name}"),
                        Ok(_) => println!("  granted  {name}"),
                        Err(denied) => {
                            refused = true;
                            println!("  REFUSED  {name}: {denied}");
                        }
                    }
                }
                if refused {
                    bail!("the component imports what the policy does not grant");
                }
                let loaded = runtime.load(&bytes, Arc::new(parsed), None).await?;
                for op in &loaded.operations {
                    println!(
                        "  operation {} ({}): {}",
                        op.name,
                        if op.writes { "writes" } else { "reads" },
                        op.summary
                    );
                }
            }
        }
        Command::User(UserCmd::Add { at, name, role }) => {
            let (_, store) = open_tenant(&at)?;
            let token = admin::add_user(
                &store,
                &name,
                &role,
                &cli_actor(&clock, "user-add"),
                &OsEntropy,
            )?;
            println!(
                "added user {name} ({role}) to tenant {}; their bearer token:",
                at.tenant
            );
            println!("{token}");
        }
        Command::User(UserCmd::Revoke { at, name }) => {
            let (_, store) = open_tenant(&at)?;
            admin::revoke_user(&store, &name, &cli_actor(&clock, "user-revoke"))?;
            println!("revoked user {name}");
        }
        Command::User(UserCmd::Token { at, name }) => {
            let (_, store) = open_tenant(&at)?;
            let token =
                admin::reissue_token(&store, &name, &cli_actor(&clock, "user-token"), &OsEntropy)?;
            println!("new token for {name}:");
            println!("{token}");
        }
        Command::User(UserCmd::List { at }) => {
            let (_, store) = open_tenant(&at)?;
            for u in admin::list_users(&store)? {
                let state = u.revoked_ms.map_or("active".to_owned(), |t| {
                    format!("revoked {}", format_timestamp(t))
                });
                println!("{}  {}  {state}", u.name, u.role);
            }
        }
        Command::Roles(RolesCmd::Set { at, file }) => {
            let (_, store) = open_tenant(&at)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            admin::set_roles(&store, &text, &cli_actor(&clock, "roles-set"))?;
            println!("roles of tenant {} replaced", at.tenant);
        }
        Command::Roles(RolesCmd::Show { at }) => {
            let (_, store) = open_tenant(&at)?;
            let text = store
                .meta(kiroku::store::tables::meta::ROLES)?
                .unwrap_or_default();
            print!("{}", String::from_utf8_lossy(&text));
        }
        Command::Audit(AuditCmd::Verify { data, tenant }) => {
            return audit_verify(&data, tenant.as_deref());
        }
        Command::Job(cmd) => return job(cmd).await,
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
                "{rows} tickets: {}/batch.csv and {files} PDF file(s) of notices",
                out.display()
            );
        }
        Command::Serve { data, listen } => {
            let app = Arc::new(App::new(DataDir::open(&data)?, new_runtime()?));
            serve(app, &listen).await?;
        }
        Command::Demo {
            data,
            listen,
            persons,
            seed,
            plugins,
            policies,
            no_serve,
        } => {
            let app = Arc::new(App::new(DataDir::open(&data)?, new_runtime()?));
            let opts = kiroku::demo::DemoOptions {
                persons,
                seed,
                plugins,
                policies,
                doses: true,
            };
            let users = kiroku::demo::prepare(&app, &opts).await?;
            println!(
                "Demo tenant {} ({}). Tokens (new each run):",
                kiroku::demo::DEMO_TENANT,
                kiroku::demo::DEMO_TENANT_NAME
            );
            for u in &users {
                println!("  {:<10} {:<16} {}", u.role, u.name, u.token);
            }
            if !no_serve {
                serve(app, &listen).await?;
            }
        }
        Command::Synth {
            persons,
            seed,
            format,
        } => {
            let residents = kiroku::synth::residents(persons, seed, clock.today());
            match format.as_str() {
                "csv" => print!("{}", kiroku::synth::to_csv(&residents)),
                "json" => {
                    let mut records: Vec<_> = residents.iter().map(|r| r.add_record()).collect();
                    records.extend(residents.iter().flat_map(|r| r.change_records()));
                    println!("{}", serde_json::json!({ "records": records }));
                }
                other => bail!("--format {other:?}: use json or csv"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn job(cmd: JobCmd) -> anyhow::Result<ExitCode> {
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

async fn serve(app: Arc<App>, listen: &str) -> anyhow::Result<()> {
    let tenants = app.open_all().await?;
    let (listener, addr) = kiroku::server::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let pooling = if app.runtime.info().pooling {
        "pooling"
    } else {
        "on-demand"
    };
    println!(
        "kiroku listening on http://{addr} ({} tenants, {pooling} instance allocation)",
        tenants.len()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("shutting down");
    };
    kiroku::server::serve(app, listener, shutdown).await
}

fn audit_verify(data: &Path, tenant: Option<&str>) -> anyhow::Result<ExitCode> {
    let dir = DataDir::open(data)?;
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
        report(format!("tenant {code}"), db.verify(&keys)?, started);
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
