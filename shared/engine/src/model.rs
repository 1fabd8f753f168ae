//! The versioned partition model: how the server knows what each device holds
//! without keeping a copy of every device's data.
//!
//! # Why
//!
//! RC7 keeps a full client document `cd` per (client, source) and diffs the
//! whole master document `md` against it on every new page (sync-engine.md
//! §7.1–7.2). Cost and memory then grow with objects × devices. The
//! performance design (design.md, "Performance design") asks instead that a
//! no-change sync be O(1), an incremental sync touch only what changed, and a
//! device that is in step cost (almost) nothing. This module is the data model
//! that delivers that while producing the same pages RC7 semantics demand.
//!
//! # The partition side (per source and partition key)
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
//! # The client side (per client and source)
//!
//! The server's belief about what a device holds ([`ClientSyncState`]):
//!
//! * `base`: [`Base::Empty`] (holds nothing) or [`Base::At`]`(c)` (holds
//!   `body_at(x, c)` for every `x`);
//! * `scan`: while a scan cycle is in progress, the index score of the last
//!   examined entry (ids with latest change ≤ `scan` have been examined);
//! * `pinned`: a few explicit exceptions `id → body or absent` (objects the
//!   client created through CUD, search results, client deletes, …); read in
//!   full on every page and emptied by the next page that has room;
//! * the **sent map** (`id → version`, kept apart because it can be as large
//!   as one cycle's traffic): "the client holds `body_at(x, v)`". Only the
//!   entries for the ids being examined are read; the whole map is dropped
//!   when a cycle completes.
//!
//! Belief for `x` ([`believed_body`]): the pinned entry if any, else the sent
//! entry if any, else the base.
//!
//! A device in step has `base = At(version)`, no scan, no pinned and an empty
//! sent map: O(1) memory, and a sync is answered after reading two scalars
//! (partition version == base version and nothing pinned → empty page, see
//! [`is_in_step`]).
//!
//! # A page ([`plan_page`])
//!
//! A scan cycle starts at `scan_start` ([`scan_start`]: the scan position, else
//! the base version, else 0) and walks the change index in score order. Per
//! page: first the pinned ids, then index entries after the scan position,
//! each compared (believed body vs. current `md` body); differing ones go into
//! the page (whole objects, ≤ `p_size` and ≤ a byte cap but at least one) and
//! get a sent entry stamped with their latest version. The scan position
//! advances to the last examined entry. An object changed again after it was
//! examined has a new, larger score, so it is met again later in the same
//! scan — with the sent entry telling what the device really has. When the
//! scan finds nothing after its position, nothing is pinned and the page is
//! empty, the cycle **completes**: `base := At(version)` of the same
//! snapshot, sent map dropped. (Completion never happens on a page that
//! carries objects, so undoing a page never needs a dropped sent map back.)
//!
//! # What the store must read per query page (1 round trip with a Lua script
//! when the client keys are hash-tagged with the partition, else 2)
//!
//! 1. The client's [`ClientSyncState`] (scalars + pinned map) and the
//!    partition [`PartitionHead`] (version, horizon, md_size).
//!    If [`is_in_step`] → empty page, done.
//! 2. `slice` = change-index entries with score > [`scan_start`], ascending,
//!    `LIMIT` a few times `p_size` (`ZRANGEBYSCORE idx (<start> +inf LIMIT 0 L
//!    WITHSCORES`), plus whether more exist; then for the slice ids ∪ pinned
//!    ids: `md` bodies (`HMGET`), latest versions, history (`HMGET`), and the
//!    client's sent entries (`HMGET`). With co-located keys all of this is one
//!    script call.
//! 3. Call [`plan_page`]. If it answers `needs_another_slice` (a whole slice of
//!    changes the device already has), apply its state, fetch the next slice
//!    and call again, passing the first call's undo cursor.
//! 4. Write in one step (`MULTI`/script): the new state, the [`SentWrites`],
//!    the stored page with its [`PageUndo`].
//!
//! # Store contract for the other request kinds
//!
//! * **Refresh / push API / fast_*:** read the ids' `md` bodies (the whole
//!   `md` for a refresh), call the producer ([`apply_refresh`],
//!   [`apply_push_objects`], …), then [`assign_versions`] and write in one
//!   script: `md` set/delete, index `ZADD id version`, history append,
//!   `version`, `md_size`. One read + one write round trip.
//! * **CUD create (link):** the same write for [`apply_create`], plus, in the
//!   client's keys, [`pin_created_object`] and the pending link.
//! * **CUD delete:** [`apply_push_deletes`] for the id, plus [`pin_client_delete`].
//! * **Search:** read state + head, records and sent entries of the result
//!   ids; [`pin_search_results`]; write pinned entries, `md` additions
//!   (numbered as above) and the search docs.
//! * **clientreset:** delete the client's state, sent map and page docs.
//! * **Store API GET of a `cd` name:** read state, head, the whole sent map
//!   and every indexed id's record; [`materialize_cd`]. (Admin/bench only; O(n).)
//!
//! # Edge cases and limitations
//!
//! * An object changed and changed back: compared by content, nothing sent.
//! * Deletion: the index keeps a tombstone, the scan meets it, the device
//!   gets a `delete` of the pairs it holds.
//! * CUD create: [`apply_create`] adds the object to `md` and pins it for the
//!   creating client, so it is never echoed back (sync-engine.md §8.3 step 5).
//! * Client delete: [`pin_client_delete`] (sync-engine.md §8.3 step 6).
//! * Search: [`pin_search_results`] pins what the search page sent and tells
//!   which objects must be added to `md` (sync-engine.md §9 step 4).
//! * clientreset: drop the client state and its sent map ([`ClientSyncState::default`]).
//! * Reset with undo (sync-protocol.md §6.4 DEVIATION): [`apply_undo`] puts
//!   back the pre-page cursor and the pre-page entries of the page's objects.
//! * **Limitation:** a client whose base is older than the horizon (history
//!   pruned) has unknown state; it is treated as [`Base::Empty`] and receives
//!   everything as inserts. Objects deleted from `md` while it was away stay
//!   on the device (RC7 has the same outcome after a Redis flush,
//!   sync-engine.md §4.4). Likewise a sent entry older than the horizon makes
//!   the object's belief unknown and it is re-sent whole as an insert. The
//!   store should therefore keep the horizon behind the oldest active cursor
//!   or a generous time window.

