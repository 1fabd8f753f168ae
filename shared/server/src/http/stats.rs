//! The statistics layer of the `sync` and `api` routers (docs/rest-api.md §4.5): times each
//! request into its `http:…` metric (and `clientdocs`), then flushes the process's samples
//! when a flush is due (`crate::stats`). Added only when `:stats:` is on.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;
use crate::stats::{http_metric, is_clientdocs, StatsRecorder};
use crate::store::Store;

/// What the layer needs: the recorder and the store it flushes to — two handles cloned
/// per request, not the whole application state.
#[derive(Clone)]
pub struct StatsState {
    stats: Arc<StatsRecorder>,
    store: Arc<dyn Store>,
}

impl StatsState {
    pub fn of(state: &AppState) -> Self {
        Self { stats: state.sync.stats.clone(), store: state.sync.store.clone() }
    }
}

pub async fn layer(State(state): State<StatsState>, request: Request, next: Next) -> Response {
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
    state.stats.record(&metric, elapsed);
    if clientdocs {
        state.stats.record("clientdocs", elapsed);
    }
    // A 503 says a dependency (often Redis) is down: no flush that would only wait for it
    // too; the samples go with a later request.
    if response.status() != axum::http::StatusCode::SERVICE_UNAVAILABLE {
        state.stats.flush_if_due(&*state.store).await;
    }
    response
}
