//! Request and response shapes of the v1 REST API, for its OpenAPI description only
//! ([`super::openapi`]): the handlers' `#[utoipa::path]` annotations name them. They only
//! describe what clients send; handlers read parameters through
//! [`crate::http::ApiRequest`], which also accepts forms and Rack nesting (docs/rest-api.md §1.2).
//!
//! They live apart from [`super::openapi`], which imports every handler module, so that the
//! handlers can name them without importing the module that imports them.

use serde_json::Value;
use utoipa::ToSchema;

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