use std::collections::{BTreeMap, HashMap};
use indexmap::{IndexMap, IndexSet};

use crate::diff::{diff_object, ObjectDiff};
use crate::values::{decode_body, encode_body, Attrs, Body, ObjectMap, ValuesError};

/// A partition version / change-index score.
pub type Version = u64;

/// Errors of this module.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    /// A stored body could not be decoded.
    #[error(transparent)]
    Body(#[from] ValuesError),
    /// A document name does not follow any RC7 naming pattern it claims.
    #[error("malformed document name {0:?}")]
    BadDocName(String),
}

// ---------------------------------------------------------------------------
// Partition side
// ---------------------------------------------------------------------------

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
/// sync-engine.md §6.2 step 4): new and changed objects in result order, then
/// vanished ones in `old_md` order.
pub fn apply_refresh(old_md: &indexmap::IndexMap<String, Body>, new_result: &ObjectMap) -> Vec<Change> {
    let mut changes = Vec::new();
    for (id, attrs) in new_result {
        let after = encode_body(attrs);
        let before = old_md.get(id);
        if before != Some(&after) {
            changes.push(Change { id: id.clone(), before: before.cloned(), after: Some(after) });
        }
    }
    for (id, before) in old_md {
        if !new_result.contains_key(id) {
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

/// `push_objects` / `fast_insert` (sync-engine.md §12): merge each object's
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

/// A successful CUD create (sync-engine.md §8.3 step 5): the change adding
/// the object to `md` under its real id. Pair it with [`pin_created_object`].
pub fn apply_create(current: Option<&Body>, real_id: &str, attrs: &Attrs) -> Change {
    Change { id: real_id.to_owned(), before: current.cloned(), after: Some(encode_body(attrs)) }
}

// ---------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------

/// What the client is believed to hold for ids without an exception entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Base {
    /// Nothing (new client, after reset, or stale).
    #[default]
    Empty,
    /// `body_at(x, c)` for every `x`.
    At(Version),
}

/// The scalar part of a client's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ClientCursor {
    /// Base belief.
    pub base: Base,
    /// Scan position while a cycle is in progress.
    pub scan: Option<Version>,
}

/// The per-(client, source) state the store reads in full on every page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientSyncState {
    /// Cursor scalars.
    pub cursor: ClientCursor,
    /// Explicit exceptions: id → what the client holds (`None`: nothing).
    pub pinned: BTreeMap<String, Option<Body>>,
}

