//! RC7 document names (docs/sync-engine.md §3.5, docs/rest-api.md §5) resolved onto the sync store,
//! for the store API and the user/client document routes.
//!
//! Source documents read and write the partition (`md` writes are versioned changes, so
//! devices get the difference); `cd` is materialised from the client's cursor, pins and
//! sent map (O(objects), admin only); the unacknowledged page, links, errors and search
//! documents map onto their client keys; read state and poll interval onto theirs;
//! every other name is a scratch document.

use std::collections::HashMap;

use rhosync_engine::model::{apply_push_objects, materialize_cd, DocName};
use rhosync_engine::page::StoredPage;
use rhosync_engine::search::SearchState;
use rhosync_engine::values::{bodies_to_json, decode_body, encode_body, objects_to_json, ObjectMap};
use serde_json::{json, Map, Value};

use super::push::strict_objects;
use super::refresh::{replace_md, update_md};
use super::scratch::StoreScratch;
use super::SyncServices;
use super::{SourceCtx, SyncError};
use crate::store::keys::{self, PartitionKeys};
use crate::store::{client_state, cursor_fields};

/// Client document types (docs/rest-api.md §5.5), in docnames order.
pub const CLIENT_DOC_TYPES: [&str; 24] = [
    "cd",
    "cd_size",
    "page",
    "delete_page",
    "create_links",
    "create_links_page",
    "metadata_page",
    "total_count_page",
    "page_token",
    "schema_sha1",
    "schema_page",
    "metadata_sha1",
    "search",
    "search_token",
    "search_page",
    "search_errors",
    "create_errors",
    "create_errors_page",
    "update_errors",
    "update_errors_page",
    "update_rollback",
    "update_rollback_page",
    "delete_errors",
    "delete_errors_page",
];

/// Internal client document types that may also be addressed.
pub const INTERNAL_CLIENT_DOC_TYPES: [&str; 1] = ["page_undo"];

/// Object-map document types: a missing one reads as `{}` (docs/rest-api.md §5.3).
const OBJECT_DOC_TYPES: [&str; 19] = [
    "md",
    "md_copy",
    "errors",
    "cd",
    "page",
    "delete_page",
    "create_links",
    "create_links_page",
    "search",
    "search_page",
    "search_errors",
    "create_errors",
    "create_errors_page",
    "update_errors",
    "update_errors_page",
    "update_rollback",
    "update_rollback_page",
    "delete_errors",
    "delete_errors_page",
];

/// A document as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    /// Nothing stored; `object_type` tells whether it reads as `{}`.
    Missing { object_type: bool },
    /// A string document.
    Text(String),
    /// An object map or list.
    Json(Value),
}

fn object_type(doc: &str) -> bool {
    OBJECT_DOC_TYPES.contains(&doc)
}

fn json_or_missing(value: Value, doc: &str) -> Doc {
    match &value {
        Value::Object(m) if m.is_empty() => Doc::Missing { object_type: object_type(doc) },
        _ => Doc::Json(value),
    }
}

fn text_or_missing(value: Option<String>, doc: &str) -> Doc {
    match value {
        Some(t) => Doc::Text(t),
        None => Doc::Missing { object_type: object_type(doc) },
    }
}

fn pairs_to_json(pairs: Vec<(String, String)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k, serde_json::from_str(&v).unwrap_or(Value::String(v)))).collect())
}

fn links_json(links: impl IntoIterator<Item = (String, String)>) -> Value {
    Value::Object(links.into_iter().map(|(t, r)| (t, json!({ "l": r }))).collect())
}

/// Reads the document `name`.
pub async fn get(svc: &SyncServices, name: &str) -> Result<Doc, SyncError> {
    if let Some(key) = crate::registry::cache::redis_key(svc.store.keys(), name) {
        return Ok(text_or_missing(svc.store.get(&key).await?, name));
    }
    match DocName::parse(name) {
        DocName::Source { partition, source, doc } if svc.source(&source).await?.is_some() => {
            let pk = PartitionKeys::new(svc.store.keys(), &source, &partition);
            get_source_doc(svc, &pk, &doc, name).await
        }
        DocName::Client { login, client_id, source, doc } => match svc.source(&source).await? {
            Some(src) => get_client_doc(svc, &src, &login, &client_id, &doc).await,
            None => scratch_get(svc, name).await,
        },
        DocName::ReadState { partition, source, field } => {
            let pk = PartitionKeys::new(svc.store.keys(), &source, &partition);
            Ok(text_or_missing(svc.store.hget(&pk.rs, &field).await?, &field))
        }
        DocName::PollInterval { source } => {
            let over = svc.store.get(&keys::poll_interval(svc.store.keys(), &source)).await?;
            let configured = svc.settings.source(&source).map(|s| s.poll_interval.to_string());
            Ok(text_or_missing(over.or(configured), "poll_interval"))
        }
        _ => scratch_get(svc, name).await,
    }
}

