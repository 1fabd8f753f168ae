//! Routes of the `sync` function: the device protocol (sync-protocol.md).

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/health/sync", crate::health::route("sync"))
}
