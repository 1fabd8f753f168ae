//! One error type for every HTTP route, mapped to a status and a plain-text body in one
//! place. The bodies are the exact texts clients match on (docs/device-protocol.md §2.6,
//! docs/rest-api.md §1.5), so they are constants here rather than scattered literals. The
//! services' error enums are converted here too, so that no service names HTTP.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use rhosync_engine::params::CLIENT_DATA_ERROR_BODY;

use super::request_id;
use crate::sync::SyncError;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Body or `cud` did not parse (docs/device-protocol.md §2.1).
    #[error("{}", CLIENT_DATA_ERROR_BODY)]
    ClientData,
    #[error("No API token provided")]
    NoApiToken,
    #[error("Invalid/missing API user")]
    InvalidApiUser,
    #[error("Not authenticated")]
    NotAuthenticated,
    #[error("Unable to authenticate '{0}'")]
    LoginFailed(String),
    /// A login refused with the authenticator's own message.
    #[error("{0}")]
    LoginError(String),
    #[error("Unknown source")]
    UnknownSource,
    #[error("Unknown client")]
    UnknownClient,
    #[error("Unknown user '{0}'")]
    UnknownUser(String),
    /// Bad input a client can fix; nothing was written.
    #[error("{0}")]
    BadRequest(String),
    #[error("Not Found")]
    NotFound,
    /// A job route naming a queue other than `adapter`, `push`, `bulk` (docs/rest-api.md §14).
    #[error("Unknown queue {0}")]
    UnknownQueue(String),
    /// `GET /rc/v1/system/stats` for a metric that does not exist (docs/rest-api.md §4.5).
    #[error("Unknown metric")]
    UnknownMetric,
    /// A RhoSync-era route with no meaning on Lambda (docs/rest-api.md §9 (upload_file)).
    #[error("Not supported")]
    NotSupported,
    /// Too many failed logins for this login or from this address: refused before the
    /// password is checked (`crate::auth::throttle`); answered with `Retry-After`.
    #[error("Too many failed logins; retry in {retry_after_secs} seconds")]
    TooManyLogins { retry_after_secs: u64 },
    /// A 500 with RhoConnect's exact text (clients match on it).
    #[error("{0}")]
    Internal(String),
    /// A failure of ours: the detail is in the log under the request id, which the body and
    /// the `X-Request-Id` header carry.
    #[error("Internal server error (request {0})")]
    Failure(String),
    /// A dependency (named) is unreachable, slow or overloaded: 503 with `Retry-After`; the
    /// detail is in the log. Nothing was written that the retry would repeat.
    #[error("Service temporarily unavailable: {0} is not answering; retry in a few seconds (request {1})")]
    Unavailable(&'static str, String),
}

/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_SECS: u64 = 2;

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoApiToken | Self::InvalidApiUser => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotAuthenticated | Self::LoginFailed(_) | Self::LoginError(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound | Self::UnknownMetric | Self::UnknownQueue(_) => StatusCode::NOT_FOUND,
            Self::NotSupported => StatusCode::NOT_IMPLEMENTED,
            Self::TooManyLogins { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Failure(_) => StatusCode::INTERNAL_SERVER_ERROR,
            // RhoConnect answers these with 500 and clients depend on it: Rhodes detects
            // `Unknown client` only on a non-401 error (docs/device-protocol.md §2.2).
            Self::ClientData | Self::UnknownSource | Self::UnknownClient | Self::UnknownUser(_) | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// Wraps an internal failure: the detail goes to the log, the body names the request id.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        let id = request_id::current();
        tracing::error!(context, error = %err, request_id = %id, "request failed");
        Self::Failure(id)
    }

    /// A dependency outage: logged with its detail, answered 503.
    pub fn unavailable(what: &'static str, err: impl std::fmt::Display) -> Self {
        let id = request_id::current();
        tracing::warn!(dependency = what, error = %err, request_id = %id, "dependency unavailable");
        Self::Unavailable(what, id)
    }

    fn from_store(err: crate::store::StoreError) -> Self {
        match &err {
            crate::store::StoreError::Redis(e) if redis_outage(e) => Self::unavailable("the cache (Redis)", err),
            _ => Self::internal("redis", err),
        }
    }

    fn from_registry(err: crate::registry::RegistryError) -> Self {
        match err {
            crate::registry::RegistryError::Unavailable(_) => Self::unavailable("the registry (DynamoDB)", err),
            other => Self::internal("registry", other),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), self.to_string()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let retry_after = match self {
            Self::TooManyLogins { retry_after_secs } => Some(retry_after_secs),
            Self::Unavailable(..) => Some(RETRY_AFTER_SECS),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<SyncError> for HttpError {
    fn from(err: SyncError) -> Self {
        match err {
            SyncError::UnknownClient => Self::UnknownClient,
            SyncError::NotAuthenticated => Self::NotAuthenticated,
            SyncError::UnknownSource => Self::UnknownSource,
            SyncError::UnknownUser(u) => Self::UnknownUser(u),
            SyncError::BadInput(m) => Self::BadRequest(m),
            SyncError::Refused(m) => Self::Internal(m),
            SyncError::Store(e) => Self::from_store(e),
            SyncError::Registry(e) => Self::from_registry(e),
            SyncError::Unavailable { what, detail } => Self::unavailable(what, detail),
            SyncError::Busy(m) => Self::unavailable("the data set (busy with other writes)", m),
            other => Self::internal("sync", other),
        }
    }
}

/// The queues answer 503 when SQS cannot be reached (docs/rest-api.md §14).
impl From<crate::ports::QueueError> for HttpError {
    fn from(err: crate::ports::QueueError) -> Self {
        match err {
            crate::ports::QueueError::Unavailable { .. } => Self::unavailable("the job queues (SQS)", err),
            other => Self::internal("sqs", other),
        }
    }
}

impl From<crate::store::StoreError> for HttpError {
    fn from(err: crate::store::StoreError) -> Self {
        Self::from_store(err)
    }
}

impl From<crate::registry::RegistryError> for HttpError {
    fn from(err: crate::registry::RegistryError) -> Self {
        Self::from_registry(err)
    }
}

impl From<crate::edges::RedisError> for HttpError {
    fn from(err: crate::edges::RedisError) -> Self {
        match &err {
            crate::edges::RedisError::Command(e) if !redis_outage(e) => Self::internal("redis", err),
            _ => Self::unavailable("the cache (Redis)", err),
        }
    }
}

/// Redis did not answer (down, stopped, unreachable, loading, failing over), as opposed to
/// refusing a command.
fn redis_outage(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            redis::ErrorKind::Server(
                redis::ServerErrorKind::BusyLoading
                    | redis::ServerErrorKind::TryAgain
                    | redis::ServerErrorKind::ClusterDown
                    | redis::ServerErrorKind::MasterDown
            )
        )
}
