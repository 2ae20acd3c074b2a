//! The directory: which node (base URL) holds each municipality.
//!
//! ```toml
//! [municipalities]
//! 142051 = "https://kiroku.fujisawa.example:9443"
//! 131016 = "https://127.0.0.1:9444"
//! ```

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::ids::TenantCode;

/// Most municipalities a directory may list (Japan has 1,741).
pub const MAX_DIRECTORY_ENTRIES: usize = 4_096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    municipalities: BTreeMap<String, String>,
}

/// A node's address: host and port of an `https://` base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Municipality code -> node.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    nodes: BTreeMap<TenantCode, NodeAddress>,
}

impl Directory {
    /// Parses a directory file's text; every code must have a valid check
    /// digit and every URL must be `https://host[:port]` (no path).
    pub fn parse(text: &str) -> anyhow::Result<Directory> {
        let file: DirectoryFile = toml::from_str(text).context("the directory file")?;
        if file.municipalities.len() > MAX_DIRECTORY_ENTRIES {
            bail!("the directory lists more than {MAX_DIRECTORY_ENTRIES} municipalities");
        }
        let mut nodes = BTreeMap::new();
        for (code, url) in file.municipalities {
            let parsed = TenantCode::parse(&code).map_err(|e| {
                anyhow::anyhow!("directory: {code:?} is not a municipality code: {e}")
            })?;
            let address = parse_url(&url).with_context(|| format!("directory entry {code}"))?;
            nodes.insert(parsed, address);
        }
        Ok(Directory { nodes })
    }

    /// Reads and parses a directory file.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Directory> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the directory {}", path.display()))?;
        Directory::parse(&text)
    }

    /// The node holding `code`, if the directory lists it.
    pub fn node(&self, code: &TenantCode) -> Option<&NodeAddress> {
        self.nodes.get(code)
    }

    /// How many municipalities it lists.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether it lists none.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

fn parse_url(url: &str) -> anyhow::Result<NodeAddress> {
    let Some(rest) = url.strip_prefix("https://") else {
        bail!("the URL must start with https:// (node-to-node traffic is always encrypted)");
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        bail!("the URL must be a base URL: scheme, host and port only");
    }
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').context("an unclosed IPv6 address")?;
        (host, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() || host.len() > 253 {
        bail!("the URL has no usable host");
    }
    let port = match port {
        None => 443,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .context("a bad port")?,
    };
    Ok(NodeAddress {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_codes_and_https_base_urls() {
        let d = Directory::parse(
            "[municipalities]\n142051 = \"https://127.0.0.1:9443/\"\n131016 = \"https://[::1]:8443\"\n011002 = \"https://node.example\"\n",
        )
        .unwrap();
        assert_eq!(d.len(), 3);
        let node = d.node(&TenantCode::parse("142051").unwrap()).unwrap();
        assert_eq!((node.host.as_str(), node.port), ("127.0.0.1", 9443));
        let v6 = d.node(&TenantCode::parse("131016").unwrap()).unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8443));
        assert_eq!(
            d.node(&TenantCode::parse("011002").unwrap()).unwrap().port,
            443
        );
    }

    #[test]
    fn refuses_plain_http_paths_bad_codes_and_unknown_keys() {
        for text in [
            "[municipalities]\n142051 = \"http://127.0.0.1:9443\"\n",
            "[municipalities]\n142051 = \"https://127.0.0.1:9443/v1\"\n",
            "[municipalities]\n142052 = \"https://127.0.0.1:9443\"\n",
            "[municipalities]\n142051 = \"https://127.0.0.1:0\"\n",
            "[municipalities]\n142051 = \"https://:9443\"\n",
            "nodes = 1\n[municipalities]\n",
        ] {
            assert!(Directory::parse(text).is_err(), "{text}");
        }
    }
}
