//! The three HTTP routers — one per Lambda function — built from the same state.
//!
//! Each router is a plain axum `Router`: `lambda_http` runs it in Lambda and the local runner
//! serves it over a socket, so tests exercise exactly the code Lambda runs. Which paths go
//! to which function is decided by `template.yaml`'s HTTP API; the routers only declare the
//! routes they own.

pub mod admin;
pub mod api;
pub mod aws_calls;
pub mod console;
pub mod cors;
pub mod error;
pub mod request;
pub mod request_id;
pub mod stats;
pub mod sync;
pub mod throttle;

pub use error::HttpError;
pub use request::{ApiRequest, DeviceRequest, Parsed};

use axum::http::{header, HeaderValue};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// Which function a router belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FunctionName {
    Sync,
    Api,
    Console,
}

impl FunctionName {
    pub const ALL: [FunctionName; 3] = [Self::Sync, Self::Api, Self::Console];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Api => "api",
            Self::Console => "console",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The function's router with the layers every response needs.
    pub fn router(self, state: AppState) -> Router {
        let routes = match self {
            Self::Sync => sync::routes(),
            Self::Api => api::routes(),
            Self::Console => console::routes(),
        };
        let router = routes.with_state(state.clone());
        let router = if self == Self::Sync { sync::legacy_session::wrap(router, &state) } else { router };
        // Statistics time the device and REST API groups (docs/rest-api.md §4.5); off, the
        // layer is not there at all.
        let router = if self != Self::Console && state.sync.stats.enabled() {
            router.layer(axum::middleware::from_fn_with_state(stats::StatsState::of(&state), stats::layer))
        } else {
            router
        };
        with_common_layers(router, state)
    }
}

/// Every response is uncacheable (docs/device-protocol.md §2.5, docs/rest-api.md §1.4) and
/// carries its request id ([`request_id`]); browsers on other origins get CORS answers when
/// the settings allow them ([`cors`]).
fn with_common_layers(router: Router, state: AppState) -> Router {
    // The CORS middleware only when origins are configured: it costs a state clone and a
    // boxed future on every request otherwise.
    let router = if state.config.settings.app.cors_origins.is_empty() {
        router
    } else {
        router.layer(axum::middleware::from_fn_with_state(state, cors::layer))
    };
    let router = router
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .layer(SetResponseHeaderLayer::overriding(header::PRAGMA, HeaderValue::from_static("no-cache")))
        .layer(axum::middleware::from_fn(request_id::layer))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    // The AWS call count header only when asked for (`RHOSYNC_COUNT_AWS_CALLS=1`).
    if aws_calls::enabled() {
        router.layer(axum::middleware::from_fn(aws_calls::layer))
    } else {
        router
    }
}
