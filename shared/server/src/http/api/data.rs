//! REST routes over sync documents: store get/set by RhoConnect document name, read state,
//! and the backend data pushes (`push_objects`, `push_deletes`, `fast_*`).

use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