/// The client's sent-map entries the store read for the ids of a request.
pub type SentEntries = HashMap<String, Version>;

/// Writes to the client's sent map, applied in field order. Keyed collections, so that
/// a page of thousands of objects records its writes in O(1) each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SentWrites {
    /// Delete the whole map first (cycle completed / state dropped).
    pub clear: bool,
    /// Entries to delete.
    pub remove: IndexSet<String>,
    /// Entries to set.
    pub set: IndexMap<String, Version>,
}

impl SentWrites {
    fn set(&mut self, id: &str, v: Version) {
        self.remove.swap_remove(id);
        self.set.insert(id.to_owned(), v);
    }
    fn remove(&mut self, id: &str) {
        self.set.swap_remove(id);
        self.remove.insert(id.to_owned());
    }
    /// Appends `later` (computed after `self` was applied) so that applying the
    /// result equals applying `self` then `later` (a page planned over several
    /// slices writes once).
    pub fn then(&mut self, later: SentWrites) {
        if later.clear {
            *self = later;
            return;
        }
        for id in &later.remove {
            self.remove(id);
        }
        for (id, v) in &later.set {
            self.set(id, *v);
        }
    }

    /// Applies the writes to an in-memory sent map (tests, in-memory stores).
    pub fn apply_to(&self, sent: &mut SentEntries) {
        if self.clear {
            sent.clear();
        }
        for id in &self.remove {
            sent.remove(id);
        }
        for (id, v) in &self.set {
            sent.insert(id.clone(), *v);
        }
    }
}

/// What the client is believed to hold for one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Belief {
    /// Known (possibly absent).
    Known(Option<Body>),
    /// Unknown (history pruned): treat as "has nothing we can diff against".
    Unknown,
}

fn is_stale(cursor: &ClientCursor, head: &PartitionHead) -> bool {
    matches!(cursor.base, Base::At(c) if c < head.horizon)
}

/// The state to work from: a base older than the horizon is unknown and
/// becomes [`Base::Empty`] (see the module limitation note).
pub fn effective_state(state: &ClientSyncState, head: &PartitionHead) -> (ClientSyncState, bool) {
    if is_stale(&state.cursor, head) {
        (ClientSyncState { cursor: ClientCursor::default(), pinned: state.pinned.clone() }, true)
    } else {
        (state.clone(), false)
    }
}

/// Where the change-index slice must start (exclusive).
pub fn scan_start(state: &ClientSyncState, head: &PartitionHead) -> Version {
    let (state, _) = effective_state(state, head);
    match (state.cursor.scan, state.cursor.base) {
        (Some(s), _) => s,
        (None, Base::At(c)) => c,
        (None, Base::Empty) => 0,
    }
}

/// True when nothing can differ: the page is empty without reading any
/// object (the O(1) no-change sync).
pub fn is_in_step(state: &ClientSyncState, head: &PartitionHead) -> bool {
    state.pinned.is_empty() && state.cursor.scan.is_none() && state.cursor.base == Base::At(head.version)
}

/// The believed body of one object.
pub fn believed_body(
    state: &ClientSyncState,
    sent: Option<Version>,
    record: &ObjectRecord,
    id: &str,
    head: &PartitionHead,
) -> Belief {
    if let Some(pinned) = state.pinned.get(id) {
        return Belief::Known(pinned.clone());
    }
    let known = |b: BodyAt<'_>| match b {
        BodyAt::Known(b) => Belief::Known(b.cloned()),
        BodyAt::Unknown => Belief::Unknown,
    };
    if let Some(v) = sent {
        return known(record.body_at(v, head.horizon));
    }
    match state.cursor.base {
        Base::Empty => Belief::Known(None),
        Base::At(c) => known(record.body_at(c, head.horizon)),
    }
}

/// Undo information for one unacknowledged page (sync-protocol.md §6.4
/// DEVIATION): the pre-page cursor and the pre-page exception entries of the
/// page's objects. Size is O(page).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PageUndo {
    /// Cursor before the page.
    pub cursor: ClientCursor,
    /// For each page object: its pinned entry before the page (`None`: not pinned).
    #[serde(with = "pinned_before")]
    pub pinned: Vec<(String, Option<Option<Body>>)>,
    /// For each page object: its sent entry before the page (`None`: none).
    pub sent: Vec<(String, Option<Version>)>,
}

