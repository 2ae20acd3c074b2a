//! Who a plugin may reach in one invocation (invariant 13: no walking the
//! town). A plugin with the population grant reaches every person of its
//! tenant; any other reaches only the persons a granted lookup returned in
//! this invocation, those it created, and those the request itself names
//! by their handle. Anything else is `not-found`, worded exactly as for a
//! person who does not exist.

use std::collections::HashSet;

use crate::handles::PersonHandles;
use crate::store::draft::{DraftError, NO_SUCH_PERSON};

/// Handles named in the request that are read, at most: far more persons
/// than any one counter request is about.
const MAX_NAMED_IN_REQUEST: usize = 100_000;

/// The persons one invocation may reach.
#[derive(Debug)]
pub struct Reach {
    handles: PersonHandles,
    population: bool,
    persons: HashSet<u64>,
}

impl Reach {
    /// What a plugin may reach: everyone with the population grant, else
    /// the persons whose handles appear in the request's input.
    pub fn new(handles: PersonHandles, population: bool, input: &str) -> Reach {
        let mut reach = Reach {
            handles,
            population,
            persons: HashSet::new(),
        };
        if !population {
            reach.add_named(input);
        }
        reach
    }

    /// Adds every person whose handle the input names: any JSON number or
    /// string of digits that is a valid handle (a guess is not).
    fn add_named(&mut self, input: &str) {
        let bytes = input.as_bytes();
        let mut i = 0;
        let mut named = 0;
        while i < bytes.len() && named < MAX_NAMED_IN_REQUEST {
            if !bytes[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            // A whole token: not part of a longer word or a decimal.
            let before = start.checked_sub(1).map(|j| bytes[j]);
            let after = bytes.get(i).copied();
            let alone = |b: Option<u8>| {
                b.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
            };
            if i - start > 16 || !alone(before) || !alone(after) {
                continue;
            }
            let value: u64 = input[start..i].parse().unwrap_or(0);
            if let Some(serial) = self.handles.serial(value) {
                self.persons.insert(serial);
                named += 1;
            }
        }
    }

    /// The serial of a person the plugin may reach, or `not-found`.
    pub fn person(&self, handle: u64) -> Result<u64, DraftError> {
        match self.handles.serial(handle) {
            Some(serial) if self.population || self.persons.contains(&serial) => Ok(serial),
            _ => Err(DraftError::NotFound(NO_SUCH_PERSON.into())),
        }
    }

    /// A person a lookup returned (or the plugin created): reachable from
    /// now on; returns the handle the plugin sees.
    pub fn found(&mut self, serial: u64) -> u64 {
        if !self.population {
            self.persons.insert(serial);
        }
        self.handles.handle(serial)
    }

    /// The handle of a person, for answers of population-wide calls.
    pub fn handle(&self, serial: u64) -> u64 {
        self.handles.handle(serial)
    }

    /// The serial behind a cursor a population call returned (0: the start).
    pub fn cursor(&self, after: u64) -> Result<u64, DraftError> {
        if after == 0 || after == u64::MAX {
            return Ok(after);
        }
        self.handles.serial(after).ok_or_else(|| {
            DraftError::Invalid("after is not a person id this host returned".into())
        })
    }

    /// Whether the plugin reaches everyone.
    pub fn population(&self) -> bool {
        self.population
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handles() -> PersonHandles {
        PersonHandles::new([3; 16])
    }

    #[test]
    fn reaches_only_the_persons_the_request_names_or_a_lookup_returned() {
        let h = handles();
        let named = h.handle(7);
        let input = format!(
            r#"{{"person_id": {named}, "ids": ["{}"], "limit": 150}}"#,
            h.handle(9)
        );
        let mut reach = Reach::new(handles(), false, &input);
        assert_eq!(reach.person(named).unwrap(), 7);
        assert_eq!(reach.person(h.handle(9)).unwrap(), 9);
        for guess in [h.handle(8), 150, 8, named + 1] {
            let err = reach.person(guess).unwrap_err().to_string();
            assert_eq!(err, NO_SUCH_PERSON);
        }
        let found = reach.found(8);
        assert_eq!(reach.person(found).unwrap(), 8);
    }

    #[test]
    fn the_population_grant_reaches_every_valid_handle() {
        let reach = Reach::new(handles(), true, "{}");
        assert_eq!(reach.person(handles().handle(123)).unwrap(), 123);
        assert!(
            reach.person(123).is_err(),
            "a raw serial is still no handle"
        );
    }
}
