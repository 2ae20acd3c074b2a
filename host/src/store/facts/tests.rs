//! The projection's reads and changes, on a small town.
use super::*;

fn day(s: &str) -> i32 {
    day_of(Some(s))
}

fn dose(number: u32, date: &str, maker: &str, lot: &str) -> Box<DoseText> {
    Box::new(DoseText {
        number: Some(number),
        date: Some(date.into()),
        vaccine: Some("covid-19".into()),
        maker: Some(maker.into()),
        lot: Some(lot.into()),
        facility: None,
    })
}

/// Three persons: 1 (1950, resident, two Pfizer doses, a valid ticket),
/// 2 (1990, moved out, one Moderna dose), 3 (1960, resident, none).
fn town() -> Facts {
    let mut f = Facts::default();
    for (person, birth, status) in [
        (1, "1950-05-05", "resident"),
        (2, "1990-01-01", "moved-out"),
        (3, "1960-12-31", "resident"),
    ] {
        f.apply(FactChange::Resident {
            person,
            birth_date: Some(birth.into()),
            status: Some(status.into()),
            status_date: None,
        });
    }
    for (person, seq, text) in [
        (1, 1, dose(1, "2021-06-01", "ファイザー", "FA1234")),
        (1, 2, dose(2, "2021-07-01", "ファイザー", "FA5678")),
        (2, 1, dose(1, "2022-03-01", "モデルナ", "MO0001")),
    ] {
        f.apply(FactChange::Dose { person, seq, text });
    }
    f.apply(FactChange::Ticket {
        person: 1,
        seq: 1,
        text: TicketText {
            campaign: Some("c1".into()),
            dose_number: Some(3),
            status: Some("valid".into()),
        },
    });
    f
}

fn everything() -> Want {
    Want {
        birth_date: true,
        status: true,
        dose: [true; 6],
        ticket: [true; 3],
    }
}

fn ids(b: &Block) -> Vec<u64> {
    b.persons.iter().map(|p| p.id).collect()
}

#[test]
fn conditions_narrow_and_every_part_restricts() {
    let f = town();
    let all = f.read(0, 10, &Condition::default(), everything());
    assert_eq!(ids(&all), [1, 2, 3]);
    assert!(all.end && all.next_after == 3);
    let old = Condition {
        born_to: Some(day("1959-12-31")),
        ..Condition::default()
    };
    assert_eq!(ids(&f.read(0, 10, &old, everything())), [1]);
    let residents = Condition {
        statuses: vec!["resident".into()],
        ..Condition::default()
    };
    assert_eq!(ids(&f.read(0, 10, &residents, everything())), [1, 3]);
    let second_pfizer = Condition {
        dose: Some(DoseCondition {
            maker: Some("ファイザー".into()),
            dose_number: Some(2),
            date_from: Some(day("2021-07-01")),
            date_to: Some(day("2021-07-01")),
            ..DoseCondition::default()
        }),
        ..Condition::default()
    };
    assert_eq!(ids(&f.read(0, 10, &second_pfizer, everything())), [1]);
    let mismatched = Condition {
        dose: Some(DoseCondition {
            maker: Some("ファイザー".into()),
            lot: Some("MO0001".into()),
            ..DoseCondition::default()
        }),
        ..Condition::default()
    };
    assert!(f.read(0, 10, &mismatched, everything()).persons.is_empty());
    let ticketed = Condition {
        ticket: Some(("c1".into(), 3)),
        ..Condition::default()
    };
    assert_eq!(ids(&f.read(0, 10, &ticketed, everything())), [1]);
    // A value never stored matches nothing, at once.
    let unknown = Condition {
        dose: Some(DoseCondition {
            lot: Some("NOPE".into()),
            ..DoseCondition::default()
        }),
        ..Condition::default()
    };
    let none = f.read(0, 10, &unknown, everything());
    assert!(none.persons.is_empty() && none.end);
}

#[test]
fn reads_page_by_cursor_and_return_only_wanted_fields() {
    let f = town();
    let first = f.read(0, 2, &Condition::default(), Want::default());
    assert_eq!(ids(&first), [1, 2]);
    assert!(!first.end && first.next_after == 2);
    assert!(first.doses.is_empty() && first.tickets.is_empty() && first.strings.is_empty());
    assert_eq!(first.persons[0].birth_date, None);
    let rest = f.read(first.next_after, 2, &Condition::default(), Want::default());
    assert_eq!(ids(&rest), [3]);
    assert!(rest.end);

    let makers = Want {
        dose: [false, false, false, true, false, false],
        ..Want::default()
    };
    let b = f.read(0, 1, &Condition::default(), makers);
    assert_eq!(b.doses.len(), 2);
    assert!(b.doses.iter().all(|d| d.date.is_none() && d.lot.is_none()));
    assert_eq!(b.strings, ["ファイザー"], "only the values the block uses");
    assert_eq!(b.doses[1].maker, Some(0));
}

#[test]
fn changes_replace_by_sequence() {
    let mut f = town();
    f.apply(FactChange::Ticket {
        person: 1,
        seq: 1,
        text: TicketText {
            campaign: Some("c1".into()),
            dose_number: Some(3),
            status: Some("voided".into()),
        },
    });
    let ticketed = Condition {
        ticket: Some(("c1".into(), 3)),
        ..Condition::default()
    };
    assert!(f.read(0, 10, &ticketed, everything()).persons.is_empty());
    let b = f.read(0, 1, &Condition::default(), everything());
    assert_eq!(b.tickets.len(), 1);
    assert_eq!(b.tickets[0].valid, Some(false));
    f.apply(FactChange::Resident {
        person: 3,
        birth_date: Some("1960-12-31".into()),
        status: Some("deceased".into()),
        status_date: Some("2020-01-01".into()),
    });
    let b = f.read(2, 1, &Condition::default(), everything());
    assert_eq!(b.persons[0].status, Some(2));
}

#[test]
fn suspended_persons_are_left_out_of_reads_until_lifted() {
    let mut f = town();
    let all = ids(&f.read(0, 100, &Condition::default(), everything()));
    let first = all[0];
    f.apply(FactChange::Suspension {
        person: first,
        suspended: true,
    });
    let b = f.read(0, 100, &Condition::default(), everything());
    assert!(!ids(&b).contains(&first));
    assert_eq!(ids(&b).len(), all.len() - 1);
    f.apply(FactChange::Suspension {
        person: first,
        suspended: false,
    });
    assert_eq!(
        ids(&f.read(0, 100, &Condition::default(), everything())),
        all
    );
    f.apply(FactChange::Removed { person: first });
    assert!(!ids(&f.read(0, 100, &Condition::default(), everything())).contains(&first));
}
