//! One query page over the model: planning it ([`plan_page`]), and what
//! happens to it afterwards — acknowledged as the end of a cycle
//! ([`complete_on_ack`]) or dropped by a reset ([`apply_undo`] with its
//! [`PageUndo`]).
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
//!    If [`is_in_step`](super::is_in_step) → empty page, done.
//! 2. `slice` = change-index entries with score > [`scan_start`], ascending,
//!    `LIMIT` a few times `p_size` (`ZRANGEBYSCORE idx (<start> +inf LIMIT 0 L
//!    WITHSCORES`), plus whether more exist; then for the slice ids ∪ pinned
//!    ids: `md` bodies (`HMGET`), latest versions, history (`HMGET`), and the
//!    client's sent entries (`HMGET`). With co-located keys all of this is one
//!    script call (a slice of hundreds of ids takes its bodies by a plain `HMGET`
//!    right after it, checked against the partition version: docs/sync-engine.md §5.3).
//! 3. Call [`plan_page`]. If it answers `needs_another_slice` (a whole slice of
//!    changes the device already has), apply its state, fetch the next slice
//!    and call again, passing the first call's undo cursor.
//! 4. Write in one step (`MULTI`/script): the new state, the [`SentWrites`],
//!    the stored page with its [`PageUndo`].

use std::collections::HashMap;

use super::{
    believed_body, effective_state, scan_start, Base, Belief, ClientCursor, ClientSyncState, ModelError, ObjectRecord,
    PageMark, PartitionHead, SentEntries, SentWrites, Version, MAX_MARKS,
};
use crate::diff::{diff_object, ObjectDiff};
use crate::values::{decode_body, encode_body, Attrs, Body, BodyMap, ObjectMap};

/// Undo information for one unacknowledged page (docs/device-protocol.md §5.4
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
    /// Maximum number of objects (docs/device-protocol.md §5.1).
    pub p_size: usize,
    /// Maximum serialized size of the objects in the page, in bytes; the page
    /// still holds at least one object.
    pub byte_cap: usize,
}

/// The result of [`plan_page`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PagePlan {
    /// Insert part as canonical bodies: an object the device is not believed to hold is its
    /// stored body as read; a changed one is the encoded `M − C` pairs.
    pub insert: BodyMap,
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
    /// Number of `insert` + `delete` keys (`count`, docs/device-protocol.md §5.2).
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

/// Page bytes of one object's diff, as [`crate::values::encode_body`] would
/// measure it, without encoding it.
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

/// Page bytes of one whole stored body sent as an insert (what [`diff_size`] gives for
/// its decoded attributes: a canonical body is exactly their encoding).
fn body_entry_size(id: &str, body: &str) -> usize {
    if body.len() <= 2 {
        // `{}`: an object without attributes, which the store never keeps; nothing to send.
        0
    } else {
        id.len() + 4 + body.len()
    }
}

/// One object's part of a page: its insert body, delete pairs and page bytes.
fn page_entry(id: &str, diff: ObjectDiff) -> (Option<Body>, Option<Attrs>, usize) {
    let size = diff_size(id, &diff);
    let insert = (!diff.insert.is_empty()).then(|| encode_body(&diff.insert));
    let delete = (!diff.delete.is_empty()).then_some(diff.delete);
    (insert, delete, size)
}

