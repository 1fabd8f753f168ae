//! Per-object diff at (attribute, value) level (docs/sync-engine.md §5.1).
//!
//! Devices apply `delete` before `insert` per attribute
//! (docs/device-protocol.md §5.3), so a changed value is expressed as the old
//! pair in `delete` plus the new pair in `insert`; unchanged pairs are not sent.

use crate::values::Attrs;

/// What must be sent for one object so that a device holding `client`
/// ends up holding `master`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectDiff {
    /// Pairs in the master version that the client lacks (`M − C`).
    pub insert: Attrs,
    /// Pairs the client has that the master version lacks (`C − M`).
    pub delete: Attrs,
}

impl ObjectDiff {
    /// Number of page entries this diff produces (`count` counts an object
    /// present in both `insert` and `delete` twice, docs/device-protocol.md §5.2).
    pub fn entry_count(&self) -> usize {
        usize::from(!self.insert.is_empty()) + usize::from(!self.delete.is_empty())
    }
}

/// Diff of one object; `None` means "equal, nothing to send". A missing
/// object is an empty pair set.
pub fn diff_object(master: Option<&Attrs>, client: Option<&Attrs>) -> Option<ObjectDiff> {
    let empty = Attrs::new();
    let m = master.unwrap_or(&empty);
    let c = client.unwrap_or(&empty);
    if m == c {
        return None;
    }
    let minus = |a: &Attrs, b: &Attrs| -> Attrs {
        a.iter().filter(|(k, v)| b.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    Some(ObjectDiff { insert: minus(m, c), delete: minus(c, m) })
}

/// Applies a diff the way a device does (delete pairs by attribute name,
/// then insert), returning the resulting object or `None` when no attribute
/// is left. Used by tests and by the client-document materialiser's checks.
pub fn apply_diff(client: Option<&Attrs>, diff: &ObjectDiff) -> Option<Attrs> {
    let mut attrs = client.cloned().unwrap_or_default();
    for name in diff.delete.keys() {
        attrs.remove(name);
    }
    for (name, value) in &diff.insert {
        attrs.insert(name.clone(), value.clone());
    }
    (!attrs.is_empty()).then_some(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attrs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn equal_objects_have_no_diff() {
        let a = attrs(&[("name", "G2")]);
        assert_eq!(diff_object(Some(&a), Some(&a)), None);
        assert_eq!(diff_object(None, None), None);
    }

    #[test]
    fn changed_attribute_is_delete_plus_insert() {
        // docs/device-protocol.md §5.9 c
        let m = attrs(&[("name", "G2"), ("brand", "Android"), ("price", "89.99")]);
        let c = attrs(&[("name", "G2"), ("brand", "Android"), ("price", "99.99")]);
        let d = diff_object(Some(&m), Some(&c)).expect("diff");
        assert_eq!(d.insert, attrs(&[("price", "89.99")]));
        assert_eq!(d.delete, attrs(&[("price", "99.99")]));
        assert_eq!(d.entry_count(), 2);
        assert_eq!(apply_diff(Some(&c), &d), Some(m));
    }

    #[test]
    fn new_and_vanished_objects() {
        let m = attrs(&[("name", "iPhone")]);
        let d = diff_object(Some(&m), None).expect("diff");
        assert!(d.delete.is_empty());
        assert_eq!(d.insert, m);
        let d = diff_object(None, Some(&m)).expect("diff");
        assert!(d.insert.is_empty());
        assert_eq!(apply_diff(Some(&m), &d), None);
    }
}
