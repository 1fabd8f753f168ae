//! The console's Jobs screen (docs/rest-api.md §14), admin only: each queue's depth and its
//! DLQ's, the recent bulk-data builds and pings (`GET /rc/v1/system/jobs`); a DLQ's messages
//! with the job they carry and why it last failed; replay and discard by message id; and the
//! client writes adapters rejected (`/rc/v1/system/rejected_writes`, `crate::sync::rejected`).

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::input::param;
use super::reply;
use crate::bulk::record::{BulkRecord, BulkState, Progress};
use crate::http::admin::AdminRequest;
use crate::http::request::Parsed;
use crate::http::HttpError;
use crate::jobs::history::{self, rfc3339};
use crate::ports::jobs::{Job, JobMessage};
use crate::ports::{DeadLetter, Queue};
use crate::store::keys::escape_glob;
use crate::sync::rejected::{self, Selection};
use crate::AppState;

/// Bulk records and DLQ messages listed at most.
const MAX_LISTED: usize = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rc/v1/system/jobs", get(overview))
        .route("/rc/v1/system/jobs/{queue}/dead_letters", get(dead_letters))
        .route("/rc/v1/system/jobs/{queue}/dead_letters/replay", post(replay))
        .route("/rc/v1/system/jobs/{queue}/dead_letters/discard", post(discard))
        .route("/rc/v1/system/rejected_writes", get(rejected_writes))
        .route("/rc/v1/system/rejected_writes/retry", post(retry_rejected))
        .route("/rc/v1/system/rejected_writes/dismiss", post(dismiss_rejected))
}

fn queue_named(name: &str) -> Result<Queue, HttpError> {
    Queue::ALL.into_iter().find(|q| q.as_str() == name).ok_or_else(|| HttpError::UnknownQueue(name.to_owned()))
}

/// The state names of the console for a bulk record.
fn bulk_state(record: &BulkRecord) -> (&'static str, String) {
    match (&record.state, &record.progress) {
        (BulkState::Completed, _) => ("done", "done".into()),
        (BulkState::Failed, _) => ("failed", "failed".into()),
        (_, Progress::Queued) => ("queued", "queued".into()),
        (_, Progress::Refreshing { source, n, of }) => {
            ("refreshing", format!("refreshing source {n} of {of} ({source})"))
        }
        (_, Progress::Writing { source, n, of, written, objects }) => {
            ("writing", format!("writing source {n} of {of} ({source}): {written} of {objects} objects"))
        }
        (_, Progress::Uploading) => ("uploading", "uploading".into()),
        (_, Progress::Done) => ("done", "done".into()),
        (_, Progress::Failed) => ("failed", "failed".into()),
    }
}

async fn recent_bulk(state: &AppState) -> Result<Vec<Value>, HttpError> {
    let store = &*state.sync.store;
    let pattern = format!("{}:{{bulk:*}}:rec", escape_glob(store.keys().namespace()));
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0;
    loop {
        let (next, batch) = store.scan_keys(cursor, &pattern, 500).await?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 || keys.len() >= 10_000 {
            break;
        }
    }
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut records: Vec<BulkRecord> =
        store.get_many(&refs).await?.into_iter().flatten().filter_map(|t| serde_json::from_str(&t).ok()).collect();
    records.sort_by(|a, b| b.started_at.cmp(&a.started_at).then_with(|| a.name.cmp(&b.name)));
    records.truncate(MAX_LISTED);
    Ok(records
        .iter()
        .map(|r| {
            let (name, progress) = bulk_state(r);
            let user = (r.partition == crate::bulk::record::BulkPartition::User).then(|| r.user.clone());
            json!({
                "name": r.name, "partition": r.partition.as_str(), "user": user, "state": name,
                "progress": progress, "error": r.error, "updated_at": rfc3339(r.started_at),
            })
        })
        .collect())
}

/// Queue depths, the recent bulk builds and the last pings.
#[utoipa::path(get, path = "/rc/v1/system/jobs", tag = "jobs", security(("api_token" = [])),
    responses(
        (status = 200, description = "`{\"queues\": [...], \"bulk\": [...], \"pings\": [...]}`", body = super::schemas::JobsOverview),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 503, description = "SQS is unreachable", body = String, content_type = "text/plain"),
    ))]
