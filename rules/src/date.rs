//! Calendar dates as `yyyy-mm-dd`, with the few operations the rules need.

/// A proleptic Gregorian date. Orders chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    /// Year, 1..=9999.
    pub year: u16,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of the month, 1..=31.
    pub day: u8,
}

/// Why a string is not a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidDate;

impl core::fmt::Display for InvalidDate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a date is written yyyy-mm-dd and must exist in the calendar")
    }
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// Builds a date, checking that it exists.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date, InvalidDate> {
        if (1..=9999).contains(&year) && day >= 1 && day <= days_in_month(year, month) {
            Ok(Date { year, month, day })
        } else {
            Err(InvalidDate)
        }
    }

    /// Parses exactly `yyyy-mm-dd`.
    pub fn parse(text: &str) -> Result<Date, InvalidDate> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(InvalidDate);
        }
        // Fixed positions, no loop: this runs for every date in a feed.
        let digit = |i: usize| match b[i] {
            c @ b'0'..=b'9' => Ok(u32::from(c - b'0')),
            _ => Err(InvalidDate),
        };
        let year = digit(0)? * 1000 + digit(1)? * 100 + digit(2)? * 10 + digit(3)?;
        let month = digit(5)? * 10 + digit(6)?;
        let day = digit(8)? * 10 + digit(9)?;
        Date::new(year as u16, month as u8, day as u8)
    }

    /// Days since 1970-01-01 (negative before), after H. Hinnant's
    /// `days_from_civil`.
    pub fn days_since_epoch(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days_since_epoch(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
        Date { year, month, day }
    }

    /// Whole years of age on `on` (a birthday on 29 Feb counts from 1 Mar
    /// in common years, as the Japanese age law does from the day before).
    pub fn age_on(self, on: Date) -> i32 {
        let mut age = i32::from(on.year) - i32::from(self.year);
        if (on.month, on.day) < (self.month, self.day) {
            age -= 1;
        }
        age
    }
}

/// Birth-date bounds (days since epoch, inclusive) that hold everyone aged
/// `min_age..=max_age` on `on`, and a few days more: a cheap prefilter
/// before the exact [`Date::age_on`] test.
pub fn birth_days_for_ages(
    on: Date,
    min_age: Option<u32>,
    max_age: Option<u32>,
) -> (Option<i64>, Option<i64>) {
    let year = |age: u32| {
        u16::try_from(i64::from(on.year) - i64::from(age))
            .ok()
            .filter(|y| *y >= 1)
    };
    // Born before the 1st of the month, `max_age + 1` years back: older.
    let from = max_age
        .and_then(|a| year(a.saturating_add(1)))
        .and_then(|y| Date::new(y, on.month, 1).ok())
        .map(Date::days_since_epoch);
    // Born a few days after the same day, `min_age` years back: younger.
    let to = min_age.map(|a| match year(a) {
        Some(y) => {
            Date::new(y, on.month, on.day.min(28)).map_or(i64::MIN, |d| d.days_since_epoch() + 4)
        }
        None => i64::MIN,
    });
    (from, to)
}

/// Counts the birth dates in a comma-separated list of persons who are at
/// least `age` years old on `on` (target extraction's core test). Used by
/// the native-vs-wasm benchmark; malformed dates are skipped.
pub fn count_aged_at_least(list: &str, on: Date, age: i32) -> usize {
    list.split(',')
        .filter_map(|d| Date::parse(d.trim()).ok())
        .filter(|b| b.age_on(on) >= age)
        .count()
}

impl core::fmt::Display for Date {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birth_bounds_hold_everyone_in_the_age_band() {
        for on in ["2024-02-29", "2024-10-01", "2026-12-31", "2025-03-01"] {
            let on = Date::parse(on).unwrap();
            let (from, to) = birth_days_for_ages(on, Some(65), Some(70));
            let (from, to) = (from.unwrap(), to.unwrap());
            let start = Date::new(on.year - 75, 1, 1).unwrap().days_since_epoch();
            for days in start..start + 366 * 15 {
                let birth = Date::from_days_since_epoch(days);
                if (65..=70).contains(&birth.age_on(on)) {
                    assert!(days >= from && days <= to, "{birth} on {on}");
                }
            }
            assert!(to - from < 366 * 6 + 40, "bounds stay tight");
        }
        assert_eq!(
            birth_days_for_ages(Date::parse("2024-01-01").unwrap(), None, None),
            (None, None)
        );
    }

    #[test]
    fn parses_and_prints_real_dates_only() {
        assert_eq!(Date::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
        assert!(Date::parse("2023-02-29").is_err());
        assert!(Date::parse("2023-13-01").is_err());
        assert!(Date::parse("2023-1-01").is_err());
        assert!(Date::parse("２０２３-01-01").is_err());
    }

    #[test]
    fn day_numbers_round_trip() {
        for days in (-40_000..40_000).step_by(37) {
            let d = Date::from_days_since_epoch(days);
            assert_eq!(d.days_since_epoch(), days);
        }
        assert_eq!(Date::parse("1970-01-01").unwrap().days_since_epoch(), 0);
        assert_eq!(
            Date::parse("2021-05-17").unwrap().days_since_epoch(),
            18_764
        );
    }

    #[test]
    fn counts_age_in_whole_years() {
        let birth = Date::parse("1990-06-15").unwrap();
        assert_eq!(birth.age_on(Date::parse("2020-06-14").unwrap()), 29);
        assert_eq!(birth.age_on(Date::parse("2020-06-15").unwrap()), 30);
    }
}
