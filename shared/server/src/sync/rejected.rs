//! Client writes an adapter rejected, for the console (docs/rest-api.md §14): the
//! `create-error` / `update-error` / `delete-error` entries waiting in each client's
//! documents (`cerr`, `uerr`, `derr`: the object's attributes under its id and
//! `{"message": …}` under `<id>-error`) until the device's next sync picks them up.
//!
//! Listing walks the keys with `SCAN` cursors (never `KEYS`), per source and, when a user is
//! named, per partition. Retry takes the entry (an atomic `HDEL`, so of two retries one wins)
//! and submits the object again as a new write of that client — inline or queued as the
//! source's settings say ([`super::cud::resubmit`]); dismiss only takes the entry.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cud::{self, CudOps};
use super::{SourceCtx, SyncError, SyncServices};
use crate::config::PartitionType;
use crate::ports::jobs::{CudOp, RawAttrs};
use crate::store::keys::{self, SHARED_PARTITION};

/// `SCAN … COUNT` per step.
const SCAN_COUNT: usize = 500;

/// Rows listed at most.
pub const MAX_ROWS: usize = 1_000;

/// One rejected record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedWrite {
    pub source: String,
    pub user: String,
    pub client: String,
    pub op: CudOp,
    pub object: String,
    pub attributes: Value,
    pub error: String,
}

/// Which records a retry or dismiss names.
#[derive(Debug, Clone, Deserialize)]
pub struct Selection {
    pub source: String,
    pub user: String,
    pub client: String,
    pub op: CudOp,
    pub objects: Vec<String>,
}

fn op_of(c: char) -> CudOp {
    match c {
        'c' => CudOp::Create,
        'u' => CudOp::Update,
        _ => CudOp::Delete,
    }
}

/// The rejected records of every client, optionally of one source and one user.
pub async fn list(
    svc: &SyncServices,
    source: Option<&str>,
    user: Option<&str>,
) -> Result<Vec<RejectedWrite>, SyncError> {
    let mut rows = Vec::new();
    let names: Vec<String> = svc.settings.sources.iter().map(|s| s.name.clone()).collect();
    for name in names.iter().filter(|n| source.is_none_or(|s| s == n.as_str())) {
        let Some(ctx) = svc.source(name).await? else { continue };
        let partition = user.map(|u| ctx.partition(u));
        let pattern = keys::client_errors_pattern(svc.store.keys(), name, partition.as_deref());
        let mut cursor = 0;
        let mut seen: Vec<String> = Vec::new();
        loop {
            let (next, batch) = svc.store.scan_keys(cursor, &pattern, SCAN_COUNT).await?;
            for key in batch {
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key.clone());
                rows.extend(rows_of(svc, &ctx, &key, user).await?);
                if rows.len() >= MAX_ROWS {
                    rows.truncate(MAX_ROWS);
                    return Ok(rows);
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    Ok(rows)
}

async fn rows_of(
    svc: &SyncServices,
    ctx: &SourceCtx,
    key: &str,
    user: Option<&str>,
) -> Result<Vec<RejectedWrite>, SyncError> {
    let Some((partition, client, op)) = keys::parse_client_error_key(svc.store.keys(), key) else {
        return Ok(Vec::new());
    };
    let owner = if partition == SHARED_PARTITION || ctx.config.partition_type == PartitionType::App {
        svc.registry().client(&client).await?.map(|c| c.user_id).unwrap_or_default()
    } else {
        partition
    };
    if user.is_some_and(|u| u != owner) {
        return Ok(Vec::new());
    }
    let pairs = svc.store.hgetall(key).await?;
    let mut rows = Vec::new();
    for (field, value) in &pairs {
        if field.ends_with("-error") {
            continue;
        }
        let error_field = format!("{field}-error");
        let Some((_, error)) = pairs.iter().find(|(f, _)| *f == error_field) else { continue };
        let error = serde_json::from_str::<Value>(error)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| error.clone());
        rows.push(RejectedWrite {
            source: ctx.config.name.clone(),
            user: owner.clone(),
            client: client.clone(),
            op: op_of(op),
            object: field.clone(),
            attributes: serde_json::from_str(value).unwrap_or(Value::Null),
            error,
        });
    }
    Ok(rows)
}

/// The error document of a selection's client.
fn doc_key(svc: &SyncServices, ctx: &SourceCtx, sel: &Selection) -> String {
    let ck = ctx.keys(svc, &sel.user).client(&sel.client);
    match sel.op {
        CudOp::Create => ck.cerr,
        CudOp::Update => ck.uerr,
        CudOp::Delete => ck.derr,
    }
}

/// Takes the selection's entries; the (object, attributes) of those this call took.
async fn take(svc: &SyncServices, ctx: &SourceCtx, sel: &Selection) -> Result<Vec<(String, String)>, SyncError> {
    let key = doc_key(svc, ctx, sel);
    let mut taken = Vec::new();
    for object in &sel.objects {
        let Some(attrs) = svc.store.hget(&key, object).await? else { continue };
        if svc.store.hdel(&key, &[format!("{object}-error"), object.clone()]).await? > 0 {
            taken.push((object.clone(), attrs));
        }
    }
    Ok(taken)
}

async fn source_of(svc: &SyncServices, name: &str) -> Result<SourceCtx, SyncError> {
    svc.source(name).await?.ok_or(SyncError::UnknownSource)
}

/// Submits the selected records again; the count submitted.
pub async fn retry(svc: &SyncServices, sel: &Selection) -> Result<usize, SyncError> {
    let ctx = source_of(svc, &sel.source).await?;
    let taken = take(svc, &ctx, sel).await?;
    if taken.is_empty() {
        return Ok(0);
    }
    let records: Vec<(String, RawAttrs)> = taken
        .iter()
        .map(|(id, attrs)| (id.clone(), serde_json::from_str::<RawAttrs>(attrs).unwrap_or_default()))
        .collect();
    let mut ops = CudOps::default();
    match sel.op {
        CudOp::Create => ops.create = records,
        CudOp::Update => ops.update = records,
        CudOp::Delete => ops.delete = records,
    }
    let salt = crate::auth::tokens::random_token();
    if let Err(err) = cud::resubmit(svc, &ctx, &sel.user, &sel.client, ops, &salt).await {
        // Not accepted: the entries come back so the retry can be tried again.
        let key = doc_key(svc, &ctx, sel);
        let mut pairs = Vec::new();
        for (id, attrs) in &taken {
            pairs.push((id.clone(), attrs.clone()));
            pairs.push((format!("{id}-error"), serde_json::json!({ "message": err.to_string() }).to_string()));
        }
        svc.store.hset_many(&key, &pairs).await?;
        return Err(err);
    }
    Ok(taken.len())
}

/// Drops the selected records' entries; the count dropped.
pub async fn dismiss(svc: &SyncServices, sel: &Selection) -> Result<usize, SyncError> {
    let ctx = source_of(svc, &sel.source).await?;
    Ok(take(svc, &ctx, sel).await?.len())
}
