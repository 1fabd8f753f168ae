//! Who a request is: the signed session cookie ([`session`]), RhoConnect's own session cookie
//! accepted once after a migration ([`legacy_cookie`], over the Marshal subset of
//! [`ruby_marshal`]), random tokens ([`tokens`]) and
//! the rules that slow down password guessing ([`throttle`], whose counters the store keeps
//! behind a small port).
//!
//! Neutral ground between the HTTP routers and the sync services: both check and issue
//! sessions, and neither should reach into the other to do it. Depends only on
//! [`crate::config`] and crates.

pub mod legacy_cookie;
pub mod ruby_marshal;
pub mod session;
pub mod throttle;
pub mod tokens;
