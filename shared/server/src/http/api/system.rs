//! `/rc/v1/system/*` (docs/rest-api.md §4): admin login, the compatibility
//! license object, reset, the app server URL, statistics and the RhoConnect Push server's
//! credential callback.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::input::{admin_with_token, constant_time_eq, param, scalar};
use super::legacy::LegacyCall;
use super::reply;
use crate::auth::session::{self, Session, APP_NAME};
use crate::http::admin::AdminRequest;
use crate::http::throttle::{self, SourceAddr};
use crate::http::{ApiRequest, HttpError};
use crate::registry::cache::{self, Metric};
use crate::registry::{login::check_password, password, User, ADMIN_LOGIN};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rc/v1/system/login", post(login))
        .route("/rc/v1/system/license", get(license))
        .route("/rc/v1/system/reset", post(reset))
        .route("/rc/v1/system/appserver", get(get_appserver).post(set_appserver))
        .route("/rc/v1/system/stats", get(stats))
        .route("/rc/v1/system/rps_login", get(rps_login))
}

/// S1: password → API token, plus the session cookie (docs/rest-api.md §4.1).
#[utoipa::path(post, path = "/rc/v1/system/login", tag = "system",
    request_body(content = super::schemas::LoginBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The admin's API token (and a session cookie)", body = String, content_type = "text/plain"),
        (status = 401, description = "`Unable to authenticate '<login>'`", body = String, content_type = "text/plain"),
        (status = 422, description = "`Invalid/missing API user`: not an admin or no token", body = String, content_type = "text/plain"),
        (status = 429, description = "Too many failed logins for this login or from this address; `Retry-After` says when to try again", body = String, content_type = "text/plain"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    source: SourceAddr,
    ApiRequest(req): ApiRequest,
) -> Result<Response, HttpError> {
    let login = param(&req, "login").unwrap_or_default();
    let pass = param(&req, "password").unwrap_or_default();
    if login.is_empty() {
        return Err(HttpError::LoginFailed(login));
    }
    let registry = state.registry();
    // Refused before the password is checked: a refusal costs no hash and tells nothing.
    let ticket = throttle::admit(&state, &source, &login).await?;
    let checked = check_password(registry, &login, &pass).await;
    throttle::settle(&state, ticket, matches!(checked, Ok(None))).await;
    let Some(user) = checked? else {
        return Err(HttpError::LoginFailed(login));
    };
    let token = match registry.user_token(&user.login).await? {
        Some(token) if user.admin => token,
        _ => return Err(HttpError::InvalidApiUser),
    };
    let now = session::now();
    let value = session::sign(
        &state.config.env.secret,
        &Session { login: user.login.clone(), app: APP_NAME.to_owned(), issued_at: now, issued_micros: 0 },
    );
    let mut response = reply::text(token);
    let cookie = session::set_cookie(&state.config.settings.app, &value, now);
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| HttpError::internal("session cookie", e))?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// S2: the fixed license object RhoConnect ≥ 4 clients still ask for (docs/rest-api.md §4.2).
/// The RhoSync 3.0 aliases name the first key `rhosync_version`.
#[utoipa::path(get, path = "/rc/v1/system/license", tag = "system", security(("api_token" = [])),
    responses(
        (status = 200, description = "License object", body = super::schemas::License),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
    ))]
pub async fn license(legacy: Option<Extension<LegacyCall>>, _admin: AdminRequest) -> Result<Response, HttpError> {
    let version_key = if legacy.is_some() { "rhosync_version" } else { "rhoconnect_version" };
    let mut object = serde_json::Map::new();
    object.insert(version_key.into(), json!(env!("CARGO_PKG_VERSION")));
    object.insert("licensee".into(), json!("RhoConnect"));
    object.insert("seats".into(), json!(0));
    object.insert("issued".into(), json!(""));
    object.insert("available".into(), json!(0));
    Ok(reply::json(&Value::Object(object)))
}

/// S3: wipes the cache namespace and the registry, then re-creates `rhoadmin` with the
/// bootstrap password and the caller's token (docs/rest-api.md §4.3).
#[utoipa::path(post, path = "/rc/v1/system/reset", tag = "system", security(("api_token" = [])),
    responses(
        (status = 200, description = "`DB reset`", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
    ))]
pub async fn reset(State(state): State<AppState>, ApiRequest(req): ApiRequest) -> Result<Response, HttpError> {
    let (_, token) = admin_with_token(&state, &req).await?;
    let deleted = cache::flush_namespace(&*state.sync.store).await?;
    // Sessions signed before the reset name users that no longer exist (docs/device-protocol.md §2.4).
    crate::sync::sessions::all_reset(&state.sync).await?;
    let registry = state.registry();
    registry.clear().await?;
    // The source setting overrides went with the registry: this instance forgets them now.
    state.sync.forget_sources();
    let pass = state.config.env.admin_password.clone().unwrap_or_default();
    let admin =
        User { login: ADMIN_LOGIN.to_owned(), password_hash: Some(password::hash(&pass)), email: None, admin: true };
    registry.put_admin(&admin).await?;
    registry.set_user_token(ADMIN_LOGIN, &token).await?;
    // Bootstrap counts rhoadmin as the first user (docs/rest-api.md §10).
    cache::bump(&*state.sync.store, state.config.settings.app.stats, cache::Counter::Users, 1).await?;
    tracing::info!(deleted_keys = deleted, "system reset");
    Ok(reply::text("DB reset"))
}

/// S4: the app server (plugin backend) URL: the one set through S5, else the `:appserver:`
/// setting, else null.
#[utoipa::path(get, path = "/rc/v1/system/appserver", tag = "system", security(("api_token" = [])),
    responses(
        (status = 200, description = "`{\"adapter_url\": <string or null>}`", body = super::schemas::Appserver),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
    ))]
