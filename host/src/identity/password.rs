//! Staff passwords: argon2id with OWASP's parameters, stored as PHC strings.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

/// OWASP Password Storage Cheat Sheet's argon2id minimum: 19 MiB of
/// memory, 2 passes, 1 lane (about 20-40 ms per check on one core here;
/// see the login benchmark).
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

/// Shortest password accepted. With a second factor, NIST SP 800-63B asks
/// for at least 8; a counter terminal's password is typed often, so 12
/// balances guessing against typing.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted: argon2 reads all of it.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Set only by in-process tests (never by the binary): new hashes use
/// argon2's minimum cost, so hundreds of test accounts stay cheap. A PHC
/// string carries its own parameters, so verifying is unaffected.
static CHEAP_FOR_TESTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes new hashes of this process cheap (tests only; see above).
#[doc(hidden)]
pub fn use_cheap_parameters_for_tests() {
    CHEAP_FOR_TESTS.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn hasher() -> Argon2<'static> {
    let params = if CHEAP_FOR_TESTS.load(std::sync::atomic::Ordering::Relaxed) {
        Params::new(Params::MIN_M_COST, 1, 1, None)
    } else {
        Params::new(MEMORY_KIB, PASSES, LANES, None)
    }
    .expect("argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// At most this many password checks run at once, so a flood of logins
/// takes half the cores at most and the other half keeps serving plugins.
fn max_concurrent() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// A counting semaphore over the password checks of this process.
struct Slots {
    used: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

static SLOTS: Slots = Slots {
    used: std::sync::Mutex::new(0),
    freed: std::sync::Condvar::new(),
};

fn with_slot<T>(f: impl FnOnce() -> T) -> T {
    let max = max_concurrent();
    let mut used = SLOTS.used.lock().unwrap_or_else(|p| p.into_inner());
    while *used >= max {
        used = SLOTS.freed.wait(used).unwrap_or_else(|p| p.into_inner());
    }
    *used += 1;
    drop(used);
    let out = f();
    *SLOTS.used.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
    SLOTS.freed.notify_one();
    out
}

/// Why a password cannot be used (never quoting it).
pub fn check_strength(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("a password has at most {MAX_PASSWORD_BYTES} bytes"));
    }
    if password.chars().any(char::is_control) {
        return Err("a password cannot hold control characters".into());
    }
    Ok(())
}

/// The PHC string of `password` with a fresh salt.
pub fn hash(password: &str) -> String {
    with_slot(|| {
        hasher()
            .hash_password(password.as_bytes())
            .expect("argon2id hashes any password of bounded length")
            .to_string()
    })
}

/// Whether `password` matches `phc`. A damaged PHC string never matches.
pub fn verify(phc: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => with_slot(|| {
            hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }),
        Err(_) => false,
    }
}

/// Spends as long as a real check, for a login whose account does not
/// exist or cannot log in: the answer's timing does not tell which.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    // Always the real cost, whatever new hashes use.
    let phc = DUMMY.get_or_init(|| {
        let params = Params::new(MEMORY_KIB, PASSES, LANES, None).expect("valid");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"kiroku-no-such-account")
            .expect("hashes")
            .to_string()
    });
    let _ = verify(phc, password);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_only_its_password() {
        let phc = hash("correct horse battery");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&phc, "correct horse battery"));
        assert!(!verify(&phc, "correct horse batterY"));
        assert!(!verify("not a phc string", "correct horse battery"));
        assert_ne!(phc, hash("correct horse battery"), "salted");
    }

    #[test]
    fn weak_passwords_are_refused_without_quoting_them() {
        let e = check_strength("short").unwrap_err();
        assert!(!e.contains("short"), "{e}");
        assert!(check_strength("twelve chars").is_ok());
        assert!(check_strength("has a \u{7} bell in it").is_err());
    }
}
