//! Person handles (invariant 13): the only person ids that leave the host.
//! Plugins, staff and auditors see a person's serial with a tag above it
//! (`kiroku_rules::person`); the tag is SipHash-2-4 of the serial under a
//! key derived from the tenant key, so a guessed id is refused like a
//! missing person (one chance in 2^27 per guess), and an id of one tenant
//! means nothing in another.

use std::hash::Hasher;

use kiroku_rules::person::{MAX_SERIAL, SERIAL_BITS, TAG_BITS};
use siphasher::sip::SipHasher24;

/// Makes and checks a tenant's person handles.
#[derive(Clone)]
pub struct PersonHandles {
    key: [u8; 16],
}

impl std::fmt::Debug for PersonHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonHandles(..)")
    }
}

impl PersonHandles {
    /// Handles under `key` (derived from the tenant key).
    pub fn new(key: [u8; 16]) -> PersonHandles {
        PersonHandles { key }
    }

    fn tag(&self, serial: u64) -> u64 {
        let mut h = SipHasher24::new_with_key(&self.key);
        h.write_u64(serial);
        h.finish() & ((1 << TAG_BITS) - 1)
    }

    /// The handle of the person with internal serial `serial`.
    pub fn handle(&self, serial: u64) -> u64 {
        debug_assert!(serial <= MAX_SERIAL, "serials fit {SERIAL_BITS} bits");
        (self.tag(serial) << SERIAL_BITS) | (serial & MAX_SERIAL)
    }

    /// The serial of a handle this host made, or `None` for anything else
    /// (a guessed or altered id, a raw serial, another tenant's handle).
    pub fn serial(&self, handle: u64) -> Option<u64> {
        let serial = handle & MAX_SERIAL;
        (serial != 0 && handle >> (SERIAL_BITS + TAG_BITS) == 0 && self.handle(serial) == handle)
            .then_some(serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_round_trips_and_a_guess_does_not() {
        let h = PersonHandles::new([7; 16]);
        let id = h.handle(42);
        assert!(id < 1 << 53);
        assert_eq!(h.serial(id), Some(42));
        assert_eq!(h.serial(42), None, "a raw serial is not a handle");
        assert_eq!(h.serial(id ^ (1 << 40)), None, "an altered tag");
        assert_eq!(h.serial(id + 1), None, "a neighbour's serial with this tag");
        let other = PersonHandles::new([8; 16]);
        assert_eq!(other.serial(id), None, "another tenant's handle");
        let valid = (1..10_000u64)
            .filter(|g| h.serial((g << SERIAL_BITS) | 42).is_some())
            .count();
        assert!(valid <= 1, "guessed tags: {valid}");
    }
}
