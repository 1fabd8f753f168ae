//! Devices migrated from RhoConnect keep their session (docs/migrating.md §3): with the old
//! deployment's session secret configured, a device request that carries no valid session
//! of ours but a valid RhoConnect session cookie (`crate::auth::legacy_cookie`) naming an
//! existing user of the app is exchanged, once, for one of ours. The request then goes on
//! as if it had carried the new cookie, and the response sets it. Anything else — a forged
//! or tampered cookie, an unknown user, a cookie exchanged before (past the grace window) —
//! passes through untouched and gets the handlers' usual 401.
//!
//! Only installed when a legacy secret is configured ([`wrap`]), so it costs nothing
//! otherwise. It reads the `Cookie` header and the cookie-less query form
//! (`?rhoconnect_session=`), not a form body: the body belongs to the route's extractor.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

use crate::auth::legacy_cookie::{self, LegacyExchanges, LegacySession};
use crate::auth::session::{self, Session, APP_NAME, COOKIE_NAME, LEGACY_COOKIE_NAME};
use crate::store::SyncStore;
use crate::AppState;

/// The sync router, with the exchange in front when a legacy secret is configured.
pub fn wrap(router: Router, state: &AppState) -> Router {
    if state.config.env.legacy_secret.is_none() {
        return router;
    }
    router.layer(axum::middleware::from_fn_with_state(state.clone(), layer))
}

/// Every session value the request carries: the `Cookie` header's, then the query form's.
fn candidates(state: &AppState, req: &Request) -> Vec<String> {
    let name = &state.config.settings.app.cookie_name;
    let mut values = Vec::new();
    for cookie in req.headers().get_all(header::COOKIE) {
        if let Ok(text) = cookie.to_str() {
            values.extend(session::from_cookie_header(text, name));
        }
    }
    if let Some(query) = req.uri().query() {
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == COOKIE_NAME || key == LEGACY_COOKIE_NAME {
                values.extend(session::from_query_value(value, name));
            }
        }
    }
    values
}

async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Read before any await: a request (its body) is not `Sync`.
    let values = candidates(&state, &req);
    let Some(exchanged) = exchange(&state, values).await else { return next.run(req).await };
    // The handlers see our cookie only; the legacy one is spent.
    let name = &state.config.settings.app.cookie_name;
    match HeaderValue::from_str(&format!("{name}={}", exchanged.value)) {
        Ok(cookie) => {
            req.headers_mut().insert(header::COOKIE, cookie);
        }
        Err(_) => return next.run(req).await,
    }
    let mut response = next.run(req).await;
    if !response.headers().contains_key(header::SET_COOKIE) {
        let set = session::set_cookie(&state.config.settings.app, &exchanged.value, exchanged.issued_at);
        if let Ok(set) = HeaderValue::from_str(&set) {
            response.headers_mut().insert(header::SET_COOKIE, set);
        }
    }
    response
}

struct Exchanged {
    value: String,
    issued_at: u64,
}

/// The new session for the request's legacy cookie, when it is to be exchanged.
async fn exchange(state: &AppState, values: Vec<String>) -> Option<Exchanged> {
    let legacy_secret = state.config.env.legacy_secret.as_deref()?;
    let app = &state.config.settings.app;
    let now = state.sync.clock.now_secs();
    if values.iter().any(|v| session::verify(&state.config.env.secret, v, now, app.cookie_expire).is_some()) {
        return None;
    }
    let legacy: LegacySession = values
        .iter()
        .filter(|v| legacy_cookie::looks_legacy(v))
        .find_map(|v| legacy_cookie::verify(legacy_secret, v))?;
    if legacy.app_name != APP_NAME {
        return None;
    }
    match state.registry().user(&legacy.login).await {
        Ok(Some(_)) => {}
        Ok(None) => return None,
        Err(e) => {
            // Refused like any session we cannot check; the device logs in again.
            tracing::warn!(error = %e, "legacy session: reading the user failed");
            return None;
        }
    }
    let micros = state.sync.clock.now_micros();
    let issued_at = micros / 1_000_000;
    let ours = session::sign(
        &state.config.env.secret,
        &Session { login: legacy.login.clone(), app: APP_NAME.to_owned(), issued_at, issued_micros: micros },
    );
    let store = SyncStore::new(state.redis.clone());
    let found = match store.claim(&legacy.mac, &legacy_cookie::record(issued_at, &ours), app.cookie_expire).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "legacy session: recording the exchange failed");
            return None;
        }
    };
    let value = legacy_cookie::decide(found.as_deref(), &ours, issued_at)?;
    let issued_at = if found.is_some() {
        session::verify(&state.config.env.secret, &value, now, app.cookie_expire)?.issued_at
    } else {
        issued_at
    };
    if let Err(e) = crate::sync::sessions::user_exists(&state.sync, &legacy.login).await {
        tracing::warn!(error = %e, "legacy session: recording the session user failed");
    }
    if found.is_none() {
        tracing::info!(login = %legacy.login, "RhoConnect session cookie exchanged");
    }
    Some(Exchanged { value, issued_at })
}
