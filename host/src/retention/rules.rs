//! A tenant's retention rules, as data (TOML, kept in the tenant's meta
//! under `retention-rules`, set with `kiroku retention rules`): each rule
//! a period in years and the anchors it runs from. The first rule a
//! person meets applies; a person no rule meets is kept.
//!
//! ```toml
//! [[rule]]
//! name = "deceased-5y"
//! anchor = "death"                 # "death", "move-out", "last-dose", or a list
//! years = 5
//!
//! [[rule]]
//! name = "moved-out-5y-after-both"
//! anchor = ["move-out", "last-dose"] # the period runs from the later one
//! years = 5
//! ```
//!
//! `death` applies to deceased persons and `move-out` to persons who
//! moved out, from their status date; `last-dose` runs from the latest
//! dose's date and, alone, applies to deceased and moved-out persons
//! (`statuses = [...]` names others, e.g. `"resident"`). A rule does not
//! apply to a person who lacks its anchor (no status date; no dose, for
//! `last-dose` alone); beside another anchor, `last-dose` counts only
//! when the person has a dose.

use serde::Deserialize;

use crate::store::facts::{Anchors, STATUS_NAMES};

/// The meta key of the rules.
pub const META_KEY: &str = "retention-rules";
/// Most rules a tenant may have.
pub const MAX_RULES: usize = 32;

