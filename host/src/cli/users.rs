//! `kiroku user ...`, `kiroku token ...` and `kiroku roles ...`: accounts,
//! service tokens and roles, on the tenant file (beside a running server
//! too: a disabled account's sessions end at its next request).

use std::io::BufRead;
use std::net::IpAddr;

use anyhow::{Context, bail};
use clap::Subcommand;

use super::TenantArgs;
use kiroku::admin::{self, AdminActor};
use kiroku::clock::{Clock, OsEntropy, format_timestamp};
use kiroku::identity::accounts::{self, Kind, NewAccount, parse_day_end};
use kiroku::identity::{lifecycle, review, service};
use kiroku::store::TenantStore;

#[derive(Subcommand)]
pub enum UserCmd {
    /// Issues an account in the "enrolment pending" state and prints its
    /// one-time enrolment code as the last line (with --password-stdin:
    /// enrols at once and prints the otpauth:// URI as the last line).
    Add {
        #[command(flatten)]
        at: TenantArgs,
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
        /// A shared terminal: it logs in only with a named operator.
        #[arg(long)]
        shared: bool,
        /// Last day of use (YYYY-MM-DD).
        #[arg(long)]
        valid_until: Option<String>,
        /// Read the password from standard input and enrol now.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disables an account (transfer, retirement); its sessions end at once.
    Disable {
        #[command(flatten)]
        at: TenantArgs,
        #[arg(long)]
        name: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Enables a disabled account.
    Enable {
        #[command(flatten)]
        at: TenantArgs,
        #[arg(long)]
        name: String,
    },
    /// Gives an account another role (its sessions end).
    Role {
        #[command(flatten)]
        at: TenantArgs,
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: String,
    },
    /// A new enrolment code (lost authenticator, forgotten password).
    Reset {
        #[command(flatten)]
        at: TenantArgs,
        #[arg(long)]
        name: String,
    },
    /// Sets (YYYY-MM-DD) or clears (`none`) an account's last day of use.
    ValidUntil {
        #[command(flatten)]
        at: TenantArgs,
        #[arg(long)]
        name: String,
        #[arg(long)]
        date: String,
    },
    /// Lists accounts.
    List {
        #[command(flatten)]
        at: TenantArgs,
    },
    /// The account review: role, state, dates and flags of every account.
    Review {
        #[command(flatten)]
        at: TenantArgs,
        /// `csv` or `json`.
        #[arg(long, default_value = "csv")]
        format: String,
    },
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Adds a service account's token (or replaces it) and prints it as
    /// the last line.
    Add {
        #[command(flatten)]
        at: TenantArgs,
        /// Service account name.
        #[arg(long)]
        service: String,
        #[arg(long)]
        role: String,
        /// Last day the token works (YYYY-MM-DD).
        #[arg(long)]
        expires: String,
        /// The only source address allowed.
        #[arg(long)]
        source: Option<IpAddr>,
    },
    /// Lists service accounts.
    List {
        #[command(flatten)]
        at: TenantArgs,
    },
    /// Revokes a service's token at once.
    Revoke {
        #[command(flatten)]
        at: TenantArgs,
        #[arg(long)]
        service: String,
        #[arg(long, default_value = "revoked")]
        reason: String,
    },
}

fn open(at: &TenantArgs) -> anyhow::Result<TenantStore> {
    let code = super::tenant_code(&at.tenant)?;
    let dir = crate::cli::data_dir(&at.data)?;
    TenantStore::open(&dir, &code).with_context(|| format!("opening tenant {code}"))
}

fn day(text: &str) -> anyhow::Result<i64> {
    parse_day_end(text).with_context(|| format!("{text:?} is not a date YYYY-MM-DD"))
}

fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("no password on standard input");
    }
    Ok(password)
}

