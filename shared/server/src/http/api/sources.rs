//! `/rc/v1/sources/*` (docs/rest-api.md §7): list sources by partition type,
//! show a source's 21 fields, and write setting overrides. The effective settings and
//! where overrides are kept: [`crate::sync::sources`].

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::reply;
use crate::config::PartitionType;
use crate::http::admin::AdminRequest;
use crate::http::HttpError;
use crate::sync::sources::{self, INTEGER_FIELDS, STRING_FIELDS};
use crate::AppState;

impl From<sources::SourcesError> for HttpError {
    fn from(err: sources::SourcesError) -> Self {
        match err {
            sources::SourcesError::Invalid(message) => HttpError::BadRequest(message),
            other => HttpError::internal("sources", other),
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rc/v1/sources/type/{partition_type}", get(list_sources))
        .route("/rc/v1/sources/{source_id}", get(show_source).put(update_source))
}

/// R1: source names of one partition type (`all`, `user`, `app`; anything else → `[]`),
/// by priority then name.
#[utoipa::path(get, path = "/rc/v1/sources/type/{partition_type}", tag = "sources", security(("api_token" = [])),
    params(("partition_type" = String, Path, description = "`all`, `user` or `app`")),
    responses(
        (status = 200, description = "JSON array of source names", body = Vec<String>),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
    ))]
pub async fn list_sources(
    State(state): State<AppState>,
    Path(partition_type): Path<String>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    let wanted = match partition_type.as_str() {
        "all" => None,
        "user" => Some(PartitionType::User),
        "app" => Some(PartitionType::App),
        _ => return Ok(reply::json(&json!([]))),
    };
    let names: Vec<String> = sources::all(&state.sync)
        .await?
        .into_iter()
        .filter(|v| wanted.is_none_or(|p| v.config.partition_type == p))
        .map(|v| v.config.name)
        .collect();
    Ok(reply::json(&json!(names)))
}

/// R2: the 21 `{"name","value","type"}` entries of docs/rest-api.md §7.2.
#[utoipa::path(get, path = "/rc/v1/sources/{source_id}", tag = "sources", security(("api_token" = [])),
    params(("source_id" = String, Path, description = "Source name (case-sensitive)")),
    responses(
        (status = 200, description = "Field array", body = Vec<super::schemas::Field>),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown source`", body = String, content_type = "text/plain"),
    ))]
pub async fn show_source(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    let view = sources::find(&state.sync, &source_id).await?.ok_or(HttpError::UnknownSource)?;
    let has_many = if view.overrides.contains_key("has_many") {
        view.field("has_many")
    } else {
        json!(sources::has_many(&sources::all(&state.sync).await?, &source_id))
    };
    let entry = |name: &str, kind: &str| {
        let value = if name == "has_many" { has_many.clone() } else { view.field(name) };
        json!({"name": name, "value": value, "type": kind})
    };
    let fields: Vec<Value> = STRING_FIELDS
        .iter()
        .map(|n| entry(n, "string"))
        .chain(INTEGER_FIELDS.iter().map(|n| entry(n, "integer")))
        .collect();
    Ok(reply::json(&Value::Array(fields)))
}

/// R3: writes the fields of `data` in order; a field that may not be written fails after
/// the ones before it were stored (docs/rest-api.md §7.2). The values take effect on every path
/// that reads the source's settings ([`crate::sync::effective`]).
#[utoipa::path(put, path = "/rc/v1/sources/{source_id}", tag = "sources", security(("api_token" = [])),
    params(("source_id" = String, Path, description = "Source name (case-sensitive)")),
    request_body(content = super::schemas::UpdateSourceBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Updated (empty body)", body = String, content_type = "text/plain"),
        (status = 400, description = "`data` is not an object, or a value the settings file would refuse (nothing is written)", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown source` or ``undefined method `<attr>=' for Rhoconnect::Source``", body = String, content_type = "text/plain"),
    ))]
pub async fn update_source(
    State(state): State<AppState>,
    Path(source_id): Path<String>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    if sources::find(&state.sync, &source_id).await?.is_none() {
        return Err(HttpError::UnknownSource);
    }
    let data = match req.params.get("data") {
        None | Some(Value::Null) => return Ok(reply::empty()),
        Some(Value::Object(data)) => data,
        Some(_) => return Err(HttpError::BadRequest("data must be an object".into())),
    };
    let mut accepted = Vec::new();
    let mut failure = None;
    for (field, value) in data {
        if !sources::is_writable(field) {
            failure = Some(HttpError::Internal(format!("undefined method `{field}=' for Rhoconnect::Source")));
            break;
        }
        accepted.push((field.clone(), value.clone()));
    }
    if !accepted.is_empty() {
        sources::write_fields(&state.sync, &source_id, &accepted).await?;
    }
    match failure {
        Some(err) => Err(err),
        None => Ok(reply::empty()),
    }
}
