//! The statistics layer of the `sync` and `api` routers (docs/rest-api.md §4.5): times each
//! request into its `http:…` metric (and `clientdocs`), then flushes the process's samples
//! when a flush is due (`crate::stats`). Added only when `:stats:` is on.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;
use crate::stats::{http_metric, is_clientdocs};

pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.starts_with("/health/") {
        return next.run(request).await;
    }
    let method = request.method().as_str();
    let metric = http_metric(method, path, request.uri().query());
    let clientdocs = is_clientdocs(method, path);
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let stats = &state.sync.stats;
    stats.record(&metric, elapsed);
    if clientdocs {
        stats.record("clientdocs", elapsed);
    }
    // A 503 says a dependency (often Redis) is down: no flush that would only wait for it
    // too; the samples go with a later request.
    if response.status() != axum::http::StatusCode::SERVICE_UNAVAILABLE {
        stats.flush_if_due(&*state.sync.store).await;
    }
    response
}
