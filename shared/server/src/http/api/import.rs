//! `POST /rc/v1/system/import` (docs/rest-api.md §4.7): one batch of records read from a
//! RhoConnect Redis by `rhosync-admin import-rhoconnect`, checked whole and then written
//! by [`crate::import`].

use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use super::reply;
use crate::http::admin::AdminRequest;
use crate::http::HttpError;
use crate::import::{self, Batch, ImportError};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/rc/v1/system/import", post(import_batch))
}

impl From<ImportError> for HttpError {
    fn from(err: ImportError) -> Self {
        match err {
            ImportError::Invalid(message) => HttpError::BadRequest(message),
            ImportError::Registry(e) => e.into(),
            ImportError::Store(e) => e.into(),
            ImportError::Sources(e) => e.into(),
        }
    }
}

/// I1: checks a batch, then writes it (or, with `dry_run`, only counts); answers what it
/// created, found unchanged and updated.
#[utoipa::path(post, path = "/rc/v1/system/import", tag = "system", security(("api_token" = [])),
    request_body(content = super::schemas::ImportBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Counts per kind of record, and the records skipped", body = super::schemas::ImportReport),
        (status = 400, description = "A record is malformed or conflicts with a stored one; nothing was written", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
    ))]
pub async fn import_batch(
    State(state): State<AppState>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let batch: Batch = serde_json::from_value(Value::Object(req.params.clone()))
        .map_err(|e| HttpError::BadRequest(format!("import batch: {e}")))?;
    let report = import::apply(&state.sync, &batch).await?;
    if !report.dry_run {
        tracing::info!(
            users = report.users.created + report.users.updated,
            clients = report.clients.created + report.clients.updated,
            "RhoConnect import batch written"
        );
    }
    Ok(reply::json(&serde_json::to_value(&report).map_err(|e| HttpError::internal("import report", e))?))
}
