//! Routes of the `api` function: the REST API for backends and admins (docs/rest-api.md).
//!
//! Split by what the routes touch: [`data`] reads and writes sync documents (store, read
//! state, user/client documents, backend pushes); [`system`], [`users`], [`clients`] and
//! [`sources`] manage the system, the registry and source settings; [`import`] takes the
//! records of a RhoConnect deployment; [`bulk`] shows bulk-data
//! records; [`jobs`] the console's job queues, dead letters and rejected writes; [`legacy`] serves every
//! pre-v1 alias by rewriting it into its v1 request; [`openapi`] describes the v1 API.
//! [`input`] and [`reply`] hold the parameter and response conventions
//! (docs/rest-api.md §1.2, §1.4); [`purge`] drops a deleted user's or client's cached
//! documents; [`schemas`] holds the body shapes [`openapi`] describes.

pub mod bulk;
pub mod clients;
pub mod data;
pub mod import;
pub mod input;
pub mod jobs;
pub mod legacy;
pub mod openapi;
pub mod openapi_data;
pub mod purge;
pub mod reply;
pub mod schemas;
pub mod sources;
pub mod system;
pub mod users;

use axum::Router;

use crate::http::HttpError;
use crate::state::AppState;

/// The v1 routes (what legacy aliases dispatch into).
pub fn v1_routes() -> Router<AppState> {
    Router::new()
        .merge(system::routes())
        .merge(import::routes())
        .merge(users::routes())
        .merge(clients::routes())
        .merge(sources::routes())
        .merge(openapi::routes())
        .merge(data::routes())
        .merge(bulk::routes())
        .merge(jobs::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
}

pub fn routes() -> Router<AppState> {
    let v1 = v1_routes();
    Router::new()
        .route("/health/api", crate::health::route("api"))
        .merge(legacy::routes(v1.clone()))
        .merge(v1)
        .method_not_allowed_fallback(not_found)
}

/// Unknown routes and unsupported methods alike: `404 Not Found` (docs/rest-api.md §1.4).
async fn not_found() -> HttpError {
    HttpError::NotFound
}
