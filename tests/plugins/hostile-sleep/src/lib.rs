//! Sleeps instead of working (a WASI monotonic-clock subscription and
//! poll): `sleep` for 8 s, `sleep-forever` without end. Its `describe`
//! behaves by the (host-injected) wall clock, like a component that turns
//! hostile after it was installed: before 2026-06-01 it answers at once,
//! until 2027-01-01 it sleeps forever, from then on it describes 10,000
//! operations (far past the host's 128; more would make the test race the
//! 1 s deadline on a loaded machine rather than hit the cap).

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/plugin", "wit"],
        world: "kiroku-test:hostile-sleep/hostile-sleep",
        generate_all,
    });
    use super::Plugin;
    export!(Plugin);
}

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};

/// 2026-06-01T00:00:00Z.
const TURNS_SLEEPY: u64 = 1_780_272_000;
/// 2027-01-01T00:00:00Z.
const TURNS_WORDY: u64 = 1_798_761_600;

struct Plugin;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3_600));
    }
}

fn op(name: String) -> Operation {
    Operation {
        name,
        summary: "Sleeps.".into(),
        writes: false,
    }
}

impl Guest for Plugin {
    fn describe() -> Vec<Operation> {
        let t = now();
        if t >= TURNS_WORDY {
            return (0..10_000).map(|i| op(format!("op-{i}"))).collect();
        }
        if t >= TURNS_SLEEPY {
            sleep_forever();
        }
        ["sleep", "sleep-forever"]
            .iter()
            .map(|n| op((*n).into()))
            .collect()
    }

    fn handle(operation: String, _input: String) -> Result<String, Error> {
        if operation == "sleep-forever" {
            sleep_forever();
        }
        std::thread::sleep(Duration::from_secs(8));
        Ok("\"slept\"".into())
    }
}