async fn scratch_get(svc: &SyncServices, name: &str) -> Result<Doc, SyncError> {
    let scratch = StoreScratch::new(svc.store.clone());
    Ok(match scratch.read(name).await? {
        None => Doc::Missing { object_type: false },
        Some(Value::String(s)) => Doc::Text(s),
        Some(v) => Doc::Json(v),
    })
}

async fn get_source_doc(svc: &SyncServices, pk: &PartitionKeys, doc: &str, name: &str) -> Result<Doc, SyncError> {
    let store = &svc.store;
    match doc {
        "md" => {
            let (_, md) = store.read_md(pk).await?;
            let mut objects = ObjectMap::new();
            for (id, body) in md {
                objects.insert(id, decode_body(&body)?);
            }
            Ok(json_or_missing(objects_to_json(&objects), doc))
        }
        "md_size" => Ok(text_or_missing(store.hget(&pk.head, "n").await?, doc)),
        "errors" => match store.hget(&pk.src, "errors").await? {
            Some(t) => Ok(json_or_missing(serde_json::from_str(&t).unwrap_or(Value::String(t)), doc)),
            None => Ok(Doc::Missing { object_type: true }),
        },
        "metadata" | "metadata_sha1" | "schema" | "schema_sha1" => {
            Ok(text_or_missing(store.hget(&pk.src, doc).await?, doc))
        }
        _ => scratch_get(svc, name).await,
    }
}

async fn stored_page(svc: &SyncServices, key: &str) -> Result<Option<StoredPage>, SyncError> {
    Ok(svc.store.get(key).await?.and_then(|t| serde_json::from_str(&t).ok()))
}

