//! Person ids as plugins and staff see them: a person's serial in the
//! tenant (what ticket numbers are derived from) in the low
//! [`SERIAL_BITS`] bits, and above it a tag the host computes with a key of
//! the tenant, so an id that the host did not hand out is refused like a
//! missing person. Ids stay below 2^53, exact in JavaScript.

/// Bits of the serial.
pub const SERIAL_BITS: u32 = 26;
/// Bits of the tag above it.
pub const TAG_BITS: u32 = 27;
/// The largest serial an id can carry.
pub const MAX_SERIAL: u64 = (1 << SERIAL_BITS) - 1;

/// The serial of a person id: what a plugin numbers the person's tickets
/// by (see [`crate::ticket::for_person`]).
pub fn serial(id: u64) -> u64 {
    id & MAX_SERIAL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fit_a_javascript_number() {
        assert_eq!(SERIAL_BITS + TAG_BITS, 53);
        assert_eq!(serial((5 << SERIAL_BITS) | 42), 42);
    }
}
