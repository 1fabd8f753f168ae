//! Applying client writes through the source adapter (docs/sync-engine.md §6.3–6.6).
//!
//! [`apply_batch`] takes every write of one source that a worker invocation holds (or the
//! single write of an inline source), oldest first, and for each operation in the order
//! create, update, delete: runs the validators over the whole batch, then calls the
//! adapter once per record, recording each outcome before moving on (see the module docs
//! of [`super`] for why). Afterwards each write's outcomes go to its client's documents.

use std::collections::{HashMap, HashSet};

use rhosync_engine::model::{apply_create, apply_push_deletes, Change};
use rhosync_engine::values::{encode_body, normalize_attrs, Attrs, Body};
use serde_json::{json, Value};

use super::records::{self, record_id, RecordOutcome, WriteState};
use super::{blobs, CudOps, GAVE_UP};
use crate::adapters::validate::{find_duplicates_on_update, CudEntry, CudOp, RecordMark, ValidationMarks};
use crate::adapters::{AdapterCtx, AdapterError, RawAttrs, SourceAdapter};
use crate::ports::jobs::CudWrite;
use crate::sync::refresh::update_md;
use crate::sync::SyncServices;
use crate::sync::{SourceCtx, SyncError};

/// A write to apply, and whether this is SQS's last delivery of it before the DLQ.
#[derive(Debug, Clone)]
pub struct PendingWrite {
    pub write: CudWrite,
    pub last_attempt: bool,
}

struct Slot {
    write: CudWrite,
    last_attempt: bool,
    state: WriteState,
    /// An infrastructure failure: the write is retried (or given up on).
    failed: Option<SyncError>,
}

impl Slot {
    fn active(&self) -> bool {
        self.failed.is_none() && !self.state.persisted
    }

    fn pending(&self, op: CudOp) -> impl Iterator<Item = usize> + '_ {
        (0..self.write.records(op).len()).filter(move |r| !self.state.outcomes.contains_key(&record_id(op, *r)))
    }

    fn has_pending(&self) -> bool {
        CudOp::ALL.iter().any(|op| self.pending(*op).next().is_some())
    }

    async fn record(&mut self, svc: &SyncServices, op: CudOp, r: usize, outcome: RecordOutcome) -> bool {
        let rec = record_id(op, r);
        match records::record(svc, &self.write.key, &rec, &outcome).await {
            Ok(()) => {
                self.state.outcomes.insert(rec, outcome);
                true
            }
            Err(err) => {
                self.failed = Some(err);
                false
            }
        }
    }
}

/// Applies `writes` (all of `source`); one result per write, in the given order. An error
/// means the write should be delivered again.
pub async fn apply_batch(
    svc: &SyncServices,
    source: &SourceCtx,
    writes: Vec<PendingWrite>,
) -> Vec<Result<(), SyncError>> {
    let mut slots = Vec::with_capacity(writes.len());
    for PendingWrite { write, last_attempt } in writes {
        let (loaded, failed) = match records::load(svc, &write.key).await {
            Ok(s) => (s, None),
            Err(e) => (WriteState::default(), Some(e)),
        };
        slots.push(Slot { write, last_attempt, state: loaded, failed });
    }
    let mut order: Vec<usize> = (0..slots.len()).collect();
    order.sort_by(|a, b| {
        let (a, b) = (&slots[*a].write, &slots[*b].write);
        (a.accepted_ms, &a.key).cmp(&(b.accepted_ms, &b.key))
    });
    run(svc, source, &mut slots, &order).await;
    let mut results = Vec::with_capacity(slots.len());
    for slot in slots {
        results.push(finish(svc, source, slot).await);
    }
    results
}