async fn get_client_doc(
    svc: &SyncServices,
    source: &SourceCtx,
    login: &str,
    client_id: &str,
    doc: &str,
) -> Result<Doc, SyncError> {
    let pk = source.keys(svc, login);
    let ck = pk.client(client_id);
    let store = &svc.store;
    let st =
        || async { Ok::<_, SyncError>(store.hgetall(&ck.st).await?.into_iter().collect::<HashMap<String, String>>()) };
    let page = stored_page(svc, &ck.page).await?;
    let page_part = |f: &dyn Fn(&StoredPage) -> Value| page.as_ref().map(f).unwrap_or(Value::Object(Map::new()));
    let search = || async {
        Ok::<_, SyncError>(
            store.get(&ck.search).await?.and_then(|t| serde_json::from_str::<SearchState>(&t).ok()).unwrap_or_default(),
        )
    };
    let out = match doc {
        "cd" => {
            let st = st().await?;
            let pinned = store.hgetall(&ck.pin).await?;
            let sent: HashMap<String, u64> = store
                .hgetall(&ck.sent)
                .await?
                .into_iter()
                .filter_map(|(k, v)| v.parse().ok().map(|v| (k, v)))
                .collect();
            let ids: Vec<String> = store.index(&pk).await?.into_iter().map(|(id, _)| id).collect();
            let (head, records) = store.records(&pk, &ids).await?;
            let cd = materialize_cd(&client_state(&st, &pinned), &head, &sent, &records)?;
            json_or_missing(objects_to_json(&cd), doc)
        }
        "page_token" => text_or_missing(st().await?.remove("tok"), doc),
        "metadata_sha1" => text_or_missing(st().await?.remove("msha"), doc),
        "schema_sha1" => text_or_missing(st().await?.remove("ssha"), doc),
        "page" => json_or_missing(page_part(&|p| bodies_to_json(&p.page.insert)), doc),
        "delete_page" => json_or_missing(page_part(&|p| objects_to_json(&p.page.delete)), doc),
        "create_links_page" => json_or_missing(page_part(&|p| links_json(p.page.links.clone())), doc),
        "create_errors_page" => {
            json_or_missing(page_part(&|p| Value::Object(p.page.errors.create.clone().into_iter().collect())), doc)
        }
        "update_errors_page" => {
            json_or_missing(page_part(&|p| Value::Object(p.page.errors.update.clone().into_iter().collect())), doc)
        }
        "delete_errors_page" => {
            json_or_missing(page_part(&|p| Value::Object(p.page.errors.delete.clone().into_iter().collect())), doc)
        }
        "update_rollback_page" => json_or_missing(page_part(&|p| objects_to_json(&p.page.errors.update_rollback)), doc),
        "metadata_page" => text_or_missing(page.as_ref().and_then(|p| p.page.metadata.clone()), doc),
        "total_count_page" => text_or_missing(page.as_ref().map(|p| p.page.total_count.to_string()), doc),
        "schema_page" => {
            text_or_missing(page.as_ref().filter(|p| p.page.schema_changed).map(|_| "true".to_owned()), doc)
        }
        "page_undo" => match &page {
            Some(p) => Doc::Json(serde_json::to_value(&p.undo).map_err(|e| SyncError::Internal(e.to_string()))?),
            None => Doc::Missing { object_type: false },
        },
        "create_links" => json_or_missing(links_json(store.hgetall(&ck.links).await?), doc),
        "create_errors" => json_or_missing(pairs_to_json(store.hgetall(&ck.cerr).await?), doc),
        "update_errors" => json_or_missing(pairs_to_json(store.hgetall(&ck.uerr).await?), doc),
        "delete_errors" => json_or_missing(pairs_to_json(store.hgetall(&ck.derr).await?), doc),
        "update_rollback" => json_or_missing(pairs_to_json(store.hgetall(&ck.urb).await?), doc),
        "search" => json_or_missing(objects_to_json(&search().await?.result), doc),
        "search_page" => json_or_missing(objects_to_json(&search().await?.page), doc),
        "search_token" => text_or_missing(search().await?.token, doc),
        "search_errors" => {
            let errs = search().await?.errors;
            json_or_missing(Value::Object(errs.into_iter().map(|(k, m)| (k, json!({ "message": m }))).collect()), doc)
        }
        _ => Doc::Missing { object_type: object_type(doc) },
    };
    Ok(out)
}

/// Writes the document `name` (docs/rest-api.md §5.3 rules; `None` data deletes it).
pub async fn set(svc: &SyncServices, name: &str, data: Option<&Value>, append: bool) -> Result<(), SyncError> {
    let data = data.filter(|v| !v.is_null());
    if let Some(key) = crate::registry::cache::redis_key(svc.store.keys(), name) {
        let text = data.map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
        return Ok(svc.store.set(&key, text.as_deref(), None).await?);
    }
    match DocName::parse(name) {
        DocName::Source { partition, source, doc } if svc.source(&source).await?.is_some() => {
            let pk = PartitionKeys::new(svc.store.keys(), &source, &partition);
            set_source_doc(svc, &pk, &doc, name, data, append).await
        }
        DocName::Client { login, client_id, source, doc } if doc == "cd" => match svc.source(&source).await? {
            Some(src) => set_cd(svc, &src, &login, &client_id, data, append).await,
            None => scratch_set(svc, name, data, append).await,
        },
        DocName::ReadState { partition, source, field } => {
            let pk = PartitionKeys::new(svc.store.keys(), &source, &partition);
            let value = data.map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            Ok(svc.store.hset(&pk.rs, &[(field.as_str(), value)]).await?)
        }
        DocName::PollInterval { source } => {
            let value = data.map(|v| rhosync_engine::params::lenient_int(Some(v)).to_string());
            Ok(svc.store.set(&keys::poll_interval(svc.store.keys(), &source), value.as_deref(), None).await?)
        }
        _ => scratch_set(svc, name, data, append).await,
    }
}

