//! Routes of the `console` function: what the static console needs beyond the REST API.

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/health/console", crate::health::route("console"))
}
