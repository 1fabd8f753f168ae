//! Routes of the `console` function: what the static console needs beyond the REST API
//! (docs/deploy.md §9). Everything else the console does goes through the REST API with
//! the admin token.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/health/console", crate::health::route("console")).route("/console/info", get(info))
}

/// Server version, the sync URL devices use and whether statistics are on.
async fn info(State(state): State<AppState>) -> Json<serde_json::Value> {
    let app = &state.config.settings.app;
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "sync_server": app.syncserver.clone().unwrap_or_default(),
        "stats": app.stats,
    }))
}
