//! `serve`'s settings resolved: each flag over the file over the default,
//! checked to fit together, with where each value came from.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use super::{
    ConfigFile, DEFAULT_CLOSE_IDLE_MINUTES, DEFAULT_LISTEN, DEFAULT_SHUTDOWN_GRACE,
    FederationSection, Source, pick,
};
use crate::cli::serve::{FederationArgs, ServeArgs};

/// The federation settings, complete.
#[derive(Debug, Clone)]
pub struct Federation {
    /// Node-to-node listener, if this node answers.
    pub listen: Option<String>,
    /// The federation CA.
    pub ca: PathBuf,
    /// The directory file.
    pub directory: PathBuf,
    /// The identities folder.
    pub identity: PathBuf,
    /// Days answers are held.
    pub hold_days: u32,
}

/// What `serve` runs with, every setting resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Data directory.
    pub data: PathBuf,
    /// Staff API address.
    pub listen: String,
    /// Certificate and key of the staff API's HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The public URL.
    pub public_url: Option<String>,
    /// Metrics listener.
    pub metrics_listen: Option<String>,
    /// Grace at shutdown.
    pub shutdown_grace: Duration,
    /// Connections and timeouts.
    pub limits: kiroku::server::Limits,
    /// Exchanges between municipalities.
    pub federation: Option<Federation>,
    /// The node's memory budget.
    pub memory: kiroku::app::MemoryBudget,
    /// Idle time after which a tenant is closed, if ever.
    pub close_idle: Option<Duration>,
    /// Each setting's name, value as shown, and source.
    pub explained: Vec<(&'static str, String, Source)>,
}

impl Settings {
    /// Resolves `serve`'s flags over the file (when there is one) over
    /// the defaults, and checks they fit together.
    pub fn resolve(flags: &ServeArgs, file: &ConfigFile) -> anyhow::Result<Settings> {
        let mut explained = Vec::new();
        let mut note = |name: &'static str, value: String, source: Source| {
            explained.push((name, value, source));
        };
        let (data, s) = pick(&flags.data, &file.data, None);
        let Some(data) = data else {
            bail!("no data directory: pass --data DIR or set `data` in the config file");
        };
        note("data", data.display().to_string(), s);
        let (listen, s) = pick(&flags.listen, &file.listen, Some(DEFAULT_LISTEN.to_owned()));
        let listen = listen.expect("defaulted");
        note("listen", listen.clone(), s);
        let (cert, s_cert) = pick(&flags.tls.tls_cert, &file.tls.cert, None);
        let (key, s_key) = pick(&flags.tls.tls_key, &file.tls.key, None);
        let tls = match (cert, key) {
            (Some(c), Some(k)) => {
                note("tls.cert", c.display().to_string(), s_cert);
                note("tls.key", k.display().to_string(), s_key);
                Some((c, k))
            }
            (None, None) => {
                note(
                    "tls",
                    "off (plain HTTP, loopback only)".into(),
                    Source::Default,
                );
                None
            }
            _ => bail!("TLS needs both a certificate and its key (--tls-cert and --tls-key)"),
        };
        let (public_url, s) = pick(&flags.tls.public_url, &file.public_url, None);
        note(
            "public_url",
            public_url
                .clone()
                .unwrap_or_else(|| "the address served".into()),
            s,
        );
        let (metrics_listen, s) = pick(&flags.metrics_listen, &file.metrics_listen, None);
        note(
            "metrics_listen",
            metrics_listen.clone().unwrap_or_else(|| "off".into()),
            s,
        );
        let (grace, s) = pick(
            &flags.tls.shutdown_grace,
            &file.shutdown_grace_seconds,
            Some(DEFAULT_SHUTDOWN_GRACE),
        );
        let grace = grace.expect("defaulted");
        note("shutdown_grace_seconds", grace.to_string(), s);
        let defaults = kiroku::server::Limits::default();
        let (max_connections, s) = pick(
            &flags.max_connections,
            &file.limits.max_connections,
            Some(defaults.max_connections),
        );
        let max_connections = max_connections.expect("defaulted");
        if !(1..=100_000).contains(&max_connections) {
            bail!("limits.max_connections must be 1 to 100000, not {max_connections}");
        }
        note("limits.max_connections", max_connections.to_string(), s);
        let (header_timeout, s) = pick(
            &flags.header_timeout,
            &file.limits.header_timeout_seconds,
            Some(defaults.header_timeout.as_secs()),
        );
        let header_timeout = header_timeout.expect("defaulted");
        if !(1..=300).contains(&header_timeout) {
            bail!("limits.header_timeout_seconds must be 1 to 300, not {header_timeout}");
        }
        note(
            "limits.header_timeout_seconds",
            header_timeout.to_string(),
            s,
        );
        let federation = federation(&flags.federation, &file.federation, &mut note)?;
        let (memory, close_idle) = tenancy(flags, file, &mut note)?;
        Ok(Settings {
            data,
            listen,
            tls,
            public_url,
            metrics_listen,
            shutdown_grace: Duration::from_secs(grace),
            limits: kiroku::server::Limits {
                max_connections,
                header_timeout: Duration::from_secs(header_timeout),
            },
            federation,
            memory,
            close_idle,
            explained,
        })
    }
}

