//! The device route handlers.

use axum::extract::{RawPathParams, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rhosync_engine::page::Page;
use rhosync_engine::params;
use rhosync_engine::wire::{page_headers, search_headers, search_response, write_query_response};
use serde_json::{json, Value};

use crate::auth::session::{self, Session, APP_NAME, COOKIE_NAME, LEGACY_COOKIE_NAME};
use crate::http::error::HttpError;
use crate::http::request::{deprecation_warning, DeviceRequest, Parsed};
use crate::http::throttle::{self, SourceAddr};
use crate::registry::ClientRecord;
use crate::sync::clients::{self, LoginOutcome};
use crate::sync::cud::{self, CudOps};
use crate::sync::query as query_svc;
use crate::sync::{search as search_svc, sessions, SourceCtx};
use crate::AppState;

/// Header carrying the client id (docs/device-protocol.md §2.2).
use crate::http::request::CLIENT_ID_HEADER;

fn is_legacy(req: &Parsed) -> bool {
    let path = req.uri.path();
    path.starts_with("/application") || path.starts_with("/api/application")
}

/// Adds the legacy `Warning` header where it belongs.
fn finish(req: &Parsed, mut response: Response) -> Response {
    if is_legacy(req) {
        if let Ok(v) = HeaderValue::from_str(&deprecation_warning(&req.method, req.uri.path())) {
            response.headers_mut().insert(header::WARNING, v);
        }
    }
    response
}

pub(super) fn respond(req: &Parsed, result: Result<Response, HttpError>) -> Response {
    finish(req, result.unwrap_or_else(IntoResponse::into_response))
}

fn empty_ok() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "").into_response()
}

pub(super) fn json_ok(body: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The session the request carries if its signature is ours and it has not expired, else
/// 401 `Not authenticated` (docs/device-protocol.md §2.4). Whether its user still exists is
/// checked separately ([`session_login`], or folded into the query route's first read).
fn signed_session(state: &AppState, req: &Parsed) -> Result<Session, HttpError> {
    let app = &state.config.settings.app;
    let mut candidates = Vec::new();
    if let Some(cookie) = req.header("cookie") {
        candidates.extend(session::from_cookie_header(cookie, &app.cookie_name));
    }
    for key in [COOKIE_NAME, LEGACY_COOKIE_NAME] {
        if let Some(v) = req.param_str(key) {
            candidates.extend(session::from_query_value(v, &app.cookie_name));
        }
    }
    let now = state.sync.clock.now_secs();
    candidates
        .iter()
        .find_map(|v| session::verify(&state.config.env.secret, v, now, app.cookie_expire))
        .filter(|s| s.app == APP_NAME && !s.login.is_empty())
        .ok_or(HttpError::NotAuthenticated)
}

/// The session's login, or 401 `Not authenticated` (docs/device-protocol.md §2.4): the cookie
/// must be ours, unexpired, and name a user that still exists and was not deleted after it
/// was issued (`sync::sessions`).
pub(super) async fn session_login(state: &AppState, req: &Parsed) -> Result<String, HttpError> {
    let session = signed_session(state, req)?;
    match sessions::still_valid(&state.sync, &session).await {
        Ok(true) => Ok(session.login),
        Ok(false) => Err(HttpError::NotAuthenticated),
        Err(e) => Err(HttpError::internal("checking the session user", e)),
    }
}

fn path_param(path: &RawPathParams, name: &str) -> Option<String> {
    path.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_owned())
}

pub(super) fn client_id(req: &Parsed, path: &RawPathParams) -> Option<String> {
    path_param(path, "client_id")
        .filter(|c| !c.is_empty())
        .or_else(|| params::client_id(req.header(CLIENT_ID_HEADER), &req.params))
}

fn source_name(req: &Parsed, path: &RawPathParams) -> Result<String, HttpError> {
    path_param(path, "source").or_else(|| params::source_name(&req.params)).ok_or(HttpError::UnknownSource)
}

/// The named client, switched to `login` if it belongs to another user.
pub(super) async fn require_client(
    state: &AppState,
    login: &str,
    id: Option<String>,
) -> Result<ClientRecord, HttpError> {
    let id = id.ok_or(HttpError::UnknownClient)?;
    let found = clients::find(&state.sync, &id).await?;
    Ok(clients::resolve(&state.sync, login, found).await?)
}

