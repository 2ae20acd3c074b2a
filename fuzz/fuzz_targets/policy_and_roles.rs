//! Capability policies and staff roles, as an administrator writes them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(policy) = kiroku::policy::Policy::parse(text) {
        let _ = policy.explain();
    }
    let _ = kiroku::roles::Roles::parse(text);
});
