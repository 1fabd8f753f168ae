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

/// One queue of `GET /rc/v1/system/jobs`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct QueueRow {
    /// `adapter`, `push` or `bulk`.
    pub name: String,
    pub depth: u64,
    pub in_flight: u64,
    /// `{"depth": n}`: messages in the queue's DLQ.
    pub dead_letter: Value,
}

/// One bulk-data build of `GET /rc/v1/system/jobs`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BulkRow {
    pub name: String,
    /// `user` or `app`.
    pub partition: String,
    pub user: Option<String>,
    /// `queued`, `refreshing`, `writing`, `uploading`, `done` or `failed`.
    pub state: String,
    pub progress: String,
    pub error: Option<String>,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

/// One ping's result of `GET /rc/v1/system/jobs`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PingRow {
    pub id: String,
    pub at: String,
    pub users: Vec<String>,
    pub message: Option<String>,
    pub sent: u64,
    pub failed: u64,
    pub pruned: u64,
    pub retrying: u64,
    /// Platform → `{"sent", "failed", "pruned", "retrying"}`.
    pub platforms: Value,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct JobsOverview {
    pub queues: Vec<QueueRow>,
    /// Most recent first, at most 50.
    pub bulk: Vec<BulkRow>,
    /// Most recent first, at most 50.
    pub pings: Vec<PingRow>,
}

/// One DLQ message.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeadLetterRow {
    /// The SQS message id (what replay and discard take).
    pub id: String,
    /// The job kind: `refresh`, `cud`, `ping`, `push_chunk`, `bulk` (`unknown` when the body is not a job).
    pub kind: String,
    pub source: Option<String>,
    pub user: Option<String>,
    pub client: Option<String>,
    /// The last error a worker recorded for it.
    pub error: Option<String>,
    pub receive_count: u64,
    /// RFC 3339 UTC.
    pub sent_at: String,
    /// The job message as JSON.
    pub body: Value,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MessageIds {
    pub ids: Vec<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Replayed {
    pub replayed: u64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Discarded {
    pub discarded: u64,
}

/// One rejected client write record.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RejectedWriteRow {
    pub source: String,
    pub user: String,
    pub client: String,
    /// `create`, `update` or `delete`.
    pub op: String,
    pub object: String,
    pub attributes: Value,
    pub error: String,
}

/// The records a retry or dismiss names.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RejectedSelection {
    pub source: String,
    pub user: String,
    pub client: String,
    /// `create`, `update` or `delete`.
    pub op: String,
    pub objects: Vec<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Retried {
    pub retried: u64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Dismissed {
    pub dismissed: u64,
}

/// One user of an import batch (docs/rest-api.md §4.7).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImportUser {
    pub login: String,
    pub email: Option<String>,
    /// 40 hex characters: SHA-1 of password + salt, as RhoConnect stored it.
    pub hashed_password: Option<String>,
    pub salt: Option<String>,
    pub admin: Option<bool>,
    /// An admin's API token value, kept as it is.
    pub token: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImportClient {
    pub id: String,
    pub user_id: String,
    /// `application` (the default).
    pub app_id: Option<String>,
    /// Device fields: `device_type`, `device_push_type`, `device_pin`, `device_port`,
    /// `phone_id`, `device_app_id`, `device_app_version`.
    pub device: Option<std::collections::BTreeMap<String, String>>,
    pub last_sync: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImportSource {
    pub name: String,
    pub poll_interval: i64,
}

/// `POST /rc/v1/system/import` (docs/rest-api.md §4.7).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImportBody {
    pub users: Option<Vec<ImportUser>>,
    pub clients: Option<Vec<ImportClient>>,
    pub sources: Option<Vec<ImportSource>>,
    /// The app server URL; absent: left as it is.
    pub appserver: Option<String>,
    /// Check and count only.
    pub dry_run: Option<bool>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImportTally {
    pub created: u64,
    pub unchanged: u64,
    pub updated: u64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImportReport {
    pub users: ImportTally,
    pub tokens: ImportTally,
    pub clients: ImportTally,
    pub sources: ImportTally,
    pub appserver: ImportTally,
    pub skipped: Vec<String>,
    pub dry_run: bool,
}
