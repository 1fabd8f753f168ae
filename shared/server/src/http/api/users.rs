//! `/rc/v1/users*` except the user source-document routes (docs/rest-api.md §6.1–6.5, §6.7):
//! list, show, create, update, delete users; a user's clients; ping.
//!
//! A ping is validated here and enqueued on the push queue as a [`Job::Ping`] without the
//! API token (docs/rest-api.md §6.7); the push worker sends it (docs/push.md §1).

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::{json, Value};

use super::input::{param, scalar, MAX_ID_BYTES};
use super::reply;
use crate::http::admin::AdminRequest;
use crate::http::HttpError;
use crate::ports::jobs::{Job, JobMessage};
use crate::ports::Queue;
use crate::registry::cache::{self, Counter};
use crate::registry::{password, User};
use crate::AppState;

/// The partition name reserved for app-partitioned data (docs/rest-api.md §10).
pub const SHARED_PARTITION: &str = "__shared__";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rc/v1/users", get(list_users).post(create_user))
        .route("/rc/v1/users/ping", post(ping))
        .route("/rc/v1/users/{user_id}", get(show_user).put(update_user).delete(delete_user))
        .route("/rc/v1/users/{user_id}/clients", get(list_clients))
        .route("/rc/v1/users/{user_id}/clients/{client_id}", delete(delete_client))
}

/// U1: the app's user logins, sorted; `rhoadmin` is not one of them.
#[utoipa::path(get, path = "/rc/v1/users", tag = "users", security(("api_token" = [])),
    responses(
        (status = 200, description = "JSON array of logins", body = Vec<String>),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
    ))]
pub async fn list_users(State(state): State<AppState>, _admin: AdminRequest) -> Result<Response, HttpError> {
    let mut users = state.registry().users().await?;
    users.sort();
    Ok(reply::json(&json!(users)))
}

/// U2: the user record as `{"name","type","value"}` entries (docs/rest-api.md §6.1); the hash
/// and salt are never shown.
#[utoipa::path(get, path = "/rc/v1/users/{user_id}", tag = "users", security(("api_token" = [])),
    params(("user_id" = String, Path, description = "Login")),
    responses(
        (status = 200, description = "Field array", body = Vec<super::schemas::Field>),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown user '<id>'`", body = String, content_type = "text/plain"),
    ))]
pub async fn show_user(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    let registry = state.registry();
    let user = registry.user(&user_id).await?.ok_or_else(|| HttpError::UnknownUser(user_id.clone()))?;
    let mut clients = registry.clients_of(&user.login).await?;
    clients.sort();
    let token = registry.user_token(&user.login).await?;
    let field = |name: &str, kind: &str, value: Value| json!({"name": name, "type": kind, "value": value});
    Ok(reply::json(&json!([
        field("rho__id", "string", json!(user.login)),
        field("login", "string", json!(user.login)),
        field("email", "string", json!(user.email)),
        field("salt", "string", Value::Null),
        field("hashed_password", "string", Value::Null),
        field("clients", "set", json!(clients)),
        field("admin", "integer", if user.admin { json!(1) } else { Value::Null }),
        field("token_id", "string", json!(token)),
    ])))
}

/// Why a user could not be created (docs/rest-api.md §6.2).
#[derive(Debug, thiserror::Error)]
enum CreateError {
    #[error("Missing attributes")]
    MissingAttributes,
    #[error("Empty login")]
    EmptyLogin,
    #[error("Reserved user id __shared__")]
    Reserved,
    #[error("Record already exists for '{0}'")]
    Exists(String),
    #[error("Login longer than {MAX_ID_BYTES} bytes")]
    TooLong,
}

impl From<CreateError> for HttpError {
    fn from(err: CreateError) -> Self {
        match err {
            CreateError::TooLong => HttpError::BadRequest(err.to_string()),
            // RhoConnect answers these with 500 and scripts match the texts.
            other => HttpError::Internal(other.to_string()),
        }
    }
}

/// U3: creates an app user with a password (empty when absent).
#[utoipa::path(post, path = "/rc/v1/users", tag = "users", security(("api_token" = [])),
    request_body(content = super::schemas::CreateUserBody, content_type = "application/json"),
    responses(
        (status = 200, description = "`User created`", body = String, content_type = "text/plain"),
        (status = 400, description = "Login too long", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Missing attributes`, `Empty login`, `Reserved user id __shared__`, `Record already exists for '<login>'`", body = String, content_type = "text/plain"),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let attributes = req.params.get("attributes").and_then(Value::as_object).ok_or(CreateError::MissingAttributes)?;
    let login = attributes.get("login").and_then(scalar).unwrap_or_default();
    if login.is_empty() {
        return Err(CreateError::EmptyLogin.into());
    }
    if login == SHARED_PARTITION {
        return Err(CreateError::Reserved.into());
    }
    if login.len() > MAX_ID_BYTES {
        return Err(CreateError::TooLong.into());
    }
    let pass = attributes.get("password").and_then(scalar).unwrap_or_default();
    let email = attributes.get("email").and_then(scalar);
    let user = User { login: login.clone(), password_hash: Some(password::hash(&pass)), email, admin: false };
    if !state.registry().create_user(&user).await? {
        return Err(CreateError::Exists(login).into());
    }
    cache::bump(&*state.sync.store, state.config.settings.app.stats, Counter::Users, 1).await?;
    Ok(reply::text("User created"))
}

