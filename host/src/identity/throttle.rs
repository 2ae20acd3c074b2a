//! A per-source limit on failed unauthenticated requests (refused logins,
//! enrolments and unlocks, unknown tokens): a flood of bad requests can
//! neither guess passwords fast nor grow the audit log without bound. A
//! successful login costs nothing, so a whole office behind one NAT
//! address logs in at nine without meeting the limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failed unauthenticated requests one source may make per minute: a
/// counter clerk mistyping a few times stays far below it, a script does not.
pub const UNAUTHENTICATED_PER_MINUTE: u32 = 30;
/// The burst a source may spend at once before the per-minute rate applies.
pub const UNAUTHENTICATED_BURST: u32 = 30;
/// Sources tracked at once; beyond, unseen sources share one bucket, so the
/// table's memory is bounded whatever addresses a flood forges.
pub const MAX_TRACKED_SOURCES: usize = 10_000;

/// What to do with an unauthenticated request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it (and audit its refusal if it fails).
    Allow,
    /// Refuse with 429, and audit this once: the source just ran out.
    RefuseFirst,
    /// Refuse with 429 without an audit event.
    Refuse,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: i64,
    refusing: bool,
}

/// The buckets, by source address (`None`: in-process callers).
#[derive(Debug, Default)]
pub struct Throttle(Mutex<HashMap<Option<IpAddr>, Bucket>>);

impl Throttle {
    /// Spends one failure of `source` at `now_ms`: a request that already
    /// failed (an unknown token), refused once the budget is gone.
    pub fn check(&self, source: Option<IpAddr>, now_ms: i64) -> Verdict {
        self.take(source, now_ms, true)
    }

    /// Whether `source` may try (a login, an unlock): its budget is not
    /// gone. Spends nothing; [`Throttle::charge`] spends when it fails.
    pub fn admit(&self, source: Option<IpAddr>, now_ms: i64) -> Verdict {
        self.take(source, now_ms, false)
    }

    /// Spends one failure of `source` (after [`Throttle::admit`]).
    pub fn charge(&self, source: Option<IpAddr>, now_ms: i64) {
        self.take(source, now_ms, true);
    }

    fn take(&self, source: Option<IpAddr>, now_ms: i64, spend: bool) -> Verdict {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let rate = f64::from(UNAUTHENTICATED_PER_MINUTE) / 60_000.0;
        let burst = f64::from(UNAUTHENTICATED_BURST);
        if map.len() >= MAX_TRACKED_SOURCES && !map.contains_key(&source) {
            // Full buckets carry no information: drop them first.
            map.retain(|_, b| b.tokens + (now_ms - b.at_ms) as f64 * rate < burst);
        }
        let key = if map.len() >= MAX_TRACKED_SOURCES && !map.contains_key(&source) {
            None
        } else {
            source
        };
        let b = map.entry(key).or_insert(Bucket {
            tokens: burst,
            at_ms: now_ms,
            refusing: false,
        });
        let elapsed = (now_ms - b.at_ms).max(0) as f64;
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at_ms = now_ms;
        if b.tokens >= 1.0 {
            if spend {
                b.tokens -= 1.0;
            }
            b.refusing = false;
            Verdict::Allow
        } else if b.refusing {
            Verdict::Refuse
        } else {
            b.refusing = true;
            Verdict::RefuseFirst
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_its_burst_then_the_rate() {
        let t = Throttle::default();
        let ip: Option<IpAddr> = Some("192.0.2.1".parse().unwrap());
        for _ in 0..UNAUTHENTICATED_BURST {
            assert_eq!(t.check(ip, 0), Verdict::Allow);
        }
        assert_eq!(t.check(ip, 0), Verdict::RefuseFirst);
        assert_eq!(t.check(ip, 10), Verdict::Refuse);
        let other: Option<IpAddr> = Some("192.0.2.2".parse().unwrap());
        assert_eq!(t.check(other, 10), Verdict::Allow, "per source");
        // One request per two seconds comes back.
        assert_eq!(t.check(ip, 2_100), Verdict::Allow);
        assert_eq!(t.check(ip, 2_200), Verdict::RefuseFirst);
    }

    #[test]
    fn admitting_spends_nothing_until_charged() {
        let t = Throttle::default();
        let ip: Option<IpAddr> = Some("192.0.2.9".parse().unwrap());
        for _ in 0..(3 * UNAUTHENTICATED_BURST) {
            assert_eq!(t.admit(ip, 0), Verdict::Allow);
        }
        for _ in 0..UNAUTHENTICATED_BURST {
            t.charge(ip, 0);
        }
        assert_eq!(t.admit(ip, 0), Verdict::RefuseFirst);
    }

    #[test]
    fn forged_sources_cannot_grow_the_table() {
        let t = Throttle::default();
        for i in 0..(MAX_TRACKED_SOURCES as u32 + 5_000) {
            let ip = IpAddr::from(i.to_be_bytes());
            t.check(Some(ip), 0);
        }
        assert!(t.0.lock().unwrap().len() <= MAX_TRACKED_SOURCES + 1);
    }
}
