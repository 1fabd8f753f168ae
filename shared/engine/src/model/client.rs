//! The client side of the model (per client and source): the server's belief
//! about what a device holds, and the rules that read it.
//!
//! The belief ([`ClientSyncState`] plus the sent map):
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
//!   entries for the ids being examined are read ([`SentEntries`]); the whole
//!   map is dropped when a cycle completes. Changes to it are [`SentWrites`].
//!
//! Belief for `x` ([`believed_body`]): the pinned entry if any, else the sent
//! entry if any, else the base. [`materialize_cd`] evaluates it for every id.
//!
//! A device in step has `base = At(version)`, no scan, no pinned and an empty
//! sent map: O(1) memory, and a sync is answered after reading two scalars
//! (partition version == base version and nothing pinned → empty page, see
//! [`is_in_step`]).
//!
//! A base older than the partition's horizon (history pruned) cannot be
//! evaluated; [`effective_state`] turns it into [`Base::Empty`], so the device
//! receives everything again as inserts.

use std::collections::{BTreeMap, HashMap};

use indexmap::{IndexMap, IndexSet};

use super::{BodyAt, ModelError, ObjectRecord, PartitionHead, Version};
use crate::values::{decode_body, Body, ObjectMap};

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
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ClientCursor {
    /// Base belief.
    pub base: Base,
    /// Scan position while a cycle is in progress.
    pub scan: Option<Version>,
    /// The pages of the running cycle that sent objects from the change index, oldest
    /// first (at most [`MAX_MARKS`]); they stand in for those objects' sent entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<PageMark>,
}

/// One page of a scan cycle that sent objects it met in the change index: the partition
/// version its read saw and the scan position it reached. The mark covers the scores
/// above the previous mark's `scan` (or the cycle's start) up to its own: the device
/// holds `body_at(x, read)` for every object whose score at `read` lies there — the ones
/// this page sent or found equal, and the ones earlier unmarked pages (which sent
/// nothing) found equal, unless they changed since, in which case their new score puts
/// them in this page's own walk or beyond the mark. So a page needs no sent entry per
/// object: one mark replaces them all, and the history of an object changed since tells
/// which mark examined it ([`examined_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct PageMark {
    /// The partition version the page's read saw.
    pub read: Version,
    /// The scan position after the page.
    pub scan: Version,
}

/// How many marks one cycle keeps. A cycle of more pages (a tiny `p_size` over a large
/// source) records sent entries for its later pages, as it did before marks existed.
pub const MAX_MARKS: usize = 64;

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
    /// Records "set `id` to `v`", replacing an earlier remove of `id`.
    pub(super) fn set(&mut self, id: &str, v: Version) {
        self.remove.swap_remove(id);
        self.set.insert(id.to_owned(), v);
    }
    /// Records "remove `id`", replacing an earlier set of `id`.
    pub(super) fn remove(&mut self, id: &str) {
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
    /// One of two bodies, which differ (possibly absent): a page of the running cycle
    /// may or may not have walked past the object before it changed, and its history no
    /// longer tells which ([`Examined::Maybe`]). A page sends what turns either into
    /// the current body.
    Either(Option<Body>, Option<Body>),
    /// Unknown (history pruned): treat as "has nothing we can diff against".
    Unknown,
}

fn is_stale(cursor: &ClientCursor, head: &PartitionHead) -> bool {
    matches!(cursor.base, Base::At(c) if c < head.horizon)
}

/// The state to work from: a base older than the horizon is unknown and
/// becomes [`Base::Empty`] (see the limitation note of the [model](super) docs).
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

/// Whether a page of the running cycle examined an object in the change index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Examined {
    /// No mark examined it.
    No,
    /// The last mark that examined it read the partition at this version.
    At(Version),
    /// Either a mark that read the partition at this version (or an earlier one, which
    /// saw the same body) examined it, or none did: its score before its earliest kept
    /// change is gone (a first load keeps no creation event, pruning drops events), but
    /// every mark read at or after the horizon, so each saw the `before` of that change.
    Maybe(Version),
    /// Its history was pruned too far to tell.
    Unknown,
}

/// The object's change-index score as of version `t`: `Ok(score)` (None: not indexed
/// then), or `Err(bound)` when the change it had then was pruned: its score was then at
/// most `bound` (or it was not indexed). Pruning drops events oldest first and every
/// event above the horizon is kept, so the kept events below `t` decide exactly.
fn score_at(record: &ObjectRecord, t: Version, horizon: Version) -> Result<Option<Version>, Version> {
    match record.latest {
        None => Ok(None),
        Some(latest) if latest <= t => Ok(Some(latest)),
        Some(_) => match record.history.iter().rev().find(|e| e.version <= t) {
            Some(e) => Ok(Some(e.version)),
            None => Err(t.min(horizon)),
        },
    }
}

