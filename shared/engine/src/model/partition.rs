//! The partition side of the model (per source and partition key): what the
//! server holds once for all devices, and the producers that turn every kind of
//! backend write into [`Change`]s.
//!
//! * `md`: object id → canonical [`Body`] (see [`crate::values`]).
//! * `version`: a counter; every change event gets the next value, one value
//!   per changed object (so a scan can resume between any two objects).
//! * change index: object id → version of its latest change ([`ObjectRecord::latest`]),
//!   kept for deleted objects too (tombstones). Every id present in `md` has
//!   an entry; tombstones may be pruned once their version is ≤ the horizon.
//! * history: per object id, the retained change events `(version, body before
//!   the change)` with version > `horizon` ([`HistoryEvent`]).
//!
//! From these, `body_at(x, v)` — the body of `x` after all changes with
//! version ≤ `v` — is computable for every `v ≥ horizon`
//! ([`ObjectRecord::body_at`]). Changes are produced by [`apply_refresh`],
//! [`apply_push_objects`], [`apply_push_deletes`], [`apply_fast_update`],
//! [`apply_fast_delete`] and [`apply_create`]; the store numbers them with
//! [`assign_versions`] and writes md + index + history + version in one
//! atomic step.
//!
//! Nothing here knows about clients: what a device is believed to hold is in
//! the client side of the model, which reads these records.

use std::collections::HashMap;

use super::{ModelError, Version};
use crate::values::{decode_body, encode_body, encode_objects, Attrs, Body, BodyMap, ObjectMap};

/// The partition scalars read at the start of every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionHead {
    /// Version of the latest change event.
    pub version: Version,
    /// History is complete for every version `≥ horizon`.
    pub horizon: Version,
    /// Number of objects in `md` (`total_count`).
    pub md_size: u64,
}

/// One retained change event of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEvent {
    /// Version assigned to the change.
    pub version: Version,
    /// The body before the change (`None`: the object did not exist).
    pub before: Option<Body>,
}

/// Everything the store read about one object id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectRecord {
    /// Current `md` body.
    pub current: Option<Body>,
    /// Change-index score (version of the latest change), if indexed.
    pub latest: Option<Version>,
    /// Retained change events, ascending by version.
    pub history: Vec<HistoryEvent>,
}

/// A body as of some version, or unknown because history was pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyAt<'a> {
    /// Known (possibly absent).
    Known(Option<&'a Body>),
    /// The version is older than the retained history.
    Unknown,
}

impl ObjectRecord {
    /// The body after all changes with version ≤ `v`.
    pub fn body_at(&self, v: Version, horizon: Version) -> BodyAt<'_> {
        match self.latest {
            None => BodyAt::Known(self.current.as_ref()),
            Some(latest) if latest <= v => BodyAt::Known(self.current.as_ref()),
            Some(_) if v < horizon => BodyAt::Unknown,
            Some(_) => match self.history.iter().find(|e| e.version > v) {
                Some(event) => BodyAt::Known(event.before.as_ref()),
                None => BodyAt::Unknown,
            },
        }
    }
}

/// One change to `md`, before it is numbered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Object id.
    pub id: String,
    /// Body before (`None`: new object).
    pub before: Option<Body>,
    /// Body after (`None`: deleted).
    pub after: Option<Body>,
}

/// A change with its version; what the store writes: `md[id] = after` (or
/// `HDEL`), index `id → version`, history `id += (version, before)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedChange {
    /// The change.
    pub change: Change,
    /// Its version.
    pub version: Version,
}

/// Numbers changes after `head.version`; returns them and the new head.
/// Changes whose before and after are equal are dropped (no event).
pub fn assign_versions(head: PartitionHead, changes: Vec<Change>) -> (Vec<VersionedChange>, PartitionHead) {
    let mut out = Vec::with_capacity(changes.len());
    let mut next = head;
    for change in changes.into_iter().filter(|c| c.before != c.after) {
        next.version += 1;
        match (&change.before, &change.after) {
            (None, Some(_)) => next.md_size += 1,
            (Some(_), None) => next.md_size = next.md_size.saturating_sub(1),
            _ => {}
        }
        out.push(VersionedChange { change, version: next.version });
    }
    (out, next)
}