pub async fn overview(State(state): State<AppState>, _admin: AdminRequest) -> Result<Response, HttpError> {
    let mut queues = Vec::new();
    for queue in Queue::ALL {
        let d = state.queue_admin.depths(queue).await?;
        queues.push(json!({
            "name": queue.as_str(), "depth": d.depth, "in_flight": d.in_flight,
            "dead_letter": {"depth": d.dead_letter},
        }));
    }
    let bulk = recent_bulk(&state).await?;
    let pings = history::recent_pings(&*state.sync.store).await?;
    let pings = serde_json::to_value(pings).map_err(|e| HttpError::internal("pings", e))?;
    Ok(reply::json(&json!({ "queues": queues, "bulk": bulk, "pings": pings })))
}

/// A DLQ message as the console lists it.
async fn letter_json(state: &AppState, letter: &DeadLetter) -> Result<Value, HttpError> {
    let body: Value = serde_json::from_str(&letter.body).unwrap_or(Value::String(letter.body.clone()));
    let parsed: Option<JobMessage> = serde_json::from_str(&letter.body).ok();
    let (kind, source, user, client) = match parsed.as_ref().map(|m| &m.job) {
        None => ("unknown", None, None, None),
        Some(job) => {
            let (source, user, client) = match job {
                Job::Refresh { source, user, .. } => (Some(source.clone()), Some(user.clone()), None),
                Job::Cud { source, user, write, .. } => {
                    (Some(source.clone()), Some(user.clone()), write.as_ref().map(|w| w.client_id.clone()))
                }
                Job::Ping { users, .. } => (None, users.first().cloned(), None),
                Job::PushChunk { devices, .. } => (None, None, devices.first().map(|d| d.client_id.clone())),
                Job::Bulk { name, .. } => (None, name.split('/').nth(1).map(str::to_owned), None),
            };
            (job.kind(), source, user, client)
        }
    };
    let failure = crate::jobs::errors::load(&*state.sync.store, letter.failed_id()).await?;
    let receive_count = letter.receive_count.max(failure.as_ref().map_or(0, |f| f.receive_count));
    Ok(json!({
        "id": letter.id, "kind": kind, "source": source, "user": user, "client": client,
        "error": failure.map(|f| f.error), "receive_count": receive_count,
        "sent_at": rfc3339((letter.sent_at_ms.max(0) / 1000) as u64), "body": body,
    }))
}

/// The messages of a queue's DLQ (looked at, not removed).
#[utoipa::path(get, path = "/rc/v1/system/jobs/{queue}/dead_letters", tag = "jobs", security(("api_token" = [])),
    params(
        ("queue" = String, Path, description = "`adapter`, `push` or `bulk`"),
        ("max" = Option<u32>, Query, description = "Messages to list, 1 to 100 (default 50)"),
    ),
    responses(
        (status = 200, description = "The DLQ's messages with their job and last error", body = Vec<super::schemas::DeadLetterRow>),
        (status = 404, description = "`Unknown queue <name>`", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 503, description = "SQS is unreachable", body = String, content_type = "text/plain"),
    ))]
pub async fn dead_letters(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let queue = queue_named(&queue)?;
    let max = param(&req, "max").and_then(|m| m.trim().parse::<i64>().ok()).unwrap_or(50).clamp(1, 100) as usize;
    let letters = state.queue_admin.dead_letters(queue, max).await?;
    let mut rows = Vec::with_capacity(letters.len());
    for letter in &letters {
        rows.push(letter_json(&state, letter).await?);
    }
    Ok(reply::json(&Value::Array(rows)))
}

/// The `ids` array of a body.
fn ids_of(req: &Parsed) -> Result<Vec<String>, HttpError> {
    let Some(Value::Array(ids)) = req.params.get("ids") else {
        return Err(HttpError::BadRequest("The body needs an ids array of message ids".into()));
    };
    Ok(ids.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
}

/// Sends DLQ messages back to their queue.
#[utoipa::path(post, path = "/rc/v1/system/jobs/{queue}/dead_letters/replay", tag = "jobs", security(("api_token" = [])),
    params(("queue" = String, Path, description = "`adapter`, `push` or `bulk`")),
    request_body(content = super::schemas::MessageIds, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"replayed\": n}`", body = super::schemas::Replayed),
        (status = 400, description = "No `ids` array", body = String, content_type = "text/plain"),
        (status = 404, description = "`Unknown queue <name>`", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 503, description = "SQS is unreachable", body = String, content_type = "text/plain"),
    ))]
