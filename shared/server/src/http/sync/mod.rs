//! Routes of the `sync` function: the device protocol (docs/device-protocol.md), both route
//! families from one implementation. Every legacy alias (`/application…`,
//! `/api/application…`) answers exactly like its v1 route plus the `Warning` header
//! (docs/device-protocol.md §2.5). Checks run in the order of docs/device-protocol.md §2.6: body
//! parsing (the extractor), session, source, client, handler.

mod bulk;
mod handlers;
pub mod legacy_session;

use axum::routing::{get, post, put};
use axum::Router;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    use handlers::*;
    Router::new()
        .route("/health/sync", crate::health::route("sync"))
        .route("/rc/v1/app/login", post(login))
        .route("/application/clientlogin", post(login))
        .route("/api/application/clientlogin", post(login))
        .route("/rc/v1/clients", post(client_create))
        .route("/application/clientcreate", get(client_create))
        .route("/api/application/clientcreate", get(client_create))
        .route("/rc/v1/clients/{client_id}/register", post(client_register))
        .route("/application/clientregister", post(client_register))
        .route("/api/application/clientregister", post(client_register))
        .route("/rc/v1/clients/{client_id}/reset", post(client_reset))
        .route("/application/clientreset", get(client_reset))
        .route("/api/application/clientreset", get(client_reset))
        .route("/app/v1/{source}", get(query).post(changes))
        .route("/application", get(query).post(changes))
        .route("/api/application", get(query).post(changes))
        .route("/api/application/query", get(query))
        .route("/api/application/queue_updates", post(changes))
        .route("/app/v1/{source}/{id}", put(update_one).delete(delete_one))
        .route("/rc/v1/app/search", post(search))
        .route("/application/search", get(search))
        .route("/api/application/search", get(search))
        .route("/rc/v1/app/bulk_data", post(bulk::bulk_data))
        .route("/application/bulk_data", get(bulk::bulk_data))
        .route("/api/application/bulk_data", get(bulk::bulk_data))
        .route("/data/{*path}", get(bulk::data_file))
}
