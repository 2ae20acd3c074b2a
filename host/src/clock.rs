//! Injected time and randomness (invariant 10), so tests can fake clocks and
//! make key material deterministic.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use kiroku_rules::Date;

/// Japan Standard Time offset: municipal dates are JST dates.
const JST_OFFSET_MS: i64 = 9 * 3_600 * 1_000;

/// Source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;

    /// Today's date in Japan.
    fn today(&self) -> Date {
        Date::from_days_since_epoch((self.now_ms() + JST_OFFSET_MS).div_euclid(86_400_000))
    }
}

/// The machine's clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock tests set and advance by hand.
#[derive(Debug, Default)]
pub struct FakeClock(AtomicI64);

impl FakeClock {
    /// A clock standing at noon JST of `date`.
    pub fn at(date: Date) -> Arc<FakeClock> {
        let ms = date.days_since_epoch() * 86_400_000 + 3 * 3_600 * 1_000;
        Arc::new(FakeClock(AtomicI64::new(ms)))
    }

    /// Moves the clock forward.
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Formats milliseconds since the epoch as an RFC 3339 UTC timestamp.
pub fn format_timestamp(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let date = Date::from_days_since_epoch(days);
    let (h, m, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1_000 % 60,
        rem % 1_000,
    );
    format!("{date}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// Parses `yyyy-mm-dd` or a timestamp as written by [`format_timestamp`]
/// (seconds and fraction optional) into milliseconds since the epoch.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let date = Date::parse(text.get(..10)?).ok()?;
    let mut ms = date.days_since_epoch() * 86_400_000;
    let rest = &text[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    let rest = rest.strip_prefix('T')?.strip_suffix('Z')?;
    let mut parts = rest.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next().map_or(Some(0.0), |s| s.parse().ok())?;
    if parts.next().is_some() || h > 23 || m > 59 || !(0.0..60.0).contains(&s) {
        return None;
    }
    ms += h * 3_600_000 + m * 60_000 + (s * 1_000.0) as i64;
    Some(ms)
}

/// Source of random bytes for keys, nonces and tokens.
pub trait Entropy: Send + Sync + std::fmt::Debug {
    /// Fills `out` with random bytes.
    fn fill(&self, out: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Debug, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, out: &mut [u8]) {
        getrandom::getrandom(out).expect("the operating system's random source failed");
    }
}

/// Deterministic bytes for tests: SHA-256 in counter mode over a seed.
#[derive(Debug)]
pub struct SeededEntropy {
    seed: u64,
    counter: std::sync::atomic::AtomicU64,
}

impl SeededEntropy {
    /// A generator that yields the same bytes for the same seed.
    pub fn new(seed: u64) -> SeededEntropy {
        SeededEntropy {
            seed,
            counter: Default::default(),
        }
    }
}

impl Entropy for SeededEntropy {
    fn fill(&self, out: &mut [u8]) {
        use sha2::{Digest, Sha256};
        for chunk in out.chunks_mut(32) {
            let n = self.counter.fetch_add(1, Ordering::SeqCst);
            let block = Sha256::new()
                .chain_update(self.seed.to_le_bytes())
                .chain_update(n.to_le_bytes())
                .finalize();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_is_the_japanese_date() {
        // 2024-03-31T16:00Z is already 1 April in Japan.
        let ms =
            Date::parse("2024-03-31").unwrap().days_since_epoch() * 86_400_000 + 16 * 3_600_000;
        #[derive(Debug)]
        struct At(i64);
        impl Clock for At {
            fn now_ms(&self) -> i64 {
                self.0
            }
        }
        assert_eq!(At(ms).today().to_string(), "2024-04-01");
    }

    #[test]
    fn timestamps_round_trip() {
        let ms = 1_700_000_123_456;
        assert_eq!(parse_timestamp(&format_timestamp(ms)), Some(ms));
        assert_eq!(
            parse_timestamp("2024-01-02"),
            Some(Date::parse("2024-01-02").unwrap().days_since_epoch() * 86_400_000)
        );
        assert_eq!(parse_timestamp("2024-01-02T25:00:00Z"), None);
    }
}
