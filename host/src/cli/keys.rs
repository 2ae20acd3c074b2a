//! Where the keys are (`--keys`, the PKCS#11 token) and `kiroku keys ...`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, bail};
use kiroku::clock::{Clock, OsEntropy};
use kiroku::datadir::{DataDir, KeyProtection};
use kiroku::hsm::{Hsm, HsmConfig};
use kiroku::store::SystemStore;

/// Global options: where the root keys and person keyrings are kept.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// Keys directory (tenant root keys and person keyrings), kept apart
    /// from the data directory so a copy of that or a backup holds no key.
    /// Default: `DATA/keys`.
    #[arg(long, global = true, env = "KIROKU_KEYS", value_name = "DIR")]
    pub keys: Option<PathBuf>,
    /// PKCS#11 module whose token seals the root keys (e.g.
    /// `/usr/lib/softhsm/libsofthsm2.so`). The user PIN is read from
    /// KIROKU_PKCS11_PIN or `--pkcs11-pin-file`, never from the command line.
    #[arg(long, global = true, env = "KIROKU_PKCS11_MODULE", value_name = "LIB")]
    pub pkcs11_module: Option<PathBuf>,
    /// The token's label (default `kiroku`).
    #[arg(long, global = true, env = "KIROKU_PKCS11_TOKEN", value_name = "LABEL")]
    pub pkcs11_token: Option<String>,
    /// A file holding the token's user PIN (e.g. a systemd credential).
    #[arg(
        long,
        global = true,
        env = "KIROKU_PKCS11_PIN_FILE",
        value_name = "FILE"
    )]
    pub pkcs11_pin_file: Option<PathBuf>,
}

struct KeySetup {
    keys: Option<PathBuf>,
    hsm: Option<Arc<Hsm>>,
}

static SETUP: OnceLock<KeySetup> = OnceLock::new();

fn pin(args: &KeyArgs) -> anyhow::Result<String> {
    if let Some(file) = &args.pkcs11_pin_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the PIN file {}", file.display()))?;
        return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
    }
    std::env::var("KIROKU_PKCS11_PIN")
        .context("--pkcs11-module needs the token's PIN in KIROKU_PKCS11_PIN or --pkcs11-pin-file")
}

/// Opens the token (when one is named) once for every command.
pub fn configure(args: &KeyArgs) -> anyhow::Result<()> {
    let hsm = match &args.pkcs11_module {
        None => None,
        Some(module) => {
            let config = HsmConfig {
                module: module.clone(),
                token_label: args
                    .pkcs11_token
                    .clone()
                    .unwrap_or_else(|| "kiroku".to_owned()),
                pin: pin(args)?,
            };
            Some(Arc::new(Hsm::open(&config)?))
        }
    };
    let _ = SETUP.set(KeySetup {
        keys: args.keys.clone(),
        hsm,
    });
    Ok(())
}

/// Opens a data directory with the keys directory and token configured.
pub fn data_dir(data: &Path) -> anyhow::Result<DataDir> {
    let setup = SETUP.get();
    let keys = setup.and_then(|s| s.keys.as_deref());
    let hsm = setup.and_then(|s| s.hsm.clone());
    Ok(DataDir::open_with_keys(data, keys)?.with_hsm(hsm))
}

/// `kiroku keys ...`
#[derive(clap::Subcommand)]
pub enum KeysCmd {
    /// Lists the root key files and how each is kept (clear or sealed by
    /// the token), and the token's wrapping key's protection.
    Status {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// Seals every root key still kept in clear with the PKCS#11 token
    /// (audited in the system chain). Stop the server first.
    Protect {
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
    },
}

/// Runs `kiroku keys ...`.
pub fn keys(cmd: KeysCmd, clock: &dyn Clock) -> anyhow::Result<()> {
    match cmd {
        KeysCmd::Status { data } => {
            let dir = data_dir(&data)?;
            for file in dir.key_files()? {
                let how = match file.protection {
                    KeyProtection::Clear => "clear",
                    KeyProtection::Token => "sealed by pkcs11 token",
                };
                println!("{}\t{how}", file.owner);
            }
            if let Some(hsm) = dir.hsm() {
                let info = hsm.wrap_key_info()?;
                println!(
                    "token {:?}: {} wrapping key(s), sensitive: {}, extractable: {}",
                    hsm.token_label(),
                    info.count,
                    yes_no(info.sensitive),
                    yes_no(info.extractable)
                );
            }
        }
        KeysCmd::Protect { data } => {
            let dir = data_dir(&data)?;
            let Some(hsm) = dir.hsm() else {
                bail!("`keys protect` needs a token: pass --pkcs11-module and KIROKU_PKCS11_PIN");
            };
            let sealed = dir.protect_keys(&OsEntropy)?;
            if sealed.is_empty() {
                println!("every root key is already sealed by the token");
                return Ok(());
            }
            SystemStore::open(&dir, &OsEntropy)?.record_keys_sealed(
                &sealed,
                hsm.token_label(),
                clock.now_ms(),
            )?;
            println!("sealed: {}", sealed.join(" "));
        }
    }
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