/// Serde form of [`PageUndo::pinned`]: JSON `null` cannot tell "not pinned"
/// from "pinned as absent", so each entry is written as a tagged value.
mod pinned_before {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Body;

    #[derive(Serialize, Deserialize)]
    enum Entry {
        NotPinned,
        Absent,
        Body(Body),
    }

    type Pinned = Vec<(String, Option<Option<Body>>)>;

    pub fn serialize<S: Serializer>(value: &Pinned, s: S) -> Result<S::Ok, S::Error> {
        let entries: Vec<(&String, Entry)> = value
            .iter()
            .map(|(id, p)| {
                let e = match p {
                    None => Entry::NotPinned,
                    Some(None) => Entry::Absent,
                    Some(Some(b)) => Entry::Body(b.clone()),
                };
                (id, e)
            })
            .collect();
        entries.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Pinned, D::Error> {
        let entries: Vec<(String, Entry)> = Vec::deserialize(d)?;
        Ok(entries
            .into_iter()
            .map(|(id, e)| {
                let p = match e {
                    Entry::NotPinned => None,
                    Entry::Absent => Some(None),
                    Entry::Body(b) => Some(Some(b)),
                };
                (id, p)
            })
            .collect())
    }
}

/// Inputs of [`plan_page`], read by the store in one snapshot.
#[derive(Debug, Clone, Copy)]
pub struct PageInputs<'a> {
    /// Partition scalars.
    pub head: PartitionHead,
    /// Change-index entries with score > [`scan_start`], ascending.
    pub slice: &'a [(String, Version)],
    /// True when no entry exists beyond the slice.
    pub slice_is_last: bool,
    /// Records for every slice id and every pinned id.
    pub objects: &'a HashMap<String, ObjectRecord>,
    /// The client's sent entries for those ids.
    pub sent: &'a SentEntries,
    /// Maximum number of objects (sync-protocol.md §6.1).
    pub p_size: usize,
    /// Maximum serialized size of the objects in the page, in bytes; the page
    /// still holds at least one object.
    pub byte_cap: usize,
}

/// The result of [`plan_page`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PagePlan {
    /// Insert part (whole objects, sync-engine.md §7.2 DEVIATION).
    pub insert: ObjectMap,
    /// Delete part.
    pub delete: ObjectMap,
    /// Number of objects in the page.
    pub objects: usize,
    /// The client's new state.
    pub state: ClientSyncState,
    /// Sent-map writes.
    pub sent_writes: SentWrites,
    /// Undo for this page (store it with the page if the page gets a token).
    pub undo: PageUndo,
    /// The cycle completed (base moved to the snapshot version).
    pub completed: bool,
    /// The page carries objects and examined everything up to this snapshot version with
    /// nothing left pinned: once the device acknowledges it, the cycle is complete
    /// ([`complete_on_ack`]), so the acknowledging request needs no scan of its own.
    pub complete_on_ack: Option<Version>,
    /// The page is empty only because the slice ran out: fetch the slice
    /// after the new scan position and call again.
    pub needs_another_slice: bool,
}

impl PagePlan {
    /// Number of `insert` + `delete` keys (`count`, sync-protocol.md §6.2).
    pub fn count(&self) -> usize {
        self.insert.len() + self.delete.len()
    }
}

/// [`diff_object`] over owned sides: an object new to the client (or gone from the
/// master) moves its attributes into the diff instead of copying them.
fn diff_owned(master: Option<Attrs>, client: Option<Attrs>) -> Option<ObjectDiff> {
    match (master, client) {
        (Some(m), None) if !m.is_empty() => Some(ObjectDiff { insert: m, delete: Attrs::new() }),
        (None, Some(c)) if !c.is_empty() => Some(ObjectDiff { insert: Attrs::new(), delete: c }),
        (m, c) => diff_object(m.as_ref(), c.as_ref()),
    }
}

