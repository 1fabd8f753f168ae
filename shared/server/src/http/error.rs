//! One error type for every HTTP route, mapped to a status and a plain-text body in one
//! place. The bodies are the exact texts clients match on (docs/device-protocol.md §2.6,
//! docs/rest-api.md §1.5), so they are constants here rather than scattered literals. The
//! services' error enums are converted here too, so that no service names HTTP.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use rhosync_engine::params::CLIENT_DATA_ERROR_BODY;

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
    /// A failure of ours or of a dependency; the message is short and safe to show.
    #[error("{0}")]
    Internal(String),
}

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoApiToken | Self::InvalidApiUser => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotAuthenticated | Self::LoginFailed(_) | Self::LoginError(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound | Self::UnknownMetric => StatusCode::NOT_FOUND,
            Self::NotSupported => StatusCode::NOT_IMPLEMENTED,
            Self::TooManyLogins { .. } => StatusCode::TOO_MANY_REQUESTS,
            // RhoConnect answers these with 500 and clients depend on it: Rhodes detects
            // `Unknown client` only on a non-401 error (docs/device-protocol.md §2.2).
            Self::ClientData | Self::UnknownSource | Self::UnknownClient | Self::UnknownUser(_) | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// Wraps an internal failure, logging the detail and keeping the body short.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(context, error = %err, "request failed");
        Self::Internal(format!("{context}: {err}"))
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), self.to_string()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        if let Self::TooManyLogins { retry_after_secs } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
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
            other => Self::internal("sync", other),
        }
    }
}

macro_rules! internal_from {
    ($($ty:ty => $ctx:literal),* $(,)?) => {$(
        impl From<$ty> for HttpError {
            fn from(err: $ty) -> Self {
                Self::internal($ctx, err)
            }
        }
    )*};
}

internal_from!(
    crate::registry::RegistryError => "registry",
    crate::edges::RedisError => "redis",
    crate::store::StoreError => "redis",
);
