//! Routes of the `api` function: the REST API for backends and admins (rest-api.md).

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/health/api", crate::health::route("api"))
}
