//! The shared rules every way of entering data goes through: dates, My
//! Numbers, ticket numbers, makers, field names in messages.
#![no_main]

use kiroku_rules::{Date, my_number, safe_text, ticket, vaccine};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = Date::parse(text) {
        assert_eq!(Date::parse(&d.to_string()).unwrap(), d);
    }
    let _ = my_number::validate(text);
    let _ = ticket::validate(text);
    if let Some(m) = vaccine::maker(text) {
        assert_eq!(vaccine::maker(m.id).map(|n| n.id), Some(m.id));
    }
    let name = safe_text::field_name(text);
    assert!(safe_text::is_field_name(name) || name == safe_text::UNNAMED);
    let message = safe_text::serde_message(text);
    assert!(message.len() <= text.len() + 64);
});
