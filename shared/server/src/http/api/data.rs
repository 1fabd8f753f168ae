//! REST routes over sync documents: store get/set by RhoConnect document name, the user
//! and client document routes, read state (docs/rest-api.md §5.3–5.6) and the backend data
//! pushes (docs/rest-api.md §8). All need an admin API token.
//! Their legacy aliases are served by [`super::legacy`], which rewrites them onto these.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use serde_json::{json, Map, Value};

use super::reply;
use crate::http::admin::AdminRequest;
use crate::http::{HttpError, Parsed};
use crate::store::keys::SHARED_PARTITION;
use crate::sync::docs::{self, Doc, CLIENT_DOC_TYPES, INTERNAL_CLIENT_DOC_TYPES};
use crate::sync::push::{push, PushKind};
use crate::sync::{clients, SourceCtx};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rc/v1/store/{doc}", get(get_doc).post(set_doc))
        .route("/rc/v1/readstate/users/{user_id}/sources/{source_id}", put(read_state))
        .route("/app/v1/{source}/{action}", post(backend_push))
        .route("/rc/v1/users/{user_id}/sources/{source_id}/docnames", get(user_docnames))
        .route("/rc/v1/users/{user_id}/sources/{source_id}/docs/{doc}", get(get_user_doc).post(set_user_doc))
        .route("/rc/v1/clients/{client_id}/sources/{source_id}/docnames", get(client_docnames))
        .route("/rc/v1/clients/{client_id}/sources/{source_id}/docs/{doc}", get(get_client_doc).post(set_client_doc))
}

fn doc_response(doc: Doc) -> Response {
    match doc {
        Doc::Missing { object_type: true } => reply::json(&json!({})),
        Doc::Missing { object_type: false } => reply::empty(),
        Doc::Text(t) => reply::text(t),
        Doc::Json(v) => reply::json(&v),
    }
}

fn append(req: &Parsed) -> bool {
    rhosync_engine::params::lenient_bool(req.params.get("append"))
}

async fn get_doc(
    State(state): State<AppState>,
    Path(doc): Path<String>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    Ok(doc_response(docs::get(&state.sync, &doc).await?))
}

async fn set_doc(
    State(state): State<AppState>,
    Path(doc): Path<String>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    docs::set(&state.sync, &doc, req.params.get("data"), append(&req)).await?;
    Ok(reply::empty())
}

async fn source(state: &AppState, name: &str) -> Result<SourceCtx, HttpError> {
    state.sync.source(name).await?.ok_or(HttpError::UnknownSource)
}

async fn read_state(
    State(state): State<AppState>,
    Path((user, source_id)): Path<(String, String)>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let source = source(&state, &source_id).await?;
    docs::set_read_state(&state.sync, &source, &user, &req.params).await?;
    Ok(reply::empty())
}

async fn backend_push(
    State(state): State<AppState>,
    Path((source_name, action)): Path<(String, String)>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let kind = PushKind::parse(&action).ok_or(HttpError::NotFound)?;
    let source = source(&state, &source_name).await?;
    push(&state.sync, &source, kind, &req.params).await?;
    Ok(reply::text("done"))
}

/// The partition segment of a user's source docnames (docs/rest-api.md §5.4).
fn partition_of(source: &SourceCtx, user: &str) -> String {
    if user == "*" && source.config.partition_type == crate::config::PartitionType::User {
        return "*".to_owned();
    }
    source.partition(user)
}

fn source_docname(source: &SourceCtx, user: &str, doc: &str) -> String {
    format!("source:application:{}:{}:{doc}", partition_of(source, user), source.config.name)
}

async fn user_docnames(
    State(state): State<AppState>,
    Path((user, source_id)): Path<(String, String)>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    let source = source(&state, &source_id).await?;
    let names: Map<String, Value> = ["md", "errors", "md_size", "md_copy"]
        .iter()
        .map(|d| ((*d).to_owned(), Value::String(source_docname(&source, &user, d))))
        .collect();
    Ok(reply::json(&Value::Object(names)))
}

async fn get_user_doc(
    State(state): State<AppState>,
    Path((user, source_id, doc)): Path<(String, String, String)>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    let source = source(&state, &source_id).await?;
    Ok(doc_response(docs::get(&state.sync, &source_docname(&source, &user, &doc)).await?))
}

async fn set_user_doc(
    State(state): State<AppState>,
    Path((user, source_id, doc)): Path<(String, String, String)>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    if user != SHARED_PARTITION && state.registry().user(&user).await?.is_none() {
        return Err(HttpError::UnknownUser(user));
    }
    let source = source(&state, &source_id).await?;
    docs::set(&state.sync, &source_docname(&source, &user, &doc), req.params.get("data"), append(&req)).await?;
    Ok(reply::empty())
}

async fn client_docname(
    state: &AppState,
    client_id: &str,
    source_id: &str,
    doc: Option<&str>,
) -> Result<Vec<(String, String)>, HttpError> {
    let client = clients::find(&state.sync, client_id).await?.ok_or(HttpError::UnknownClient)?;
    let name = |d: &str| format!("client:application:{}:{}:{source_id}:{d}", client.user_id, client.id);
    match doc {
        None => Ok(CLIENT_DOC_TYPES.iter().map(|d| ((*d).to_owned(), name(d))).collect()),
        Some(d) if CLIENT_DOC_TYPES.contains(&d) || INTERNAL_CLIENT_DOC_TYPES.contains(&d) => {
            Ok(vec![(d.to_owned(), name(d))])
        }
        Some(d) => Err(HttpError::Internal(format!("Invalid document type {d} for Rhoconnect::Client"))),
    }
}

async fn client_docnames(
    State(state): State<AppState>,
    Path((client_id, source_id)): Path<(String, String)>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    let names = client_docname(&state, &client_id, &source_id, None).await?;
    Ok(reply::json(&Value::Object(names.into_iter().map(|(k, v)| (k, Value::String(v))).collect())))
}

async fn get_client_doc(
    State(state): State<AppState>,
    Path((client_id, source_id, doc)): Path<(String, String, String)>,
    _admin: AdminRequest,
) -> Result<Response, HttpError> {
    let names = client_docname(&state, &client_id, &source_id, Some(&doc)).await?;
    let name = names.into_iter().next().map(|(_, n)| n).unwrap_or_default();
    Ok(doc_response(docs::get(&state.sync, &name).await?))
}

async fn set_client_doc(
    State(state): State<AppState>,
    Path((client_id, source_id, doc)): Path<(String, String, String)>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let names = client_docname(&state, &client_id, &source_id, Some(&doc)).await?;
    let name = names.into_iter().next().map(|(_, n)| n).unwrap_or_default();
    docs::set(&state.sync, &name, req.params.get("data"), append(&req)).await?;
    Ok(reply::empty())
}
