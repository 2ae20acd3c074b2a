//! What the console's browser tests need: Debian's Chromium and the
//! pinned Node packages of `tests/browser` (playwright-core to drive it,
//! axe-core to check accessibility), installed once and again only when
//! `package-lock.json` changes.

use std::process::Command;

use crate::{ensure_packages, root, run};

const BROWSER_PACKAGES: &[(&str, &str)] = &[
    ("/usr/bin/chromium", "chromium"),
    ("/usr/bin/node", "nodejs"),
    ("/usr/bin/npm", "npm"),
];

pub fn ensure_tools() -> anyhow::Result<()> {
    ensure_packages(BROWSER_PACKAGES, "the console's browser tests need them")?;
    let dir = root().join("tests/browser");
    let lock = std::fs::read_to_string(dir.join("package-lock.json"))?;
    let stamp = dir.join("node_modules/.installed-lock");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == lock) {
        return Ok(());
    }
    eprintln!("xtask: installing the browser test packages into tests/browser/node_modules");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
        .current_dir(&dir))?;
    std::fs::write(&stamp, lock)?;
    Ok(())
}
