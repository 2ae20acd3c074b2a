//! `kiroku issuer rotate`, `kiroku card-ca add` and the offline
//! `kiroku certificate verify`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::Value;

use kiroku::certificates::{application, keys, verify};
use kiroku::clock::{Clock, OsEntropy};
use kiroku::store::commit::{Op, WriteSet};
use kiroku::store::tables::meta;
use kiroku_cards::keys::{Crl, Jwks};

use super::TenantArgs;

/// The certificate issuer of a tenant.
#[derive(Subcommand)]
pub enum IssuerCmd {
    /// Makes a new signing key (and barcode signer certificate); older
    /// public keys stay published, so older cards keep verifying.
    Rotate {
        #[command(flatten)]
        at: TenantArgs,
    },
}

/// The My Number card CAs a tenant trusts for app and kiosk applications.
#[derive(Subcommand)]
pub enum CardCaCmd {
    /// Trusts a card CA certificate (PEM or DER).
    Add {
        #[command(flatten)]
        at: TenantArgs,
        /// The CA certificate file.
        ca: PathBuf,
    },
}

/// Certificates, offline.
#[derive(Subcommand)]
pub enum CertificateCmd {
    /// Verifies a certificate with no server: a QR text file (one line per
    /// chunk), a JWS, a `.smart-health-card` file or a VDS-NC JSON file.
    /// Prints the verdict as JSON; exits 0 when valid.
    Verify {
        /// The issuer's key set (jwks.json), for health cards.
        #[arg(long)]
        jwks: Option<PathBuf>,
        /// A revocation list of the issuer (crl/{kid}.json); repeatable.
        #[arg(long)]
        crl: Vec<PathBuf>,
        /// The issuer's CSCA certificate (PEM or DER), for VDS-NC.
        #[arg(long)]
        csca: Option<PathBuf>,
        /// The issuer URL the card must name (`iss`).
        #[arg(long)]
        issuer: Option<String>,
        /// The certificate.
        input: PathBuf,
    },
}

/// The DER of a PEM or DER certificate file.
pub fn certificate_der(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(b"-----BEGIN") {
        let text = String::from_utf8_lossy(&bytes);
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        use base64::Engine;
        return base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .with_context(|| format!("{}: not a PEM certificate", path.display()));
    }
    Ok(bytes)
}

pub fn issuer(cmd: IssuerCmd, clock: &dyn Clock) -> anyhow::Result<()> {
    let IssuerCmd::Rotate { at } = cmd;
    let (_, store) = super::open_tenant(&at)?;
    let kid = keys::rotate(&store, &OsEntropy, clock.now_ms(), "cli")?;
    println!(
        "new signing key {kid}; {} keys published",
        keys::generations(&store)?.len()
    );
    Ok(())
}

pub fn card_ca(cmd: CardCaCmd, clock: &dyn Clock) -> anyhow::Result<()> {
    let CardCaCmd::Add { at, ca } = cmd;
    let (_, store) = super::open_tenant(&at)?;
    let der = certificate_der(&ca)?;
    let value = application::with_card_ca(&store, der.clone()).map_err(anyhow::Error::msg)?;
    let event = kiroku::audit::Event::new(
        clock.now_ms(),
        "card-ca-add",
        "cli",
        "card-ca.add",
        kiroku::audit::Outcome::Ok,
    )
    .with_reason(format!("sha256:{}", kiroku::crypto::sha256_hex(&der)));
    store.commit_now(WriteSet {
        ops: vec![Op::SetMeta(meta::CARD_CAS.into(), value)],
        events: vec![event],
        ..WriteSet::default()
    })?;
    println!(
        "trusted card CA sha256:{}; {} trusted",
        kiroku::crypto::sha256_hex(&der),
        application::card_cas(&store)?.len()
    );
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &PathBuf) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not the expected JSON", path.display()))
}

/// Verifies offline; `Ok(true)` when valid.
pub fn certificate(cmd: CertificateCmd, clock: &dyn Clock) -> anyhow::Result<bool> {
    let CertificateCmd::Verify {
        jwks,
        crl,
        csca,
        issuer,
        input,
    } = cmd;
    let text =
        std::fs::read_to_string(&input).with_context(|| format!("reading {}", input.display()))?;
    let text = text.trim();
    let now_ms = clock.now_ms();
    if text.starts_with('{') {
        let doc: Value = serde_json::from_str(text).context("the input is not JSON")?;
        if doc.get("data").is_some() && doc.get("sig").is_some() {
            let Some(csca) = csca else {
                bail!("a VDS-NC document needs --csca")
            };
            let verdict = verify::vds_document(
                &doc,
                &certificate_der(&csca)?,
                now_ms.max(0) as u64 / 1000,
                |_| false,
            );
            println!("{verdict}");
            return Ok(verdict["valid"] == Value::Bool(true));
        }
    }
    let jws = if text.starts_with("shc:/") {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        kiroku_cards::qr::jws_from_texts(&lines).map_err(anyhow::Error::msg)?
    } else if text.starts_with('{') {
        let file: Value = serde_json::from_str(text)?;
        let list = kiroku_cards::shc::file_credentials(&file).map_err(anyhow::Error::msg)?;
        if list.len() != 1 {
            bail!("the file holds {} cards; verify one at a time", list.len());
        }
        list[0].clone()
    } else {
        text.to_owned()
    };
    let Some(jwks) = jwks else {
        bail!("a health card needs --jwks")
    };
    let jwks: Jwks = read_json(&jwks)?;
    let crls = crl
        .iter()
        .map(read_json::<Crl>)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let verdict = verify::health_card(
        &jws,
        &jwks,
        &crls,
        issuer.as_deref(),
        now_ms as f64 / 1000.0,
    );
    println!("{verdict}");
    Ok(verdict["valid"] == Value::Bool(true))
}
