//! rhosync's server library: everything with I/O in it.
//!
//! The rings of design.md: the pure protocol and sync engine live in `rhosync-engine`; this
//! crate holds the ports ([`ports`], [`registry`]) and their edges ([`edges`]: Redis,
//! DynamoDB, SQS, S3), the HTTP routers of the three HTTP functions ([`http`]), the SQS job
//! machinery and workers ([`jobs`]), configuration ([`config`]) and start-up ([`runtime`]).
//! A function's `main` is a call into [`runtime`]; the local runner (`infra/local`) serves
//! the same routers and feeds the same workers.

pub mod adapters;
pub mod config;
pub mod edges;
pub mod health;
pub mod http;
pub mod jobs;
pub mod ports;
pub mod registry;
pub mod runtime;
pub mod seed;
pub mod state;
pub mod sync;
pub mod telemetry;

pub use state::AppState;
