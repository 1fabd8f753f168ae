//! placeholder
pub mod diff;
pub mod model;
pub mod values;
