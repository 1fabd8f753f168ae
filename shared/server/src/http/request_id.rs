//! A request id for every request: generated here, carried by the response's `X-Request-Id`
//! header, attached to every log line of the request (a tracing span), and readable while
//! the request runs ([`current`]) so that an error answer can name it. Details of a failure
//! go to the log only; the client gets the id to quote.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The response header that carries the id.
pub const HEADER: &str = "x-request-id";

/// The id of the request this task serves (`-` outside a request).
pub fn current() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_else(|_| "-".to_owned())
}

/// The middleware: a fresh id (16 hex digits), a span carrying it, and the header.
pub async fn layer(req: Request, next: Next) -> Response {
    let id = crate::auth::tokens::random_token()[..16].to_owned();
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut response = REQUEST_ID.scope(id.clone(), next.run(req).instrument(span)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