/// Bytes a string takes as a JSON string literal (quotes and escapes included), as
/// serde_json writes it.
fn json_str_len(s: &str) -> usize {
    2 + s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// Page bytes of one object's diff, as [`encode_body`] would measure it, without
/// encoding it.
fn diff_size(id: &str, diff: &ObjectDiff) -> usize {
    let part = |a: &Attrs| {
        if a.is_empty() {
            0
        } else {
            // `{` `}`, a `:` per pair and a `,` between pairs.
            let body = 2 + a.iter().map(|(k, v)| json_str_len(k) + 1 + json_str_len(v)).sum::<usize>() + a.len() - 1;
            id.len() + 4 + body
        }
    };
    part(&diff.insert) + part(&diff.delete)
}

/// Computes one new page from the client's state and a snapshot slice. Pure;
/// see the module docs for the inputs. `undo_cursor` is `None` on the first
/// call of a request and the previous plan's `undo.cursor` when continuing
/// after `needs_another_slice`.
pub fn plan_page(state: &ClientSyncState, inputs: PageInputs<'_>, undo_cursor: Option<ClientCursor>) -> Result<PagePlan, ModelError> {
    let head = inputs.head;
    let (mut work, stale) = effective_state(state, &head);
    let mut plan = PagePlan {
        undo: PageUndo { cursor: undo_cursor.unwrap_or(state.cursor), ..PageUndo::default() },
        ..PagePlan::default()
    };
    plan.sent_writes.clear = stale;
    let empty_sent = SentEntries::new();
    let sent_in = if stale { &empty_sent } else { inputs.sent };
    if inputs.p_size == 0 {
        // sync-protocol.md §6.6 k: nothing selected, nothing marked as sent.
        plan.state = state.clone();
        plan.sent_writes = SentWrites::default();
        return Ok(plan);
    }
    let no_record = ObjectRecord::default();
    let mut sent_now: HashMap<String, Option<Version>> = HashMap::new();
    let mut bytes = 0usize;
    let mut full = false;

    // Decides one id; returns false when the page is full (id not taken).
    let mut examine = |id: &str,
                       work: &mut ClientSyncState,
                       plan: &mut PagePlan,
                       sent_now: &mut HashMap<String, Option<Version>>|
     -> Result<bool, ModelError> {
        let record = inputs.objects.get(id).unwrap_or(&no_record);
        let sent = match sent_now.get(id) {
            Some(v) => *v,
            None => sent_in.get(id).copied(),
        };
        let belief = believed_body(work, sent, record, id, &head);
        let diff = match belief {
            // Same canonical text: equal, nothing to decode.
            Belief::Known(b) if b.as_deref() == record.current.as_deref() => None,
            Belief::Known(b) => {
                let master = record.current.as_deref().map(decode_body).transpose()?;
                let client = b.as_deref().map(decode_body).transpose()?;
                diff_owned(master, client)
            }
            // Unknown: send the whole current body as an insert, if any.
            Belief::Unknown => {
                record.current.as_deref().map(decode_body).transpose()?.map(|m| ObjectDiff { insert: m, delete: Attrs::new() })
            }
        };
        let was_pinned = work.pinned.get(id).cloned();
        let sending = diff.is_some();
        if let Some(diff) = diff {
            let size = diff_size(id, &diff);
            if plan.objects >= inputs.p_size || (plan.objects > 0 && bytes + size > inputs.byte_cap) {
                return Ok(false);
            }
            bytes += size;
            plan.objects += 1;
            if !diff.insert.is_empty() {
                plan.insert.insert(id.to_owned(), diff.insert);
            }
            if !diff.delete.is_empty() {
                plan.delete.insert(id.to_owned(), diff.delete);
            }
        }
        if !sending && was_pinned.is_none() {
            // Equal and believed through the base or a sent entry, which stays
            // right: nothing to write (keeps the sent map O(objects sent)).
            return Ok(true);
        }
        // Undo puts back every entry this page rewrites (pinned ones too, so
        // that "no scan ⇒ empty sent map" survives an undo).
        plan.undo.pinned.push((id.to_owned(), was_pinned));
        plan.undo.sent.push((id.to_owned(), sent));
        // Examined: the client now holds the current body, i.e. body_at(latest).
        work.pinned.remove(id);
        match record.latest {
            Some(latest) => {
                sent_now.insert(id.to_owned(), Some(latest));
                plan.sent_writes.set(id, latest);
            }
            None => {
                sent_now.insert(id.to_owned(), None);
                plan.sent_writes.remove(id);
            }
        }
        Ok(true)
    };

    let pinned_ids: Vec<String> = work.pinned.keys().cloned().collect();
    for id in &pinned_ids {
        if !examine(id, &mut work, &mut plan, &mut sent_now)? {
            full = true;
            break;
        }
    }
    let mut slice_done = !full;
    if !full {
        for (id, score) in inputs.slice {
            if !examine(id, &mut work, &mut plan, &mut sent_now)? {
                slice_done = false;
                break;
            }
            work.cursor.scan = Some(*score);
        }
    }
    if work.cursor.scan.is_none() {
        // A cycle is now in progress (sent entries may exist).
        work.cursor.scan = Some(scan_start(&work, &head));
    }
    if slice_done && plan.objects > 0 && work.pinned.is_empty() && inputs.slice_is_last {
        plan.complete_on_ack = Some(head.version);
    }
    if slice_done && plan.objects == 0 && work.pinned.is_empty() {
        if inputs.slice_is_last {
            work.cursor = ClientCursor { base: Base::At(head.version), scan: None };
            plan.sent_writes = SentWrites { clear: true, ..SentWrites::default() };
            plan.completed = true;
        } else {
            plan.needs_another_slice = true;
        }
    }
    plan.state = work;
    Ok(plan)
}

/// The acknowledgement of a page planned with [`PagePlan::complete_on_ack`] `= Some(at)`:
/// the device now holds `body_at(x, at)` for every object outside the pinned entries, so
/// the cycle completes as the next page would have found — `base := At(at)`, scan and
/// sent map dropped. Changes made after `at` start the next cycle; pinned entries added
/// since the page stay.
pub fn complete_on_ack(state: &ClientSyncState, at: Version) -> (ClientSyncState, SentWrites) {
    let mut next = state.clone();
    next.cursor = ClientCursor { base: Base::At(at), scan: None };
    (next, SentWrites { clear: true, ..SentWrites::default() })
}

/// Reset with undo (sync-protocol.md §6.4 DEVIATION, sync-engine.md §7.4):
/// the state and sent-map writes that restore the pre-page belief.
pub fn apply_undo(state: &ClientSyncState, undo: &PageUndo) -> (ClientSyncState, SentWrites) {
    let mut next = state.clone();
    next.cursor = undo.cursor;
    for (id, before) in &undo.pinned {
        match before {
            Some(body) => {
                next.pinned.insert(id.clone(), body.clone());
            }
            None => {
                next.pinned.remove(id);
            }
        }
    }
    let mut writes = SentWrites::default();
    for (id, before) in &undo.sent {
        match before {
            Some(v) => writes.set(id, *v),
            None => writes.remove(id),
        }
    }
    (next, writes)
}

/// The creating client holds the new object under its real id
/// (sync-engine.md §8.3 step 5): pin it so it is not echoed back.
pub fn pin_created_object(state: &mut ClientSyncState, real_id: &str, attrs: &Attrs) {
    state.pinned.insert(real_id.to_owned(), Some(encode_body(attrs)));
}

/// A client's successful delete removes the object from its belief
/// (sync-engine.md §8.3 step 6).
pub fn pin_client_delete(state: &mut ClientSyncState, id: &str) {
    state.pinned.insert(id.to_owned(), None);
}

/// Search results (sync-engine.md §9 step 4): given the search result, the
/// records and sent entries of its ids, and `p_size`, returns the objects to
/// send (those the client does not hold as they are, at most `p_size`), pins
/// them in `state`, and lists the changes adding the ones missing from `md`.
pub fn pin_search_results(
    state: &mut ClientSyncState,
    head: &PartitionHead,
    result: &ObjectMap,
    objects: &HashMap<String, ObjectRecord>,
    sent: &SentEntries,
    p_size: usize,
) -> (ObjectMap, Vec<Change>) {
    let no_record = ObjectRecord::default();
    let mut page = ObjectMap::new();
    let mut md_changes = Vec::new();
    for (id, attrs) in result {
        if page.len() >= p_size {
            break;
        }
        let body = encode_body(attrs);
        let record = objects.get(id).unwrap_or(&no_record);
        let belief = believed_body(state, sent.get(id).copied(), record, id, head);
        if belief == Belief::Known(Some(body.clone())) {
            continue;
        }
        if record.current.is_none() {
            md_changes.push(Change { id: id.clone(), before: None, after: Some(body.clone()) });
        }
        state.pinned.insert(id.clone(), Some(body));
        page.insert(id.clone(), attrs.clone());
    }
    (page, md_changes)
}

/// Materialises the client document `cd` (for the store API's GET of a `cd`
/// name): `records` must hold every id of the change index (live objects
/// and retained tombstones); `sent` the whole sent map. Ids whose belief is
/// unknown are left out.
pub fn materialize_cd(
    state: &ClientSyncState,
    head: &PartitionHead,
    sent: &SentEntries,
    records: &HashMap<String, ObjectRecord>,
) -> Result<ObjectMap, ModelError> {
    let (state, stale) = effective_state(state, head);
    let no_record = ObjectRecord::default();
    let mut ids: Vec<&String> = state.pinned.keys().collect();
    if !stale {
        ids.extend(sent.keys());
    }
    if let Base::At(_) = state.cursor.base {
        ids.extend(records.keys());
    }
    ids.sort();
    ids.dedup();
    let mut cd = ObjectMap::new();
    for id in ids {
        let record = records.get(id).unwrap_or(&no_record);
        let sent = if stale { None } else { sent.get(id).copied() };
        if let Belief::Known(Some(body)) = believed_body(&state, sent, record, id, head) {
            cd.insert(id.clone(), decode_body(&body)?);
        }
    }
    Ok(cd)
}

// ---------------------------------------------------------------------------
// RC7 document names (sync-engine.md §4.3)
// ---------------------------------------------------------------------------

/// A parsed RC7 document name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocName {
    /// `source:application:<partition>:<source>:<doc>` (`md`, `md_size`, `errors`, …).
    Source { partition: String, source: String, doc: String },
    /// `client:application:<login>:<client id>:<source>:<doc>` (`cd`, `page`, …).
    Client { login: String, client_id: String, source: String, doc: String },
    /// `source:application:<source>:<create|update|delete>`.
    CudQueue { source: String, op: String },
    /// `read_state:application:<partition>:<source>:<field>`.
    ReadState { partition: String, source: String, field: String },
    /// `source:<source>:poll_interval`.
    PollInterval { source: String },
    /// `user:count` / `client:count`.
    Counter { kind: String },
    /// `<type>:<id>:<field>` with type `user`, `client`, `app`, `api_token`, `bulk_data`.
    Record { kind: String, id: String, field: String },
    /// `lock:<docname>`.
    Lock(Box<DocName>),
    /// Anything else (adapter scratch data such as `test_db_storage:application:<user>`).
    Scratch(String),
}

