//! `GET /rc/v1/clients/{client_id}` (docs/rest-api.md §6.6): a client record as
//! `{"name","type","value"}` entries. The client document routes (C2–C4) live in
//! [`super::data`]; creating, registering and resetting clients is the device API's.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::reply;
use crate::http::admin::AdminRequest;
use crate::http::HttpError;
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/rc/v1/clients/{client_id}", get(show_client))
}

/// C1: the client's device registration and owner.
#[utoipa::path(get, path = "/rc/v1/clients/{client_id}", tag = "clients", security(("api_token" = [])),
    params(("client_id" = String, Path, description = "Client id")),
    responses(
        (status = 200, description = "Field array", body = Vec<super::schemas::Field>),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown client`", body = String, content_type = "text/plain"),
    ))]
pub async fn show_client(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    let client = state.registry().client(&client_id).await?.ok_or(HttpError::UnknownClient)?;
    let field = |name: &str, kind: &str, value: Value| json!({"name": name, "type": kind, "value": value});
    let device = |name: &str| field(name, "string", json!(client.device.get(name)));
    Ok(reply::json(&json!([
        field("rho__id", "string", json!(client.id)),
        device("device_type"),
        device("device_push_type"),
        device("device_pin"),
        device("device_port"),
        device("device_app_id"),
        device("device_app_version"),
        device("phone_id"),
        field("user_id", "string", json!(client.user_id)),
        field("last_sync", "datetime", json!(client.last_sync)),
        field("app_id", "string", json!(client.app_id)),
    ])))
}
