//! Admin authorisation for REST API routes (docs/rest-api.md §1.3) and the bootstrap of the
//! `rhoadmin` account with its API token (docs/rest-api.md §10).

use axum::extract::{FromRequest, Request};

use super::error::HttpError;
use super::request::{ApiRequest, Parsed};
use crate::auth::tokens::random_token;
use crate::registry::{password, RegistryError, User, ADMIN_LOGIN};
use crate::AppState;

/// The header an API token travels in; header names are case-insensitive.
pub const API_TOKEN_HEADER: &str = "x-rhoconnect-api-token";

/// A REST API request from an admin. Taking this extractor is what makes a route admin-only:
/// the parameters are parsed first (a bad body answers 500, docs/device-protocol.md §2.6), then the
/// API token is checked (docs/rest-api.md §1.3) before the handler runs.
pub struct AdminRequest(pub Parsed);

impl FromRequest<AppState> for AdminRequest {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, HttpError> {
        let ApiRequest(parsed) = ApiRequest::from_request(req, state).await?;
        require_admin(state, &parsed).await?;
        Ok(Self(parsed))
    }
}

/// The admin login an API request acts as, or the refusal RhoConnect gives.
pub async fn require_admin(state: &AppState, request: &Parsed) -> Result<String, HttpError> {
    let registry = state.registry();
    let candidates = [
        request.header(API_TOKEN_HEADER).map(str::to_owned),
        request.params.get("api_token").and_then(|v| v.as_str()).map(str::to_owned),
    ];
    let mut owner = None;
    for token in candidates.into_iter().flatten().filter(|t| !t.is_empty()) {
        if let Some(login) = registry.token_user(&token).await? {
            owner = Some(login);
            break;
        }
    }
    let login = owner.ok_or(HttpError::NoApiToken)?;
    match registry.user(&login).await? {
        Some(user) if user.admin => Ok(login),
        _ => Err(HttpError::InvalidApiUser),
    }
}

/// Creates `rhoadmin` with its token if missing: password `PSWRD` or empty, token
/// `API_TOKEN`, the `:api_token:` setting, or 32 random hex characters. An existing admin
/// keeps its password and token.
pub async fn ensure_admin(state: &AppState) -> Result<(), RegistryError> {
    let registry = state.registry();
    if registry.user(ADMIN_LOGIN).await?.is_some() {
        return Ok(());
    }
    let pass = state.config.env.admin_password.clone().unwrap_or_default();
    let admin =
        User { login: ADMIN_LOGIN.to_owned(), password_hash: Some(password::hash(&pass)), email: None, admin: true };
    // The admin is not one of the app's users (`GET /rc/v1/users` does not list it), so it
    // is written without the app membership `put_user` adds.
    registry.put_admin(&admin).await?;
    let token = state.config.env.api_token.clone().unwrap_or_else(random_token);
    registry.set_user_token(ADMIN_LOGIN, &token).await?;
    // `user:count` counts rhoadmin too (docs/rest-api.md §10).
    crate::registry::cache::bump(
        &*state.sync.store,
        state.config.settings.app.stats,
        crate::registry::cache::Counter::Users,
        1,
    )
    .await
    .map(|_| ())
    .map_err(|e| RegistryError::Store(e.to_string()))
}
