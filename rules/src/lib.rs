//! Pure rules shared by the host and the plugins: check digits of My Numbers
//! and local government codes, and calendar dates. No I/O, no allocation
//! beyond what a caller asks for, so it compiles the same for wasm32-wasip2.

pub mod date;
pub mod local_gov_code;
pub mod my_number;
pub mod ticket;

pub use date::Date;