pub async fn replay(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let queue = queue_named(&queue)?;
    let ids = ids_of(&req)?;
    let n = state.queue_admin.replay(queue, &ids).await?;
    Ok(reply::json(&json!({ "replayed": n })))
}

/// Deletes DLQ messages.
#[utoipa::path(post, path = "/rc/v1/system/jobs/{queue}/dead_letters/discard", tag = "jobs", security(("api_token" = [])),
    params(("queue" = String, Path, description = "`adapter`, `push` or `bulk`")),
    request_body(content = super::schemas::MessageIds, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"discarded\": n}`", body = super::schemas::Discarded),
        (status = 400, description = "No `ids` array", body = String, content_type = "text/plain"),
        (status = 404, description = "`Unknown queue <name>`", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 503, description = "SQS is unreachable", body = String, content_type = "text/plain"),
    ))]
pub async fn discard(
    State(state): State<AppState>,
    Path(queue): Path<String>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let queue = queue_named(&queue)?;
    let ids = ids_of(&req)?;
    let n = state.queue_admin.discard(queue, &ids).await?;
    Ok(reply::json(&json!({ "discarded": n })))
}

/// Client writes adapters rejected, optionally of one source and one user.
#[utoipa::path(get, path = "/rc/v1/system/rejected_writes", tag = "jobs", security(("api_token" = [])),
    params(
        ("source_id" = Option<String>, Query, description = "Only this source"),
        ("user_id" = Option<String>, Query, description = "Only this user"),
    ),
    responses(
        (status = 200, description = "The rejected records", body = Vec<super::schemas::RejectedWriteRow>),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
    ))]
pub async fn rejected_writes(
    State(state): State<AppState>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let source = param(&req, "source_id").filter(|s| !s.is_empty());
    let user = param(&req, "user_id").filter(|s| !s.is_empty());
    let rows = rejected::list(&state.sync, source.as_deref(), user.as_deref()).await?;
    let rows = serde_json::to_value(rows).map_err(|e| HttpError::internal("rejected writes", e))?;
    Ok(reply::json(&rows))
}

fn selection(req: &Parsed) -> Result<Selection, HttpError> {
    serde_json::from_value(Value::Object(req.params.clone())).map_err(|e| {
        HttpError::BadRequest(format!(
            "The body needs source, user, client, op (create, update, delete) and objects: {e}"
        ))
    })
}

/// Submits rejected records again as new writes of their client.
#[utoipa::path(post, path = "/rc/v1/system/rejected_writes/retry", tag = "jobs", security(("api_token" = [])),
    request_body(content = super::schemas::RejectedSelection, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"retried\": n}`", body = super::schemas::Retried),
        (status = 400, description = "A body without source, user, client, op and objects", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown source`", body = String, content_type = "text/plain"),
    ))]
pub async fn retry_rejected(
    State(state): State<AppState>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let n = rejected::retry(&state.sync, &selection(&req)?).await?;
    Ok(reply::json(&json!({ "retried": n })))
}

/// Drops rejected records' error entries.
#[utoipa::path(post, path = "/rc/v1/system/rejected_writes/dismiss", tag = "jobs", security(("api_token" = [])),
    request_body(content = super::schemas::RejectedSelection, content_type = "application/json"),
    responses(
        (status = 200, description = "`{\"dismissed\": n}`", body = super::schemas::Dismissed),
        (status = 400, description = "A body without source, user, client, op and objects", body = String, content_type = "text/plain"),
        (status = 422, description = "No or invalid API token", body = String, content_type = "text/plain"),
        (status = 500, description = "`Unknown source`", body = String, content_type = "text/plain"),
    ))]
pub async fn dismiss_rejected(
    State(state): State<AppState>,
    AdminRequest(req): AdminRequest,
) -> Result<Response, HttpError> {
    let n = rejected::dismiss(&state.sync, &selection(&req)?).await?;
    Ok(reply::json(&json!({ "dismissed": n })))
}