impl DocName {
    /// Parses a document name. Names that fit no pattern are [`DocName::Scratch`].
    pub fn parse(name: &str) -> DocName {
        if let Some(inner) = name.strip_prefix("lock:") {
            return DocName::Lock(Box::new(DocName::parse(inner)));
        }
        let parts: Vec<&str> = name.split(':').collect();
        let s = |i: usize| parts[i].to_owned();
        match parts.as_slice() {
            ["source", "application", _, _, _] => DocName::Source { partition: s(2), source: s(3), doc: s(4) },
            ["source", "application", _, "create" | "update" | "delete"] => {
                DocName::CudQueue { source: s(2), op: s(3) }
            }
            ["source", _, "poll_interval"] => DocName::PollInterval { source: s(1) },
            ["client", "application", _, _, _, _] => {
                DocName::Client { login: s(2), client_id: s(3), source: s(4), doc: s(5) }
            }
            ["read_state", "application", _, _, _] => DocName::ReadState { partition: s(2), source: s(3), field: s(4) },
            ["user" | "client", "count"] => DocName::Counter { kind: s(0) },
            ["user" | "client" | "app" | "api_token" | "bulk_data", _, _] => {
                DocName::Record { kind: s(0), id: s(1), field: s(2) }
            }
            _ => DocName::Scratch(name.to_owned()),
        }
    }

    /// The RC7 name again.
    pub fn to_name(&self) -> String {
        match self {
            DocName::Source { partition, source, doc } => format!("source:application:{partition}:{source}:{doc}"),
            DocName::Client { login, client_id, source, doc } => {
                format!("client:application:{login}:{client_id}:{source}:{doc}")
            }
            DocName::CudQueue { source, op } => format!("source:application:{source}:{op}"),
            DocName::ReadState { partition, source, field } => {
                format!("read_state:application:{partition}:{source}:{field}")
            }
            DocName::PollInterval { source } => format!("source:{source}:poll_interval"),
            DocName::Counter { kind } => format!("{kind}:count"),
            DocName::Record { kind, id, field } => format!("{kind}:{id}:{field}"),
            DocName::Lock(inner) => format!("lock:{}", inner.to_name()),
            DocName::Scratch(name) => name.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