/// Which mark of `cursor` last examined the object of `record` ([`PageMark`]): the
/// object's score as of each mark's read, against the range of scores that page walked.
/// `Examined::No` at once for an object unchanged since the cycle's first mark, as every
/// object still ahead of the scan is.
pub fn examined_at(cursor: &ClientCursor, record: &ObjectRecord, horizon: Version) -> Examined {
    let (Some(first), Some(latest)) = (cursor.marks.first(), record.latest) else { return Examined::No };
    if latest <= first.read {
        // Its score was `latest` at every mark: the first mark whose scan reached it
        // walked it (the marks' ranges follow each other from the cycle's start).
        return match cursor.marks.iter().position(|m| latest <= m.scan) {
            Some(k) if k > 0 || latest > cycle_start(cursor) => Examined::At(cursor.marks[k].read),
            _ => Examined::No,
        };
    }
    for k in (0..cursor.marks.len()).rev() {
        let mark = cursor.marks[k];
        let from = if k == 0 { cycle_start(cursor) } else { cursor.marks[k - 1].scan };
        match score_at(record, mark.read, horizon) {
            Ok(Some(score)) if score > from && score <= mark.scan => return Examined::At(mark.read),
            Ok(_) => {}
            // Its score then was pruned, but was at most `bound`: below this page's walk.
            Err(bound) if bound <= from => {}
            // Within the walks so far, and unchanged since the horizon, which every mark
            // read at or after: whichever page walked past it (or none, if it lies before
            // the cycle's start), the device holds the body it had at each of those reads.
            Err(bound) if bound <= mark.scan && cursor.marks[0].read >= horizon => return Examined::At(mark.read),
            // Perhaps within this page's walk, perhaps ahead of it: every earlier mark
            // read before the object's earliest kept change too (no kept event lies at
            // or below this read), so whichever examined it saw the same body.
            Err(_) if cursor.marks[0].read >= horizon => return Examined::Maybe(mark.read),
            Err(_) => return Examined::Unknown,
        }
    }
    Examined::No
}

/// Where the running cycle started: the base version, or 0.
fn cycle_start(cursor: &ClientCursor) -> Version {
    match cursor.base {
        Base::At(c) => c,
        Base::Empty => 0,
    }
}

/// The believed body of one object: its pinned entry, else what the last examination in
/// this cycle sent (the later of its sent entry and the mark that examined it), else the
/// base. Where the history cannot tell whether a mark examined it, the two outcomes
/// ([`Belief::Either`], or `Known` when they agree).
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
    // What the device holds if the mark read at `examined` (if any) examined it last.
    let held = |examined: Option<Version>| {
        let at = match (sent, examined) {
            (Some(v), Some(h)) => Some(v.max(h)),
            (v, h) => v.or(h),
        };
        match (at, state.cursor.base) {
            (Some(v), _) | (None, Base::At(v)) => known(record.body_at(v, head.horizon)),
            (None, Base::Empty) => Belief::Known(None),
        }
    };
    match examined_at(&state.cursor, record, head.horizon) {
        Examined::Unknown => Belief::Unknown,
        Examined::No => held(None),
        Examined::At(h) => held(Some(h)),
        Examined::Maybe(h) => match (held(Some(h)), held(None)) {
            (Belief::Known(a), Belief::Known(b)) if a == b => Belief::Known(a),
            (Belief::Known(a), Belief::Known(b)) => Belief::Either(a, b),
            _ => Belief::Unknown,
        },
    }
}

/// Materialises the client document `cd` (for the store API's GET of a `cd`
/// name): `records` must hold every id of the change index (live objects
/// and retained tombstones); `sent` the whole sent map. Ids whose belief is
/// unknown or one of two are left out.
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
    // Objects a mark examined have no sent entry: every indexed id may be held.
    if matches!(state.cursor.base, Base::At(_)) || !state.cursor.marks.is_empty() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_writes_compose() {
        let mut map: SentEntries = HashMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]);
        let mut first = SentWrites::default();
        first.set("c", 3);
        first.remove("a");
        let mut second = SentWrites::default();
        second.set("a", 5);
        second.remove("c");
        let mut stepwise = map.clone();
        first.apply_to(&mut stepwise);
        second.apply_to(&mut stepwise);
        let mut combined = first.clone();
        combined.then(second);
        combined.apply_to(&mut map);
        assert_eq!(map, stepwise);
        let mut cleared = first;
        cleared.then(SentWrites { clear: true, ..SentWrites::default() });
        assert!(cleared.clear && cleared.set.is_empty());
    }
}
