//! Root keys sealed by a PKCS#11 token (SoftHSM2, with its own token
//! directory per test): the data directory, the keys directory and a backup
//! together open nothing without the token and its PIN; with it, the
//! server, the CLI, backup and restore work as before.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::support::*;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "246810";

/// A SoftHSM2 configuration with one initialised token, labelled `kiroku`.
struct SoftHsm {
    conf: PathBuf,
}

impl SoftHsm {
    fn new(at: &Path) -> SoftHsm {
        assert!(
            Path::new(MODULE).exists(),
            "SoftHSM2 is missing: `cargo xtask test` installs the softhsm2 package"
        );
        let tokens = at.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = at.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let out = std::process::Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", "kiroku"])
            .args(["--pin", PIN, "--so-pin", "13579111"])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        SoftHsm { conf }
    }

    /// The environment naming this token, the PIN `pin` and keys in `keys`.
    fn env(&self, keys: &Path, pin: &str) -> Vec<(&'static str, OsString)> {
        vec![
            ("SOFTHSM2_CONF", self.conf.clone().into()),
            ("KIROKU_PKCS11_MODULE", MODULE.into()),
            ("KIROKU_PKCS11_PIN", pin.into()),
            ("KIROKU_KEYS", keys.into()),
        ]
    }
}

fn ok_with(env: &[(&str, OsString)], args: &[&str]) -> String {
    let (ok, out, err) = run_kiroku_with(env, args);
    assert!(ok, "kiroku {args:?}: {err}");
    out
}

/// The error of a command that must fail.
fn refused(env: &[(&str, OsString)], args: &[&str]) -> String {
    let (ok, out, err) = run_kiroku_with(env, args);
    assert!(!ok, "kiroku {args:?} should have failed: {out}");
    err
}

/// Whether a key file's text is a key in clear (64 hex digits).
fn clear_key(text: &str) -> bool {
    let t = text.trim();
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `child` exited (unsuccessfully) within `limit`, and its stderr;
/// a child still running is killed.
fn exits_within(mut child: std::process::Child, limit: std::time::Duration) -> (bool, String) {
    let until = std::time::Instant::now() + limit;
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break !status.success();
        }
        if std::time::Instant::now() > until {
            child.kill().unwrap();
            child.wait().unwrap();
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (exited, err)
}

fn verify(env: &[(&str, OsString)], data: &str) -> String {
    ok_with(env, &["audit", "verify", "--data", data])
}

#[test]
fn keys_sealed_by_the_token_open_nothing_without_it() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::new(&tmp.path().join("hsm"));
    let (data, keys) = (tmp.path().join("data"), tmp.path().join("keys"));
    let (d, env) = (data.to_str().unwrap(), hsm.env(&keys, PIN));
    let plugins = root().join("target/wasm32-wasip2/release");
    let policies = root().join("policies");
    ok_with(
        &env,
        &[
            "demo",
            "--data",
            d,
            "--persons",
            "200",
            "--no-serve",
            "--plugins",
            plugins.to_str().unwrap(),
            "--policies",
            policies.to_str().unwrap(),
        ],
    );

    // Every root key file holds a sealed key, none a key.
    for owner in ["system", FUJISAWA] {
        let text = std::fs::read_to_string(keys.join(format!("{owner}.key"))).unwrap();
        assert!(text.starts_with("kiroku-pkcs11-v1 "), "{owner}: {text}");
        assert!(!clear_key(&text));
    }
    let status = ok_with(&env, &["keys", "status", "--data", d]);
    assert!(
        status.contains("system\tsealed by pkcs11 token"),
        "{status}"
    );
    assert!(status.contains(&format!("{FUJISAWA}\tsealed by pkcs11 token")));
    assert!(
        status.contains("1 wrapping key(s), sensitive: yes, extractable: no"),
        "{status}"
    );
    assert!(verify(&env, d).contains(&format!("tenant {FUJISAWA}: intact")));

    // With the token the server serves decrypted records.
    let clerk = ok_with(
        &env,
        &[
            "token",
            "add",
            "--data",
            d,
            "--tenant",
            FUJISAWA,
            "--service",
            "counter",
            "--role",
            "clerk",
            "--expires",
            "2099-12-31",
        ],
    )
    .lines()
    .last()
    .unwrap()
    .to_owned();
    let server_env: Vec<(&str, &std::ffi::OsStr)> =
        env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
    let mut server = RealServer::spawn_with_env(&data, &server_env, None);
    server.wait_ready();
    server.find_person(&clerk, 3);
    let backup = tmp.path().join("before.kbk");
    ok_with(
        &env,
        &[
            "backup",
            "--data",
            d,
            "--tenant",
            FUJISAWA,
            "--out",
            backup.to_str().unwrap(),
        ],
    );
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    // Without the token: nothing opens, in the CLI, the server or the
    // library, and the errors say why without quoting a key or the PIN.
    let no_token = vec![("KIROKU_KEYS", keys.clone().into_os_string())];
    let err = refused(&no_token, &["audit", "verify", "--data", d]);
    assert!(err.contains("sealed by a PKCS#11 token"), "{err}");
    let serve = kiroku()
        .args(["serve", "--data", d, "--listen", "127.0.0.1:0"])
        .env("KIROKU_KEYS", &keys)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (exited, err) = exits_within(serve, std::time::Duration::from_secs(20));
    assert!(exited, "the server must refuse to start without the token");
    assert!(err.contains("sealed by a PKCS#11 token"), "{err}");
    let dir = kiroku::datadir::DataDir::open_with_keys(&data, Some(&keys)).unwrap();
    let opened =
        kiroku::store::TenantStore::open(&dir, &kiroku::ids::TenantCode::parse(FUJISAWA).unwrap());
    assert!(
        opened.unwrap_err().to_string().contains("PKCS#11"),
        "the library refuses too"
    );

    // A wrong PIN, and a token with the right label but not the key.
    let err = refused(&hsm.env(&keys, "000000"), &["audit", "verify", "--data", d]);
    assert!(
        err.contains("refused the PIN") && !err.contains("000000"),
        "{err}"
    );
    let other = SoftHsm::new(&tmp.path().join("other-hsm"));
    let err = refused(&other.env(&keys, PIN), &["audit", "verify", "--data", d]);
    assert!(err.contains("has no key \"kiroku-root-wrap\""), "{err}");

    // A backup restores on a new data directory with the keys and the
    // token, and not without the token.
    let fresh = tmp.path().join("fresh");
    let f = fresh.to_str().unwrap();
    let restore = ["restore", "--data", f, "--tenant", FUJISAWA];
    let mut args = restore.to_vec();
    args.push(backup.to_str().unwrap());
    let err = refused(&no_token, &args);
    assert!(err.contains("PKCS#11"), "{err}");
    ok_with(&env, &args);
    let verified = ok_with(
        &env,
        &["audit", "verify", "--data", f, "--tenant", FUJISAWA],
    );
    assert!(verified.contains("intact"), "{verified}");
}

