//! OpenAPI descriptions of the document routes that [`super::data`] implements (store,
//! read state, user and client documents, backend data pushes — docs/rest-api.md D1–D2,
//! U8–U10, C2–C4, T1, P1–P5). They are kept apart from the handlers so the description
//! does not depend on how those are written; the functions are never called.
#![allow(dead_code)]

use super::schemas::{FastBody, PushDeletesBody, PushObjectsBody, ReadStateBody, SetDocBody};

#[utoipa::path(get, path = "/rc/v1/store/{doc}", tag = "store", security(("api_token" = [])),
    params(("doc" = String, Path, description = "RhoConnect document name, e.g. `source:application:testuser:Product:md`")),
    responses(
        (status = 200, description = "The document: JSON object map or list, raw string, `{}` or empty when missing (docs/rest-api.md §5.2)", body = String),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
    ))]
pub fn get_doc() {}

#[utoipa::path(post, path = "/rc/v1/store/{doc}", tag = "store", security(("api_token" = [])),
    params(("doc" = String, Path, description = "RhoConnect document name")),
    request_body(content = SetDocBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (empty body)", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Invalid value object for '<id>': Hash is expected.`", body = String, content_type = "text/plain"),
    ))]
pub fn set_doc() {}

#[utoipa::path(get, path = "/rc/v1/users/{user_id}/sources/{source_id}/docnames", tag = "users", security(("api_token" = [])),
    params(("user_id" = String, Path, description = "Login, or `*`"), ("source_id" = String, Path, description = "Source name")),
    responses(
        (status = 200, description = "`{md, md_size, md_copy, errors}` → docnames", body = std::collections::BTreeMap<String, String>),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown source`", body = String, content_type = "text/plain"),
    ))]
pub fn user_docnames() {}

#[utoipa::path(get, path = "/rc/v1/users/{user_id}/sources/{source_id}/docs/{doc}", tag = "users", security(("api_token" = [])),
    params(("user_id" = String, Path, description = "Login"), ("source_id" = String, Path, description = "Source name"), ("doc" = String, Path, description = "Document type, e.g. `md`")),
    responses(
        (status = 200, description = "The document (docs/rest-api.md §5.2)", body = String),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown source`", body = String, content_type = "text/plain"),
    ))]
pub fn get_user_doc() {}

#[utoipa::path(post, path = "/rc/v1/users/{user_id}/sources/{source_id}/docs/{doc}", tag = "users", security(("api_token" = [])),
    params(("user_id" = String, Path, description = "Login"), ("source_id" = String, Path, description = "Source name"), ("doc" = String, Path, description = "Document type")),
    request_body(content = SetDocBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (empty body)", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown user '<id>'`, `Unknown source`, or an invalid object value", body = String, content_type = "text/plain"),
    ))]
pub fn set_user_doc() {}

#[utoipa::path(get, path = "/rc/v1/clients/{client_id}/sources/{source_id}/docnames", tag = "clients", security(("api_token" = [])),
    params(("client_id" = String, Path, description = "Client id"), ("source_id" = String, Path, description = "Source name")),
    responses(
        (status = 200, description = "Client document type → docname (24 entries, docs/rest-api.md §5.5)", body = std::collections::BTreeMap<String, String>),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown client`", body = String, content_type = "text/plain"),
    ))]
pub fn client_docnames() {}

#[utoipa::path(get, path = "/rc/v1/clients/{client_id}/sources/{source_id}/docs/{doc}", tag = "clients", security(("api_token" = [])),
    params(("client_id" = String, Path, description = "Client id"), ("source_id" = String, Path, description = "Source name"), ("doc" = String, Path, description = "Client document type, e.g. `cd`")),
    responses(
        (status = 200, description = "The document (docs/rest-api.md §5.2)", body = String),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown client` or `Invalid document type <doc> for Rhoconnect::Client`", body = String, content_type = "text/plain"),
    ))]
pub fn get_client_doc() {}

#[utoipa::path(post, path = "/rc/v1/clients/{client_id}/sources/{source_id}/docs/{doc}", tag = "clients", security(("api_token" = [])),
    params(("client_id" = String, Path, description = "Client id"), ("source_id" = String, Path, description = "Source name"), ("doc" = String, Path, description = "Client document type")),
    request_body(content = SetDocBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (empty body)", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown client`, `Invalid document type …`, or an invalid object value", body = String, content_type = "text/plain"),
    ))]
pub fn set_client_doc() {}

#[utoipa::path(put, path = "/rc/v1/readstate/users/{user_id}/sources/{source_id}", tag = "store", security(("api_token" = [])),
    params(("user_id" = String, Path, description = "Login"), ("source_id" = String, Path, description = "Source name")),
    request_body(content = ReadStateBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Set (empty body)", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown source`", body = String, content_type = "text/plain"),
    ))]
pub fn set_read_state() {}

macro_rules! push_route {
    ($name:ident, $path:literal, $body:ty, $what:literal) => {
        #[utoipa::path(post, path = $path, tag = "push", security(("api_token" = [])),
            params(("source" = String, Path, description = "Source name (created on demand)")),
            request_body(content = $body, content_type = "application/json", description = $what),
            responses(
                (status = 200, description = "`done`", body = String, content_type = "text/plain"),
                (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
                (status = 500, description = "`Missing required attribute user_id`, an invalid object value, or an expired lock", body = String, content_type = "text/plain"),
            ))]
        pub fn $name() {}
    };
}

push_route!(push_objects, "/app/v1/{source}/push_objects", PushObjectsBody, "Upsert objects into the master document");
push_route!(push_deletes, "/app/v1/{source}/push_deletes", PushDeletesBody, "Remove objects by id");
push_route!(fast_insert, "/app/v1/{source}/fast_insert", FastBody, "Insert objects without checks");
push_route!(fast_update, "/app/v1/{source}/fast_update", FastBody, "Remove, then set attributes");
push_route!(fast_delete, "/app/v1/{source}/fast_delete", FastBody, "Remove objects whose attributes match exactly");
