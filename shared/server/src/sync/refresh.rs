//! Refreshing a source's master document from its adapter (docs/sync-engine.md §4.2–4.3), and
//! the versioned md writes every producer shares.
//!
//! [`refresh`] is the entry point for queued refreshes too: the adapter worker calls it for
//! a `Job::Refresh` (the query request already advanced the read svc).

use std::collections::HashMap;

use indexmap::IndexMap;
use rhosync_engine::model::{apply_refresh_bodies, assign_versions, Change};
use rhosync_engine::page::sha1_hex;
use rhosync_engine::values::{encode_objects, normalize_objects, Body, BodyMap, ObjectMap};
use serde_json::{json, Value};

use super::SyncServices;
use super::{SourceCtx, SyncError};
use crate::store::keys::{self, PartitionKeys};
use crate::store::{HistoryPolicy, RefreshOutcome};

/// Message of a schema without `version` (docs/sync-engine.md §4.2 step 2).
pub const SCHEMA_VERSION_MISSING: &str = "Mandatory version key is not defined in model schema method";

/// How often a versioned write is tried when other writers keep moving the partition. Each
/// lost race means another write landed, so with jittered backoff (below) even dozens of
/// simultaneous writers of one partition all land well within this.
const WRITE_ATTEMPTS: u32 = 64;

/// The pause before attempt `attempt` (1-based) of a versioned write: random, up to a bound
/// doubling from 1 ms to 32 ms, so that writers that collided do not collide again in step.
async fn write_backoff(attempt: u32) {
    use rand::Rng;
    let bound_ms = 1u64 << attempt.min(5);
    let micros = rand::thread_rng().gen_range(0..bound_ms * 1_000);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}

/// The outcome of one adapter refresh.
#[derive(Debug, Clone, Default)]
pub struct Refreshed {
    /// `{"login-error"|"query-error"|"logoff-error": {"message": ..}}`.
    pub errors: IndexMap<String, Value>,
    /// The adapter's result (when the query succeeded and was not stored: a pass-through
    /// source's page is built from it).
    pub result: Option<ObjectMap>,
    /// Metadata text and its SHA-1.
    pub metadata: Option<(String, String)>,
}

/// The poll interval in force for `source`: the read-state API's override, else settings.
pub async fn poll_interval(svc: &SyncServices, source: &SourceCtx) -> Result<i64, SyncError> {
    let key = keys::poll_interval(svc.store.keys(), &source.config.name);
    let over = svc.store.get(&key).await?;
    Ok(over.and_then(|v| v.trim().parse().ok()).unwrap_or(source.config.poll_interval))
}

/// Refreshes `source` for `login`'s partition: calls the adapter and stores the result
/// (the adapter worker's entry point for `Job::Refresh`).
pub async fn refresh(svc: &SyncServices, source: &str, login: &str, query: Option<&Value>) -> Result<(), SyncError> {
    let ctx = svc.source(source).await?.ok_or(SyncError::UnknownSource)?;
    let poll = poll_interval(svc, &ctx).await?;
    run(svc, &ctx, login, query, poll, true).await.map(|_| ())
}

/// What the query gave: bodies to store, or (pass-through) the raw objects for the page.
enum Queried {
    Bodies(BodyMap),
    Raw(crate::adapters::RawObjects),
}

fn error_entry(errors: &mut IndexMap<String, Value>, kind: &str, message: &str) {
    errors.insert(kind.to_owned(), json!({ "message": message }));
}