fn page_response(page: &Page) -> Result<Response, HttpError> {
    let mut body = Vec::with_capacity(256);
    write_query_response(&mut body, page).map_err(|e| HttpError::internal("writing a page", e))?;
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    for (name, value) in page_headers(&page.token, page.count()) {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
            response.headers_mut().insert(n, v);
        }
    }
    Ok(response)
}

fn text_param(req: &Parsed, name: &str) -> String {
    match req.params.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Device login (docs/device-protocol.md §3), under the login throttle: an attempt refused
/// by it never reaches the authenticator.
pub async fn login(State(state): State<AppState>, source: SourceAddr, DeviceRequest(req): DeviceRequest) -> Response {
    let result = async {
        let login = text_param(&req, "login");
        // An empty login is refused without a check, like the admin login's.
        let ticket = if login.is_empty() { None } else { Some(throttle::admit(&state, &source, &login).await?) };
        let outcome = clients::login(&state.sync, &login, &text_param(&req, "password"), &req.params).await;
        if let Some(ticket) = ticket {
            // Wrong credentials count; an authenticator that failed (500) does not.
            let failed = matches!(outcome, Ok(LoginOutcome::Denied | LoginOutcome::Refused(_)));
            throttle::settle(&state, ticket, failed).await;
        }
        match outcome? {
            LoginOutcome::Denied => Err(HttpError::LoginFailed(login)),
            LoginOutcome::Refused(message) => Err(HttpError::LoginError(message)),
            LoginOutcome::Failed(message) => Err(HttpError::Internal(message)),
            LoginOutcome::Allowed(login) => {
                // The user exists now: the session checks of the requests that follow need
                // no registry read.
                sessions::user_exists(&state.sync, &login)
                    .await
                    .map_err(|e| HttpError::internal("recording the session user", e))?;
                let micros = state.sync.clock.now_micros();
                let now = micros / 1_000_000;
                let value = session::sign(
                    &state.config.env.secret,
                    &Session { login, app: APP_NAME.to_owned(), issued_at: now, issued_micros: micros },
                );
                let app = &state.config.settings.app;
                let cookie = session::set_cookie(app, &value, now);
                let mut response = if req.uri.path() == "/api/application/clientlogin" {
                    // X-Domain wrapper (docs/device-protocol.md §2.4): the cookie string in the body.
                    let raw = format!("{}={value};", app.cookie_name);
                    let escaped =
                        percent_encoding::utf8_percent_encode(&raw, percent_encoding::NON_ALPHANUMERIC).to_string();
                    json_ok(json!({ "rhoconnect_session": escaped }).to_string())
                } else {
                    empty_ok()
                };
                let header_value = HeaderValue::from_str(&cookie).map_err(|e| HttpError::internal("cookie", e))?;
                response.headers_mut().insert(header::SET_COOKIE, header_value);
                Ok(response)
            }
        }
    }
    .await;
    respond(&req, result)
}

/// clientcreate (docs/device-protocol.md §4.1).
pub async fn client_create(State(state): State<AppState>, DeviceRequest(req): DeviceRequest) -> Response {
    let result = async {
        let login = session_login(&state, &req).await?;
        let client = clients::create(&state.sync, &login, &req.params).await?;
        Ok(json_ok(json!({ "client": { "client_id": client.id } }).to_string()))
    }
    .await;
    respond(&req, result)
}

/// clientregister (docs/device-protocol.md §4.2).
pub async fn client_register(
    State(state): State<AppState>,
    path: RawPathParams,
    DeviceRequest(req): DeviceRequest,
) -> Response {
    let result = async {
        let login = session_login(&state, &req).await?;
        let id = client_id(&req, &path).ok_or(HttpError::UnknownClient)?;
        clients::register(&state.sync, &login, &id, &req.params).await?;
        Ok(empty_ok())
    }
    .await;
    respond(&req, result)
}

/// clientreset (docs/device-protocol.md §4.3).
pub async fn client_reset(
    State(state): State<AppState>,
    path: RawPathParams,
    DeviceRequest(req): DeviceRequest,
) -> Response {
    let result = async {
        let login = session_login(&state, &req).await?;
        let client = require_client(&state, &login, client_id(&req, &path)).await?;
        let only: Option<Vec<String>> = match req.params.get("sources") {
            Some(Value::Array(items)) => {
                Some(items.iter().filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_owned)).collect())
            }
            _ => None,
        };
        clients::flush_documents(&state.sync, &client, only.as_deref()).await?;
        Ok(json_ok(clients::public_sources(&state.sync).to_string()))
    }
    .await;
    respond(&req, result)
}

