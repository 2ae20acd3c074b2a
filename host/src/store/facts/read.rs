//! Reading the projection: which persons a read returns (conditions,
//! resolved to the interned ids once) and the block it answers, with only
//! the fields wanted.

use std::collections::HashMap;

use super::{
    DoseFact, Facts, MAX_LOOKED_AT_PER_READ, NO_DAY, NONE, PersonFacts, STATUS_NAMES, code_of,
    opt_day,
};

/// Which fields a read returns (requested and granted).
#[derive(Debug, Clone, Copy, Default)]
pub struct Want {
    /// Birth date.
    pub birth_date: bool,
    /// Status.
    pub status: bool,
    /// Dose number, date, vaccine, maker, lot, facility code.
    pub dose: [bool; 6],
    /// Ticket campaign, dose number, status.
    pub ticket: [bool; 3],
}

impl Want {
    fn doses(&self) -> bool {
        self.dose.iter().any(|w| *w)
    }
    fn tickets(&self) -> bool {
        self.ticket.iter().any(|w| *w)
    }
}

/// Conditions on a dose; `None` does not restrict.
#[derive(Debug, Clone, Default)]
pub struct DoseCondition {
    /// Vaccine kind.
    pub vaccine: Option<String>,
    /// Maker.
    pub maker: Option<String>,
    /// Lot.
    pub lot: Option<String>,
    /// Facility code.
    pub facility: Option<String>,
    /// Dose number.
    pub dose_number: Option<u32>,
    /// On or after (days since epoch).
    pub date_from: Option<i32>,
    /// On or before.
    pub date_to: Option<i32>,
}

/// Which persons a read returns; `None` or empty does not restrict.
#[derive(Debug, Clone, Default)]
pub struct Condition {
    /// Born on or after (days since epoch).
    pub born_from: Option<i32>,
    /// Born on or before.
    pub born_to: Option<i32>,
    /// Status names, any of.
    pub statuses: Vec<String>,
    /// Has a dose meeting all of this.
    pub dose: Option<DoseCondition>,
    /// Holds a valid ticket for (campaign, dose number).
    pub ticket: Option<(String, u32)>,
}

/// A condition with its text resolved to ids; `None` when it names a value
/// the tenant has never stored (nothing can match).
struct Resolved {
    born_from: Option<i32>,
    born_to: Option<i32>,
    statuses: Vec<u8>,
    dose: Option<ResolvedDose>,
    ticket: Option<(u32, u32)>,
}

struct ResolvedDose {
    /// Vaccine, maker, lot, facility.
    ids: [Option<u32>; 4],
    dose_number: Option<u32>,
    date_from: Option<i32>,
    date_to: Option<i32>,
}

impl ResolvedDose {
    fn matches(&self, d: &DoseFact) -> bool {
        let got = [d.vaccine, d.maker, d.lot, d.facility];
        let dated = d.date != NO_DAY;
        self.ids
            .iter()
            .zip(got)
            .all(|(want, got)| want.is_none_or(|w| w == got))
            && self.dose_number.is_none_or(|n| n == d.number)
            && self.date_from.is_none_or(|f| dated && d.date >= f)
            && self.date_to.is_none_or(|t| dated && d.date <= t)
    }
}

impl Resolved {
    fn matches(&self, p: &PersonFacts) -> bool {
        let born = p.birth != NO_DAY;
        if self.born_from.is_some_and(|f| !born || p.birth < f)
            || self.born_to.is_some_and(|t| !born || p.birth > t)
        {
            return false;
        }
        if !self.statuses.is_empty() && !self.statuses.contains(&p.status) {
            return false;
        }
        if let Some(d) = &self.dose
            && !p.doses.iter().any(|f| d.matches(f))
        {
            return false;
        }
        if let Some((campaign, dose)) = self.ticket
            && !p
                .tickets
                .iter()
                .any(|t| t.campaign == campaign && t.dose_number == dose && t.status == 1)
        {
            return false;
        }
        true
    }
}

/// One person of a block. Unwanted fields are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPerson {
    /// Person id.
    pub id: u64,
    /// Birth date (days since epoch).
    pub birth_date: Option<i32>,
    /// Status name index into [`STATUS_NAMES`].
    pub status: Option<u8>,
}

/// One dose of a block; texts index [`Block::strings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDose {
    /// Index of its person in [`Block::persons`].
    pub person: u32,
    /// Dose number.
    pub dose_number: Option<u32>,
    /// Date (days since epoch).
    pub date: Option<i32>,
    /// Vaccine.
    pub vaccine: Option<u32>,
    /// Maker.
    pub maker: Option<u32>,
    /// Lot.
    pub lot: Option<u32>,
    /// Facility code.
    pub facility: Option<u32>,
}