/// Calls the adapter (login, metadata, schema, query, logoff) and, when `store_md`, replaces
/// the partition's md with the result; records errors, metadata and retry bookkeeping.
pub async fn run(
    svc: &SyncServices,
    source: &SourceCtx,
    login: &str,
    query: Option<&Value>,
    poll: i64,
    store_md: bool,
) -> Result<Refreshed, SyncError> {
    let pk = source.keys(svc, login);
    let mut out = Refreshed::default();
    let mut schema: Option<(String, String)> = None;
    match &source.adapter {
        Err(e) => error_entry(&mut out.errors, "query-error", e.message()),
        Ok(adapter) => {
            let ctx = source.adapter_ctx(svc, login);
            // `source:query:<source>` covers login to logoff (docs/rest-api.md §4.5).
            let timer = std::time::Instant::now();
            match adapter.login(&ctx).await {
                Err(e) => error_entry(&mut out.errors, "login-error", e.message()),
                Ok(()) => {
                    let queried = async {
                        if let Some(m) = adapter.metadata(&ctx).await? {
                            let sha = sha1_hex(&m);
                            out.metadata = Some((m, sha));
                        }
                        if let Some(text) = adapter.schema(&ctx).await? {
                            let version = serde_json::from_str::<Value>(&text)
                                .ok()
                                .and_then(|v| v.get("version").cloned())
                                .filter(|v| !v.is_null());
                            let Some(version) = version else {
                                return Err(crate::adapters::AdapterError::Backend(SCHEMA_VERSION_MISSING.into()));
                            };
                            let version = match version {
                                Value::String(s) => s,
                                other => other.to_string(),
                            };
                            schema = Some((text, sha1_hex(&version)));
                        }
                        // Stored: the adapter's objects as canonical bodies (no attribute maps).
                        if store_md {
                            adapter.query_bodies(&ctx, query).await.map(Queried::Bodies)
                        } else {
                            adapter.query(&ctx, query).await.map(Queried::Raw)
                        }
                    }
                    .await;
                    match queried {
                        Err(e) => error_entry(&mut out.errors, "query-error", e.message()),
                        Ok(Queried::Bodies(bodies)) => replace_md_bodies(svc, &pk, &bodies).await?,
                        Ok(Queried::Raw(raw)) => match normalize_objects(&Value::Object(raw)) {
                            Err(e) => error_entry(&mut out.errors, "query-error", &e.to_string()),
                            Ok(result) => out.result = Some(result),
                        },
                    }
                    if let Err(e) = adapter.logoff(&ctx).await {
                        error_entry(&mut out.errors, "logoff-error", e.message());
                    }
                }
            }
            svc.stats.record_source("query", &source.config.name, timer.elapsed());
        }
    }
    let errors_json =
        (!out.errors.is_empty()).then(|| Value::Object(out.errors.clone().into_iter().collect()).to_string());
    let failed = out.errors.contains_key("login-error") || out.errors.contains_key("query-error");
    let outcome = RefreshOutcome {
        errors: errors_json.as_deref(),
        metadata: out.metadata.as_ref().map(|(m, s)| (m.as_str(), s.as_str())),
        schema: schema.as_ref().map(|(m, s)| (m.as_str(), s.as_str())),
        failed,
        poll_interval: poll,
        retry_limit: source.config.retry_limit,
        now: svc.clock.now_secs(),
    };
    svc.store.finish_refresh(&pk, &outcome).await?;
    Ok(out)
}

/// The history retention of md writes, from the settings and the clock port.
fn history_policy(svc: &SyncServices) -> HistoryPolicy {
    let app = &svc.settings.app;
    HistoryPolicy {
        retention_secs: app.history_retention_secs,
        max_events: app.history_max_events,
        now_secs: svc.clock.now_secs(),
    }
}

/// Replaces the partition's md with `result` (writes only the differences).
pub async fn replace_md(svc: &SyncServices, pk: &PartitionKeys, result: &ObjectMap) -> Result<(), SyncError> {
    replace_md_bodies(svc, pk, &encode_objects(result)).await
}

/// [`replace_md`] with the result already in canonical bodies.
pub async fn replace_md_bodies(svc: &SyncServices, pk: &PartitionKeys, result: &BodyMap) -> Result<(), SyncError> {
    for attempt in 0..WRITE_ATTEMPTS {
        if attempt > 0 {
            write_backoff(attempt).await;
        }
        let (head, md) = svc.store.read_md(pk).await?;
        let changes = apply_refresh_bodies(&md, result);
        let (numbered, _) = assign_versions(head, changes);
        if numbered.is_empty() || svc.store.apply(pk, head, &numbered, &history_policy(svc)).await? {
            return Ok(());
        }
    }
    Err(SyncError::Busy("the master document kept changing during a refresh".into()))
}

/// Changes the bodies of `ids` with `produce` (push API, CUD, search) in one versioned
/// write; retried when another writer got in between.
pub async fn update_md<F>(
    svc: &SyncServices,
    pk: &PartitionKeys,
    ids: &[String],
    mut produce: F,
) -> Result<(), SyncError>
where
    F: FnMut(&HashMap<String, Body>) -> Result<Vec<Change>, SyncError>,
{
    for attempt in 0..WRITE_ATTEMPTS {
        if attempt > 0 {
            write_backoff(attempt).await;
        }
        let (head, bodies) = svc.store.read_bodies(pk, ids).await?;
        let (numbered, _) = assign_versions(head, produce(&bodies)?);
        if numbered.is_empty() || svc.store.apply(pk, head, &numbered, &history_policy(svc)).await? {
            return Ok(());
        }
    }
    Err(SyncError::Busy("the master document kept changing during a write".into()))
}
