//! One query request (docs/device-protocol.md §5, docs/sync-engine.md §4–5): the token rules, the
//! refresh decision, page planning over the versioned model, and the atomic commit.
//!
//! Round trips for a query without a token: one — the caller's pipeline reads the client
//! record, the poll interval and the session keys and runs the query script in its
//! read-only probe mode; when no refresh is due the probe's answer is used as it is: "in
//! step" (O(1) whatever the size of the master document), or the read a page is planned
//! from, which then costs one more round trip, its commit ([`serve_probed`]). Anything
//! else — a token (acknowledgement, resend, reset), a due refresh, a pending page — runs
//! the full step ([`query`]): the query script decides the token action and the refresh,
//! then reads, then the commit. The acknowledgement of a page that ended its scan cycle
//! completes the cycle inside the query script (`fin`, see
//! `rhosync_engine::model::complete_on_ack`), so it is answered like an in-step query.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use rhosync_engine::model::{
    apply_undo, on_pending_page, plan_page, FirstLook, PageInputs, PageUndo, PendingDecision, Phase, SentWrites,
};
use rhosync_engine::page::{
    assemble_new_page, next_token, pass_through_page, resend_page, reset_carry, schema_changed_page, schema_step,
    CudErrors, NewPageParts, Page, PendingClientDocs, SchemaStep, StoredPage,
};
use rhosync_engine::params::{self, Params};
use rhosync_engine::values::{decode_body, encode_body, ObjectMap};
use serde_json::{json, Value};

use super::refresh;
use super::SyncServices;
use super::{clients, SourceCtx, SyncError};
use crate::auth::session::Session;
use crate::ports::jobs::{Job, JobMessage};
use crate::ports::{JobQueue, Queue};
use crate::store::keys::ClientKeys;
use crate::store::{
    client_state, cursor_fields, pin_delta, refresh_due, st_num, BeginArgs, BeginMode, BeginReply, Commit, PageRead,
};

/// Message of the page for a source name nobody configured (docs/device-protocol.md §5.8).
pub fn unknown_source_message(name: &str) -> String {
    format!("Source '{name}' is not configured on this server")
}

/// How many change-index entries one script call reads for a page of `p_size` objects:
/// a few more than the page holds, for the entries it passes over (tombstones, objects the
/// device holds as they are). Each entry read costs its body's read and transfer, and an
/// initial sync sends every live entry, so the margin is small: a page that passes over
/// more comes out shorter, and one that sends nothing reads the next slice.
pub fn slice_limit(p_size: usize) -> usize {
    if p_size == 0 {
        0
    } else {
        (p_size + p_size / 32 + 8).min(20_000)
    }
}

/// Parses a JSON object text into a map (empty on anything else).
pub fn json_map(text: Option<&str>) -> IndexMap<String, Value> {
    match text.and_then(|t| serde_json::from_str::<Value>(t).ok()) {
        Some(Value::Object(m)) => m.into_iter().collect(),
        _ => IndexMap::new(),
    }
}

/// The page answering a query for a source that is not configured.
pub fn unknown_source_page(name: &str) -> Page {
    let mut source_error = IndexMap::new();
    source_error.insert("query-error".to_owned(), json!({ "message": unknown_source_message(name) }));
    Page { source_error, ..Page::default() }
}

