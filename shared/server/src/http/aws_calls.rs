//! The `X-Rhosync-Aws-Calls` response header (docs/registry.md §4): how many
//! DynamoDB, SQS, S3 and Secrets Manager calls serving this request made, e.g.
//! `dynamodb=1,sqs=0,s3=0,secretsmanager=0`.
//!
//! Off unless the environment variable `RHOSYNC_COUNT_AWS_CALLS=1` is set when the router
//! is built (the benchmark sets it for the runner); off, the layer is not there at all and
//! a call costs one relaxed atomic add (`crate::edges::aws::process_calls`). The counts are
//! those of the request's own task (`crate::edges::aws::counting_calls`): work a handler
//! spawns onto another task (the local runner's queue consumers, background refreshes) is
//! not in the header.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::edges::aws::counting_calls;

/// The header's name.
pub const HEADER: &str = "x-rhosync-aws-calls";

/// The environment variable that turns the header on.
pub const ENV: &str = "RHOSYNC_COUNT_AWS_CALLS";

/// Whether the header is on (read once per process).
pub fn enabled() -> bool {
    static ON: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| std::env::var(ENV).is_ok_and(|v| v.trim() == "1"));
    *ON
}

/// Counts the calls made while the rest of the stack serves the request.
pub async fn layer(req: Request, next: Next) -> Response {
    let (mut response, calls) = counting_calls(next.run(req)).await;
    if let Ok(value) = HeaderValue::from_str(&calls.header_value()) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}