/// Query: one page (docs/device-protocol.md §5).
pub async fn query(State(state): State<AppState>, path: RawPathParams, DeviceRequest(req): DeviceRequest) -> Response {
    let result = async {
        let session = signed_session(&state, &req)?;
        let name = source_name(&req, &path)?;
        let id = client_id(&req, &path).ok_or(HttpError::UnknownClient)?;
        let page = query_svc::serve(&state.sync, &session, &name, &id, &req.params).await?;
        page_response(&page)
    }
    .await;
    respond(&req, result)
}

async fn apply_changes(
    state: &AppState,
    req: &Parsed,
    path: &RawPathParams,
    ops: impl FnOnce(&Parsed, &SourceCtx) -> CudOps,
) -> Result<Response, HttpError> {
    let login = session_login(state, req).await?;
    let name = source_name(req, path)?;
    let client = require_client(state, &login, client_id(req, path)).await?;
    if let Some(source) = state.sync.source(&name).await? {
        let ops = ops(req, &source);
        let blob_fields: Vec<String> = match req.params.get("blob_fields") {
            Some(Value::Array(items)) => items.iter().filter_map(|f| f.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        // 200 only once the write is durable in the queue (or applied, for inline sources).
        cud::submit(&state.sync, &source, &login, &client.id, ops, &req.uploads, &blob_fields).await?;
    }
    Ok(empty_ok())
}

/// Create / update / delete batch (docs/device-protocol.md §6).
pub async fn changes(
    State(state): State<AppState>,
    path: RawPathParams,
    DeviceRequest(req): DeviceRequest,
) -> Response {
    let result = apply_changes(&state, &req, &path, |req, _| CudOps::from_params(&req.params)).await;
    respond(&req, result)
}

/// `PUT /app/v1/{source}/{id}` with `{"update": {...}}`.
pub async fn update_one(
    State(state): State<AppState>,
    path: RawPathParams,
    DeviceRequest(req): DeviceRequest,
) -> Response {
    let id = path_param(&path, "id").unwrap_or_default();
    let result = apply_changes(&state, &req, &path, |req, _| {
        let attrs = req.params.get("update").and_then(Value::as_object).cloned().unwrap_or_default();
        CudOps { update: vec![(id, attrs)], ..CudOps::default() }
    })
    .await;
    respond(&req, result)
}

/// `DELETE /app/v1/{source}/{id}`: the adapter gets the object's attributes as the server
/// knows them, or just its id (docs/device-protocol.md §6.1 DEVIATION).
pub async fn delete_one(
    State(state): State<AppState>,
    path: RawPathParams,
    DeviceRequest(req): DeviceRequest,
) -> Response {
    let id = path_param(&path, "id").unwrap_or_default();
    let result = async {
        let login = session_login(&state, &req).await?;
        let name = source_name(&req, &path)?;
        let attrs = match state.sync.source(&name).await? {
            Some(source) => {
                let pk = source.keys(&state.sync, &login);
                let (_, bodies) = state
                    .sync
                    .store
                    .read_bodies(&pk, std::slice::from_ref(&id))
                    .await
                    .map_err(crate::sync::SyncError::from)?;
                bodies
                    .get(&id)
                    .and_then(|b| serde_json::from_str::<serde_json::Map<String, Value>>(b).ok())
                    .unwrap_or_default()
            }
            None => serde_json::Map::new(),
        };
        apply_changes(&state, &req, &path, move |_, _| CudOps { delete: vec![(id, attrs)], ..CudOps::default() }).await
    }
    .await;
    respond(&req, result)
}

/// Search (docs/device-protocol.md §7).
pub async fn search(State(state): State<AppState>, path: RawPathParams, DeviceRequest(req): DeviceRequest) -> Response {
    let result = async {
        let login = session_login(&state, &req).await?;
        let client = require_client(&state, &login, client_id(&req, &path)).await?;
        let elements = search_svc::search(&state.sync, &login, &client.id, &req.params).await?;
        let mut response = json_ok(search_response(&elements).to_string());
        for (name, value) in search_headers(&elements) {
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
                response.headers_mut().insert(n, v);
            }
        }
        Ok(response)
    }
    .await;
    respond(&req, result)
}
