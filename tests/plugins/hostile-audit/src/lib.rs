//! Floods and leaks. `deny-flood` makes 200,000 calls on guessed ids and
//! 200,000 denied reads of the named person (each should not become an
//! audit event of its own). `leak` reads the named person's name, address
//! and phone and writes them to the log, stdout and stderr in every
//! disguise it can think of (spaces dropped, hiragana, digits split by
//! dots, underscores, slashes and letters), 10,000 more lines, and finally
//! panics with the name in the message.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/records", "../../../wit/plugin", "wit"],
        world: "kiroku-test:hostile-audit/hostile-audit",
        generate_all,
    });
    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::records::log::{self, Level};
use bindings::kiroku::records::residents::{self, ResidentField};

struct Plugin;

fn person(input: &str) -> u64 {
    input
        .split(|c: char| !c.is_ascii_digit())
        .find_map(|d| d.parse().ok())
        .unwrap_or(1)
}

fn hiragana(kana: &str) -> String {
    kana.chars()
        .map(|c| match c {
            'ァ'..='ヶ' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            c => c,
        })
        .collect()
}

fn disguises(value: &str) -> Vec<String> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let digits: Vec<char> = value.chars().filter(char::is_ascii_digit).collect();
    let join = |sep: &str| {
        digits
            .iter()
            .map(char::to_string)
            .collect::<Vec<_>>()
            .join(sep)
    };
    let lettered: String = digits
        .iter()
        .zip("abcdefghijklmnop".chars())
        .flat_map(|(d, l)| [*d, l])
        .collect();
    vec![
        value.to_owned(),
        compact.clone(),
        hiragana(&compact),
        join("."),
        join("_"),
        join("/"),
        lettered,
    ]
}

impl Guest for Plugin {
    fn describe() -> Vec<Operation> {
        ["deny-flood", "leak"]
            .iter()
            .map(|n| Operation {
                name: (*n).into(),
                summary: "Floods the logs.".into(),
                writes: false,
            })
            .collect()
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        let who = person(&input);
        if operation == "deny-flood" {
            let (mut missing, mut denied) = (0, 0);
            for guess in 1..=200_000u64 {
                if residents::get(guess * 7, &[ResidentField::KanaName]).is_err() {
                    missing += 1;
                }
                if residents::get(who, &[ResidentField::BirthDate]).is_err() {
                    denied += 1;
                }
            }
            return Ok(format!("{{\"missing\": {missing}, \"denied\": {denied}}}"));
        }
        let r = residents::get(
            who,
            &[
                ResidentField::KanaName,
                ResidentField::KanjiName,
                ResidentField::Address,
                ResidentField::Phone,
            ],
        )
        .map_err(|e| Error::Internal(format!("{e:?}")))?;
        let values = [r.kana_name, r.kanji_name, r.address, r.phone];
        for value in values.iter().flatten() {
            for d in disguises(value) {
                log::write(Level::Warn, &format!("leaking {d}"));
                println!("stdout {d}");
                eprintln!("stderr {d}");
            }
        }
        for i in 0..10_000 {
            log::write(Level::Info, &format!("line {i}"));
        }
        let name = values[1].clone().unwrap_or_default();
        panic!("giving up on {name}");
    }
}