async fn set_source_doc(
    svc: &SyncServices,
    pk: &PartitionKeys,
    doc: &str,
    name: &str,
    data: Option<&Value>,
    append: bool,
) -> Result<(), SyncError> {
    match doc {
        "md" => {
            let objects = strict_objects(data)?;
            if append {
                let ids: Vec<String> = objects.keys().cloned().collect();
                update_md(svc, pk, &ids, |cur| Ok(apply_push_objects(cur, &objects)?)).await
            } else {
                replace_md(svc, pk, &objects).await
            }
        }
        "errors" => {
            let text = data.map(Value::to_string);
            Ok(svc.store.hset(&pk.src, &[("errors", text)]).await?)
        }
        "metadata" | "metadata_sha1" | "schema" | "schema_sha1" => {
            let text = data.map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
            let field: &'static str = match doc {
                "metadata" => "metadata",
                "metadata_sha1" => "metadata_sha1",
                "schema" => "schema",
                _ => "schema_sha1",
            };
            Ok(svc.store.hset(&pk.src, &[(field, text)]).await?)
        }
        // md_size follows md; other names are free-form.
        "md_size" => Ok(()),
        _ => scratch_set(svc, name, data, append).await,
    }
}

/// Setting `cd` makes the given objects the client's exact belief (replace) or adds them
/// to it (append); the stored page and the sent map are dropped on replace.
async fn set_cd(
    svc: &SyncServices,
    source: &SourceCtx,
    login: &str,
    client_id: &str,
    data: Option<&Value>,
    append: bool,
) -> Result<(), SyncError> {
    let objects = strict_objects(data)?;
    let ck = source.keys(svc, login).client(client_id);
    let store = &svc.store;
    if !append {
        store.del(&[&ck.pin, &ck.sent, &ck.page]).await?;
        let mut fields: Vec<(&str, Option<String>)> = cursor_fields(&Default::default()).to_vec();
        fields.push(("tok", None));
        fields.push(("fin", None));
        store.hset(&ck.st, &fields).await?;
    }
    let pins: Vec<(String, String)> = objects.iter().map(|(id, a)| (id.clone(), encode_body(a))).collect();
    Ok(store.hset_many(&ck.pin, &pins).await?)
}

fn merge_json(old: Option<Value>, new: &Value) -> Value {
    match (old, new) {
        (Some(Value::Object(mut o)), Value::Object(n)) => {
            for (id, v) in n {
                match (o.get_mut(id), v) {
                    (Some(Value::Object(existing)), Value::Object(attrs)) => {
                        existing.extend(attrs.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                    _ => {
                        o.insert(id.clone(), v.clone());
                    }
                }
            }
            Value::Object(o)
        }
        (Some(Value::Array(mut o)), Value::Array(n)) => {
            o.extend(n.iter().cloned());
            Value::Array(o)
        }
        _ => new.clone(),
    }
}

fn normalized(value: &Value) -> Result<Value, SyncError> {
    match value {
        Value::Object(_) => Ok(objects_to_json(&strict_objects(Some(value))?)),
        Value::Array(items) => Ok(Value::Array(
            items
                .iter()
                .map(|v| Value::String(v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
                .collect(),
        )),
        other => Ok(other.clone()),
    }
}

async fn scratch_set(svc: &SyncServices, name: &str, data: Option<&Value>, append: bool) -> Result<(), SyncError> {
    let scratch = StoreScratch::new(svc.store.clone());
    let Some(data) = data else {
        return Ok(scratch.write(name, None).await?);
    };
    let data = normalized(data)?;
    let value = if append { merge_json(scratch.read(name).await?, &data) } else { data };
    Ok(scratch.write(name, Some(&value)).await?)
}

/// Read-state update (docs/rest-api.md §5.6): optional global poll interval, then
/// `refresh_time = now + refresh_time` for the user's partition of `source`.
pub async fn set_read_state(
    svc: &SyncServices,
    source: &SourceCtx,
    user: &str,
    params: &Map<String, Value>,
) -> Result<(), SyncError> {
    if let Some(p) = params.get("poll_interval").filter(|v| !v.is_null() && v.as_str() != Some("")) {
        let n = rhosync_engine::params::lenient_int(Some(p));
        svc.store.set(&keys::poll_interval(svc.store.keys(), &source.config.name), Some(&n.to_string()), None).await?;
    }
    let delay = rhosync_engine::params::lenient_int(params.get("refresh_time"));
    let at = svc.clock.now_secs() as i64 + delay;
    let pk = source.keys(svc, user);
    Ok(svc.store.hset(&pk.rs, &[("refresh_time", Some(at.to_string()))]).await?)
}
