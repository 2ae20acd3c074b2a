//! `kiroku serve --config FILE` and `kiroku config check FILE`.
//!
//! Every `serve` flag can also be set in a TOML file; a flag given on the
//! command line wins over the file, the file over the default. Unknown
//! keys are an error (a misspelt `shutdown_grace_secs` must not silently
//! leave the default). Relative paths in the file are relative to the
//! file's folder, so a config next to its certificates works from any
//! working directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use super::keys::KeyArgs;

mod check;
mod resolve;
pub use check::check;
pub use resolve::Settings;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The file's layout.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    data: Option<PathBuf>,
    listen: Option<String>,
    public_url: Option<String>,
    metrics_listen: Option<String>,
    log_format: Option<LogFormat>,
    shutdown_grace_seconds: Option<u64>,
    memory_mib: Option<u64>,
    close_idle_minutes: Option<u64>,
    #[serde(default)]
    tls: TlsSection,
    #[serde(default)]
    keys: KeysSection,
    #[serde(default)]
    federation: FederationSection,
    #[serde(default)]
    limits: LimitsSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysSection {
    dir: Option<PathBuf>,
    pkcs11_module: Option<PathBuf>,
    pkcs11_token: Option<String>,
    pkcs11_pin_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FederationSection {
    listen: Option<String>,
    ca: Option<PathBuf>,
    directory: Option<PathBuf>,
    identity: Option<PathBuf>,
    hold_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_connections: Option<usize>,
    header_timeout_seconds: Option<u64>,
}

impl ConfigFile {
    /// Reads and parses a config file; paths in it are made relative to
    /// its folder.
    pub fn load(path: &Path) -> anyhow::Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the config file {}", path.display()))?;
        let mut file: ConfigFile = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("the config file {} is not valid", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &mut Option<PathBuf>| {
            if let Some(p) = p
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        rebase(&mut file.data);
        rebase(&mut file.tls.cert);
        rebase(&mut file.tls.key);
        rebase(&mut file.keys.dir);
        rebase(&mut file.keys.pkcs11_module);
        rebase(&mut file.keys.pkcs11_pin_file);
        rebase(&mut file.federation.ca);
        rebase(&mut file.federation.directory);
        rebase(&mut file.federation.identity);
        Ok(file)
    }

    /// The key settings: flags first, then the file.
    pub fn merge_keys(&self, flags: &KeyArgs) -> KeyArgs {
        KeyArgs {
            keys: flags.keys.clone().or(self.keys.dir.clone()),
            pkcs11_module: flags
                .pkcs11_module
                .clone()
                .or(self.keys.pkcs11_module.clone()),
            pkcs11_token: flags
                .pkcs11_token
                .clone()
                .or(self.keys.pkcs11_token.clone()),
            pkcs11_pin_file: flags
                .pkcs11_pin_file
                .clone()
                .or(self.keys.pkcs11_pin_file.clone()),
        }
    }

    /// The log format asked for in the file.
    pub fn log_format(&self) -> Option<LogFormat> {
        self.log_format
    }
}

/// Default address of the staff API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default seconds of the shutdown grace.
pub const DEFAULT_SHUTDOWN_GRACE: u64 = 30;
/// Default minutes before an idle tenant is closed.
pub const DEFAULT_CLOSE_IDLE_MINUTES: u64 = 30;

/// Where a setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The command line.
    Flag,
    /// The config file.
    File,
    /// Kiroku's default.
    Default,
}

fn pick<T: Clone>(flag: &Option<T>, file: &Option<T>, default: Option<T>) -> (Option<T>, Source) {
    match (flag, file) {
        (Some(v), _) => (Some(v.clone()), Source::Flag),
        (None, Some(v)) => (Some(v.clone()), Source::File),
        (None, None) => (default, Source::Default),
    }
}

/// Plain HTTP is served only on a loopback address.
pub fn ensure_loopback(listen: &str) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = listen
        .to_socket_addrs()
        .with_context(|| format!("resolving {listen}"))?
        .collect();
    if let Some(open) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        bail!(
            "refusing plain HTTP on {open}: staff traffic off this machine must be encrypted; pass --tls-cert and --tls-key, or listen on 127.0.0.1"
        );
    }
    Ok(())
}
