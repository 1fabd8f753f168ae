//! The bulk-data routes of the sync function (docs/bulk-data.md §2, §6): the `bulk_data`
//! request (session, then client, then partition, as RhoConnect checks them) and the
//! `/data/…` file download.

use axum::body::Body;
use axum::extract::{RawPathParams, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::handlers::{client_id, json_ok, require_client, respond, session_login};
use crate::bulk::serve::{self, Download};
use crate::bulk::{request, BulkError, BulkRequest};
use crate::http::error::HttpError;
use crate::http::request::DeviceRequest;
use crate::sync::SyncError;
use crate::AppState;

/// The HTTP form of a bulk failure: the missing partition is RhoConnect's 500 (with a clear
/// text); store, queue and bucket failures answer as on every sync route (an outage is a
/// 503); the rest are internal failures.
fn http_error(err: BulkError) -> HttpError {
    match err {
        BulkError::MissingPartition => HttpError::Internal(err.to_string()),
        BulkError::Sync(e) => HttpError::from(e),
        BulkError::Store(e) => HttpError::from(e),
        BulkError::Queue(e) => HttpError::from(SyncError::from(e)),
        BulkError::Blob(e) => HttpError::from(SyncError::from(e)),
        other => HttpError::internal("bulk data", other),
    }
}

/// `bulk_data` (docs/bulk-data.md §2): `{"result": "nop" | "wait" | "url", …}`.
pub async fn bulk_data(
    State(state): State<AppState>,
    path: RawPathParams,
    DeviceRequest(req): DeviceRequest,
) -> Response {
    let result = async {
        let login = session_login(&state, &req).await?;
        let client = require_client(&state, &login, client_id(&req, &path)).await?;
        let request = BulkRequest::from_params(&req.params);
        let answer = request::answer(&state.sync, &login, &client.id, &request).await.map_err(http_error)?;
        Ok(json_ok(answer.to_json()))
    }
    .await;
    respond(&req, result)
}

/// `GET /data/…`: a bulk file from the bucket, `application/octet-stream`, with `Range`.
pub async fn data_file(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let answer = match serve::download(&state.sync, uri.path(), range).await {
        Ok(Some(answer)) => answer,
        Ok(None) => {
            return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain")], "Not Found").into_response()
        }
        Err(err) => return http_error(err).into_response(),
    };
    let octets = HeaderValue::from_static("application/octet-stream");
    let (status, body, content_range) = match answer {
        Download::Whole(bytes) => (StatusCode::OK, bytes, None),
        Download::Partial(bytes, range) => (StatusCode::PARTIAL_CONTENT, bytes, Some(range)),
        Download::Unsatisfiable(range) => (StatusCode::RANGE_NOT_SATISFIABLE, Vec::new(), Some(range)),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, octets);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(range) = content_range.and_then(|r| HeaderValue::from_str(&r).ok()) {
        h.insert(header::CONTENT_RANGE, range);
    }
    response
}
