//! The OpenAPI 3.1 description of the v1 REST API, generated from the handlers'
//! `#[utoipa::path]` annotations (and, for the document routes of [`super::data`], from
//! [`super::openapi_data`]), served at `GET /rc/v1/openapi.json` without a token.
//!
//! The body schemas the annotations name are in [`super::schemas`]. Legacy aliases are not
//! described: they are the same operations.

use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{bulk, clients, import, jobs, openapi_data, reply, sources, system, users};
use crate::AppState;

/// Where the description is served.
pub const PATH: &str = "/rc/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(title = "rhosync REST API", description = "RhoConnect-compatible admin and backend API, v1 forms (docs/rest-api.md)."),
    paths(
        system::login, system::license, system::reset, system::get_appserver, system::set_appserver,
        system::stats, system::rps_login, import::import_batch,
        users::list_users, users::show_user, users::create_user, users::update_user, users::delete_user,
        users::list_clients, users::delete_client, users::ping,
        clients::show_client,
        sources::list_sources, sources::show_source, sources::update_source,
        openapi_data::get_doc, openapi_data::set_doc,
        openapi_data::user_docnames, openapi_data::get_user_doc, openapi_data::set_user_doc,
        openapi_data::client_docnames, openapi_data::get_client_doc, openapi_data::set_client_doc,
        openapi_data::set_read_state,
        openapi_data::push_objects, openapi_data::push_deletes,
        openapi_data::fast_insert, openapi_data::fast_update, openapi_data::fast_delete,
        bulk::user_record, bulk::app_record,
        jobs::overview, jobs::dead_letters, jobs::replay, jobs::discard,
        jobs::rejected_writes, jobs::retry_rejected, jobs::dismiss_rejected,
    ),
    modifiers(&TokenScheme),
    tags(
        (name = "system", description = "Login, reset, app server, stats"),
        (name = "users", description = "Users, their clients, ping"),
        (name = "clients", description = "Client records and documents"),
        (name = "sources", description = "Source settings"),
        (name = "store", description = "Documents by RhoConnect name, read state"),
        (name = "push", description = "Backend data pushes"),
        (name = "bulk", description = "Bulk-data records: state and progress"),
        (name = "jobs", description = "Job queues, dead letters, rejected client writes (console)"),
    )
)]
pub struct ApiDoc;

/// The `X-RhoConnect-API-TOKEN` header (docs/rest-api.md §1.3).
struct TokenScheme;

impl Modify for TokenScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-RhoConnect-API-TOKEN"))),
        );
    }
}

/// The description as JSON.
pub fn document() -> Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null)
}

pub fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(serve))
}

async fn serve() -> Response {
    reply::json(&document())
}
