//! Browser clients on other origins (docs/device-protocol.md §9, docs/device-protocol.md §9).
//!
//! Off unless `:cors_origins:` lists origins. Then every function answers preflight
//! `OPTIONS` requests itself — for any path it receives, before routing — and adds the
//! CORS headers to the responses of allowed origins. API Gateway's own CORS support is
//! deliberately **not** configured: it would answer preflights without reaching the
//! functions and could not follow the settings file. API Gateway HTTP API routes with
//! method `ANY` also match `OPTIONS`, and every device and REST path is covered by such a
//! route (`/application/{proxy+}`, `/api/application/{proxy+}`, `/rc/v1/app/{proxy+}`,
//! `/app/v1/{source}/…`, `/rc/v1/{proxy+}`, `/api/{proxy+}`), so preflights of paths whose
//! own route is `POST`/`GET` only (e.g. `POST /rc/v1/clients`) land on a function that
//! answers them too.
//!
//! The request's origin is its `Origin` header, `null` read as `file://` (pages opened from
//! disk), else the `X-Origin` header rhoconnect.js sends. An origin is allowed when it is
//! listed or `*` is listed. The echoed value is the header as sent (`null` stays `null`:
//! that is what a browser compares it with). With `*` the answer is `Access-Control-Allow-Origin: *` without
//! credentials (browsers refuse credentials with `*`, docs/device-protocol.md §9); otherwise
//! the origin is echoed with `Access-Control-Allow-Credentials: true`.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// How long a browser may cache a preflight answer (20 days, as RhoConnect answered).
pub const MAX_AGE_SECS: &str = "1728000";
const METHODS: &str = "GET, POST, PUT, DELETE";
/// Response headers rhoconnect.js reads (page token and count, deprecation warnings).
const EXPOSE: &str = "Warning, X-Rhoconnect-PAGE-TOKEN, X-Rhoconnect-PAGE-OBJECT-COUNT";

/// The origin a request speaks for, if any: (what it is matched as, the header value sent).
pub fn request_origin(headers: &HeaderMap) -> Option<(String, String)> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let sent = get("origin").or_else(|| get("x-origin"))?;
    let matched = if sent == "null" { "file://" } else { sent };
    Some((matched.to_owned(), sent.to_owned()))
}

/// The `Access-Control-Allow-Origin` value for an origin matched as `origin` and sent as
/// `sent`, and whether credentials may be allowed with it; `None`: not allowed.
pub fn allow_origin(allowed: &[String], origin: &str, sent: &str) -> Option<(String, bool)> {
    let origin = origin.trim_end_matches('/');
    if allowed.iter().any(|a| a.trim_end_matches('/') == origin) {
        Some((sent.to_owned(), true))
    } else if allowed.iter().any(|a| a == "*") {
        Some(("*".to_owned(), false))
    } else {
        None
    }
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

fn add_common(headers: &mut HeaderMap, origin: &str, credentials: bool) {
    insert(headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    insert(headers, header::ACCESS_CONTROL_ALLOW_METHODS, METHODS);
    insert(headers, header::ACCESS_CONTROL_MAX_AGE, MAX_AGE_SECS);
    insert(headers, header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE);
    if credentials {
        insert(headers, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
    }
    if origin != "*" {
        // The answer depends on the Origin: caches must not share it across origins.
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// The middleware: preflights answered here, other responses decorated.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let allowed = &state.config.settings.app.cors_origins;
    if allowed.is_empty() {
        return next.run(request).await;
    }
    let grant = request_origin(request.headers()).and_then(|(o, sent)| allow_origin(allowed, &o, &sent));
    let Some((origin, credentials)) = grant else { return next.run(request).await };
    if request.method() == Method::OPTIONS {
        let requested = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], "").into_response();
        let headers = response.headers_mut();
        add_common(headers, &origin, credentials);
        if !requested.is_empty() {
            insert(headers, header::ACCESS_CONTROL_ALLOW_HEADERS, &requested);
        }
        return response;
    }
    let mut response = next.run(request).await;
    add_common(response.headers_mut(), &origin, credentials);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_null_is_file_and_x_origin_is_the_fallback() {
        let pair = |a: &str, b: &str| Some((a.to_owned(), b.to_owned()));
        assert_eq!(request_origin(&headers(&[("origin", "null")])), pair("file://", "null"));
        assert_eq!(request_origin(&headers(&[("x-origin", "http://a.test")])), pair("http://a.test", "http://a.test"));
        let both = headers(&[("origin", "http://a.test"), ("x-origin", "http://b.test")]);
        assert_eq!(request_origin(&both), pair("http://a.test", "http://a.test"));
        assert_eq!(request_origin(&HeaderMap::new()), None);
    }

    #[test]
    fn listed_origins_are_echoed_with_credentials_and_star_is_not() {
        let list = vec!["http://a.test".to_owned(), "file://".to_owned()];
        assert_eq!(allow_origin(&list, "http://a.test", "http://a.test"), Some(("http://a.test".into(), true)));
        assert_eq!(allow_origin(&list, "file://", "null"), Some(("null".into(), true)));
        assert_eq!(allow_origin(&list, "http://evil.test", "http://evil.test"), None);
        let star = vec!["*".to_owned()];
        assert_eq!(allow_origin(&star, "http://evil.test", "http://evil.test"), Some(("*".into(), false)));
    }
}
