//! Routes of the `api` function: the REST API for backends and admins (rest-api.md).
//!
//! Split by what the routes touch: [`data`] reads and writes sync documents (store,
//! read state, backend pushes); the other modules manage the registry and the system.

pub mod data;

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/health/api", crate::health::route("api")).merge(data::routes())
}