/// One device query, the only entry point of the use case: the session's user, the source
/// and the client it names, the request's parameters → the page to answer with.
///
/// A query without a token is probed in the lookup's round trip (the client record, the
/// poll-interval override and the session check are read in the same pipeline): a
/// no-change sync is then answered at once, and a page is built from what the probe read.
/// Anything else runs the full step. `Err(SyncError::NotAuthenticated)` when the session's
/// user no longer exists or was deleted after the session was issued.
pub async fn serve(
    svc: &SyncServices,
    session: &Session,
    source_name: &str,
    client_id: &str,
    params: &Params,
) -> Result<Page, SyncError> {
    let source = svc.source(source_name).await?;
    let p_size = params::page_size(params).ok();
    let keys = match (&source, p_size) {
        (Some(s), Some(p_size)) if !s.config.pass_through && params::token(params).is_none() => {
            let pk = s.keys(svc, &session.login);
            let ck = pk.client(client_id);
            Some((pk, ck, p_size))
        }
        _ => None,
    };
    let probe = keys.as_ref().map(|(pk, ck, p_size)| clients::ProbeRequest {
        partition: pk,
        client: ck,
        slice_limit: slice_limit(*p_size),
    });
    let lookup = clients::find_with_poll(svc, client_id, source_name, session, probe).await?;
    if !lookup.session_valid {
        return Err(SyncError::NotAuthenticated);
    }
    let login = &session.login;
    let same_user = lookup.client.as_ref().is_some_and(|c| &c.user_id == login);
    let client = clients::resolve(svc, login, lookup.client).await?;
    let Some(source) = source else {
        return Ok(unknown_source_page(source_name));
    };
    let poll = lookup.poll_override.unwrap_or(source.config.poll_interval);
    if let (true, Some(probed), Some((pk, ck, p_size))) = (same_user, lookup.probed, &keys) {
        if let Some(page) = serve_probed(svc, pk, ck, probed, poll, *p_size).await? {
            return Ok(page);
        }
    }
    let first_look = lookup.first_look;
    full_step(svc, &source, login, &client.id, params, poll, first_look).await
}

/// The full query step for `client_id` of `login`: token action, refresh, read, commit —
/// safe under any interleaving with other requests of the same client (docs/sync-engine.md
/// §5.7). `first_look`: what the request saw pending before (the probe's reply).
async fn full_step(
    svc: &SyncServices,
    source: &SourceCtx,
    login: &str,
    client_id: &str,
    params: &Params,
    poll: i64,
    first_look: FirstLook,
) -> Result<Page, SyncError> {
    let p_size = params::page_size(params).map_err(|e| SyncError::BadInput(e.to_string()))?;
    let token = params::token(params);
    let query_param = params.get("query");
    let pk = source.keys(svc, login);
    let ck = pk.client(client_id);
    let store = &svc.store;
    let clock = &svc.clock;

    if source.config.pass_through {
        let args = BeginArgs {
            token: None,
            now_secs: clock.now_secs(),
            poll_interval: poll,
            may_refresh: true,
            slice_limit: 0,
            mode: BeginMode::Begin,
            start_override: None,
            include_pinned: false,
        };
        return match store.begin(&pk, &ck, &args).await? {
            BeginReply::Refresh { .. } => {
                let out = refresh::run(svc, source, login, query_param, poll, false).await?;
                let metadata = out.metadata.map(|(m, _)| m);
                let fresh = next_token(clock.now_micros(), None);
                Ok(pass_through_page(out.result.unwrap_or_default(), CudErrors::default(), metadata, out.errors, fresh))
            }
            _ => Ok(Page::default()),
        };
    }

    // The steps of docs/sync-engine.md §5.7: the token step once, then reads; a lost commit
    // race reads again; a pending page this request did not build is never overwritten.
    let mut phase = Phase::TokenStep;
    let mut first = first_look;
    let mut total_count = 0;
    for _ in 0..MAX_STEPS {
        let token_step = phase == Phase::TokenStep;
        let args = BeginArgs {
            token: if token_step { token.as_deref() } else { None },
            now_secs: clock.now_secs(),
            poll_interval: poll,
            may_refresh: token_step,
            slice_limit: slice_limit(p_size),
            mode: if token_step { BeginMode::Begin } else { BeginMode::Read },
            start_override: None,
            include_pinned: true,
        };
        match store.begin(&pk, &ck, &args).await? {
            BeginReply::Resend { page, errors } => {
                let stored: StoredPage = serde_json::from_str(&page).map_err(|e| SyncError::Internal(e.to_string()))?;
                return Ok(resend_page(&stored, &json_map(Some(&errors))));
            }
            BeginReply::Reset { page, st, pinned } => {
                let found = st.get("tok").map(String::as_str).unwrap_or_default();
                if first == FirstLook::Unknown {
                    first = FirstLook::Page(found.to_owned());
                }
                match on_pending_page(phase, token.is_some(), &first, found, next_token(clock.now_micros(), None)) {
                    PendingDecision::Reset => match undo_stored_page(svc, &ck, &page, &st, &pinned).await {
                        // Undone: the token step again, now over a state without a page.
                        Ok(()) => first = FirstLook::NoPage,
                        Err(SyncError::Conflict) => {}
                        Err(e) => return Err(e),
                    },
                    // A concurrent request's page: the read says how big md is, and sees it.
                    _ => phase = Phase::AfterTokenStep,
                }
            }
            BeginReply::Refresh { .. } => {
                if source.config.query_queued {
                    enqueue_refresh(svc.queue(), &source.config.name, login, query_param).await?;
                } else {
                    refresh::run(svc, source, login, query_param, poll, true).await?;
                }
                phase = Phase::AfterTokenStep;
            }
            BeginReply::InStep { md_size, errors } => {
                return Ok(Page { total_count: md_size, source_error: json_map(Some(&errors)), ..Page::default() });
            }
            BeginReply::Build { read, .. } => {
                total_count = read.head.md_size;
                if let Some(found) = read.st.get("tok").filter(|_| !token_step) {
                    match on_pending_page(phase, token.is_some(), &first, found, next_token(clock.now_micros(), None)) {
                        PendingDecision::ResendConcurrent => {
                            if let Some(page) = resend_concurrent(svc, &pk, &ck, token.as_deref()).await? {
                                return Ok(page);
                            }
                            continue;
                        }
                        _ => return Ok(quiet_page(total_count)),
                    }
                }
                match build(svc, &pk, &ck, *read, p_size).await {
                    Err(SyncError::Conflict) => phase = Phase::AfterTokenStep,
                    page => return page,
                }
            }
            BeginReply::Busy { .. } => {
                return Err(SyncError::Internal("the query script answered a probe reply to a full step".into()))
            }
        }
    }
    // Still losing after MAX_STEPS: nothing was written for this request, and whatever it
    // would have sent comes with the device's next sync (docs/sync-engine.md §5.7 rule 2).
    tracing::warn!(client = client_id, source = %source.config.name, "query lost every race; answering an empty page");
    Ok(quiet_page(total_count))
}