/// U4: applies `attributes` in order; an unknown attribute fails after the ones before it
/// were applied (docs/rest-api.md §6.3).
#[utoipa::path(put, path = "/rc/v1/users/{user_id}", tag = "users", security(("api_token" = [])),
    params(("user_id" = String, Path, description = "Login")),
    request_body(content = super::schemas::UpdateUserBody, content_type = "application/json"),
    responses(
        (status = 200, description = "`User updated`", body = String, content_type = "text/plain"),
        (status = 400, description = "Token empty, too long or owned by another user", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown user '<id>'` or ``undefined method `<attr>=' for Rhoconnect::User``", body = String, content_type = "text/plain"),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let registry = state.registry();
    let mut user = registry.user(&user_id).await?.ok_or_else(|| HttpError::UnknownUser(user_id.clone()))?;
    let empty = serde_json::Map::new();
    let attributes = req.params.get("attributes").and_then(Value::as_object).unwrap_or(&empty);
    let mut changed = false;
    let mut failure = None;
    for (name, value) in attributes {
        let text = scalar(value).unwrap_or_default();
        match name.as_str() {
            "login" => {}
            "password" | "new_password" => {
                user.password_hash = Some(password::hash(&text));
                changed = true;
            }
            "email" => {
                user.email = scalar(value);
                changed = true;
            }
            "admin" => {
                user.admin = rhosync_engine::params::lenient_int(Some(value)) == 1;
                changed = true;
            }
            "token" => {
                if let Err(err) = set_token(&state, &user.login, &text).await {
                    failure = Some(err);
                    break;
                }
            }
            other => {
                failure = Some(HttpError::Internal(format!("undefined method `{other}=' for Rhoconnect::User")));
                break;
            }
        }
    }
    if changed {
        registry.put_admin(&user).await?;
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(reply::text("User updated")),
    }
}

/// Gives `login` exactly the token `value`, refusing values another user holds.
async fn set_token(state: &AppState, login: &str, value: &str) -> Result<(), HttpError> {
    if value.is_empty() || value.len() > MAX_ID_BYTES {
        return Err(HttpError::BadRequest(format!("token must be 1 to {MAX_ID_BYTES} bytes")));
    }
    let registry = state.registry();
    match registry.token_user(value).await? {
        Some(owner) if owner != login => Err(HttpError::BadRequest("token already in use".into())),
        _ => Ok(registry.set_user_token(login, value).await?),
    }
}

/// U5: deletes the user with its clients and token (docs/rest-api.md §6.4).
#[utoipa::path(delete, path = "/rc/v1/users/{user_id}", tag = "users", security(("api_token" = [])),
    params(("user_id" = String, Path, description = "Login")),
    responses(
        (status = 200, description = "`User deleted`", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown user '<id>'`", body = String, content_type = "text/plain"),
    ))]
pub async fn delete_user(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    let registry = state.registry();
    if registry.user(&user_id).await?.is_none() {
        return Err(HttpError::UnknownUser(user_id));
    }
    let clients = registry.clients_of(&user_id).await?;
    registry.delete_user(&user_id).await?;
    // Void the user's device sessions at once (docs/device-protocol.md §2.4), not after the cache TTL.
    crate::sync::sessions::user_deleted(&state.sync, &user_id).await?;
    super::purge::user_documents(&state, &user_id, &clients).await?;
    for _ in &clients {
        cache::bump(&*state.sync.store, state.config.settings.app.stats, Counter::Clients, -1).await?;
    }
    cache::bump(&*state.sync.store, state.config.settings.app.stats, Counter::Users, -1).await?;
    Ok(reply::text("User deleted"))
}

/// U6: the user's client ids, sorted.
#[utoipa::path(get, path = "/rc/v1/users/{user_id}/clients", tag = "users", security(("api_token" = [])),
    params(("user_id" = String, Path, description = "Login")),
    responses(
        (status = 200, description = "JSON array of client ids", body = Vec<String>),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown user '<id>'`", body = String, content_type = "text/plain"),
    ))]