#[test]
fn keys_protect_seals_clear_keys_and_is_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let hsm = SoftHsm::new(&tmp.path().join("hsm"));
    let (data, keys) = (tmp.path().join("data"), tmp.path().join("keys"));
    let d = data.to_str().unwrap();
    let no_token = vec![("KIROKU_KEYS", keys.clone().into_os_string())];
    ok_with(
        &no_token,
        &[
            "tenant",
            "create",
            "--data",
            d,
            "--code",
            FUJISAWA,
            "--name",
            "藤沢市",
        ],
    );
    let key_file = keys.join(format!("{FUJISAWA}.key"));
    let before = std::fs::read_to_string(&key_file).unwrap();
    assert!(clear_key(&before));
    let status = ok_with(&no_token, &["keys", "status", "--data", d]);
    assert!(status.contains(&format!("{FUJISAWA}\tclear")), "{status}");
    let err = refused(&no_token, &["keys", "protect", "--data", d]);
    assert!(err.contains("needs a token"), "{err}");
    let system_events = |env: &[(&str, OsString)]| -> u64 {
        let out = verify(env, d);
        let line = out.lines().find(|l| l.starts_with("system")).unwrap();
        line.split(", ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let events_before = system_events(&no_token);

    let env = hsm.env(&keys, PIN);
    let out = ok_with(&env, &["keys", "protect", "--data", d]);
    assert_eq!(out.trim(), format!("sealed: system {FUJISAWA}"));
    let after = std::fs::read_to_string(&key_file).unwrap();
    assert!(after.starts_with("kiroku-pkcs11-v1 ") && !after.contains(before.trim()));
    assert_eq!(
        system_events(&env),
        events_before + 1,
        "the sealing is audited"
    );
    assert!(verify(&env, d).contains(&format!("tenant {FUJISAWA}: intact")));
    let err = refused(&no_token, &["audit", "verify", "--data", d]);
    assert!(err.contains("sealed by a PKCS#11 token"), "{err}");
    let again = ok_with(&env, &["keys", "protect", "--data", d]);
    assert!(again.contains("already sealed"), "{again}");
    assert!(!keys.join(format!("{FUJISAWA}.key.sealing")).exists());
}