/// Computes one new page from the client's state and a snapshot slice. Pure;
/// see the module docs for the inputs. `undo_cursor` is `None` on the first
/// call of a request and the previous plan's `undo.cursor` when continuing
/// after `needs_another_slice`.
pub fn plan_page(
    state: &ClientSyncState,
    inputs: PageInputs<'_>,
    undo_cursor: Option<ClientCursor>,
) -> Result<PagePlan, ModelError> {
    let head = inputs.head;
    let (mut work, stale) = effective_state(state, &head);
    let mut plan = PagePlan {
        undo: PageUndo { cursor: undo_cursor.unwrap_or_else(|| state.cursor.clone()), ..PageUndo::default() },
        ..PagePlan::default()
    };
    // While the cycle has room for another mark, the objects this page sends from the
    // change index are recorded by one mark instead of a sent entry each ([`PageMark`]).
    let marked = work.cursor.marks.len() < MAX_MARKS;
    let mut slice_sent = false;
    plan.sent_writes.clear = stale;
    let empty_sent = SentEntries::new();
    let sent_in = if stale { &empty_sent } else { inputs.sent };
    if inputs.p_size == 0 {
        // docs/device-protocol.md §5.9 k: nothing selected, nothing marked as sent.
        plan.state = state.clone();
        plan.sent_writes = SentWrites::default();
        return Ok(plan);
    }
    let no_record = ObjectRecord::default();
    let mut sent_now: HashMap<String, Option<Version>> = HashMap::new();
    let mut bytes = 0usize;
    let mut full = false;

    // Decides one id; returns false when the page is full (id not taken). `by_mark`: a
    // slice entry of a marked page, whose examination the page's mark records.
    let mut examine = |id: &str,
                       by_mark: bool,
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
        // What the page would carry: (insert body, delete pairs, page bytes).
        let entry: Option<(Option<Body>, Option<Attrs>, usize)> = match belief {
            // Same canonical text: equal, nothing to decode.
            Belief::Known(b) if b.as_deref() == record.current.as_deref() => None,
            // New to the device (an initial sync's every object), or unknown: the whole
            // current body, if any, as it is stored (a canonical body is exactly its
            // attributes' encoding), without decoding it.
            Belief::Known(None) | Belief::Unknown => {
                let size = record.current.as_deref().map_or(0, |body| body_entry_size(id, body));
                record.current.as_ref().filter(|_| size > 0).map(|body| (Some(body.clone()), None, size))
            }
            Belief::Known(b) => {
                let master = record.current.as_deref().map(decode_body).transpose()?;
                let client = b.as_deref().map(decode_body).transpose()?;
                diff_owned(master, client).map(|diff| page_entry(id, diff))
            }
            // One of two: what turns either into the current body — the pairs either lacks
            // as the insert, the pairs either has that the current body lacks as the
            // delete (by attribute name, as devices apply it).
            Belief::Either(a, b) => {
                let master = record.current.as_deref().map(decode_body).transpose()?;
                let mut diff = ObjectDiff::default();
                for client in [a, b] {
                    let client = client.as_deref().map(decode_body).transpose()?;
                    if let Some(d) = diff_object(master.as_ref(), client.as_ref()) {
                        diff.insert.extend(d.insert);
                        for (k, v) in d.delete {
                            diff.delete.entry(k).or_insert(v);
                        }
                    }
                }
                (diff.entry_count() > 0).then(|| page_entry(id, diff))
            }
        };
        let was_pinned = work.pinned.get(id).cloned();
        let sending = entry.is_some();
        if let Some((insert, delete, size)) = entry {
            if plan.objects >= inputs.p_size || (plan.objects > 0 && bytes + size > inputs.byte_cap) {
                return Ok(false);
            }
            bytes += size;
            plan.objects += 1;
            if let Some(body) = insert {
                plan.insert.insert(id.to_owned(), body);
            }
            if let Some(pairs) = delete {
                plan.delete.insert(id.to_owned(), pairs);
            }
        }
        if !sending && was_pinned.is_none() {
            // Equal and believed through the base, a sent entry or a mark, which stays
            // right: nothing to write (keeps the sent map O(objects sent)).
            return Ok(true);
        }
        if by_mark && was_pinned.is_none() {
            // The page's mark says the device now holds body_at(x, head.version).
            slice_sent = true;
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
        if !examine(id, false, &mut work, &mut plan, &mut sent_now)? {
            full = true;
            break;
        }
    }
    let mut slice_done = !full;
    if !full {
        for (id, score) in inputs.slice {
            if !examine(id, marked, &mut work, &mut plan, &mut sent_now)? {
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
    if slice_sent {
        let scan = work.cursor.scan.unwrap_or_default();
        work.cursor.marks.push(PageMark { read: head.version, scan });
    }
    if slice_done && plan.objects > 0 && work.pinned.is_empty() && inputs.slice_is_last {
        plan.complete_on_ack = Some(head.version);
    }
    if slice_done && plan.objects == 0 && work.pinned.is_empty() {
        if inputs.slice_is_last {
            work.cursor = ClientCursor { base: Base::At(head.version), scan: None, marks: Vec::new() };
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
    next.cursor = ClientCursor { base: Base::At(at), scan: None, marks: Vec::new() };
    (next, SentWrites { clear: true, ..SentWrites::default() })
}

/// Reset with undo (docs/device-protocol.md §5.4 DEVIATION, docs/sync-engine.md §5.4):
/// the state and sent-map writes that restore the pre-page belief.
pub fn apply_undo(state: &ClientSyncState, undo: &PageUndo) -> (ClientSyncState, SentWrites) {
    let mut next = state.clone();
    next.cursor = undo.cursor.clone();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::encode_body;

    fn attrs(pairs: &[(&str, &str)]) -> Attrs {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn diff_size_matches_the_encoded_length() {
        let odd = attrs(&[("name", "quote \" back \\ tab \t nl \n bell \u{7} é ✓"), ("a", ""), ("zz", "plain")]);
        for insert in [odd.clone(), attrs(&[("k", "v")]), Attrs::new()] {
            let diff = ObjectDiff { insert: insert.clone(), delete: odd.clone() };
            let expected = |a: &Attrs| if a.is_empty() { 0 } else { 3 + 4 + encode_body(a).len() };
            assert_eq!(diff_size("abc", &diff), expected(&insert) + expected(&odd), "{insert:?}");
        }
    }
}
