//! Model-based test of storage: random operations, several drafts computed
//! on one snapshot and committed together (so some conflict), checked
//! against a plain in-memory model after every batch.

use std::collections::BTreeMap;
use std::sync::Arc;

use kiroku::clock::{FakeClock, SeededEntropy};
use kiroku::crypto::IndexKind;
use kiroku::datadir::DataDir;
use kiroku::fields::{Class, FieldValues, dose, resident};
use kiroku::ids::TenantCode;
use kiroku::store::TenantStore;
use kiroku::store::commit::apply_batch;
use kiroku::store::draft::{Draft, DraftError, Intake};
use kiroku::synth::SplitMix;
use kiroku_rules::Date;

#[derive(Debug, Clone, PartialEq, Default)]
struct ModelPerson {
    kana: String,
    phone: String,
    my_number: Option<String>,
    doses: Vec<u32>,
}

#[derive(Debug, Clone)]
enum Step {
    Create {
        address: String,
        kana: String,
        my_number: String,
    },
    Phone {
        address: String,
        phone: String,
    },
    MyNumber {
        address: String,
        my_number: String,
    },
    Dose {
        address: String,
    },
}

fn my_number(i: u64) -> String {
    let digits: Vec<u8> = format!("{:011}", 10_000_000_000 + i).into_bytes();
    let full = kiroku_rules::my_number::complete(&digits[..11].try_into().unwrap());
    String::from_utf8(full.to_vec()).unwrap()
}

fn random_step(rng: &mut SplitMix) -> Step {
    // Small pools, so steps collide on address numbers and My Numbers.
    let address = format!("{:010}", 5_000 + rng.below(12));
    match rng.below(4) {
        0 => Step::Create {
            address,
            kana: format!("テスト{}", rng.below(3)),
            my_number: my_number(rng.below(15)),
        },
        1 => Step::Phone {
            address,
            phone: format!("0466-{:02}-{:04}", rng.below(100), rng.below(10_000)),
        },
        2 => Step::MyNumber {
            address,
            my_number: my_number(rng.below(15)),
        },
        _ => Step::Dose { address },
    }
}

fn resident_values(address: &str, kana: &str) -> FieldValues {
    let mut v = FieldValues::empty(Class::Resident);
    v.set(resident::ADDRESS_NUMBER, Some(address.into()));
    v.set(resident::KANA_NAME, Some(kana.into()));
    v.set(resident::KANJI_NAME, Some("試験".into()));
    v.set(resident::BIRTH_DATE, Some("1990-01-01".into()));
    v.set(resident::SEX, Some("1".into()));
    v
}

/// Runs a step on a draft; `Ok(true)` when it changed something.
fn run(draft: &mut Draft, step: &Step) -> Result<bool, DraftError> {
    match step {
        Step::Create {
            address,
            kana,
            my_number,
        } => {
            if draft
                .find_unique(IndexKind::AddressNumber, address)?
                .is_some()
            {
                return Err(DraftError::Conflict("exists".into()));
            }
            let id = draft.create_person(&resident_values(address, kana))?;
            intake(draft, id, my_number)?;
            Ok(true)
        }
        Step::Phone { address, phone } => {
            let id = draft
                .find_unique(IndexKind::AddressNumber, address)?
                .ok_or(DraftError::NotFound("no".into()))?;
            let mut v = FieldValues::empty(Class::Resident);
            v.set(8, Some(phone.clone()));
            Ok(!draft.update_person(id, &v)?.is_empty())
        }
        Step::MyNumber { address, my_number } => {
            let id = draft
                .find_unique(IndexKind::AddressNumber, address)?
                .ok_or(DraftError::NotFound("no".into()))?;
            intake(draft, id, my_number)
        }
        Step::Dose { address } => {
            let id = draft
                .find_unique(IndexKind::AddressNumber, address)?
                .ok_or(DraftError::NotFound("no".into()))?;
            let next = draft.doses(id)?.len() as u32 + 1;
            let mut v = FieldValues::empty(Class::Dose);
            v.set(dose::DOSE_NUMBER, Some(next.to_string()));
            v.set(dose::DATE, Some("2026-01-01".into()));
            draft.add_dose(id, &v)?;
            Ok(true)
        }
    }
}

/// The registry feed's intake of a My Number: `Ok(true)` when stored; a
/// number held by another is queued for review, which the model counts as
/// refused (nothing of the persons changes).
fn intake(draft: &mut Draft, id: u64, number: &str) -> Result<bool, DraftError> {
    let raised = kiroku::store::reviews::Raised {
        plugin: "model".into(),
        actor: "model".into(),
        request_id: "model".into(),
        time_ms: 0,
    };
    match draft.intake_my_number(id, number, &raised)? {
        Intake::Stored => Ok(true),
        Intake::Unchanged => Ok(false),
        Intake::Queued { .. } => Err(DraftError::Conflict("queued for review".into())),
    }
}

