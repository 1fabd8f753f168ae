//! Client creates, updates and deletes (sync-protocol.md §7, sync-engine.md §8), applied
//! inline through the source adapter.
//!
//! This is the write half the golden replays need; queued processing (`cud_queue`),
//! `validate` and blob storage come with the adapters issue. The client documents it
//! writes are the ones a queued worker will write too: links, CUD errors, rollbacks and
//! CUD deletes in the client's pending hashes, pinned entries for created and deleted
//! objects (so they are not echoed back), and versioned md changes.

use std::collections::HashMap;

use rhosync_engine::model::{apply_create, apply_push_deletes, Change};
use rhosync_engine::values::{encode_body, normalize_attrs, Attrs, Body};
use serde_json::{json, Map, Value};

use super::refresh::update_md;
use super::{SourceCtx, SyncError};
use crate::adapters::{AdapterError, RawAttrs, SourceAdapter};
use crate::AppState;

/// The three operation maps of a request, in request order.
#[derive(Debug, Clone, Default)]
pub struct CudOps {
    pub create: Vec<(String, RawAttrs)>,
    pub update: Vec<(String, RawAttrs)>,
    pub delete: Vec<(String, RawAttrs)>,
}

impl CudOps {
    /// Reads `create`, `update`, `delete` from the parameters; entries whose value is not
    /// an object are ignored, empty maps are fine (rhoconnect.js sends `{}`).
    pub fn from_params(params: &Map<String, Value>) -> Self {
        let op = |name: &str| -> Vec<(String, RawAttrs)> {
            match params.get(name) {
                Some(Value::Object(m)) => m
                    .iter()
                    .filter_map(|(id, v)| v.as_object().map(|a| (id.clone(), a.clone())))
                    .collect(),
                _ => Vec::new(),
            }
        };
        Self { create: op("create"), update: op("update"), delete: op("delete") }
    }

    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

fn attrs_of(raw: &RawAttrs) -> Attrs {
    normalize_attrs(raw).unwrap_or_default()
}

fn with_id(raw: &RawAttrs, id: &str) -> RawAttrs {
    let mut a = raw.clone();
    a.insert("id".into(), Value::String(id.to_owned()));
    a
}

#[derive(Default)]
struct Outcome {
    links: Vec<(String, String)>,
    creates: Vec<(String, Attrs)>,
    deletes: Vec<String>,
    cud_deletes: Vec<(String, String)>,
    errors: [Vec<(String, String)>; 3],
    rollback_ids: Vec<String>,
}

fn record_error(out: &mut Outcome, op: usize, key: &str, raw: &RawAttrs, message: &str) {
    let attrs = serde_json::to_string(&attrs_of(raw)).unwrap_or_else(|_| "{}".into());
    out.errors[op].push((key.to_owned(), attrs));
    out.errors[op].push((format!("{key}-error"), json!({ "message": message }).to_string()));
}

/// Applies one request's operations for `client_id` of `login`.
pub async fn apply(state: &AppState, source: &SourceCtx, login: &str, client_id: &str, ops: CudOps) -> Result<(), SyncError> {
    if ops.is_empty() {
        return Ok(());
    }
    let ctx = source.adapter_ctx(state, login);
    let adapter: std::sync::Arc<dyn SourceAdapter> = match &source.adapter {
        Ok(a) => a.clone(),
        Err(e) => return record_all_failed(state, source, login, client_id, &ops, e).await,
    };
    if source.config.pass_through {
        // sync-engine.md §8.6: straight to the adapter, first failure stops, nothing reported.
        if adapter.login(&ctx).await.is_ok() {
            let _ = pass_through(&*adapter, &ctx, &ops).await;
            let _ = adapter.logoff(&ctx).await;
        }
        return Ok(());
    }
    if let Err(e) = adapter.login(&ctx).await {
        return record_all_failed(state, source, login, client_id, &ops, &e).await;
    }
    let mut out = Outcome::default();
    for (temp, raw) in &ops.create {
        let mut attrs = raw.clone();
        match adapter.create(&ctx, &mut attrs).await {
            Ok(Some(id)) if !id.is_empty() => {
                out.links.push((temp.clone(), id.clone()));
                out.creates.push((id, attrs_of(&attrs)));
            }
            // sync-engine.md §8.4 DEVIATION: the device drops its temporary copy.
            Ok(_) => out.cud_deletes.push((temp.clone(), encode_body(&attrs_of(raw)))),
            Err(e) => record_error(&mut out, 0, temp, raw, e.message()),
        }
    }
    for (id, raw) in &ops.update {
        if let Err(e) = adapter.update(&ctx, &with_id(raw, id)).await {
            record_error(&mut out, 1, id, raw, e.message());
            out.rollback_ids.push(id.clone());
        }
    }
    for (id, raw) in &ops.delete {
        match adapter.delete(&ctx, &with_id(raw, id)).await {
            Ok(()) => out.deletes.push(id.clone()),
            Err(e) => record_error(&mut out, 2, id, raw, e.message()),
        }
    }
    let _ = adapter.logoff(&ctx).await;
    persist(state, source, login, client_id, out).await
}

async fn pass_through(adapter: &dyn SourceAdapter, ctx: &crate::adapters::AdapterCtx, ops: &CudOps) -> Result<(), AdapterError> {
    for (_, raw) in &ops.create {
        let mut attrs = raw.clone();
        adapter.create(ctx, &mut attrs).await?;
    }
    for (id, raw) in &ops.update {
        adapter.update(ctx, &with_id(raw, id)).await?;
    }
    for (id, raw) in &ops.delete {
        adapter.delete(ctx, &with_id(raw, id)).await?;
    }
    Ok(())
}

/// Every record fails with the adapter's message (sync-engine.md §8.3 DEVIATION for a
/// failed login).
async fn record_all_failed(
    state: &AppState,
    source: &SourceCtx,
    login: &str,
    client_id: &str,
    ops: &CudOps,
    err: &AdapterError,
) -> Result<(), SyncError> {
    let mut out = Outcome::default();
    for (i, list) in [&ops.create, &ops.update, &ops.delete].into_iter().enumerate() {
        for (key, raw) in list {
            record_error(&mut out, i, key, raw, err.message());
        }
    }
    persist(state, source, login, client_id, out).await
}

async fn persist(state: &AppState, source: &SourceCtx, login: &str, client_id: &str, out: Outcome) -> Result<(), SyncError> {
    let pk = source.keys(state, login);
    let ck = pk.client(client_id);
    let ids: Vec<String> = out.creates.iter().map(|(id, _)| id.clone()).chain(out.deletes.iter().cloned()).collect();
    if !ids.is_empty() {
        update_md(state, &pk, &ids, |current: &HashMap<String, Body>| {
            let mut changes: Vec<Change> =
                out.creates.iter().map(|(id, attrs)| apply_create(current.get(id), id, attrs)).collect();
            changes.extend(apply_push_deletes(current, &out.deletes));
            Ok(changes)
        })
        .await?;
    }
    let mut rollback = Vec::new();
    if !out.rollback_ids.is_empty() {
        let (_, bodies) = state.sync.store.read_bodies(&pk, &out.rollback_ids).await?;
        rollback = out.rollback_ids.iter().filter_map(|id| bodies.get(id).map(|b| (id.clone(), b.clone()))).collect();
    }
    let mut pins: Vec<(String, String)> = out.creates.iter().map(|(id, a)| (id.clone(), encode_body(a))).collect();
    pins.extend(out.deletes.iter().map(|id| (id.clone(), String::new())));
    let store = &state.sync.store;
    store.hset_many(&ck.pin, &pins).await?;
    store.hset_many(&ck.links, &out.links).await?;
    store.hset_many(&ck.cerr, &out.errors[0]).await?;
    store.hset_many(&ck.uerr, &out.errors[1]).await?;
    store.hset_many(&ck.derr, &out.errors[2]).await?;
    store.hset_many(&ck.urb, &rollback).await?;
    store.hset_many(&ck.cdel, &out.cud_deletes).await?;
    Ok(())
}
