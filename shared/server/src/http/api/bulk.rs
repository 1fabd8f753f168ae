//! Bulk-data records for the console (docs/bulk-data.md §9): the state and progress of the
//! user partition file of one user, or of the app partition file.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::reply;
use crate::bulk::record::{record_name, BulkPartition};
use crate::bulk::request;
use crate::http::admin::AdminRequest;
use crate::http::HttpError;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rc/v1/bulk_data/users/{user_id}", get(user_record))
        .route("/rc/v1/bulk_data/app", get(app_record))
}

async fn record(state: &AppState, partition: BulkPartition, login: &str) -> Result<Response, HttpError> {
    let name = record_name(partition, login);
    let record = request::load(&state.sync, &name)
        .await
        .map_err(|e| HttpError::internal("bulk data", e))?
        .ok_or(HttpError::NotFound)?;
    let value = serde_json::to_value(&record).map_err(|e| HttpError::internal("bulk data", e))?;
    Ok(reply::json(&value))
}

/// The user partition record of `user_id`.
#[utoipa::path(get, path = "/rc/v1/bulk_data/users/{user_id}", tag = "bulk", security(("api_token" = [])),
    params(("user_id" = String, Path, description = "User login")),
    responses(
        (status = 200, description = "The bulk record: state, progress, error, url", body = Object),
        (status = 404, description = "No record", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
    ))]
pub async fn user_record(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    record(&state, BulkPartition::User, &user_id).await
}

/// The app partition record.
#[utoipa::path(get, path = "/rc/v1/bulk_data/app", tag = "bulk", security(("api_token" = [])),
    responses(
        (status = 200, description = "The bulk record: state, progress, error, url", body = Object),
        (status = 404, description = "No record", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
    ))]
pub async fn app_record(State(state): State<AppState>, _admin: AdminRequest) -> Result<Response, HttpError> {
    record(&state, BulkPartition::App, "").await
}