/// Runs a `user` command.
pub fn user(cmd: UserCmd, clock: &dyn Clock) -> anyhow::Result<()> {
    let actor = |what: &str| AdminActor::system(what, clock.now_ms());
    match cmd {
        UserCmd::Add {
            at,
            name,
            role,
            shared,
            valid_until,
            password_stdin,
        } => {
            let store = open(&at)?;
            let new = NewAccount {
                name: name.clone(),
                role: role.clone(),
                kind: if shared { Kind::Shared } else { Kind::Staff },
                valid_until_ms: valid_until.as_deref().map(day).transpose()?,
            };
            if password_stdin {
                let password = read_password()?;
                let enrolled = accounts::add_enrolled(
                    &store,
                    &new,
                    &password,
                    &actor("user-add"),
                    &OsEntropy,
                )?;
                println!("added and enrolled {name} ({role}) in tenant {}", at.tenant);
                println!("their TOTP secret (for an authenticator app):");
                println!("{}", enrolled.otpauth_uri);
            } else {
                let code = accounts::add(&store, &new, &actor("user-add"), &OsEntropy)?;
                println!(
                    "added {name} ({role}) to tenant {}: enrolment pending; give them this one-time code (valid 7 days) for POST /v1/{}/enrol:",
                    at.tenant, at.tenant
                );
                println!("{code}");
            }
        }
        UserCmd::Disable { at, name, reason } => {
            let ended = lifecycle::disable(&open(&at)?, &name, &reason, &actor("user-disable"))?;
            println!("disabled {name}; {ended} live session(s) ended");
        }
        UserCmd::Enable { at, name } => {
            lifecycle::enable(&open(&at)?, &name, &actor("user-enable"))?;
            println!("enabled {name}");
        }
        UserCmd::Role { at, name, role } => {
            lifecycle::set_role(&open(&at)?, &name, &role, &actor("user-role"))?;
            println!("{name} now has role {role}; their sessions ended");
        }
        UserCmd::Reset { at, name } => {
            let code = lifecycle::reset(&open(&at)?, &name, &actor("user-reset"), &OsEntropy)?;
            println!("{name} must enrol again; their new one-time code:");
            println!("{code}");
        }
        UserCmd::ValidUntil { at, name, date } => {
            let until = match date.as_str() {
                "none" => None,
                d => Some(day(d)?),
            };
            lifecycle::set_valid_until(&open(&at)?, &name, until, &actor("user-valid-until"))?;
            println!(
                "{name}: {}",
                until.map_or("no end date".into(), format_timestamp)
            );
        }
        UserCmd::List { at } => {
            let store = open(&at)?;
            for a in accounts::all(&store)? {
                println!(
                    "{}  {}  {}  {}",
                    a.name,
                    a.kind.as_str(),
                    a.role,
                    a.state(clock.now_ms()).as_str()
                );
            }
        }
        UserCmd::Review { at, format } => {
            let store = open(&at)?;
            let lines = review::review(&store, clock.now_ms())?;
            match format.as_str() {
                "csv" => print!("{}", review::to_csv(&lines)),
                "json" => println!("{}", serde_json::to_string_pretty(&lines)?),
                other => bail!("--format {other:?}: use csv or json"),
            }
        }
    }
    Ok(())
}

/// Runs a `token` command.
pub fn token(cmd: TokenCmd, clock: &dyn Clock) -> anyhow::Result<()> {
    let actor = |what: &str| AdminActor::system(what, clock.now_ms());
    match cmd {
        TokenCmd::Add {
            at,
            service: name,
            role,
            expires,
            source,
        } => {
            let store = open(&at)?;
            let token = service::add(
                &store,
                &name,
                &role,
                day(&expires)?,
                source,
                &actor("token-add"),
                &OsEntropy,
            )?;
            println!("service {name} ({role}) token, valid until the end of {expires}:");
            println!("{token}");
        }
        TokenCmd::List { at } => {
            let store = open(&at)?;
            for a in accounts::all(&store)?
                .into_iter()
                .filter(|a| a.kind == Kind::Service)
            {
                println!(
                    "{}  {}  {}  until {}{}",
                    a.name,
                    a.role,
                    a.state(clock.now_ms()).as_str(),
                    a.valid_until_ms.map_or("-".into(), format_timestamp),
                    a.source.map_or(String::new(), |s| format!("  from {s}"))
                );
            }
        }
        TokenCmd::Revoke {
            at,
            service: name,
            reason,
        } => {
            let store = open(&at)?;
            match accounts::get(&store, &name)? {
                Some(a) if a.kind == Kind::Service => {}
                _ => bail!("no service account {name}"),
            }
            lifecycle::disable(&store, &name, &reason, &actor("token-revoke"))?;
            println!("revoked the token of service {name}");
        }
    }
    Ok(())
}

/// `kiroku roles show`: each role in words.
pub fn explain_roles(store: &TenantStore) -> anyhow::Result<String> {
    let roles = admin::roles(store)?;
    let mut out = String::new();
    for name in roles.names() {
        let role = roles.get(name).expect("listed");
        out.push_str(&format!("{name}: {}\n", role.summary));
        out.push_str(&format!("  {}\n", role.explain()));
    }
    Ok(out)
}
