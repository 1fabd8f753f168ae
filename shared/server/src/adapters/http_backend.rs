//! Plumbing shared by the HTTP-speaking adapters (`plugin`, `rest`, and any you write).
//!
//! Two jobs: build the process-wide backend client with the transport rules of
//! docs/adapters.md §4.1 (no redirects, verified TLS, our User-Agent, a connect timeout),
//! and turn every way a call can fail into the short message a device sees
//! (`500 Internal Server Error`, `Timed out reading data from server`,
//! `Connection refused`, ...). Adapters then only decide what a 2xx body means.

use std::error::Error as _;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode, Url};

use super::AdapterError;

/// `User-Agent` of every backend call (docs/adapters.md §4.1).
pub const USER_AGENT: &str = concat!("rhoconnect-rs/", env!("CARGO_PKG_VERSION"));

/// Header carrying a client write's idempotency key to HTTP backends (see
/// [`AdapterCtx::idempotency_key`](super::AdapterCtx::idempotency_key)). Backends that
/// honour it answer a repeated key with the first answer instead of applying it again.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// Adds [`IDEMPOTENCY_KEY_HEADER`] when the call is a client write.
pub fn with_idempotency_key(request: RequestBuilder, key: Option<&str>) -> RequestBuilder {
    match key {
        Some(key) => request.header(IDEMPOTENCY_KEY_HEADER, key),
        None => request,
    }
}

/// Message when a call does not finish within its timeout.
pub const READ_TIMEOUT: &str = "Timed out reading data from server";
/// Message when the TCP/TLS connection is not established within the connect timeout.
pub const CONNECT_TIMEOUT: &str = "Timed out connecting to server";
/// Message when nothing listens at the backend's address.
pub const CONNECTION_REFUSED: &str = "Connection refused";

/// The client that `AdapterDeps::http` should hold: redirects are not followed (a 3xx is
/// an error), certificates are verified, and connecting gives up after `connect_timeout`
/// (pass `plugin_timeout`). Per-call read timeouts are set by [`send`].
pub fn client(connect_timeout: Duration) -> Result<reqwest::Client, AdapterError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|err| AdapterError::Backend(format!("cannot build the HTTP client: {err}")))
}

/// A backend answer whose status was 2xx, with its body read in full.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

/// Sends `request` and returns the reply if its status is 2xx. Anything else becomes
/// [`AdapterError::Backend`] or [`AdapterError::Timeout`] with the device-facing message of
/// docs/adapters.md §4.1.
pub async fn send(request: RequestBuilder, timeout: Duration) -> Result<Reply, AdapterError> {
    let reply = exchange(request, timeout).await?;
    if reply.status.is_success() {
        Ok(reply)
    } else {
        Err(AdapterError::Backend(status_message(reply.status)))
    }
}

/// Sends `request` with a total deadline of `timeout` (connect, headers and body) and
/// returns the reply whatever its status; only transport failures are errors.
pub async fn exchange(request: RequestBuilder, timeout: Duration) -> Result<Reply, AdapterError> {
    let exchange = async {
        let response = request.timeout(timeout).send().await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.map_err(transport_error)?;
        Ok::<_, AdapterError>(Reply { status, headers, body })
    };
    // reqwest's own deadline covers the body too; this outer one is a belt for the
    // braces, so a stalled body can never hold a Lambda past the timeout.
    match tokio::time::timeout(timeout + Duration::from_millis(250), exchange).await {
        Ok(result) => result,
        Err(_) => Err(AdapterError::Timeout(READ_TIMEOUT.to_owned())),
    }
}

/// `<status> <reason phrase>`, e.g. `404 Not Found`; the bare code when there is no
/// standard phrase.
pub fn status_message(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// The device-facing message of a transport failure.
pub fn transport_error(err: reqwest::Error) -> AdapterError {
    if err.is_timeout() {
        let message = if err.is_connect() { CONNECT_TIMEOUT } else { READ_TIMEOUT };
        return AdapterError::Timeout(message.to_owned());
    }
    if refused(&err) {
        return AdapterError::Backend(CONNECTION_REFUSED.to_owned());
    }
    AdapterError::Backend(short_description(&err))
}

fn refused(err: &reqwest::Error) -> bool {
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionRefused {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

/// The innermost cause of an error: it names the actual problem ("dns error: ...",
/// "invalid peer certificate: ...") without reqwest's URL-bearing wrapper.
fn short_description(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message = cause.to_string();
        source = cause.source();
    }
    message
}

/// A request with the JSON headers of docs/adapters.md §4.1: `Content-Type` exactly
/// `application/json` (no charset), `Accept: application/json`, our `User-Agent`.
pub fn json_request(
    http: &reqwest::Client,
    method: Method,
    url: Url,
    body: Option<&serde_json::Value>,
) -> RequestBuilder {
    let request = http
        .request(method, url)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::USER_AGENT, USER_AGENT);
    match body {
        Some(body) => request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string()),
        None => request,
    }
}

/// Parses `raw` as an absolute http(s) URL.
pub fn parse_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|err| format!("invalid URL '{raw}': {err}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("invalid URL '{raw}': scheme {other} is not http or https")),
    }
}