/// One ticket of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTicket {
    /// Index of its person in [`Block::persons`].
    pub person: u32,
    /// Campaign.
    pub campaign: Option<u32>,
    /// Dose number.
    pub dose_number: Option<u32>,
    /// Valid (not voided).
    pub valid: Option<bool>,
}

/// What a read returns.
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// Persons that met the condition.
    pub persons: Vec<BlockPerson>,
    /// Their doses.
    pub doses: Vec<BlockDose>,
    /// Their tickets.
    pub tickets: Vec<BlockTicket>,
    /// Text values referred to by index.
    pub strings: Vec<String>,
    /// Last person id looked at.
    pub next_after: u64,
    /// No person after `next_after`.
    pub end: bool,
}

impl Facts {
    fn resolve(&self, c: &Condition) -> Option<Resolved> {
        let text = |v: &Option<String>| -> Option<Option<u32>> {
            match v {
                None => Some(None),
                Some(v) => self.strings.find(v).map(Some),
            }
        };
        let dose = match &c.dose {
            None => None,
            Some(d) => Some(ResolvedDose {
                ids: [
                    text(&d.vaccine)?,
                    text(&d.maker)?,
                    text(&d.lot)?,
                    text(&d.facility)?,
                ],
                dose_number: d.dose_number,
                date_from: d.date_from,
                date_to: d.date_to,
            }),
        };
        let ticket = match &c.ticket {
            None => None,
            Some((campaign, n)) => Some((self.strings.find(campaign)?, *n)),
        };
        let mut statuses = Vec::new();
        for s in &c.statuses {
            statuses.push(code_of(&STATUS_NAMES, Some(s)));
        }
        Some(Resolved {
            born_from: c.born_from,
            born_to: c.born_to,
            statuses,
            dose,
            ticket,
        })
    }

    /// Up to `limit` persons with an id above `after` that meet `condition`,
    /// with the wanted fields; looks at most at [`MAX_LOOKED_AT_PER_READ`].
    pub fn read(&self, after: u64, limit: usize, condition: &Condition, want: Want) -> Block {
        let mut block = Block {
            next_after: after,
            ..Block::default()
        };
        let Some(resolved) = self.resolve(condition) else {
            block.next_after = self.persons.last().map_or(after, |(id, _)| *id);
            block.end = true;
            return block;
        };
        if after == u64::MAX {
            block.end = true;
            return block;
        }
        let mut local: HashMap<u32, u32> = HashMap::new();
        let mut strings = Vec::new();
        let mut text = |id: u32| -> Option<u32> {
            if id == NONE {
                return None;
            }
            Some(*local.entry(id).or_insert_with(|| {
                strings.push(self.strings.values[id as usize].to_string());
                strings.len() as u32 - 1
            }))
        };
        let candidates = self.after(after).iter().take(MAX_LOOKED_AT_PER_READ);
        for (id, p) in candidates {
            let id = *id;
            if block.persons.len() == limit {
                break;
            }
            block.next_after = id;
            if p.suspended || !resolved.matches(p) {
                continue;
            }
            let index = block.persons.len() as u32;
            block.persons.push(BlockPerson {
                id,
                birth_date: if want.birth_date {
                    opt_day(p.birth)
                } else {
                    None
                },
                status: if want.status && p.status > 0 {
                    Some(p.status - 1)
                } else {
                    None
                },
            });
            if want.doses() {
                let w = want.dose;
                for d in &p.doses {
                    block.doses.push(BlockDose {
                        person: index,
                        dose_number: (w[0] && d.number > 0).then_some(d.number),
                        date: if w[1] { opt_day(d.date) } else { None },
                        vaccine: if w[2] { text(d.vaccine) } else { None },
                        maker: if w[3] { text(d.maker) } else { None },
                        lot: if w[4] { text(d.lot) } else { None },
                        facility: if w[5] { text(d.facility) } else { None },
                    });
                }
            }
            if want.tickets() {
                let w = want.ticket;
                for t in &p.tickets {
                    block.tickets.push(BlockTicket {
                        person: index,
                        campaign: if w[0] { text(t.campaign) } else { None },
                        dose_number: (w[1] && t.dose_number > 0).then_some(t.dose_number),
                        valid: (w[2] && t.status > 0).then_some(t.status == 1),
                    });
                }
            }
        }
        block.strings = strings;
        block.end = self.after(block.next_after).is_empty();
        block
    }
}