async fn run(svc: &SyncServices, source: &SourceCtx, slots: &mut [Slot], order: &[usize]) {
    let adapter = match &source.adapter {
        Ok(a) => a.clone(),
        Err(e) => {
            for &i in order {
                fail_pending(svc, &mut slots[i], e.message()).await;
            }
            return;
        }
    };
    // One login per user per batch, users in order of first appearance
    // (docs/sync-engine.md §6.3 step 3).
    let mut users: Vec<String> = Vec::new();
    for &i in order {
        let slot = &slots[i];
        if slot.active() && slot.has_pending() && !users.contains(&slot.write.login) {
            users.push(slot.write.login.clone());
        }
    }
    let mut logged_in = Vec::new();
    for user in users {
        let ctx = source.adapter_ctx(svc, &user);
        match adapter.login(&ctx).await {
            Ok(()) => logged_in.push(ctx),
            Err(e) => {
                // docs/sync-engine.md §6.3 DEVIATION: every record of the user reports the error.
                for &i in order {
                    if slots[i].write.login == user && slots[i].active() {
                        fail_pending(svc, &mut slots[i], e.message()).await;
                    }
                }
            }
        }
    }
    let ready: HashSet<&str> = logged_in.iter().map(|c| c.login.as_str()).collect();
    for op in CudOp::ALL {
        let active: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| {
                let s = &slots[i];
                s.active() && ready.contains(s.write.login.as_str()) && s.pending(op).next().is_some()
            })
            .collect();
        if active.is_empty() {
            continue;
        }
        // `source:<op>:<source>`: one sample per operation of the batch (docs/rest-api.md §4.5).
        let timer = std::time::Instant::now();
        let marks = validate(svc, source, &*adapter, op, slots, &active).await;
        for (e, &i) in active.iter().enumerate() {
            apply_entry(svc, source, &*adapter, op, &mut slots[i], e, &marks).await;
        }
        copy_duplicate_outcomes(svc, op, slots, &active, &marks).await;
        svc.stats.record_source(op.as_str(), &source.config.name, timer.elapsed());
    }
    for ctx in logged_in {
        if let Err(e) = adapter.logoff(&ctx).await {
            tracing::warn!(source = %source.config.name, user = %ctx.login, error = %e, "adapter logoff failed");
        }
    }
}

/// The built-in validator's marks merged with the adapter's (the adapter's win).
async fn validate(
    svc: &SyncServices,
    source: &SourceCtx,
    adapter: &dyn SourceAdapter,
    op: CudOp,
    slots: &[Slot],
    active: &[usize],
) -> ValidationMarks {
    let entries: Vec<CudEntry<'_>> = active
        .iter()
        .map(|&i| {
            let w = &slots[i].write;
            CudEntry { client_id: &w.client_id, login: &w.login, records: w.records(op) }
        })
        .collect();
    let mut marks = find_duplicates_on_update(source.config.find_duplicates_on_update, op, &entries);
    let Some(first) = entries.first() else { return marks };
    let ctx = source.adapter_ctx(svc, first.login);
    match adapter.validate(&ctx, op, &entries).await {
        Ok(own) => marks.extend(own),
        Err(e) => {
            for (i, entry) in entries.iter().enumerate() {
                for r in 0..entry.records.len() {
                    marks.insert((i, r), RecordMark::Error(e.message().to_owned()));
                }
            }
        }
    }
    marks
}

/// One write's records of `op`, in order; a failure stops the entry and carries the rest.
async fn apply_entry(
    svc: &SyncServices,
    source: &SourceCtx,
    adapter: &dyn SourceAdapter,
    op: CudOp,
    slot: &mut Slot,
    entry: usize,
    marks: &ValidationMarks,
) {
    let mut stopped = false;
    for r in 0..slot.write.records(op).len() {
        if let Some(done) = slot.state.outcomes.get(&record_id(op, r)) {
            stopped |= matches!(done, RecordOutcome::Failed { .. });
            continue;
        }
        let outcome = if stopped {
            RecordOutcome::Carried
        } else {
            match marks.get(&(entry, r)) {
                Some(RecordMark::DuplicateOf(_)) => continue,
                Some(RecordMark::Error(message)) => RecordOutcome::Failed { message: message.clone() },
                None => match call(svc, source, adapter, slot, op, r).await {
                    Ok(outcome) => outcome,
                    Err(err) => {
                        slot.failed = Some(err);
                        return;
                    }
                },
            }
        };
        stopped |= matches!(outcome, RecordOutcome::Failed { .. });
        if !slot.record(svc, op, r, outcome).await {
            return;
        }
    }
}

/// Gives each duplicate its master's outcome (docs/sync-engine.md §6.5).
async fn copy_duplicate_outcomes(
    svc: &SyncServices,
    op: CudOp,
    slots: &mut [Slot],
    active: &[usize],
    marks: &ValidationMarks,
) {
    for (&(e, r), mark) in marks {
        let RecordMark::DuplicateOf((me, mr)) = mark else { continue };
        let (Some(&dup), Some(&master)) = (active.get(e), active.get(*me)) else { continue };
        let Some(outcome) = slots[master].state.outcomes.get(&record_id(op, *mr)).cloned() else { continue };
        let slot = &mut slots[dup];
        if slot.active() && !slot.state.outcomes.contains_key(&record_id(op, r)) {
            slot.record(svc, op, r, outcome).await;
        }
    }
}

fn with_id(raw: &RawAttrs, id: &str) -> RawAttrs {
    let mut a = raw.clone();
    a.insert("id".into(), Value::String(id.to_owned()));
    a
}