/// Changes that turn `old_md` into exactly `new_result` (an adapter refresh,
/// docs/sync-engine.md §4.2 step 4): new and changed objects in result order, then
/// vanished ones in `old_md` order.
pub fn apply_refresh(old_md: &indexmap::IndexMap<String, Body>, new_result: &ObjectMap) -> Vec<Change> {
    apply_refresh_bodies(old_md, &encode_objects(new_result))
}

/// [`apply_refresh`] over a result already in canonical bodies
/// ([`crate::values::normalize_bodies`]).
pub fn apply_refresh_bodies(old_md: &indexmap::IndexMap<String, Body>, new_bodies: &BodyMap) -> Vec<Change> {
    let mut changes = Vec::new();
    for (id, after) in new_bodies {
        let before = old_md.get(id);
        if before != Some(after) {
            changes.push(Change { id: id.clone(), before: before.cloned(), after: Some(after.clone()) });
        }
    }
    for (id, before) in old_md {
        if !new_bodies.contains_key(id) {
            changes.push(Change { id: id.clone(), before: Some(before.clone()), after: None });
        }
    }
    changes
}

fn merged(before: Option<&Body>, edit: impl FnOnce(&mut Attrs)) -> Result<Option<Body>, ModelError> {
    let mut attrs = before.map(|b| decode_body(b)).transpose()?.unwrap_or_default();
    edit(&mut attrs);
    Ok((!attrs.is_empty()).then(|| encode_body(&attrs)))
}

/// `push_objects` / `fast_insert` (docs/sync-engine.md §9): merge each object's
/// attributes into the current body. `current` holds the `md` bodies of the
/// pushed ids (absent → new object).
pub fn apply_push_objects(current: &HashMap<String, Body>, objects: &ObjectMap) -> Result<Vec<Change>, ModelError> {
    let mut changes = Vec::new();
    for (id, attrs) in objects {
        let before = current.get(id);
        let after = merged(before, |a| a.extend(attrs.iter().map(|(k, v)| (k.clone(), v.clone()))))?;
        changes.push(Change { id: id.clone(), before: before.cloned(), after });
    }
    Ok(changes)
}

/// `push_deletes`: remove whole objects by id.
pub fn apply_push_deletes(current: &HashMap<String, Body>, ids: &[String]) -> Vec<Change> {
    ids.iter()
        .filter_map(|id| current.get(id).map(|b| Change { id: id.clone(), before: Some(b.clone()), after: None }))
        .collect()
}

/// `fast_update {data, delete_data}`: remove the attributes named in
/// `delete_data`, then set those of `data`.
pub fn apply_fast_update(
    current: &HashMap<String, Body>,
    data: &ObjectMap,
    delete_data: &ObjectMap,
) -> Result<Vec<Change>, ModelError> {
    let mut ids: Vec<&String> = delete_data.keys().collect();
    ids.extend(data.keys().filter(|id| !delete_data.contains_key(*id)));
    let mut changes = Vec::new();
    for id in ids {
        let before = current.get(id);
        let after = merged(before, |a| {
            if let Some(del) = delete_data.get(id) {
                del.keys().for_each(|k| {
                    a.remove(k);
                });
            }
            if let Some(ins) = data.get(id) {
                a.extend(ins.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        })?;
        changes.push(Change { id: id.clone(), before: before.cloned(), after });
    }
    Ok(changes)
}

/// `fast_delete {data}`: remove the listed attributes; an object left with no
/// attribute is removed (listing all attributes removes the object).
pub fn apply_fast_delete(current: &HashMap<String, Body>, data: &ObjectMap) -> Result<Vec<Change>, ModelError> {
    apply_fast_update(current, &ObjectMap::new(), data)
}

/// A successful CUD create (docs/sync-engine.md §6.4): the change adding
/// the object to `md` under its real id. Pair it with [`super::pin_created_object`].
pub fn apply_create(current: Option<&Body>, real_id: &str, attrs: &Attrs) -> Change {
    Change { id: real_id.to_owned(), before: current.cloned(), after: Some(encode_body(attrs)) }
}
