//! The OpenAPI 3.1 description of the v1 REST API, generated from the handlers'
//! `#[utoipa::path]` annotations (and, for the document routes of [`super::data`], from
//! [`super::openapi_data`]), served at `GET /rc/v1/openapi.json` without a token.
//!
//! The body schemas below only describe what clients send; handlers read parameters
//! through [`crate::http::ApiRequest`], which also accepts forms and Rack nesting
//! (rest-api.md §1.2). Legacy aliases are not described: they are the same operations.

use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{clients, openapi_data, reply, sources, system, users};
use crate::AppState;

/// Where the description is served.
pub const PATH: &str = "/rc/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(title = "rhosync REST API", description = "RhoConnect-compatible admin and backend API, v1 forms (rest-api.md)."),
    paths(
        system::login, system::license, system::reset, system::get_appserver, system::set_appserver,
        system::stats, system::rps_login,
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
    ),
    modifiers(&TokenScheme),
    tags(
        (name = "system", description = "Login, reset, app server, stats"),
        (name = "users", description = "Users, their clients, ping"),
        (name = "clients", description = "Client records and documents"),
        (name = "sources", description = "Source settings"),
        (name = "store", description = "Documents by RhoConnect name, read state"),
        (name = "push", description = "Backend data pushes"),
    )
)]
pub struct ApiDoc;

/// The `X-RhoConnect-API-TOKEN` header (rest-api.md §1.3).
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

// ----- request and response shapes (documentation only) -----------------------------

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoginBody {
    pub login: String,
    pub password: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct License {
    pub rhoconnect_version: String,
    pub licensee: String,
    pub seats: i64,
    pub issued: String,
    pub available: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Appserver {
    pub adapter_url: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AppserverBody {
    pub adapter_url: Option<String>,
    pub attributes: Option<Appserver>,
}

/// One entry of a record listing (users, clients, sources).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Field {
    pub name: String,
    #[schema(rename = "type")]
    pub kind: String,
    pub value: Value,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserAttributes {
    pub login: String,
    pub password: Option<String>,
    pub email: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CreateUserBody {
    pub attributes: UserAttributes,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserUpdate {
    pub password: Option<String>,
    pub new_password: Option<String>,
    pub email: Option<String>,
    pub admin: Option<i64>,
    pub token: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UpdateUserBody {
    pub attributes: UserUpdate,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PingBody {
    pub user_id: Vec<String>,
    pub sources: Option<Vec<String>>,
    pub message: Option<String>,
    pub badge: Option<String>,
    pub sound: Option<String>,
    pub vibrate: Option<String>,
    #[schema(rename = "async")]
    pub run_async: Option<bool>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SourceFields {
    pub url: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
    pub partition_type: Option<String>,
    pub sync_type: Option<String>,
    pub priority: Option<i64>,
    pub retry_limit: Option<i64>,
    pub simulate_time: Option<i64>,
    pub poll_interval: Option<i64>,
    pub push_notify: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UpdateSourceBody {
    pub data: SourceFields,
    pub user_name: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SetDocBody {
    /// An object map, an array, a string, or null (deletes the document).
    pub data: Value,
    pub append: Option<bool>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReadStateBody {
    pub refresh_time: Option<i64>,
    pub poll_interval: Option<i64>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PushObjectsBody {
    pub user_id: String,
    /// Object id → attributes.
    pub objects: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    pub rebuild_md: Option<bool>,
    pub timeout: Option<i64>,
    pub raise_on_expire: Option<bool>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PushDeletesBody {
    pub user_id: String,
    pub objects: Vec<String>,
    pub rebuild_md: Option<bool>,
    pub timeout: Option<i64>,
    pub raise_on_expire: Option<bool>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FastBody {
    pub user_id: String,
    pub data: Option<std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>>,
    pub delete_data: Option<std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>>,
    pub timeout: Option<i64>,
    pub raise_on_expire: Option<bool>,
}
