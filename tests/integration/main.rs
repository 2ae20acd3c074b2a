//! Integration tests: the real host, the real plugin components built for
//! wasm32-wasip2, real redb files in temp dirs, and the real `kiroku`
//! binary on loopback ports. Run with `cargo xtask test`.

mod api;
mod audit;
mod bad_input;
mod campaigns;
mod certificate_applications;
mod certificates;
mod cli;
mod cohort_facts;
mod console;
mod crash_loop;
mod deadlines;
mod disk_full;
mod dose_entry;
mod dose_import;
mod federation;
mod federation_nodes;
mod fences;
mod host_cost;
mod hsm;
mod identity;
mod log_volume;
mod many_tenants;
mod model;
mod operations;
mod oracles;
mod policy_cases;
mod readme;
mod reports;
mod resident_sync;
mod retention;
mod shutdown;
mod storage;
mod subject_rights;
mod support;
mod tls;
mod torn_files;
mod vendor;
