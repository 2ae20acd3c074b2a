//! A history-list query: conditions on doses, age and campaign status,
//! each left out when not given. Pure code, tested natively.

use kiroku_rules::Date;
use kiroku_rules::vaccine::maker_key;
use serde::Deserialize;

/// A query as staff send it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Vaccine kind, e.g. `covid-19`.
    pub vaccine: Option<String>,
    /// Maker as recorded.
    pub maker: Option<String>,
    /// Dose number.
    pub dose_number: Option<u32>,
    /// Lot number.
    pub lot: Option<String>,
    /// Vaccinated on or after.
    pub date_from: Option<String>,
    /// Vaccinated on or before.
    pub date_to: Option<String>,
    /// Medical facility code.
    pub facility_code: Option<String>,
    /// Youngest age on `age_on`.
    pub age_from: Option<u32>,
    /// Oldest age on `age_on`.
    pub age_to: Option<u32>,
    /// The day ages are counted to (default today).
    pub age_on: Option<String>,
    /// Done / not done for a campaign's dose.
    pub campaign: Option<CampaignStatus>,
    /// Resume after this person id (the previous page's `next_after`).
    #[serde(default)]
    pub after: u64,
    /// Persons per page.
    pub limit: Option<u32>,
    /// Most persons read for one page (default and most
    /// [`MAX_SCAN_PER_PAGE`]): a rare condition then answers a short page
    /// with a cursor quickly instead of walking the whole town at once.
    pub max_scan: Option<u32>,
}

/// See [`Query::max_scan`].
pub const MAX_SCAN_PER_PAGE: u32 = 20_000;

/// Whether persons ticketed for a campaign's dose have had it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignStatus {
    /// Campaign id.
    pub id: String,
    /// The campaign's dose.
    pub dose_number: u32,
    /// `done` or `not-done`.
    pub status: String,
}

/// One dose as the query compares it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoseFacts {
    /// Dose number.
    pub dose_number: Option<u32>,
    /// Date.
    pub date: Option<Date>,
    /// Vaccine.
    pub vaccine: Option<String>,
    /// Maker.
    pub maker: Option<String>,
    /// Lot.
    pub lot: Option<String>,
    /// Facility code.
    pub facility_code: Option<String>,
}

/// A query with its dates parsed.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The query.
    pub query: Query,
    date_from: Option<Date>,
    date_to: Option<Date>,
    age_on: Date,
}

fn date(field: &str, value: &Option<String>) -> Result<Option<Date>, String> {
    value
        .as_deref()
        .map(|v| Date::parse(v).map_err(|_| format!("{field} must be a date (yyyy-mm-dd)")))
        .transpose()
}

impl Checked {
    /// Checks a query; `today` is the default for `age_on`.
    pub fn new(query: Query, today: Date) -> Result<Checked, String> {
        let date_from = date("date_from", &query.date_from)?;
        let date_to = date("date_to", &query.date_to)?;
        let age_on = date("age_on", &query.age_on)?.unwrap_or(today);
        if let (Some(a), Some(b)) = (date_from, date_to)
            && a > b
        {
            return Err("date_from is after date_to".into());
        }
        if let (Some(a), Some(b)) = (query.age_from, query.age_to)
            && a > b
        {
            return Err("age_from is above age_to".into());
        }
        if query
            .max_scan
            .is_some_and(|n| n == 0 || n > MAX_SCAN_PER_PAGE)
        {
            return Err(format!("max_scan must be 1-{MAX_SCAN_PER_PAGE}"));
        }
        if let Some(c) = &query.campaign
            && !["done", "not-done"].contains(&c.status.as_str())
        {
            return Err("campaign.status must be done or not-done".into());
        }
        Ok(Checked {
            query,
            date_from,
            date_to,
            age_on,
        })
    }

    /// The day ages are counted to.
    pub fn age_on(&self) -> Date {
        self.age_on
    }

    /// Vaccinated on or after.
    pub fn date_from(&self) -> Option<Date> {
        self.date_from
    }

    /// Vaccinated on or before.
    pub fn date_to(&self) -> Option<Date> {
        self.date_to
    }

    /// Most persons read for one page.
    pub fn max_scan(&self) -> u32 {
        self.query.max_scan.unwrap_or(MAX_SCAN_PER_PAGE)
    }

