//! Unit cases of the model driven as a store would drive it: the O(1) in-step
//! client, content comparison, pinned creates and search results, stale
//! cursors, the undo a stored page keeps, and completion on acknowledgement.

use std::collections::HashMap;

use super::*;
use crate::values::{decode_body, encode_body, ObjectMap};

#[test]
fn in_step_client_is_o1_and_first_sync_sends_everything() {
    let mut part = Part::default();
    let mut md = ObjectMap::new();
    md.insert("1".into(), attrs(&[("name", "iPhone"), ("brand", "Apple"), ("price", "199.99")]));
    md.insert("2".into(), attrs(&[("name", "G2"), ("brand", "Android"), ("price", "99.99")]));
    part.apply(apply_refresh(&IndexMap::new(), &md));
    let mut c = NewClient::default();
    assert!(!is_in_step(&c.state, &part.head));
    let p = new_page(&part, &mut c, 500, 1 << 20, 1000);
    assert_eq!(p.count(), 2);
    assert_eq!(p.insert["1"], encode_body(&md["1"]), "an object new to the device is its stored body");
    let p = new_page(&part, &mut c, 500, 1 << 20, 1000);
    assert_eq!(p.count(), 0);
    assert!(p.completed);
    assert!(is_in_step(&c.state, &part.head));
    assert!(c.sent.is_empty());
    // one attribute changes (docs/device-protocol.md §5.9 c)
    let mut md2 = md.clone();
    md2.get_mut("2").expect("2").insert("price".into(), "89.99".into());
    part.apply(apply_refresh(&part.md.clone(), &md2));
    let p = new_page(&part, &mut c, 500, 1 << 20, 1000);
    assert_eq!(decode_body(&p.insert["2"]), Ok(attrs(&[("price", "89.99")])));
    assert_eq!(p.delete["2"], attrs(&[("price", "99.99")]));
    assert_eq!(p.count(), 2);
}

#[test]
fn changed_and_changed_back_sends_nothing() {
    let mut part = Part::default();
    let a = attrs(&[("name", "A")]);
    part.apply(vec![apply_create(None, "1", &a)]);
    let mut c = NewClient::default();
    new_page(&part, &mut c, 10, 1 << 20, 10);
    assert!(new_page(&part, &mut c, 10, 1 << 20, 10).completed);
    let body = part.md["1"].clone();
    part.apply(vec![Change {
        id: "1".into(),
        before: Some(body.clone()),
        after: Some(encode_body(&attrs(&[("name", "B")]))),
    }]);
    part.apply(vec![Change { id: "1".into(), before: part.md.get("1").cloned(), after: Some(body) }]);
    let p = new_page(&part, &mut c, 10, 1 << 20, 10);
    assert_eq!(p.count(), 0);
    assert!(p.completed);
}

#[test]
fn created_object_is_not_echoed_and_byte_cap_keeps_one_object() {
    let mut part = Part::default();
    let mut c = NewClient::default();
    new_page(&part, &mut c, 10, 1 << 20, 10);
    let a = attrs(&[("name", "Delta")]);
    part.apply(vec![apply_create(None, "4", &a)]);
    pin_created_object(&mut c.state, "4", &a);
    let p = new_page(&part, &mut c, 10, 1 << 20, 10);
    assert_eq!(p.count(), 0);
    assert!(p.completed);
    // byte cap smaller than one object: still one object per page
    let mut md = ObjectMap::new();
    for i in 0..3 {
        md.insert(format!("x{i}"), attrs(&[("name", "a long enough value")]));
    }
    md.insert("4".into(), a);
    part.apply(apply_refresh(&part.md.clone(), &md));
    let p = new_page(&part, &mut c, 10, 1, 10);
    assert_eq!(p.objects, 1);
}

#[test]
fn stale_cursor_resyncs_as_inserts() {
    let mut part = Part::default();
    part.apply(vec![apply_create(None, "1", &attrs(&[("n", "1")]))]);
    let mut c = NewClient::default();
    new_page(&part, &mut c, 10, 1 << 20, 10);
    new_page(&part, &mut c, 10, 1 << 20, 10);
    assert_eq!(c.state.cursor.base, Base::At(1));
    part.apply(vec![apply_create(None, "2", &attrs(&[("n", "2")]))]);
    part.head.horizon = 2; // history up to 2 pruned
    let p = new_page(&part, &mut c, 10, 1 << 20, 10);
    assert_eq!(p.count(), 2);
    assert!(p.delete.is_empty());
}

#[test]
fn search_results_are_pinned_and_added_to_md() {
    let mut part = Part::default();
    part.apply(vec![apply_create(None, "1", &attrs(&[("n", "1")]))]);
    let mut c = NewClient::default();
    let mut result = ObjectMap::new();
    result.insert("1".into(), attrs(&[("n", "1")]));
    result.insert("9".into(), attrs(&[("n", "9")]));
    let objects: HashMap<String, ObjectRecord> = result.keys().map(|id| (id.clone(), part.record(id))).collect();
    let (page, changes) = pin_search_results(&mut c.state, &part.head, &result, &objects, &SentEntries::new(), 10);
    assert_eq!(page.len(), 2);
    assert_eq!(changes.len(), 1);
    part.apply(changes);
    // the next query sends nothing: the device already has both
    let p = new_page(&part, &mut c, 10, 1 << 20, 10);
    assert_eq!(p.count(), 0);
    assert!(p.completed);
}

/// The stored page keeps its undo as JSON; "not pinned" and "pinned as
/// absent" must survive the round trip (both would be `null` naively).
#[test]
fn page_undo_serde_keeps_pinned_states_apart() {
    let undo = PageUndo {
        cursor: ClientCursor { base: Base::At(7), scan: Some(9), marks: Vec::new() },
        pinned: vec![("a".into(), None), ("b".into(), Some(None)), ("c".into(), Some(Some(r#"{"x":"1"}"#.into())))],
        sent: vec![("a".into(), Some(3)), ("b".into(), None)],
    };
    let text = serde_json::to_string(&undo).expect("serialize");
    let back: PageUndo = serde_json::from_str(&text).expect("deserialize");
    assert_eq!(back, undo);
}

#[test]
fn last_page_of_a_cycle_completes_on_acknowledgement() {
    let mut part = Part::default();
    let mut md = ObjectMap::new();
    for i in 0..5 {
        md.insert(format!("{i}"), attrs(&[("n", &i.to_string())]));
    }
    part.apply(apply_refresh(&IndexMap::new(), &md));
    let mut c = NewClient::default();
    // Two pages of 3: the first leaves objects behind, the second takes the rest.
    let first = new_page(&part, &mut c, 3, 1 << 20, 10);
    assert_eq!((first.objects, first.complete_on_ack), (3, None));
    new_ack(&mut c, &first);
    let second = new_page(&part, &mut c, 3, 1 << 20, 10);
    assert_eq!((second.objects, second.complete_on_ack), (2, Some(part.head.version)));
    assert!(!is_in_step(&c.state, &part.head), "not complete before the acknowledgement");
    new_ack(&mut c, &second);
    assert!(is_in_step(&c.state, &part.head), "complete once acknowledged");
    assert!(c.sent.is_empty());
    // A change after the page is the next cycle's.
    let mut changed = ObjectMap::new();
    changed.insert("4".into(), attrs(&[("n", "changed")]));
    part.apply(apply_push_objects(&part.md.clone().into_iter().collect(), &changed).expect("push"));
    let third = new_page(&part, &mut c, 3, 1 << 20, 10);
    assert_eq!(third.insert.keys().collect::<Vec<_>>(), ["4"]);
}
