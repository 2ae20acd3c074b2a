//! `kiroku federation ...`: exchanges between municipalities.

use std::path::PathBuf;

use clap::Subcommand;

use kiroku::federation::test_pki;
use kiroku::ids::TenantCode;

/// Exchanges between municipalities.
#[derive(Subcommand)]
pub enum FederationCmd {
    /// Makes a test federation PKI: `ca.pem`, and `{code}.crt` and
    /// `{code}.key` for each code (SAN URI `urn:kiroku:lg:{code}`,
    /// serverAuth and clientAuth). For trials only: a real federation
    /// uses its own CA.
    TestPki {
        /// Folder to write into.
        #[arg(long)]
        out: PathBuf,
        /// Municipality codes, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        codes: Vec<String>,
        /// The CA's name.
        #[arg(long, default_value = "Kiroku test")]
        name: String,
    },
}

/// Runs a `federation` command.
pub fn federation(cmd: FederationCmd) -> anyhow::Result<()> {
    match cmd {
        FederationCmd::TestPki { out, codes, name } => {
            let codes = codes
                .iter()
                .map(|c| {
                    TenantCode::parse(c)
                        .map_err(|e| anyhow::anyhow!("{c:?} is not a municipality code: {e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            test_pki::write(&out, &name, &codes)?;
            println!(
                "wrote {} and {} municipality certificates",
                out.join("ca.pem").display(),
                codes.len()
            );
        }
    }
    Ok(())
}