/// One adapter call; `Err` only for infrastructure failures (adapter errors are outcomes).
async fn call(
    svc: &SyncServices,
    source: &SourceCtx,
    adapter: &dyn SourceAdapter,
    slot: &Slot,
    op: CudOp,
    r: usize,
) -> Result<RecordOutcome, SyncError> {
    let write = &slot.write;
    let Some((id, raw)) = write.records(op).get(r) else {
        return Err(SyncError::Internal("record index out of range".into()));
    };
    let rec = record_id(op, r);
    let mut ctx: AdapterCtx = source.adapter_ctx(svc, &write.login);
    ctx.idempotency_key = Some(format!("{}:{rec}", write.key));
    let mut attrs = raw.clone();
    for blob in write.blobs.iter().filter(|b| b.op == op && &b.object == id) {
        let uploaded = blobs::describe(svc.blobs(), blob).await?;
        match adapter.store_blob(&ctx, &mut attrs, &blob.field, &uploaded).await {
            Ok(value) => {
                let value = value.unwrap_or_else(|| blobs::reference(svc.blobs(), &uploaded));
                attrs.insert(blob.field.clone(), Value::String(value));
            }
            Err(e) => return Ok(RecordOutcome::Failed { message: e.message().to_owned() }),
        }
    }
    if slot.state.started.contains(&rec) {
        // The crash window of the module docs: the backend may have applied it already;
        // the Idempotency-Key lets it tell.
        tracing::warn!(write = %write.key, record = %rec, "calling the backend again: the earlier call's outcome was not recorded");
    }
    records::mark_started(svc, &write.key, &rec).await?;
    let failed = |e: AdapterError| RecordOutcome::Failed { message: e.message().to_owned() };
    Ok(match op {
        CudOp::Create => match adapter.create(&ctx, &mut attrs).await {
            Ok(Some(new_id)) if !new_id.is_empty() => RecordOutcome::Created { id: new_id, attrs },
            Ok(_) => RecordOutcome::NoId,
            Err(e) => failed(e),
        },
        CudOp::Update => adapter.update(&ctx, &with_id(&attrs, id)).await.map_or_else(failed, |()| RecordOutcome::Done),
        CudOp::Delete => adapter.delete(&ctx, &with_id(&attrs, id)).await.map_or_else(failed, |()| RecordOutcome::Done),
    })
}

/// Every record of `slot` without an outcome fails with `message`.
async fn fail_pending(svc: &SyncServices, slot: &mut Slot, message: &str) {
    for op in CudOp::ALL {
        let pending: Vec<usize> = slot.pending(op).collect();
        for r in pending {
            if !slot.record(svc, op, r, RecordOutcome::Failed { message: message.to_owned() }).await {
                return;
            }
        }
    }
}

/// Writes the outcomes to the client's documents, queues carried records, and settles.
async fn finish(svc: &SyncServices, source: &SourceCtx, mut slot: Slot) -> Result<(), SyncError> {
    if slot.state.persisted {
        return Ok(());
    }
    if let Some(err) = slot.failed.take() {
        if !slot.last_attempt {
            return Err(err);
        }
        tracing::error!(write = %slot.write.key, error = %err, "giving up on a write; its records get errors and it goes to the DLQ");
        fail_pending(svc, &mut slot, GAVE_UP).await;
        if slot.failed.is_none() {
            persist(svc, source, &slot).await?;
            records::mark_persisted(svc, &slot.write.key).await?;
        }
        return Err(err);
    }
    if slot.has_pending() {
        // A duplicate whose master was not applied in this batch.
        return Err(SyncError::Internal("a duplicate's master record was not applied".into()));
    }
    persist(svc, source, &slot).await?;
    carry(svc, &slot).await?;
    records::mark_persisted(svc, &slot.write.key).await
}

/// Queues the carried records as a continuation write, processed by a later run
/// (docs/sync-engine.md §6.3 step 6). Its key derives from the write's, so settling twice
/// queues it once.
async fn carry(svc: &SyncServices, slot: &Slot) -> Result<(), SyncError> {
    let w = &slot.write;
    let mut next = CudWrite {
        key: format!("{}~c", w.key),
        accepted_ms: w.accepted_ms,
        create: Vec::new(),
        update: Vec::new(),
        delete: Vec::new(),
        blobs: Vec::new(),
        ..w.clone()
    };
    for op in CudOp::ALL {
        for (r, rec) in w.records(op).iter().enumerate() {
            if slot.state.outcomes.get(&record_id(op, r)) == Some(&RecordOutcome::Carried) {
                next.records_mut(op).push(rec.clone());
                next.blobs.extend(w.blobs.iter().filter(|b| b.op == op && b.object == rec.0).cloned());
            }
        }
    }
    if next.is_empty() {
        return Ok(());
    }
    super::enqueue(svc.queue(), svc.blobs(), &next).await
}

