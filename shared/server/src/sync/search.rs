//! Search (docs/device-protocol.md §7, docs/sync-engine.md §7): per requested source, run the adapter's
//! search once per token, page the result over the client's belief, pin what was sent and
//! add unknown results to the master document.

use std::collections::HashMap;

use rhosync_engine::model::{pin_search_results, Change};
use rhosync_engine::page::next_token;
use rhosync_engine::params::{self, Params};
use rhosync_engine::search::{
    decide_search_step, effective_tokens, finish_search, invalid_token_element, pass_through_element, resend_element,
    SearchState, SearchStep,
};
use rhosync_engine::values::{normalize_objects, Body, ObjectMap};
use rhosync_engine::wire::SearchElement;
use serde_json::Value;

use super::refresh::update_md;
use super::SyncServices;
use super::{SourceCtx, SyncError};
use crate::store::keys::{ClientKeys, PartitionKeys};
use crate::store::{client_state, pin_delta};

/// One search request; returns one element per requested source, in request order.
pub async fn search(
    svc: &SyncServices,
    login: &str,
    client_id: &str,
    params: &Params,
) -> Result<Vec<SearchElement>, SyncError> {
    let p_size = params::page_size(params).map_err(|e| SyncError::BadInput(e.to_string()))?;
    let Some(Value::Array(entries)) = params.get("sources") else { return Ok(Vec::new()) };
    let names: Vec<Option<String>> =
        entries.iter().map(|e| e.get("name").and_then(Value::as_str).map(str::to_owned)).collect();
    let raw_tokens: Vec<Option<String>> = entries
        .iter()
        .map(|e| match e.get("token") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
        .collect();
    let tokens = effective_tokens(&raw_tokens.iter().map(Option::as_deref).collect::<Vec<_>>());
    let resend = params.contains_key("resend");
    let mut out = Vec::with_capacity(names.len());
    for (name, token) in names.into_iter().zip(tokens) {
        let Some(name) = name else {
            out.push(SearchElement::Empty);
            continue;
        };
        let Some(source) = svc.source(&name).await? else {
            out.push(SearchElement::Empty);
            continue;
        };
        out.push(one_source(svc, &source, login, client_id, params, token.as_deref(), resend, p_size).await?);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn one_source(
    svc: &SyncServices,
    source: &SourceCtx,
    login: &str,
    client_id: &str,
    params: &Params,
    token: Option<&str>,
    resend: bool,
    p_size: usize,
) -> Result<SearchElement, SyncError> {
    let name = source.config.name.as_str();
    let pk = source.keys(svc, login);
    let ck = pk.client(client_id);
    let store = &svc.store;
    let stored: SearchState = match store.get(&ck.search).await? {
        Some(text) => serde_json::from_str(&text).unwrap_or_default(),
        None => SearchState::default(),
    };
    if source.config.pass_through {
        if token.is_some() {
            return Ok(SearchElement::Empty);
        }
        let fresh = next_token(svc.clock.now_micros(), None).to_string();
        let ran = run_adapter(svc, source, login, params, fresh.clone()).await;
        if !ran.errors.is_empty() {
            return Ok(SearchElement::Error { source: name.to_owned(), errors: ran.errors });
        }
        return Ok(pass_through_element(name, None, &fresh, ran.result));
    }
    let search_state = match decide_search_step(token, resend, &stored) {
        SearchStep::Resend => return Ok(resend_element(name, &stored)),
        SearchStep::InvalidToken => {
            store.del(&[&ck.search]).await?;
            return Ok(invalid_token_element(name));
        }
        SearchStep::NextPage => stored,
        SearchStep::RunAdapter => {
            let last = stored.token.as_deref().and_then(|t| t.parse().ok());
            let fresh = next_token(svc.clock.now_micros(), last).to_string();
            run_adapter(svc, source, login, params, fresh).await
        }
    };
    let page = if search_state.errors.is_empty() {
        next_page(svc, &pk, &ck, &search_state.result, p_size).await?
    } else {
        ObjectMap::new()
    };
    let (element, kept) = finish_search(name, search_state, page);
    match kept {
        Some(s) => {
            let text = serde_json::to_string(&s).map_err(|e| SyncError::Internal(e.to_string()))?;
            store.set(&ck.search, Some(&text), Some(svc.settings.app.store_key_ttl)).await?;
        }
        None => store.del(&[&ck.search]).await?,
    }
    Ok(element)
}

/// Calls login / search / logoff; the state carries the new token, the result and errors.
async fn run_adapter(
    svc: &SyncServices,
    source: &SourceCtx,
    login: &str,
    params: &Params,
    token: String,
) -> SearchState {
    let mut out = SearchState { token: Some(token), ..SearchState::default() };
    let adapter = match &source.adapter {
        Ok(a) => a.clone(),
        Err(e) => {
            out.errors.insert("search-error".into(), e.message().to_owned());
            return out;
        }
    };
    let ctx = source.adapter_ctx(svc, login);
    if let Err(e) = adapter.login(&ctx).await {
        out.errors.insert("login-error".into(), e.message().to_owned());
        return out;
    }
    match adapter.search(&ctx, params.get("search")).await {
        Ok(raw) => match normalize_objects(&Value::Object(raw)) {
            Ok(result) => out.result = result,
            Err(e) => {
                out.errors.insert("search-error".into(), e.to_string());
            }
        },
        Err(e) => {
            out.errors.insert("search-error".into(), e.message().to_owned());
        }
    }
    if let Err(e) = adapter.logoff(&ctx).await {
        out.errors.insert("logoff-error".into(), e.message().to_owned());
    }
    out
}

/// The next `p_size` results the client does not hold; pins them and adds missing ones
/// to md.
async fn next_page(
    svc: &SyncServices,
    pk: &PartitionKeys,
    ck: &ClientKeys,
    result: &ObjectMap,
    p_size: usize,
) -> Result<ObjectMap, SyncError> {
    if result.is_empty() || p_size == 0 {
        return Ok(ObjectMap::new());
    }
    let ids: Vec<String> = result.keys().cloned().collect();
    let store = &svc.store;
    let st: HashMap<String, String> = store.hgetall(&ck.st).await?.into_iter().collect();
    let pinned = store.hgetall(&ck.pin).await?;
    let sent: HashMap<String, u64> =
        store.hgetall(&ck.sent).await?.into_iter().filter_map(|(k, v)| v.parse().ok().map(|v| (k, v))).collect();
    let (head, records) = store.records(pk, &ids).await?;
    let before = client_state(&st, &pinned);
    let mut after = before.clone();
    let (page, md_changes) = pin_search_results(&mut after, &head, result, &records, &sent, p_size);
    if !md_changes.is_empty() {
        let ids: Vec<String> = md_changes.iter().map(|c| c.id.clone()).collect();
        update_md(svc, pk, &ids, |current: &HashMap<String, Body>| {
            Ok(md_changes
                .iter()
                .filter(|c| !current.contains_key(&c.id))
                .map(|c| Change { id: c.id.clone(), before: None, after: c.after.clone() })
                .collect())
        })
        .await?;
    }
    let (pin_set, _) = pin_delta(&before, &after);
    store.hset_many(&ck.pin, &pin_set).await?;
    Ok(page)
}
