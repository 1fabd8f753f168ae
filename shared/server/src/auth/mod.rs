//! Who a request is: the signed session cookie ([`session`]) and random tokens ([`tokens`]).
//!
//! Neutral ground between the HTTP routers and the sync services: both check and issue
//! sessions, and neither should reach into the other to do it. Depends only on
//! [`crate::config`] and crates.

pub mod session;
pub mod tokens;