fn attrs_of(raw: &RawAttrs) -> Attrs {
    normalize_attrs(raw).unwrap_or_default()
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

fn record_error(out: &mut Outcome, op: CudOp, key: &str, raw: &RawAttrs, message: &str) {
    let attrs = serde_json::to_string(&attrs_of(raw)).unwrap_or_else(|_| "{}".into());
    let at = op as usize;
    out.errors[at].push((key.to_owned(), attrs));
    out.errors[at].push((format!("{key}-error"), json!({ "message": message }).to_string()));
}

fn collect(slot: &Slot) -> Outcome {
    let mut out = Outcome::default();
    for op in CudOp::ALL {
        for (r, (key, raw)) in slot.write.records(op).iter().enumerate() {
            match slot.state.outcomes.get(&record_id(op, r)) {
                Some(RecordOutcome::Created { id, attrs }) => {
                    out.links.push((key.clone(), id.clone()));
                    out.creates.push((id.clone(), attrs_of(attrs)));
                }
                // docs/sync-engine.md §6.4 DEVIATION: the device drops its temporary copy.
                Some(RecordOutcome::NoId) => out.cud_deletes.push((key.clone(), encode_body(&attrs_of(raw)))),
                Some(RecordOutcome::Done) if op == CudOp::Delete => out.deletes.push(key.clone()),
                Some(RecordOutcome::Failed { message }) => {
                    record_error(&mut out, op, key, raw, message);
                    if op == CudOp::Update {
                        out.rollback_ids.push(key.clone());
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Writes one write's results (docs/sync-engine.md §6.4). Every step sets values
/// derived from the recorded outcomes only, so running it again changes nothing.
async fn persist(svc: &SyncServices, source: &SourceCtx, slot: &Slot) -> Result<(), SyncError> {
    let out = collect(slot);
    let pk = source.keys(svc, &slot.write.login);
    let ck = pk.client(&slot.write.client_id);
    let ids: Vec<String> = out.creates.iter().map(|(id, _)| id.clone()).chain(out.deletes.iter().cloned()).collect();
    if !ids.is_empty() {
        update_md(svc, &pk, &ids, |current: &HashMap<String, Body>| {
            let mut changes: Vec<Change> =
                out.creates.iter().map(|(id, attrs)| apply_create(current.get(id), id, attrs)).collect();
            changes.extend(apply_push_deletes(current, &out.deletes));
            Ok(changes)
        })
        .await?;
    }
    let mut rollback = Vec::new();
    if !out.rollback_ids.is_empty() {
        let (_, bodies) = svc.store.read_bodies(&pk, &out.rollback_ids).await?;
        rollback = out.rollback_ids.iter().filter_map(|id| bodies.get(id).map(|b| (id.clone(), b.clone()))).collect();
    }
    let mut pins: Vec<(String, String)> = out.creates.iter().map(|(id, a)| (id.clone(), encode_body(a))).collect();
    pins.extend(out.deletes.iter().map(|id| (id.clone(), String::new())));
    let store = &svc.store;
    store.hset_many(&ck.pin, &pins).await?;
    store.hset_many(&ck.links, &out.links).await?;
    store.hset_many(&ck.cerr, &out.errors[0]).await?;
    store.hset_many(&ck.uerr, &out.errors[1]).await?;
    store.hset_many(&ck.derr, &out.errors[2]).await?;
    store.hset_many(&ck.urb, &rollback).await?;
    store.hset_many(&ck.cdel, &out.cud_deletes).await?;
    Ok(())
}

/// Pass-through sources (docs/sync-engine.md §6.6): straight to the adapter, the first failure
/// stops, nothing is stored or reported.
pub async fn pass_through(svc: &SyncServices, source: &SourceCtx, login: &str, ops: &CudOps) {
    let Ok(adapter) = &source.adapter else { return };
    let ctx = source.adapter_ctx(svc, login);
    if adapter.login(&ctx).await.is_err() {
        return;
    }
    let calls = async {
        for (_, raw) in &ops.create {
            let mut attrs = raw.clone();
            adapter.create(&ctx, &mut attrs).await?;
        }
        for (id, raw) in &ops.update {
            adapter.update(&ctx, &with_id(raw, id)).await?;
        }
        for (id, raw) in &ops.delete {
            adapter.delete(&ctx, &with_id(raw, id)).await?;
        }
        Ok::<(), AdapterError>(())
    };
    if let Err(e) = calls.await {
        tracing::info!(source = %source.config.name, error = %e, "pass-through write stopped");
    }
    let _ = adapter.logoff(&ctx).await;
}