/// What a period runs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anchor {
    /// The status date of a deceased person.
    Death,
    /// The status date of a person who moved out.
    MoveOut,
    /// The date of the person's latest dose.
    LastDose,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Anchors1 {
    One(Anchor),
    Many(Vec<Anchor>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    name: String,
    anchor: Anchors1,
    years: u32,
    statuses: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<RuleFile>,
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name (in previews and deletion records).
    pub name: String,
    /// The anchors; the period runs from the latest.
    pub anchors: Vec<Anchor>,
    /// The period.
    pub years: u32,
    /// Status codes it applies to (as in [`STATUS_NAMES`], 1-based).
    pub statuses: Vec<u8>,
}

/// A tenant's rules, in order.
#[derive(Debug, Clone, Default)]
pub struct Rules(pub Vec<Rule>);

fn status_code(name: &str) -> Option<u8> {
    STATUS_NAMES
        .iter()
        .position(|n| *n == name)
        .map(|i| i as u8 + 1)
}

impl Rules {
    /// Parses and checks a rules file; the error names the rule and what
    /// is wrong (never a personal value: there are none in it).
    pub fn parse(text: &str) -> Result<Rules, String> {
        let file: RulesFile = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        if file.rule.len() > MAX_RULES {
            return Err(format!("at most {MAX_RULES} rules"));
        }
        let mut rules = Vec::new();
        for r in file.rule {
            let name = r.name.trim().to_owned();
            let valid_name = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid_name {
                return Err("a rule's name is 1-64 letters, digits, '-', '_' or '.'".into());
            }
            if rules.iter().any(|x: &Rule| x.name == name) {
                return Err(format!("rule {name}: the name is used twice"));
            }
            let mut anchors = match r.anchor {
                Anchors1::One(a) => vec![a],
                Anchors1::Many(a) => a,
            };
            anchors.sort_by_key(|a| *a as u8);
            anchors.dedup();
            if anchors.is_empty() {
                return Err(format!("rule {name}: name at least one anchor"));
            }
            if anchors.contains(&Anchor::Death) && anchors.contains(&Anchor::MoveOut) {
                return Err(format!(
                    "rule {name}: a person is either deceased or moved out, not both"
                ));
            }
            if !(1..=100).contains(&r.years) {
                return Err(format!("rule {name}: years is 1 to 100"));
            }
            let statuses = match (&r.statuses, &anchors[..]) {
                (Some(list), _) => {
                    let mut codes = Vec::new();
                    for s in list {
                        codes.push(status_code(s).ok_or_else(|| {
                            format!("rule {name}: statuses are resident, moved-out or deceased")
                        })?);
                    }
                    codes
                }
                (None, a) if a.contains(&Anchor::Death) => vec![3],
                (None, a) if a.contains(&Anchor::MoveOut) => vec![2],
                (None, _) => vec![2, 3],
            };
            if anchors.contains(&Anchor::Death) && statuses != [3] {
                return Err(format!(
                    "rule {name}: a death anchor applies to deceased persons only"
                ));
            }
            if anchors.contains(&Anchor::MoveOut) && statuses != [2] {
                return Err(format!(
                    "rule {name}: a move-out anchor applies to persons who moved out only"
                ));
            }
            rules.push(Rule {
                name,
                anchors,
                years: r.years,
                statuses,
            });
        }
        Ok(Rules(rules))
    }

    /// The first rule under which `a` is past retention on `today`.
    pub fn applies(&self, a: &Anchors, today: kiroku_rules::Date) -> Option<usize> {
        let today = today.days_since_epoch() as i32;
        self.0.iter().position(|rule| {
            if !rule.statuses.contains(&a.status) {
                return false;
            }
            let mut from = i32::MIN;
            for anchor in &rule.anchors {
                let day = match anchor {
                    Anchor::Death | Anchor::MoveOut => a.status_day,
                    Anchor::LastDose => a.last_dose_day,
                };
                match day {
                    Some(d) => from = from.max(d),
                    None if *anchor == Anchor::LastDose && rule.anchors.len() > 1 => {}
                    None => return false,
                }
            }
            let from = kiroku_rules::Date::from_days_since_epoch(i64::from(from));
            from.age_on(kiroku_rules::Date::from_days_since_epoch(i64::from(today)))
                >= rule.years as i32
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Option<i32> {
        Some(kiroku_rules::Date::parse(s).unwrap().days_since_epoch() as i32)
    }

    fn person(status: u8, status_day: Option<i32>, last_dose_day: Option<i32>) -> Anchors {
        Anchors {
            person: 1,
            status,
            status_day,
            last_dose_day,
            doses: 1,
            tickets: 0,
        }
    }

    #[test]
    fn the_first_rule_met_applies_and_anchors_must_be_known() {
        let rules = Rules::parse(
            r#"
            [[rule]]
            name = "deceased-5y"
            anchor = "death"
            years = 5
            [[rule]]
            name = "moved-out-after-both"
            anchor = ["move-out", "last-dose"]
            years = 10
            "#,
        )
        .unwrap();
        let today = kiroku_rules::Date::parse("2026-12-03").unwrap();
        assert_eq!(
            rules.applies(&person(3, day("2021-12-03"), None), today),
            Some(0)
        );
        assert_eq!(
            rules.applies(&person(3, day("2021-12-04"), None), today),
            None,
            "a day short"
        );
        assert_eq!(
            rules.applies(&person(3, None, day("2000-01-01")), today),
            None,
            "no death date"
        );
        assert_eq!(
            rules.applies(&person(1, day("2000-01-01"), day("2000-01-01")), today),
            None,
            "residents are kept"
        );
        let moved = person(2, day("2010-01-01"), day("2017-01-01"));
        assert_eq!(
            rules.applies(&moved, today),
            None,
            "the later anchor counts"
        );
        let moved = person(2, day("2010-01-01"), day("2016-12-03"));
        assert_eq!(rules.applies(&moved, today), Some(1));
        let never_vaccinated = person(2, day("2010-01-01"), None);
        assert_eq!(
            rules.applies(&never_vaccinated, today),
            Some(1),
            "no dose: the move-out alone"
        );
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        for (text, says) in [
            ("[[rule]]\nname='a'\nanchor='death'\nyears=0", "years"),
            ("[[rule]]\nname='a'\nanchor='birth'\nyears=5", ""),
            (
                "[[rule]]\nname='a'\nanchor=['death','move-out']\nyears=5",
                "either",
            ),
            ("[[rule]]\nname='a b'\nanchor='death'\nyears=5", "name"),
            (
                "[[rule]]\nname='a'\nanchor='death'\nyears=5\nstatuses=['resident']",
                "deceased",
            ),
            (
                "[[rule]]\nname='a'\nanchor='death'\nyears=5\ncolour='red'",
                "unknown",
            ),
        ] {
            let e = Rules::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
