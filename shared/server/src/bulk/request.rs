//! The device's `bulk_data` request (docs/bulk-data.md §2, §8): which sources, whether a
//! file is ready, starting a build, and — when the answer is a URL — setting the client's
//! sync state of each selected source to the snapshot in the file.
//!
//! The caller (the sync router) has checked the session and the client already; nothing
//! here is written for a request that is refused.

use serde_json::{Map, Value};

use super::record::{self, BulkPartition, BulkRecord, BulkState, Progress};
use super::BulkError;
use crate::config::{PartitionType, SyncType};
use crate::ports::jobs::{Job, JobMessage};
use crate::ports::Queue;
use crate::sync::{SourceCtx, SyncServices};

/// A build still in progress after this long is taken for lost and started again
/// (docs/bulk-data.md §2.3). It is the bulk queue's visibility timeout in `template.yaml`:
/// by then SQS would have handed a crashed job out again anyway.
pub const BUILD_TIMEOUT_SECS: u64 = 1800;

/// How long a record stays in the cache past the moment it stops being handed out.
const RECORD_GRACE_SECS: u64 = 86_400;

/// The request's parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkRequest {
    /// `user` or `app` (any other value matches no source).
    pub partition: Option<String>,
    /// The selection: `None` for every source of the partition.
    pub sources: Option<Vec<String>>,
}

impl BulkRequest {
    /// Reads `partition` and `sources` (a JSON array, or the legacy comma-separated string).
    pub fn from_params(params: &Map<String, Value>) -> BulkRequest {
        let partition = match params.get("partition") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let sources = match params.get("sources") {
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(|i| match i {
                        Value::String(s) => Some(s.clone()),
                        Value::Object(o) => o.get("name").and_then(Value::as_str).map(str::to_owned),
                        _ => None,
                    })
                    .collect(),
            ),
            Some(Value::String(s)) if !s.is_empty() => {
                Some(s.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect())
            }
            _ => None,
        };
        BulkRequest { partition, sources }
    }
}

/// The answer, sent as `{"result": …}` JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkAnswer {
    /// Nothing to sync in this partition.
    Nop,
    /// A build is under way: ask again later.
    Wait,
    /// The file's URL (`""` when a selected source has errors).
    Url(String),
}

impl BulkAnswer {
    pub fn to_json(&self) -> String {
        match self {
            Self::Nop => serde_json::json!({"result": "nop"}),
            Self::Wait => serde_json::json!({"result": "wait"}),
            Self::Url(url) => serde_json::json!({"result": "url", "url": url}),
        }
        .to_string()
    }
}

fn partition_str(p: PartitionType) -> &'static str {
    match p {
        PartitionType::User => "user",
        PartitionType::App => "app",
    }
}

/// The sources of `partition` as settings and overrides make them, in priority order.
pub async fn partition_sources(svc: &SyncServices, partition: &str) -> Result<Vec<SourceCtx>, BulkError> {
    let mut out = Vec::new();
    for config in &svc.settings.sources {
        if let Some(ctx) = svc.source(&config.name).await? {
            if partition_str(ctx.config.partition_type) == partition {
                out.push(ctx);
            }
        }
    }
    out.sort_by(|a, b| (a.config.priority, &a.config.name).cmp(&(b.config.priority, &b.config.name)));
    Ok(out)
}

/// The stored record `name`, if any.
pub async fn load(svc: &SyncServices, name: &str) -> Result<Option<BulkRecord>, BulkError> {
    let key = record::record_key(svc.store.keys(), name);
    match svc.store.get(&key).await? {
        None => Ok(None),
        Some(text) => {
            serde_json::from_str(&text).map(Some).map_err(|e| BulkError::Record(name.to_owned(), e.to_string()))
        }
    }
}

