//! Backend pushes into a master document (docs/rest-api.md §8, docs/sync-engine.md §9):
//! `push_objects`, `push_deletes`, `fast_insert`, `fast_update`, `fast_delete`. Each is one
//! versioned md write; devices see the changes through the normal diff.
//!
//! `md_size` always equals the number of objects (RC7's `fast_insert` / `fast_delete`
//! counter quirks of docs/rest-api.md §8 (fast_insert/fast_delete) are not reproduced).

use std::collections::HashMap;

use rhosync_engine::model::{apply_fast_update, apply_push_deletes, apply_push_objects};
use rhosync_engine::values::{encode_body, normalize_attrs, Body, ObjectMap};
use serde_json::{Map, Value};

use super::refresh::update_md;
use super::SyncServices;
use super::{SourceCtx, SyncError};
use crate::ports::jobs::{Job, JobMessage};
use crate::ports::Queue;

/// Which push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushKind {
    Objects,
    Deletes,
    FastInsert,
    FastUpdate,
    FastDelete,
}

impl PushKind {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "push_objects" => Self::Objects,
            "push_deletes" => Self::Deletes,
            "fast_insert" => Self::FastInsert,
            "fast_update" => Self::FastUpdate,
            "fast_delete" => Self::FastDelete,
            _ => return None,
        })
    }
}

/// An object map where every value must be an object (docs/rest-api.md §1.5).
pub fn strict_objects(value: Option<&Value>) -> Result<ObjectMap, SyncError> {
    match value {
        None | Some(Value::Null) => Ok(ObjectMap::new()),
        Some(Value::Object(map)) => {
            let mut out = ObjectMap::new();
            for (id, v) in map {
                let Some(obj) = v.as_object() else {
                    return Err(SyncError::Refused(format!("Invalid value object for '{id}': Hash is expected.")));
                };
                if let Some(attrs) = normalize_attrs(obj) {
                    out.insert(id.clone(), attrs);
                }
            }
            Ok(out)
        }
        Some(_) => Err(SyncError::BadInput("objects must be a JSON object".into())),
    }
}

fn id_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Applies one push for `source` (configured) with the request's parameters.
pub async fn push(
    svc: &SyncServices,
    source: &SourceCtx,
    kind: PushKind,
    params: &Map<String, Value>,
) -> Result<(), SyncError> {
    let user = match params.get("user_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(SyncError::Refused("Missing required attribute user_id".into())),
    };
    let pk = source.keys(svc, &user);
    let data = || params.get("data").or_else(|| params.get("objects"));
    match kind {
        PushKind::Objects | PushKind::FastInsert => {
            let objects = strict_objects(if kind == PushKind::Objects { params.get("objects") } else { data() })?;
            let ids: Vec<String> = objects.keys().cloned().collect();
            update_md(svc, &pk, &ids, |cur| Ok(apply_push_objects(cur, &objects)?)).await?;
        }
        PushKind::Deletes => {
            let ids = id_list(params.get("objects"));
            update_md(svc, &pk, &ids, |cur| Ok(apply_push_deletes(cur, &ids))).await?;
        }
        PushKind::FastUpdate => {
            let data = strict_objects(data())?;
            let delete_data = strict_objects(params.get("delete_data"))?;
            if data.is_empty() && delete_data.is_empty() {
                return Ok(());
            }
            let ids: Vec<String> = data.keys().chain(delete_data.keys()).cloned().collect();
            update_md(svc, &pk, &ids, |cur| Ok(apply_fast_update(cur, &data, &delete_data)?)).await?;
        }
        PushKind::FastDelete => {
            // docs/rest-api.md §8 (fast_delete): only objects stored exactly as given are removed.
            let data = strict_objects(data())?;
            let ids: Vec<String> = data.keys().cloned().collect();
            update_md(svc, &pk, &ids, |cur: &HashMap<String, Body>| {
                let equal: Vec<String> = data
                    .iter()
                    .filter(|(id, a)| cur.get(*id) == Some(&encode_body(a)))
                    .map(|(id, _)| id.clone())
                    .collect();
                Ok(apply_push_deletes(cur, &equal))
            })
            .await?;
        }
    }
    if source.config.push_notify && source.config.partition_type == crate::config::PartitionType::User {
        let message =
            JobMessage { id: None, job: Job::ping(vec![user], vec![source.config.name.clone()], "push_notify") };
        svc.queue().send(Queue::Push, &message).await?;
    }
    Ok(())
}
