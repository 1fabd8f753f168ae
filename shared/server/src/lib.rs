//! rhosync's server library: everything with I/O in it.
//!
//! The rings of docs/README.md §3: the pure protocol and sync engine live in `rhosync-engine`; this
//! crate holds the ports ([`ports`], [`registry`]) and their edges ([`edges`]: Redis,
//! DynamoDB, SQS, S3), the store ([`store`]: the only code that talks to Redis), the HTTP
//! routers of the three HTTP functions ([`http`]), the SQS job machinery and workers
//! ([`jobs`]), configuration ([`config`]) and start-up ([`runtime`]). A function's `main` is
//! a call into [`runtime`]; the local runner (`infra/local`) serves the same routers and
//! feeds the same workers. Session cookies and tokens ([`auth`]) sit below both the routers
//! and the sync services, which use them.
//!
//! No module imports a module that imports it, directly or through others:
//! `tests/tests/module_graph.rs` checks it.

pub mod adapters;
pub mod auth;
pub mod bulk;
pub mod config;
pub mod edges;
pub mod health;
pub mod http;
pub mod import;
pub mod jobs;
pub mod ports;
pub mod push;
pub mod registry;
pub mod runtime;
pub mod seed;
pub mod state;
pub mod stats;
pub mod store;
pub mod sync;
pub mod telemetry;

pub use state::AppState;