    /// Whether any condition is on doses (so only matching doses are shown).
    pub fn filters_doses(&self) -> bool {
        let q = &self.query;
        q.vaccine.is_some()
            || q.maker.is_some()
            || q.dose_number.is_some()
            || q.lot.is_some()
            || q.date_from.is_some()
            || q.date_to.is_some()
            || q.facility_code.is_some()
    }

    /// Whether ages are asked for.
    pub fn filters_age(&self) -> bool {
        self.query.age_from.is_some() || self.query.age_to.is_some()
    }

    /// Whether a dose meets every dose condition.
    pub fn dose_matches(&self, d: &DoseFacts) -> bool {
        let q = &self.query;
        let eq = |want: &Option<String>, got: &Option<String>| {
            want.as_ref().is_none_or(|w| got.as_ref() == Some(w))
        };
        eq(&q.vaccine, &d.vaccine)
            && q.maker.as_deref().is_none_or(|w| {
                d.maker
                    .as_deref()
                    .is_some_and(|got| maker_key(got) == maker_key(w))
            })
            && eq(&q.lot, &d.lot)
            && eq(&q.facility_code, &d.facility_code)
            && q.dose_number.is_none_or(|n| d.dose_number == Some(n))
            && self
                .date_from
                .is_none_or(|f| d.date.is_some_and(|x| x >= f))
            && self.date_to.is_none_or(|t| d.date.is_some_and(|x| x <= t))
    }

    /// Whether the age on `age_on` is in the band.
    pub fn age_matches(&self, birth: Option<Date>) -> bool {
        if !self.filters_age() {
            return true;
        }
        let Some(birth) = birth else { return false };
        let age = birth.age_on(self.age_on);
        self.query.age_from.is_none_or(|a| age >= a as i32)
            && self.query.age_to.is_none_or(|a| age <= a as i32)
    }

    /// Whether the campaign condition holds, given the person's valid
    /// tickets (campaign, dose) and their doses.
    pub fn campaign_matches(&self, tickets: &[(String, u32)], doses: &[DoseFacts]) -> bool {
        let Some(c) = &self.query.campaign else {
            return true;
        };
        let ticketed = tickets
            .iter()
            .any(|(id, n)| *id == c.id && *n == c.dose_number);
        let done = doses.iter().any(|d| d.dose_number == Some(c.dose_number));
        ticketed && (done == (c.status == "done"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn every_condition_restricts() {
        let q: Query = serde_json::from_value(serde_json::json!({
            "maker": "ファイザー", "dose_number": 3, "date_from": "2022-01-01",
            "date_to": "2022-06-30", "age_from": 65,
            "campaign": {"id": "c", "dose_number": 8, "status": "not-done"},
        }))
        .unwrap();
        let c = Checked::new(q, d("2026-04-01")).unwrap();
        let dose = DoseFacts {
            dose_number: Some(3),
            date: Some(d("2022-02-01")),
            maker: Some("ファイザー".into()),
            ..DoseFacts::default()
        };
        assert!(c.dose_matches(&dose));
        assert!(!c.dose_matches(&DoseFacts {
            dose_number: Some(2),
            ..dose.clone()
        }));
        assert!(!c.dose_matches(&DoseFacts {
            date: Some(d("2022-07-01")),
            ..dose.clone()
        }));
        assert!(!c.dose_matches(&DoseFacts {
            maker: Some("モデルナ".into()),
            ..dose.clone()
        }));
        assert!(c.age_matches(Some(d("1950-01-01"))));
        assert!(!c.age_matches(Some(d("1970-01-01"))));
        let tickets = vec![("c".to_owned(), 8)];
        assert!(c.campaign_matches(&tickets, std::slice::from_ref(&dose)));
        let done = DoseFacts {
            dose_number: Some(8),
            ..dose
        };
        assert!(!c.campaign_matches(&tickets, &[done]));
        assert!(!c.campaign_matches(&[], &[]));
    }

    #[test]
    fn refuses_contradictions() {
        let bad = |v| Checked::new(serde_json::from_value(v).unwrap(), d("2026-04-01")).is_err();
        assert!(bad(
            serde_json::json!({"date_from": "2022-02-01", "date_to": "2022-01-01"})
        ));
        assert!(bad(serde_json::json!({"age_from": 70, "age_to": 60})));
        assert!(bad(serde_json::json!({"date_from": "2022-02-30"})));
        assert!(bad(
            serde_json::json!({"campaign": {"id": "c", "dose_number": 1, "status": "maybe"}})
        ));
    }
}
