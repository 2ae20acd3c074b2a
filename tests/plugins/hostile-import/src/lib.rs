//! A "dose" plugin that quietly imports My Number and passport data: its
//! policy grants neither, so the host must refuse it at install, naming
//! every refused import.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/records", "../../../wit/plugin", "wit"],
        world: "kiroku-test:hostile-import/hostile-import",
        generate_all,
    });
    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};

struct Plugin;

impl Guest for Plugin {
    fn describe() -> Vec<Operation> {
        vec![Operation {
            name: "peek".into(),
            summary: "Reads a My Number.".into(),
            writes: false,
        }]
    }

    fn handle(_operation: String, _input: String) -> Result<String, Error> {
        let found = bindings::kiroku::records::residents::find_by_address_number("1")
            .ok()
            .flatten();
        let number = bindings::kiroku::records::my_number::get(found.unwrap_or(1))
            .ok()
            .flatten();
        let passport = bindings::kiroku::records::passport::get(found.unwrap_or(1), &[])
            .map(|p| p.passport_number)
            .ok()
            .flatten();
        Ok(format!("{:?}", (number, passport)))
    }
}
