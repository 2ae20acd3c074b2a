//! `kiroku config check FILE`.

use std::path::Path;

use anyhow::{Context, bail};

use super::{ConfigFile, LogFormat, Settings, Source, ensure_loopback};
use crate::cli::keys::KeyArgs;
use crate::cli::serve::ServeArgs;

/// `kiroku config check FILE`: parses the file, resolves it as `serve`
/// would, checks that the files it names can be read and used, and
/// explains every setting. An error names the first problem.
pub fn check(path: &Path) -> anyhow::Result<()> {
    let file = ConfigFile::load(path)?;
    let settings = Settings::resolve(&ServeArgs::default(), &file)?;
    if let Some((cert, key)) = &settings.tls {
        kiroku::tls::server_config(cert, key).context("tls")?;
    } else {
        ensure_loopback(&settings.listen)?;
    }
    if !settings.data.is_dir() {
        bail!(
            "data: {} is not a directory (`kiroku tenant create` or `kiroku demo --no-serve` makes one)",
            settings.data.display()
        );
    }
    if let Some(f) = &settings.federation {
        for p in [&f.ca, &f.directory] {
            std::fs::metadata(p).with_context(|| format!("federation: {}", p.display()))?;
        }
        if !f.identity.is_dir() {
            bail!(
                "federation.identity: {} is not a directory",
                f.identity.display()
            );
        }
    }
    let keys = file.merge_keys(&KeyArgs::default());
    println!("{}: valid", path.display());
    for (name, value, source) in &settings.explained {
        let from = match source {
            Source::Flag => "flag",
            Source::File => "file",
            Source::Default => "default",
        };
        println!("  {name:<31} {value}  ({from})");
    }
    let keys_dir = keys
        .keys
        .map(|k| k.display().to_string())
        .unwrap_or_else(|| format!("{}/keys", settings.data.display()));
    println!("  {:<31} {keys_dir}", "keys.dir");
    match &keys.pkcs11_module {
        Some(m) => println!(
            "  {:<31} {} (token {:?}; PIN from {})",
            "keys.pkcs11_module",
            m.display(),
            keys.pkcs11_token.as_deref().unwrap_or("kiroku"),
            keys.pkcs11_pin_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "KIROKU_PKCS11_PIN".into())
        ),
        None => println!("  {:<31} off (root keys in files)", "keys.pkcs11_module"),
    }
    println!(
        "  {:<31} {}",
        "log_format",
        match file.log_format().unwrap_or_default() {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    );
    Ok(())
}