pub async fn get_appserver(State(state): State<AppState>, _admin: AdminRequest) -> Result<Response, HttpError> {
    let url = cache::appserver_url(&*state.sync.store).await?.or_else(|| state.config.settings.app.appserver.clone());
    Ok(reply::json(&json!({ "adapter_url": url })))
}

/// S5: stores the app server URL verbatim; top-level `adapter_url` wins over
/// `attributes.adapter_url`; null or `""` clears it (docs/rest-api.md §4.4).
#[utoipa::path(post, path = "/rc/v1/system/appserver", tag = "system", security(("api_token" = [])),
    request_body(content = super::schemas::AppserverBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The stored URL (empty when cleared)", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Missing adapter_url`", body = String, content_type = "text/plain"),
    ))]
pub async fn set_appserver(
    State(state): State<AppState>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let nested = req.params.get("attributes").and_then(Value::as_object).and_then(|a| a.get("adapter_url"));
    let Some(value) = req.params.get("adapter_url").or(nested) else {
        return Err(HttpError::Internal("Missing adapter_url".into()));
    };
    let url = match value {
        Value::Null => None,
        other => Some(scalar(other).unwrap_or_else(|| other.to_string())),
    };
    cache::set_appserver_url(&*state.sync.store, url.as_deref()).await?;
    Ok(reply::text(url.unwrap_or_default()))
}

/// S6: metric names by glob, or one metric's members / value (docs/rest-api.md §4.5).
#[utoipa::path(get, path = "/rc/v1/system/stats", tag = "system", security(("api_token" = [])),
    params(
        ("names" = Option<String>, Query, description = "Glob of metric names to list"),
        ("metric" = Option<String>, Query, description = "Metric to read"),
        ("start" = Option<i64>, Query, description = "First index (default 0)"),
        ("finish" = Option<i64>, Query, description = "Last index, inclusive (default -1)"),
    ),
    responses(
        (status = 200, description = "JSON array of names or members, or the text of a string metric", body = Vec<String>),
        (status = 404, description = "`Unknown metric`", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Stats not enabled`", body = String, content_type = "text/plain"),
    ))]
pub async fn stats(State(state): State<AppState>, AdminRequest(req): AdminRequest) -> Result<Response, HttpError> {
    if !state.config.settings.app.stats {
        return Err(HttpError::Internal("Stats not enabled".into()));
    }
    if let Some(glob) = param(&req, "names") {
        let names = cache::metric_names(&*state.sync.store, &glob).await?;
        return Ok(reply::json(&json!(names)));
    }
    let Some(metric) = param(&req, "metric") else { return Err(HttpError::UnknownMetric) };
    let int = |name: &str, default: i64| match req.params.get(name) {
        None | Some(Value::Null) => default,
        v => rhosync_engine::params::lenient_int(v),
    };
    match cache::metric(&*state.sync.store, &metric, int("start", 0), int("finish", -1)).await? {
        Metric::Series(members) => Ok(reply::json(&json!(members))),
        Metric::Text(text) => Ok(reply::text(text)),
        Metric::Missing => Err(HttpError::UnknownMetric),
    }
}

/// S7: RhoConnect Push checks its own credentials against `:push_server:`'s userinfo
/// (docs/rest-api.md §4.6).
#[utoipa::path(get, path = "/rc/v1/system/rps_login", tag = "system",
    responses(
        (status = 204, description = "Credentials accepted"),
        (status = 401, description = "`Invalid Basic Authorization header` or `Invalid RhoConnect Push server credentials`", body = String, content_type = "text/plain"),
        (status = 500, description = "`Invalid RhoConnect Push settings`", body = String, content_type = "text/plain"),
    ))]
pub async fn rps_login(State(state): State<AppState>, ApiRequest(req): ApiRequest) -> Result<Response, HttpError> {
    let Some((user, pass)) = req.header("authorization").and_then(basic_credentials) else {
        return Err(HttpError::LoginError("Invalid Basic Authorization header".into()));
    };
    let Some((want_user, want_pass)) = state.config.settings.app.push_server.as_deref().and_then(userinfo) else {
        return Err(HttpError::Internal("Invalid RhoConnect Push settings".into()));
    };
    // Both halves are compared, always, so timing does not tell which one was wrong.
    let user_ok = constant_time_eq(user.as_bytes(), want_user.as_bytes());
    let pass_ok = constant_time_eq(pass.as_bytes(), want_pass.as_bytes());
    if !(user_ok & pass_ok) {
        return Err(HttpError::LoginError("Invalid RhoConnect Push server credentials".into()));
    }
    let mut response = reply::empty();
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// `Basic <base64(user:password)>` → (user, password).
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
    Some((user.to_owned(), pass.to_owned()))
}

/// The (user, password) userinfo of a URL such as `http://app:secret@host:8675/`; the
/// password is `""` when absent.
fn userinfo(url: &str) -> Option<(String, String)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let (info, _) = authority.rsplit_once('@')?;
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let (user, pass) = info.split_once(':').unwrap_or((info, ""));
    Some((decode(user), decode(pass)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_credentials_and_userinfo() {
        assert_eq!(basic_credentials("Basic dXNlcjpwd2Q="), Some(("user".into(), "pwd".into())));
        assert_eq!(basic_credentials("Bearer x"), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(userinfo("http://user:pwd@localhost:8675"), Some(("user".into(), "pwd".into())));
        assert_eq!(userinfo("http://someappname@localhost:8675/"), Some(("someappname".into(), "".into())));
        assert_eq!(userinfo("http://localhost:8675/"), None);
    }
}
