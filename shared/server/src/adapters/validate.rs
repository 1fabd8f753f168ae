//! The conflict/validation hook's types and the built-in `find_duplicates_on_update`
//! validator (docs/sync-engine.md §6.5).
//!
//! A CUD batch is every write of one source taken together (all clients, oldest first).
//! [`SourceAdapter::validate`](super::SourceAdapter::validate) sees, per operation, one
//! [`CudEntry`] per write and may mark records: fail one with a message, skip one as a
//! duplicate, or name the duplicates a record stands for (they then get its outcome).

use std::collections::BTreeMap;

use super::RawAttrs;
use crate::config::DuplicatePolicy;
// The operations belong to the queued write; validators name them too.
pub use crate::ports::jobs::CudOp;

/// One write's records of one operation, as `validate` sees them.
#[derive(Debug, Clone, Copy)]
pub struct CudEntry<'a> {
    pub client_id: &'a str,
    pub login: &'a str,
    /// `(object id or temporary id, attributes)` in request order.
    pub records: &'a [(String, RawAttrs)],
}

/// A record's place in the batch: (entry index, record index).
pub type RecordRef = (usize, usize);

/// What a validator says about one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordMark {
    /// Fail the record with this message (e.g. a detected conflict).
    Error(String),
    /// Skip it: the record it duplicates carries its outcome.
    DuplicateOf(RecordRef),
}

/// Marks by record; records without a mark are applied normally.
pub type ValidationMarks = BTreeMap<RecordRef, RecordMark>;

/// The message of a conflicting duplicate (RC7's convention, docs/sync-engine.md §6.5).
pub fn conflict_message(op: CudOp) -> String {
    format!("Error during {}: object conflict detected", op.as_str())
}

/// `find_duplicates_on_update`: within the batch, an update whose object id and attributes
/// equal an earlier update's is that record's duplicate (or, with `raise_error`, a
/// conflict). Only updates are looked at, as in RC7.
pub fn find_duplicates_on_update(policy: DuplicatePolicy, op: CudOp, entries: &[CudEntry<'_>]) -> ValidationMarks {
    let mut marks = ValidationMarks::new();
    if op != CudOp::Update || policy == DuplicatePolicy::Off {
        return marks;
    }
    let mut first_seen: Vec<(&str, &RawAttrs, RecordRef)> = Vec::new();
    for (e, entry) in entries.iter().enumerate() {
        for (r, (id, attrs)) in entry.records.iter().enumerate() {
            match first_seen.iter().find(|(fid, fattrs, _)| *fid == id.as_str() && *fattrs == attrs) {
                Some((_, _, master)) => {
                    let mark = match policy {
                        DuplicatePolicy::RaiseError => RecordMark::Error(conflict_message(op)),
                        _ => RecordMark::DuplicateOf(*master),
                    };
                    marks.insert((e, r), mark);
                }
                None => first_seen.push((id, attrs, (e, r))),
            }
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn records(v: serde_json::Value) -> Vec<(String, RawAttrs)> {
        v.as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_object().cloned().unwrap_or_default())).collect())
            .unwrap_or_default()
    }

    #[test]
    fn equal_updates_of_later_entries_are_duplicates_of_the_first() {
        let a = records(json!({"1": {"price": "5"}, "2": {"price": "6"}}));
        let b = records(json!({"1": {"price": "5"}, "2": {"price": "7"}}));
        let entries = [
            CudEntry { client_id: "c1", login: "u1", records: &a },
            CudEntry { client_id: "c2", login: "u2", records: &b },
        ];
        let marks = find_duplicates_on_update(DuplicatePolicy::Skip, CudOp::Update, &entries);
        assert_eq!(marks.len(), 1);
        assert_eq!(marks[&(1, 0)], RecordMark::DuplicateOf((0, 0)));
        let marks = find_duplicates_on_update(DuplicatePolicy::RaiseError, CudOp::Update, &entries);
        assert_eq!(marks[&(1, 0)], RecordMark::Error("Error during update: object conflict detected".into()));
        assert!(find_duplicates_on_update(DuplicatePolicy::Skip, CudOp::Create, &entries).is_empty());
        assert!(find_duplicates_on_update(DuplicatePolicy::Off, CudOp::Update, &entries).is_empty());
    }
}