pub async fn list_clients(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    let registry = state.registry();
    if registry.user(&user_id).await?.is_none() {
        return Err(HttpError::UnknownUser(user_id));
    }
    let mut clients = registry.clients_of(&user_id).await?;
    clients.sort();
    Ok(reply::json(&json!(clients)))
}

/// U7: deletes a client, whichever user it belongs to (docs/rest-api.md §6.5).
#[utoipa::path(delete, path = "/rc/v1/users/{user_id}/clients/{client_id}", tag = "users", security(("api_token" = [])),
    params(("user_id" = String, Path, description = "Login (not checked)"), ("client_id" = String, Path, description = "Client id")),
    responses(
        (status = 200, description = "`Client deleted`", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown client`", body = String, content_type = "text/plain"),
    ))]
pub async fn delete_client(
    State(state): State<AppState>,
    Path((_user_id, client_id)): Path<(String, String)>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    let registry = state.registry();
    let client = registry.client(&client_id).await?.ok_or(HttpError::UnknownClient)?;
    registry.delete_client(&client_id).await?;
    super::purge::client_documents(&state, &client.user_id, &client_id).await?;
    cache::bump(&*state.sync.store, state.config.settings.app.stats, Counter::Clients, -1).await?;
    Ok(reply::text("Client deleted"))
}

/// U11: validates the ping parameters and enqueues one ping job (docs/rest-api.md §6.7, docs/jobs.md §5).
#[utoipa::path(post, path = "/rc/v1/users/ping", tag = "users", security(("api_token" = [])),
    request_body(content = super::schemas::PingBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Queued (empty body)", body = String, content_type = "text/plain"),
        (status = 400, description = "`user_id` or `sources` of the wrong shape", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
    ))]
pub async fn ping(State(state): State<AppState>, AdminRequest(req): AdminRequest) -> Result<Response, HttpError> {
    let users = string_list(req.params.get("user_id"), "user_id")?;
    let sources = match req.params.get("sources") {
        None | Some(Value::Null) => param(&req, "source_id").into_iter().collect(),
        some => string_list(some, "sources")?,
    };
    if users.is_empty() {
        return Ok(reply::empty());
    }
    let job = Job::Ping {
        users,
        message: param(&req, "message"),
        sources,
        badge: param(&req, "badge"),
        sound: param(&req, "sound"),
        vibrate: param(&req, "vibrate").unwrap_or_default(),
        origin: Some("api".into()),
    };
    let message = JobMessage::with_fresh_id(job);
    state.queue().send(Queue::Push, &message).await.map_err(|e| HttpError::internal("push queue", e))?;
    Ok(reply::empty())
}

/// A string or an array of scalars as a list of strings (docs/rest-api.md §6.7: a string is one
/// login, never split on commas).
fn string_list(value: Option<&Value>, name: &str) -> Result<Vec<String>, HttpError> {
    let wrong = || HttpError::BadRequest(format!("{name} must be a string or an array of strings"));
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(|v| scalar(v).ok_or_else(wrong)).collect(),
        Some(other) => scalar(other).map(|s| vec![s]).ok_or_else(wrong),
    }
}