fn tenancy(
    flags: &ServeArgs,
    file: &ConfigFile,
    note: &mut impl FnMut(&'static str, String, Source),
) -> anyhow::Result<(kiroku::app::MemoryBudget, Option<Duration>)> {
    let (mib, s) = pick(&flags.tenancy.memory_mib, &file.memory_mib, None);
    let memory = match mib {
        Some(mib) if !(16..=16 << 20).contains(&mib) => {
            bail!("memory_mib must be 16 to 16777216 (16 TiB), not {mib}")
        }
        Some(mib) => kiroku::app::MemoryBudget::from_mib(mib),
        None => kiroku::app::MemoryBudget::machine_default(),
    };
    let shown = format!("{} MiB", memory.total() >> 20);
    match s {
        Source::Default => note("memory_mib", format!("{shown} (half the memory)"), s),
        _ => note("memory_mib", shown, s),
    }
    let (minutes, s) = pick(
        &flags.tenancy.close_idle_minutes,
        &file.close_idle_minutes,
        Some(DEFAULT_CLOSE_IDLE_MINUTES),
    );
    let minutes = minutes.expect("defaulted");
    if minutes > 7 * 24 * 60 {
        bail!("close_idle_minutes must be at most 10080 (a week), not {minutes}");
    }
    match minutes {
        0 => note("close_idle_minutes", "0 (never)".into(), s),
        m => note("close_idle_minutes", m.to_string(), s),
    }
    Ok((
        memory,
        (minutes > 0).then(|| Duration::from_secs(minutes * 60)),
    ))
}

fn federation(
    flags: &FederationArgs,
    file: &FederationSection,
    note: &mut impl FnMut(&'static str, String, Source),
) -> anyhow::Result<Option<Federation>> {
    let (ca, s_ca) = pick(&flags.federation_ca, &file.ca, None);
    let (directory, s_dir) = pick(&flags.directory, &file.directory, None);
    let (identity, s_id) = pick(&flags.federation_identity, &file.identity, None);
    let (listen, s_listen) = pick(&flags.federation_listen, &file.listen, None);
    let (hold_days, s_hold) = pick(
        &flags.federation_hold_days,
        &file.hold_days,
        Some(kiroku::federation::node::DEFAULT_HOLD_DAYS),
    );
    let hold_days = hold_days.expect("defaulted");
    let (ca, directory, identity) = match (ca, directory, identity) {
        (Some(c), Some(d), Some(i)) => (c, d, i),
        (None, None, None) if listen.is_none() => {
            note("federation", "off".into(), Source::Default);
            return Ok(None);
        }
        _ => bail!(
            "the federation needs its CA, directory and identity folder together (--federation-ca, --directory, --federation-identity)"
        ),
    };
    if !(1..=90).contains(&hold_days) {
        bail!("federation.hold_days must be 1 to 90, not {hold_days}");
    }
    note("federation.ca", ca.display().to_string(), s_ca);
    note(
        "federation.directory",
        directory.display().to_string(),
        s_dir,
    );
    note("federation.identity", identity.display().to_string(), s_id);
    note(
        "federation.listen",
        listen
            .clone()
            .unwrap_or_else(|| "off (queries only)".into()),
        s_listen,
    );
    note("federation.hold_days", hold_days.to_string(), s_hold);
    Ok(Some(Federation {
        listen,
        ca,
        directory,
        identity,
        hold_days,
    }))
}
