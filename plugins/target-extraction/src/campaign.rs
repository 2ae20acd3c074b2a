//! A campaign definition: who a campaign targets, as data. Staff write it
//! in JSON or TOML; every criterion left out does not restrict.

use kiroku_rules::Date;
use serde::Deserialize;

use crate::Error;

/// Longest campaign id.
const MAX_ID_LEN: usize = kiroku_rules::ticket::MAX_CAMPAIGN_ID_LEN;

/// A campaign as staff define it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Its id, e.g. `covid-2024-autumn` (lowercase letters, digits, `-`).
    pub id: String,
    /// The dose the tickets are for (1-9).
    pub dose_number: u32,
    /// The ticket type digit of the OCR line (1: vaccination ticket).
    #[serde(default = "default_ticket_type")]
    pub ticket_type: u8,
    /// The day vaccination starts: ages and intervals are counted to it.
    pub starts_on: String,
    /// Count only doses of this vaccine (all doses when absent).
    pub vaccine: Option<String>,
    /// Born on or after.
    pub born_from: Option<String>,
    /// Born on or before.
    pub born_to: Option<String>,
    /// Youngest age on `starts_on`.
    pub min_age: Option<u32>,
    /// Oldest age on `starts_on`.
    pub max_age: Option<u32>,
    /// Resident statuses targeted (default: `resident` only).
    #[serde(default = "default_statuses")]
    pub statuses: Vec<String>,
    /// Fewest doses already received.
    pub min_doses: Option<u32>,
    /// Most doses already received.
    pub max_doses: Option<u32>,
    /// Days that must have passed since the last dose, on `starts_on`.
    pub min_days_since_last_dose: Option<u32>,
}

fn default_ticket_type() -> u8 {
    1
}

fn default_statuses() -> Vec<String> {
    vec!["resident".into()]
}

/// A campaign with its dates parsed and checked.
#[derive(Debug, Clone)]
pub struct Criteria {
    /// The definition.
    pub campaign: Campaign,
    starts_on: Date,
    born_from: Option<Date>,
    born_to: Option<Date>,
}

/// What the criteria look at of one person.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// Birth date, if readable.
    pub birth_date: Option<Date>,
    /// Resident status.
    pub status: Option<&'a str>,
    /// Dates of the doses that count (see `vaccine`).
    pub dose_dates: Vec<Date>,
    /// (campaign, dose number) of each valid ticket held.
    pub valid_tickets: Vec<(&'a str, u32)>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid(message.into())
}

fn date(field: &str, value: &str) -> Result<Date, Error> {
    Date::parse(value).map_err(|_| invalid(format!("campaign.{field} must be a date (yyyy-mm-dd)")))
}

impl Criteria {
    /// Parses a campaign given as a JSON object or as TOML text.
    pub fn from_json(value: &serde_json::Value) -> Result<Criteria, Error> {
        let campaign: Campaign = match value {
            serde_json::Value::String(text) => toml::from_str(text).map_err(|e| {
                invalid(format!(
                    "campaign (TOML): {}",
                    kiroku_rules::safe_text::serde_message(e.message())
                ))
            })?,
            other => serde_json::from_value(other.clone()).map_err(|e| {
                invalid(format!(
                    "campaign: {}",
                    kiroku_rules::safe_text::serde_message(&e.to_string())
                ))
            })?,
        };
        Criteria::new(campaign)
    }

    fn new(campaign: Campaign) -> Result<Criteria, Error> {
        if !kiroku_rules::ticket::is_campaign_id(&campaign.id) {
            return Err(invalid(format!(
                "campaign.id must be 1-{MAX_ID_LEN} lowercase letters, digits or '-', with a letter"
            )));
        }
        if !(1..=9).contains(&campaign.dose_number) {
            return Err(invalid("campaign.dose_number must be 1-9 (one OCR digit)"));
        }
        if campaign.ticket_type > 9 {
            return Err(invalid("campaign.ticket_type must be 0-9 (one OCR digit)"));
        }
        if campaign.statuses.is_empty()
            || campaign
                .statuses
                .iter()
                .any(|s| !["resident", "moved-out", "deceased"].contains(&s.as_str()))
        {
            return Err(invalid(
                "campaign.statuses must list resident, moved-out or deceased",
            ));
        }
        let starts_on = date("starts_on", &campaign.starts_on)?;
        let born_from = campaign
            .born_from
            .as_deref()
            .map(|d| date("born_from", d))
            .transpose()?;
        let born_to = campaign
            .born_to
            .as_deref()
            .map(|d| date("born_to", d))
            .transpose()?;
        if let (Some(a), Some(b)) = (born_from, born_to)
            && a > b
        {
            return Err(invalid("campaign.born_from is after campaign.born_to"));
        }
        if let (Some(a), Some(b)) = (campaign.min_age, campaign.max_age)
            && a > b
        {
            return Err(invalid("campaign.min_age is above campaign.max_age"));
        }
        if let (Some(a), Some(b)) = (campaign.min_doses, campaign.max_doses)
            && a > b
        {
            return Err(invalid("campaign.min_doses is above campaign.max_doses"));
        }
        Ok(Criteria {
            campaign,
            starts_on,
            born_from,
            born_to,
        })
    }