/// Stores `record`, kept a day past the time it stops being handed out.
pub async fn save(svc: &SyncServices, record: &BulkRecord) -> Result<(), BulkError> {
    let key = record::record_key(svc.store.keys(), &record.name);
    let text = serde_json::to_string(record).map_err(|e| BulkError::Record(record.name.clone(), e.to_string()))?;
    let now = svc.clock.now_secs();
    let until = record.refresh_time.max(record.started_at + BUILD_TIMEOUT_SECS).max(now);
    svc.store.set(&key, Some(&text), Some(until - now + RECORD_GRACE_SECS)).await?;
    Ok(())
}

/// Whether both the database and its `.rzip` are in the bucket.
async fn files_exist(svc: &SyncServices, record: &BulkRecord) -> Result<bool, BulkError> {
    let Some(key) = &record.key else { return Ok(false) };
    Ok(svc.blobs().head(key).await?.is_some() && svc.blobs().head(&format!("{key}.rzip")).await?.is_some())
}

/// Whether a partition source's schema hash differs from the one the file was written with
/// (docs/bulk-data.md §2.3): a source that gained, lost or changed its schema makes the
/// file stale, whoever noticed the change.
async fn schema_changed(
    svc: &SyncServices,
    record: &BulkRecord,
    in_partition: &[SourceCtx],
    login: &str,
) -> Result<bool, BulkError> {
    for source in in_partition.iter().filter(|s| record.partition_sources.contains(&s.config.name)) {
        let pk = source.keys(svc, login);
        let now = svc.store.hget(&pk.src, "schema_sha1").await?.filter(|s| !s.is_empty());
        if now.as_ref() != record.schemas.get(&source.config.name) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Answers one `bulk_data` request of `login`'s client `client_id`.
pub async fn answer(
    svc: &SyncServices,
    login: &str,
    client_id: &str,
    request: &BulkRequest,
) -> Result<BulkAnswer, BulkError> {
    let partition = request.partition.as_deref().ok_or(BulkError::MissingPartition)?;
    let in_partition = partition_sources(svc, partition).await?;
    let selected: Vec<&SourceCtx> = match &request.sources {
        // The selection is cut down to the partition's sources.
        Some(names) => in_partition.iter().filter(|s| names.contains(&s.config.name)).collect(),
        None => in_partition.iter().collect(),
    };
    if selected.is_empty() {
        return Ok(BulkAnswer::Nop);
    }
    let kind = if partition == "user" { BulkPartition::User } else { BulkPartition::App };
    let name = record::record_name(kind, login);
    let now = svc.clock.now_secs();
    let existing = load(svc, &name).await?;
    let restart = match &existing {
        None => true,
        Some(r) => match r.state {
            BulkState::Failed => true,
            BulkState::InProgress => now >= r.started_at + BUILD_TIMEOUT_SECS,
            BulkState::Completed => {
                r.refresh_time <= now
                    || schema_changed(svc, r, &in_partition, login).await?
                    || !files_exist(svc, r).await?
            }
        },
    };
    if restart {
        let selected = selected.iter().map(|s| s.config.name.clone()).collect();
        let all = in_partition.iter().map(|s| s.config.name.clone()).collect();
        start(svc, name, kind, login, selected, all).await?;
        return Ok(BulkAnswer::Wait);
    }
    let Some(record) = existing.filter(|r| r.state == BulkState::Completed) else { return Ok(BulkAnswer::Wait) };
    // The record's own selection is what the file holds (a record is reused for other
    // selections until it expires).
    let mut errors = false;
    for source in in_partition.iter().filter(|s| record.sources.contains(&s.config.name)) {
        let pk = source.keys(svc, login);
        if let Some(snapshot) = record.snapshots.get(&source.config.name) {
            if source.config.sync_type != SyncType::BulkOnly {
                seed_client(svc, &pk, client_id, snapshot).await?;
            }
        }
        if svc.store.hget(&pk.src, "errors").await?.is_some_and(|e| !e.is_empty()) {
            errors = true;
        }
    }
    if errors {
        if let Some(key) = &record.key {
            for k in [key.clone(), format!("{key}.rzip"), format!("{key}.gzip")] {
                svc.blobs().delete(&k).await?;
            }
        }
        return Ok(BulkAnswer::Url(String::new()));
    }
    Ok(BulkAnswer::Url(record.url.unwrap_or_default()))
}

/// Sets the client's state of one source to "holds the partition at the snapshot's
/// version" (docs/bulk-data.md §8): its documents are dropped as by a client reset, then
/// the cursor's base is the snapshot version and its schema hash the file's. The next
/// incremental sync scans the change index from that version on.
async fn seed_client(
    svc: &SyncServices,
    pk: &crate::store::keys::PartitionKeys,
    client_id: &str,
    snapshot: &record::Snapshot,
) -> Result<(), BulkError> {
    let ck = pk.client(client_id);
    svc.store.purge_client_docs(&ck).await?;
    svc.store
        .hset(&ck.st, &[("base", Some(snapshot.version.to_string())), ("ssha", snapshot.schema_sha1.clone())])
        .await?;
    Ok(())
}

/// Creates a new in-progress record (replacing any old one) and queues its job; when the
/// queue refuses, the record is removed again and the request fails.
async fn start(
    svc: &SyncServices,
    name: String,
    partition: BulkPartition,
    login: &str,
    sources: Vec<String>,
    partition_sources: Vec<String>,
) -> Result<(), BulkError> {
    let now = svc.clock.now_secs();
    let build = crate::auth::tokens::random_token();
    let record = BulkRecord {
        name: name.clone(),
        build: build.clone(),
        state: BulkState::InProgress,
        user: login.to_owned(),
        partition,
        sources: sources.clone(),
        partition_sources,
        started_at: now,
        refresh_time: now + svc.app().bulk_sync_poll_interval,
        key: None,
        url: None,
        snapshots: Default::default(),
        schemas: Default::default(),
        progress: Progress::Queued,
        error: None,
        size: None,
        timings: Default::default(),
    };
    save(svc, &record).await?;
    let message = JobMessage { id: Some(build), job: Job::Bulk { name: name.clone(), sources } };
    if let Err(err) = svc.queue().send(Queue::Bulk, &message).await {
        svc.store.del(&[&record::record_key(svc.store.keys(), &name)]).await?;
        return Err(err.into());
    }
    Ok(())
}

/// Sets `name`'s record (if any) to expire now: the next request builds a new file
/// (docs/bulk-data.md §2.3).
pub async fn expire(svc: &SyncServices, name: &str) -> Result<(), BulkError> {
    if let Some(mut record) = load(svc, name).await? {
        record.refresh_time = svc.clock.now_secs();
        save(svc, &record).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn parameters_take_arrays_legacy_strings_and_nothing() {
        let r = BulkRequest::from_params(&params(serde_json::json!({"partition": "user", "sources": ["A", "B"]})));
        assert_eq!(r, BulkRequest { partition: Some("user".into()), sources: Some(vec!["A".into(), "B".into()]) });
        let r = BulkRequest::from_params(&params(serde_json::json!({"partition": "app", "sources": "A, B,"})));
        assert_eq!(r.sources, Some(vec!["A".into(), "B".into()]));
        let r = BulkRequest::from_params(&params(serde_json::json!({"sources": [{"name": "A"}]})));
        assert_eq!(r, BulkRequest { partition: None, sources: Some(vec!["A".into()]) });
        let r = BulkRequest::from_params(&params(serde_json::json!({"partition": "", "sources": ""})));
        assert_eq!(r, BulkRequest::default());
        assert_eq!(BulkAnswer::Url(String::new()).to_json(), r#"{"result":"url","url":""}"#);
        assert_eq!(BulkAnswer::Nop.to_json(), r#"{"result":"nop"}"#);
    }
}
