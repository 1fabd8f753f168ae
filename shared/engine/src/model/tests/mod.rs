//! Model tests through an in-memory store: this file holds the harness (a
//! partition store and the request steps a real store performs around
//! [`plan_page`]); the tests are split by concern:
//!
//! * `pages` — unit cases of paging, pins, undo and acknowledgement;
//! * `randomized` — randomized runs against a reference that keeps a full
//!   client document per client (RC7 semantics, with the undo of a lost page),
//!   and against what a simulated device really holds;
//! * `interleaved` — several simultaneous queries of one client, their steps
//!   interleaved at random with backend changes (docs/sync-engine.md §5.7);
//! * `marks` — page marks in place of sent entries: cycles longer than
//!   [`MAX_MARKS`] pages, and history pruned while a cycle runs.
//!
//! Unit tests of private helpers live next to them (`client.rs`, `plan.rs`,
//! `doc_name.rs`).

use std::collections::{BTreeMap, HashMap};

use indexmap::IndexMap;

use super::*;
use crate::values::{decode_body, Attrs, Body, ObjectMap};

mod interleaved;
mod marks;
mod pages;
mod randomized;

fn attrs(pairs: &[(&str, &str)]) -> Attrs {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

// ----- an in-memory partition store -----

#[derive(Default, Clone)]
struct Part {
    md: IndexMap<String, Body>,
    latest: HashMap<String, Version>,
    hist: HashMap<String, Vec<HistoryEvent>>,
    head: PartitionHead,
}

impl Part {
    fn apply(&mut self, changes: Vec<Change>) {
        let (numbered, head) = assign_versions(self.head, changes);
        for vc in numbered {
            let c = vc.change;
            match &c.after {
                Some(b) => {
                    self.md.insert(c.id.clone(), b.clone());
                }
                None => {
                    self.md.shift_remove(&c.id);
                }
            }
            self.latest.insert(c.id.clone(), vc.version);
            self.hist.entry(c.id.clone()).or_default().push(HistoryEvent { version: vc.version, before: c.before });
        }
        self.head = head;
        assert_eq!(self.head.md_size, self.md.len() as u64);
    }
    /// A first load into an empty partition, as the store writes it: the creations get
    /// versions and index entries but no history event, and the horizon moves to the new
    /// version (nothing before it can be told apart from "did not exist").
    fn first_load(&mut self, objects: &ObjectMap) {
        assert!(self.latest.is_empty(), "a first load goes into an empty partition");
        let changes = objects
            .iter()
            .map(|(id, a)| Change { id: id.clone(), before: None, after: Some(crate::values::encode_body(a)) })
            .collect();
        let (numbered, head) = assign_versions(self.head, changes);
        for vc in numbered {
            self.md.insert(vc.change.id.clone(), vc.change.after.expect("a creation"));
            self.latest.insert(vc.change.id, vc.version);
        }
        self.head = PartitionHead { horizon: head.version, ..head };
    }
    fn record(&self, id: &str) -> ObjectRecord {
        ObjectRecord {
            current: self.md.get(id).cloned(),
            latest: self.latest.get(id).copied(),
            history: self.hist.get(id).cloned().unwrap_or_default(),
        }
    }
    fn all_records(&self) -> HashMap<String, ObjectRecord> {
        self.latest.keys().map(|id| (id.clone(), self.record(id))).collect()
    }
    fn slice(&self, after: Version, limit: usize) -> (Vec<(String, Version)>, bool) {
        let mut entries: Vec<(String, Version)> =
            self.latest.iter().filter(|(_, v)| **v > after).map(|(k, v)| (k.clone(), *v)).collect();
        entries.sort_by_key(|(_, v)| *v);
        let last = entries.len() <= limit;
        entries.truncate(limit);
        (entries, last)
    }
    /// Drops the `n` oldest history events as the store's pruning does: the horizon moves
    /// to the last dropped version, and tombstones at or below it leave the index.
    fn prune_oldest(&mut self, n: usize) {
        let mut versions: Vec<Version> = self.hist.values().flatten().map(|e| e.version).collect();
        versions.sort_unstable();
        let Some(&horizon) = versions.get(n.min(versions.len()).wrapping_sub(1)) else { return };
        for events in self.hist.values_mut() {
            events.retain(|e| e.version > horizon);
        }
        self.hist.retain(|_, events| !events.is_empty());
        let md = &self.md;
        self.latest.retain(|id, v| *v > horizon || md.contains_key(id));
        self.head.horizon = self.head.horizon.max(horizon);
    }
    fn md_objects(&self) -> BTreeMap<String, Attrs> {
        self.md.iter().map(|(k, b)| (k.clone(), decode_body(b).expect("body"))).collect()
    }
}

#[derive(Default, Clone)]
struct NewClient {
    state: ClientSyncState,
    sent: SentEntries,
    undo: Option<PageUndo>,
}

/// Drives plan_page as a store would: read, plan, loop on needs_another_slice, write.
fn new_page(part: &Part, client: &mut NewClient, p_size: usize, byte_cap: usize, limit: usize) -> PagePlan {
    let mut undo_cursor = None;
    loop {
        let start = scan_start(&client.state, &part.head);
        let (slice, last) = part.slice(start, limit);
        let mut ids: Vec<String> = slice.iter().map(|(id, _)| id.clone()).collect();
        ids.extend(client.state.pinned.keys().cloned());
        let objects: HashMap<String, ObjectRecord> = ids.iter().map(|id| (id.clone(), part.record(id))).collect();
        let sent: SentEntries = ids.iter().filter_map(|id| client.sent.get(id).map(|v| (id.clone(), *v))).collect();
        let inputs = PageInputs {
            head: part.head,
            slice: &slice,
            slice_is_last: last,
            objects: &objects,
            sent: &sent,
            p_size,
            byte_cap,
        };
        let plan = plan_page(&client.state, inputs, undo_cursor).expect("plan");
        client.state = plan.state.clone();
        plan.sent_writes.apply_to(&mut client.sent);
        if plan.needs_another_slice {
            undo_cursor = Some(plan.undo.cursor);
            continue;
        }
        client.undo = (plan.objects > 0).then(|| plan.undo.clone());
        return plan;
    }
}

/// The device acknowledged `plan`'s page: what the store does on the next request's token.
fn new_ack(client: &mut NewClient, plan: &PagePlan) {
    client.undo = None;
    if let Some(at) = plan.complete_on_ack {
        let (state, writes) = complete_on_ack(&client.state, at);
        client.state = state;
        writes.apply_to(&mut client.sent);
    }
}

fn new_reset(client: &mut NewClient) {
    if let Some(undo) = client.undo.take() {
        let (state, writes) = apply_undo(&client.state, &undo);
        client.state = state;
        writes.apply_to(&mut client.sent);
    }
}
