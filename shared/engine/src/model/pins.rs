//! Pinned exceptions written outside a query page: objects whose state on the
//! device the server learns from a CUD create or delete, or from a search
//! page, rather than from the scan.
//!
//! A pinned entry overrides the base and the sent map for its id until the
//! next page that has room examines it (see the client side of the model), so
//! these few functions are all a CUD or search request needs to keep the
//! belief right: a created object is not echoed back, an object the client
//! deleted is not sent a delete it has already applied, and a search result is
//! not sent again by the next query.

use std::collections::HashMap;

use super::{believed_body, Belief, Change, ClientSyncState, ObjectRecord, PartitionHead, SentEntries};
use crate::values::{encode_body, Attrs, ObjectMap};

/// The creating client holds the new object under its real id
/// (docs/sync-engine.md §6.4): pin it so it is not echoed back.
pub fn pin_created_object(state: &mut ClientSyncState, real_id: &str, attrs: &Attrs) {
    state.pinned.insert(real_id.to_owned(), Some(encode_body(attrs)));
}

/// A client's successful delete removes the object from its belief
/// (docs/sync-engine.md §6.4).
pub fn pin_client_delete(state: &mut ClientSyncState, id: &str) {
    state.pinned.insert(id.to_owned(), None);
}

/// Search results (docs/sync-engine.md §7 step 5): given the search result, the
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
