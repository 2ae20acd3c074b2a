//! Pure rules shared by the host and the plugins: check digits of My Numbers,
//! local government codes and tickets, calendar dates, and the normalisation
//! of names for lookup, the vaccine makers' vocabulary, and safe error
//! text. No I/O, so it compiles the same for wasm32-wasip2.

pub mod date;
pub mod local_gov_code;
pub mod my_number;
pub mod normalize;
pub mod person;
pub mod safe_text;
pub mod ticket;
pub mod vaccine;

pub use date::Date;
