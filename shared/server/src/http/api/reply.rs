//! Success responses of the REST API with the content types of docs/rest-api.md §1.4: JSON as
//! `application/json; charset=utf-8`, everything else (messages, tokens, empty bodies) as
//! `text/plain; charset=utf-8`. Errors go through [`crate::http::HttpError`].

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub const TEXT: &str = "text/plain; charset=utf-8";
pub const JSON: &str = "application/json; charset=utf-8";

/// 200 with a plain-text body.
pub fn text(body: impl Into<String>) -> Response {
    with_type(StatusCode::OK, body.into(), TEXT)
}

/// 200 with an empty plain-text body.
pub fn empty() -> Response {
    text("")
}

/// 200 with a JSON body.
pub fn json(value: &Value) -> Response {
    with_type(StatusCode::OK, value.to_string(), JSON)
}

/// Any status with a body of the given type.
pub fn with_type(status: StatusCode, body: String, content_type: &'static str) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