    /// The day ages and intervals are counted to.
    pub fn starts_on(&self) -> Date {
        self.starts_on
    }

    /// Whether the criteria need the person's doses.
    pub fn needs_doses(&self) -> bool {
        let c = &self.campaign;
        c.min_doses.is_some() || c.max_doses.is_some() || c.min_days_since_last_dose.is_some()
    }

    /// Age on the campaign's start.
    pub fn age(&self, birth: Date) -> i32 {
        birth.age_on(self.starts_on)
    }

    /// Whether a person is a target: every criterion holds and they hold
    /// no valid ticket for this campaign and dose yet.
    pub fn targets(&self, f: &Facts<'_>) -> bool {
        let c = &self.campaign;
        let Some(birth) = f.birth_date else {
            return false;
        };
        if self.born_from.is_some_and(|d| birth < d) || self.born_to.is_some_and(|d| birth > d) {
            return false;
        }
        let age = self.age(birth);
        if c.min_age.is_some_and(|m| age < m as i32) || c.max_age.is_some_and(|m| age > m as i32) {
            return false;
        }
        if !f.status.is_some_and(|s| c.statuses.iter().any(|t| t == s)) {
            return false;
        }
        let received = f.dose_dates.len() as u32;
        if c.min_doses.is_some_and(|m| received < m) || c.max_doses.is_some_and(|m| received > m) {
            return false;
        }
        if let Some(days) = c.min_days_since_last_dose
            && let Some(last) = f.dose_dates.iter().max()
            && self.starts_on.days_since_epoch() - last.days_since_epoch() < i64::from(days)
        {
            return false;
        }
        !f.valid_tickets
            .iter()
            .any(|(campaign, dose)| *campaign == c.id && *dose == c.dose_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criteria(json: serde_json::Value) -> Criteria {
        Criteria::from_json(&json).unwrap()
    }

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn every_criterion_restricts() {
        let c = criteria(serde_json::json!({
            "id": "c1", "dose_number": 3, "starts_on": "2024-10-01",
            "min_age": 65, "min_doses": 2, "min_days_since_last_dose": 90,
        }));
        let base = Facts {
            birth_date: Some(d("1950-05-05")),
            status: Some("resident"),
            dose_dates: vec![d("2021-06-01"), d("2021-07-01")],
            valid_tickets: vec![],
        };
        assert!(c.targets(&base));
        let young = Facts {
            birth_date: Some(d("1960-10-02")),
            ..base.clone()
        };
        assert!(!c.targets(&young));
        let moved = Facts {
            status: Some("moved-out"),
            ..base.clone()
        };
        assert!(!c.targets(&moved));
        let one_dose = Facts {
            dose_dates: vec![d("2021-06-01")],
            ..base.clone()
        };
        assert!(!c.targets(&one_dose));
        let recent = Facts {
            dose_dates: vec![d("2021-06-01"), d("2024-08-01")],
            ..base.clone()
        };
        assert!(!c.targets(&recent));
        let ticketed = Facts {
            valid_tickets: vec![("c1", 3)],
            ..base.clone()
        };
        assert!(!c.targets(&ticketed));
        let other_dose = Facts {
            valid_tickets: vec![("c1", 2)],
            ..base
        };
        assert!(c.targets(&other_dose));
    }

    #[test]
    fn reads_toml_and_refuses_bad_definitions() {
        let c = criteria(serde_json::json!(
            "id = \"c2\"\ndose_number = 1\nstarts_on = \"2024-04-01\"\nborn_to = \"1959-03-31\""
        ));
        assert!(c.targets(&Facts {
            birth_date: Some(d("1959-03-31")),
            status: Some("resident"),
            ..Facts::default()
        }));
        for bad in [
            serde_json::json!({"id": "C!", "dose_number": 1, "starts_on": "2024-04-01"}),
            serde_json::json!({"id": "c", "dose_number": 10, "starts_on": "2024-04-01"}),
            serde_json::json!({"id": "c", "dose_number": 1, "starts_on": "2024-02-30"}),
            serde_json::json!({"id": "c", "dose_number": 1, "starts_on": "2024-04-01", "colour": 1}),
            serde_json::json!({"id": "c", "dose_number": 1, "starts_on": "2024-04-01", "min_age": 9, "max_age": 3}),
        ] {
            assert!(Criteria::from_json(&bad).is_err(), "{bad}");
        }
    }
}