/// What the model says a step does to committed state (None: refused).
fn predict(
    model: &BTreeMap<String, ModelPerson>,
    step: &Step,
) -> Option<BTreeMap<String, ModelPerson>> {
    let mut next = model.clone();
    let holder = |n: &str| {
        model
            .iter()
            .find(|(_, p)| p.my_number.as_deref() == Some(n))
            .map(|(a, _)| a.clone())
    };
    match step {
        Step::Create {
            address,
            kana,
            my_number,
        } => {
            if model.contains_key(address) || holder(my_number).is_some() {
                return None;
            }
            next.insert(
                address.clone(),
                ModelPerson {
                    kana: kana.clone(),
                    my_number: Some(my_number.clone()),
                    ..Default::default()
                },
            );
        }
        Step::Phone { address, phone } => next.get_mut(address)?.phone = phone.clone(),
        Step::MyNumber { address, my_number } => {
            if holder(my_number).is_some_and(|h| &h != address) {
                return None;
            }
            next.get_mut(address)?.my_number = Some(my_number.clone());
        }
        Step::Dose { address } => {
            let p = next.get_mut(address)?;
            p.doses.push(p.doses.len() as u32 + 1);
        }
    }
    Some(next)
}

fn check(
    store: &Arc<TenantStore>,
    entropy: &Arc<SeededEntropy>,
    model: &BTreeMap<String, ModelPerson>,
) {
    let mut draft = Draft::new(store.clone(), entropy.clone());
    for (address, p) in model {
        let id = draft
            .find_unique(IndexKind::AddressNumber, address)
            .unwrap()
            .expect("every modelled person is stored");
        let values = draft.resident(id).unwrap();
        assert_eq!(values.get(resident::KANA_NAME), Some(p.kana.as_str()));
        assert_eq!(values.get(8).unwrap_or(""), p.phone);
        assert_eq!(draft.my_number(id).unwrap(), p.my_number);
        let doses: Vec<u32> = draft
            .doses(id)
            .unwrap()
            .values()
            .map(|d| d.get(dose::DOSE_NUMBER).unwrap().parse().unwrap())
            .collect();
        assert_eq!(doses, p.doses);
        if let Some(n) = &p.my_number {
            assert_eq!(
                draft.find_unique(IndexKind::MyNumber, n).unwrap(),
                Some(id),
                "the My Number index points at its holder"
            );
        }
        assert!(
            draft
                .find_by_name(&p.kana, "1990-01-01", 100)
                .unwrap()
                .contains(&id)
        );
    }
    assert_eq!(store.person_count().unwrap() as usize, model.len());
}

#[test]
fn storage_matches_an_in_memory_model_under_grouped_concurrent_commits() {
    for seed in 1..=6u64 {
        let dir = tempfile::tempdir().unwrap();
        let datadir = DataDir::open(dir.path()).unwrap();
        let clock = FakeClock::at(Date::parse("2026-04-01").unwrap());
        let entropy = Arc::new(SeededEntropy::new(seed));
        let code = TenantCode::parse("142051").unwrap();
        let store = Arc::new(
            TenantStore::create(
                &datadir,
                &code,
                "藤沢市",
                "",
                clock.as_ref(),
                entropy.as_ref(),
            )
            .unwrap(),
        );
        let mut rng = SplitMix::new(seed);
        let mut model: BTreeMap<String, ModelPerson> = BTreeMap::new();
        let (mut committed, mut conflicts) = (0, 0);
        for _ in 0..60 {
            // Several drafts on the same snapshot, committed as one group.
            let steps: Vec<Step> = (0..1 + rng.below(5))
                .map(|_| random_step(&mut rng))
                .collect();
            let mut sets = Vec::new();
            let mut kept = Vec::new();
            for step in &steps {
                let mut draft = Draft::new(store.clone(), entropy.clone());
                match run(&mut draft, step) {
                    Ok(true) => {
                        sets.push(draft.into_write_set(Vec::new()));
                        kept.push(step.clone());
                    }
                    Ok(false) => assert!(
                        predict(&model, step).is_some_and(|m| m == model),
                        "{step:?} changed nothing but should have"
                    ),
                    Err(DraftError::Store(e)) => panic!("{e}"),
                    Err(_) => assert!(
                        predict(&model, step).is_none(),
                        "{step:?} was refused but the model accepts it"
                    ),
                }
            }
            let outcomes = apply_batch(
                store.db(),
                store.keys(),
                store.keyring(),
                store.facts(),
                sets,
            )
            .unwrap();
            for (step, outcome) in kept.iter().zip(outcomes) {
                match outcome {
                    Ok(_) => {
                        committed += 1;
                        model = predict(&model, step).unwrap_or_else(|| {
                            panic!("{step:?} committed but the model refuses it")
                        });
                    }
                    Err(_) => conflicts += 1,
                }
            }
            check(&store, &entropy, &model);
        }
        assert!(
            committed > 20 && conflicts > 0,
            "seed {seed}: {committed} committed, {conflicts} conflicts"
        );
    }
}