/// How many steps (reads after a lost commit race, resets) one query request takes at most.
const MAX_STEPS: usize = 8;

/// The answer of a request that found a concurrent request's page and carries no token: an
/// empty page with an empty token (docs/sync-engine.md §5.7).
fn quiet_page(total_count: u64) -> Page {
    Page { total_count, ..Page::default() }
}

/// The resend a request with `token` gets when a concurrent request's page is pending: the
/// token step again, without refresh (the store compares the tokens and resends). `None`
/// when the page went meanwhile (the caller reads again).
async fn resend_concurrent(
    svc: &SyncServices,
    pk: &crate::store::keys::PartitionKeys,
    ck: &ClientKeys,
    token: Option<&str>,
) -> Result<Option<Page>, SyncError> {
    let args = BeginArgs {
        token,
        now_secs: svc.clock.now_secs(),
        poll_interval: -1,
        may_refresh: false,
        slice_limit: 0,
        mode: BeginMode::Begin,
        start_override: None,
        include_pinned: false,
    };
    match svc.store.begin(pk, ck, &args).await? {
        BeginReply::Resend { page, errors } => {
            let stored: StoredPage = serde_json::from_str(&page).map_err(|e| SyncError::Internal(e.to_string()))?;
            Ok(Some(resend_page(&stored, &json_map(Some(&errors)))))
        }
        _ => Ok(None),
    }
}

/// The page for a probe's reply (`BeginMode::Probe`) and the refresh time it saw, once the
/// session and the client are checked: `None` when the full query step must run instead —
/// a refresh is due under `poll`, the reply needs the full step, or the client state moved
/// between the probe and the commit.
async fn serve_probed(
    svc: &SyncServices,
    pk: &crate::store::keys::PartitionKeys,
    ck: &ClientKeys,
    (reply, refresh_time): (BeginReply, f64),
    poll: i64,
    p_size: usize,
) -> Result<Option<Page>, SyncError> {
    if refresh_due(poll, refresh_time, svc.clock.now_secs()) {
        return Ok(None);
    }
    match reply {
        BeginReply::InStep { md_size, errors } => {
            Ok(Some(Page { total_count: md_size, source_error: json_map(Some(&errors)), ..Page::default() }))
        }
        BeginReply::Build { read, .. } => match build(svc, pk, ck, *read, p_size).await {
            Err(SyncError::Conflict) => Ok(None),
            page => page.map(Some),
        },
        _ => Ok(None),
    }
}

