//! `rhosync-bench`: the project's load generator.
//!
//! Simulated devices talk to a running rhosync (the local runner) over real HTTP — login,
//! clientcreate, paged initial sync with acknowledgements, creates/updates/deletes, and
//! incremental syncs after backend pushes through the REST API — while the runner's CPU
//! (from `/proc`) and Redis memory (`INFO memory`) are read around each scenario. A floor
//! (a bare HTTP handler doing one Redis round trip, [`floor`]) is measured in the same run,
//! so results are ratios that hold across machines. See [`scenarios`] for what each
//! scenario does and which target it checks.

pub mod bulk_floor;
pub mod client;
pub mod data;
pub mod fake;
pub mod floor;
pub mod lambda;
pub mod measure;
pub mod push;
pub mod report;
pub mod scenarios;

pub use scenarios::{run, Config, BENCH_SETTINGS};