/// Reset with undo (docs/device-protocol.md §5.4 DEVIATION): puts back the pre-page belief and the
/// page's links and CUD deletes, drops the stored page.
async fn undo_stored_page(
    svc: &SyncServices,
    ck: &ClientKeys,
    page: &str,
    st: &HashMap<String, String>,
    pinned: &[(String, String)],
) -> Result<(), SyncError> {
    let stored: StoredPage = serde_json::from_str(page).unwrap_or_default();
    let carry = reset_carry(stored);
    let before = client_state(st, pinned);
    let (after, sent) = apply_undo(&before, &carry.undo);
    let (pin_set, pin_del) = pin_delta(&before, &after);
    let mut st_fields: Vec<(&'static str, Option<String>)> = cursor_fields(&after.cursor).to_vec();
    st_fields.push(("tok", None));
    st_fields.push(("fin", None));
    if carry.clear_metadata_sha1 {
        st_fields.push(("msha", None));
    }
    let mut add: [Vec<(String, String)>; 6] = Default::default();
    add[0] = carry.pending.links.into_iter().collect();
    add[5] = carry.pending.deletes.iter().map(|(id, a)| (id.clone(), encode_body(a))).collect();
    let commit = Commit {
        gen: st.get("gen").cloned().unwrap_or_default(),
        st: st_fields,
        pin_set,
        pin_del,
        sent,
        page: Some(None),
        add,
        ..Commit::default()
    };
    if svc.store.commit(ck, &commit).await? {
        Ok(())
    } else {
        Err(SyncError::Conflict)
    }
}

/// Queues a refresh for the adapter worker (docs/sync-engine.md §4.4).
pub async fn enqueue_refresh(
    queue: &dyn JobQueue,
    source: &str,
    login: &str,
    query: Option<&Value>,
) -> Result<(), SyncError> {
    let message = JobMessage::with_fresh_id(Job::Refresh {
        source: source.to_owned(),
        user: login.to_owned(),
        query: query.cloned(),
    });
    queue.send(Queue::Adapter, &message).await?;
    Ok(())
}

fn pending_docs(read: &PageRead) -> Result<(PendingClientDocs, [Vec<String>; 6]), SyncError> {
    let part = |i: usize| read.pending.get(i).cloned().unwrap_or_default();
    let errors = |i: usize| -> IndexMap<String, Value> {
        part(i).into_iter().map(|(k, v)| (k, serde_json::from_str(&v).unwrap_or(Value::String(v)))).collect()
    };
    let objects = |i: usize| -> Result<ObjectMap, SyncError> {
        part(i).into_iter().map(|(k, v)| Ok((k, decode_body(&v)?))).collect()
    };
    let pending = PendingClientDocs {
        links: part(0).into_iter().collect(),
        errors: CudErrors { create: errors(1), update: errors(2), delete: errors(3), update_rollback: objects(4)? },
        deletes: objects(5)?,
    };
    let consume = std::array::from_fn(|i| part(i).into_iter().map(|(k, _)| k).collect());
    Ok((pending, consume))
}

async fn build(
    svc: &SyncServices,
    pk: &crate::store::keys::PartitionKeys,
    ck: &ClientKeys,
    read: PageRead,
    p_size: usize,
) -> Result<Page, SyncError> {
    let store = &svc.store;
    let now = svc.clock.now_micros();
    let gen = read.st.get("gen").cloned().unwrap_or_default();
    let last_token = Some(st_num(&read.st, "lt")).filter(|t| *t > 0);
    let mut st_fields: Vec<(&'static str, Option<String>)> = Vec::new();

    // Step 1: schema (docs/sync-engine.md §5.3).
    match schema_step(read.st.get("ssha").map(String::as_str), read.src.get("schema_sha1").map(String::as_str)) {
        SchemaStep::Continue(Some(sha)) => st_fields.push(("ssha", Some(sha))),
        SchemaStep::Continue(None) => {}
        SchemaStep::Changed(sha) => {
            let token = next_token(now, last_token);
            let (page, stored) = schema_changed_page(token);
            let json = serde_json::to_string(&stored).map_err(|e| SyncError::Internal(e.to_string()))?;
            let commit = Commit {
                gen,
                st: vec![("ssha", Some(sha)), ("tok", Some(token.to_string())), ("lt", Some(token.to_string()))],
                page: Some(Some(json)),
                ..Commit::default()
            };
            return if store.commit(ck, &commit).await? { Ok(page) } else { Err(SyncError::Conflict) };
        }
    }

    // Step 2 (docs/sync-engine.md §5.3): the diff, over as many slices as it takes to find
    // something (or finish).
    let before = client_state(&read.st, &read.pinned);
    let (pending, consume) = pending_docs(&read)?;
    let mut work = before.clone();
    let mut head = read.head;
    let mut slice = read.slice;
    let mut last = read.slice_is_last;
    let mut records = read.records;
    let mut sent = read.sent;
    let mut writes = SentWrites::default();
    let mut undo = PageUndo { cursor: before.cursor.clone(), ..PageUndo::default() };
    let mut undone: HashSet<String> = HashSet::new();
    let byte_cap = svc.settings.app.page_byte_cap;
    let mut undo_cursor = None;
    let plan = loop {
        let inputs =
            PageInputs { head, slice: &slice, slice_is_last: last, objects: &records, sent: &sent, p_size, byte_cap };
        let mut plan = plan_page(&work, inputs, undo_cursor)?;
        for (id, p) in &plan.undo.pinned {
            if undone.insert(format!("p{id}")) {
                undo.pinned.push((id.clone(), p.clone()));
            }
        }
        for (id, s) in &plan.undo.sent {
            if undone.insert(format!("s{id}")) {
                undo.sent.push((id.clone(), *s));
            }
        }
        writes.then(std::mem::take(&mut plan.sent_writes));
        work = plan.state.clone();
        if !plan.needs_another_slice {
            break plan;
        }
        undo_cursor = Some(plan.undo.cursor.clone());
        let args = BeginArgs {
            token: None,
            now_secs: 0,
            poll_interval: 0,
            may_refresh: false,
            slice_limit: slice_limit(p_size),
            mode: BeginMode::Read,
            start_override: work.cursor.scan,
            include_pinned: false,
        };
        let BeginReply::Build { read: next, .. } = store.begin(pk, ck, &args).await? else {
            return Err(SyncError::Internal("unexpected reply while reading the next slice".into()));
        };
        head = next.head;
        slice = next.slice;
        last = next.slice_is_last;
        records = next.records;
        sent = if writes.clear { HashMap::new() } else { next.sent };
        writes.apply_to(&mut sent);
    };
    undo.cursor = plan.undo.cursor.clone();

    // Steps 3–6 (docs/sync-engine.md §5.3): pending documents, metadata, errors, token.
    let fresh_token = next_token(now, last_token);
    let source_metadata = match (read.src.get("metadata"), read.src.get("metadata_sha1")) {
        (Some(m), Some(s)) => Some((m.clone(), s.clone())),
        _ => None,
    };
    let out = assemble_new_page(NewPageParts {
        insert: plan.insert,
        delete: plan.delete,
        undo,
        pending,
        client_metadata_sha1: read.st.get("msha").cloned(),
        source_metadata,
        source_errors: json_map(read.src.get("errors").map(String::as_str)),
        total_count: head.md_size,
        fresh_token,
    });
    st_fields.extend(cursor_fields(&work.cursor));
    // `fin`: the version the cycle completes at when this page is acknowledged
    // (`lua/begin.lua` applies it, as `rhosync_engine::model::complete_on_ack` describes).
    st_fields.push(("fin", plan.complete_on_ack.filter(|_| out.stored.is_some()).map(|v| v.to_string())));
    if let Some(sha) = &out.client_metadata_sha1 {
        st_fields.push(("msha", Some(sha.clone())));
    }
    let stored_json = match out.stored_json() {
        Some(json) => {
            st_fields.push(("tok", Some(fresh_token.to_string())));
            st_fields.push(("lt", Some(fresh_token.to_string())));
            Some(json.map_err(|e| SyncError::Internal(e.to_string()))?)
        }
        None => {
            st_fields.push(("tok", None));
            None
        }
    };
    let (pin_set, pin_del) = pin_delta(&before, &work);
    let commit = Commit {
        gen,
        st: st_fields,
        pin_set,
        pin_del,
        sent: writes,
        page: Some(stored_json),
        consume,
        ..Commit::default()
    };
    if store.commit(ck, &commit).await? {
        Ok(out.page)
    } else {
        Err(SyncError::Conflict)
    }
}
