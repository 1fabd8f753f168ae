//! Page marks ([`PageMark`]) in place of sent entries: a cycle of more pages than
//! [`MAX_MARKS`] (its later pages fall back to sent entries), and history pruned while
//! cycles run. After every page the belief must be right wherever it claims to know.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::randomized::{device_apply, mutate_among, Rng};
use super::*;

/// Every id whose belief is known must match the device; `unsure` collects the ids
/// whose belief was ever unknown (they may be sent whole, without their deletes: the
/// documented cost of pruning), which are not checked afterwards.
fn check_beliefs(
    part: &Part,
    client: &NewClient,
    device: &BTreeMap<String, Attrs>,
    unsure: &mut BTreeSet<String>,
    at: &str,
) {
    let (state, stale) = effective_state(&client.state, &part.head);
    assert!(!stale, "{at}: the test resets stale clients before checking");
    let mut ids: BTreeSet<String> = device.keys().cloned().collect();
    ids.extend(part.latest.keys().cloned());
    for id in ids {
        let record = part.record(&id);
        match believed_body(&state, client.sent.get(&id).copied(), &record, &id, &part.head) {
            Belief::Unknown => {
                unsure.insert(id);
            }
            Belief::Known(_) | Belief::Either(..) if unsure.contains(&id) => {}
            Belief::Known(b) => {
                let believed = b.map(|b| decode_body(&b).expect("body"));
                assert_eq!(believed.as_ref(), device.get(&id), "{at}: belief of {id} differs from the device");
            }
            Belief::Either(a, b) => {
                assert_ne!(a, b, "{at}: {id} believed to be one of two equal bodies");
                let held = device.get(&id);
                let is = |x: &Option<Body>| x.as_ref().map(|b| decode_body(b).expect("body")).as_ref() == held;
                assert!(is(&a) || is(&b), "{at}: {id} holds {held:?}, neither {a:?} nor {b:?}");
            }
        }
    }
}

/// Backend changes and pruning between pages; small pages over up to 200 objects, so
/// some cycles run past [`MAX_MARKS`] pages. Odd seeds start from a first load (no
/// creation events, the horizon at the head).
#[test]
fn beliefs_stay_right_over_long_cycles_and_pruned_history() {
    let mut overflowed = 0;
    let mut pruned_mid_cycle = 0;
    let mut max_marks = 0;
    for seed in 1..=16u64 {
        let mut rng = Rng(seed.wrapping_mul(0xA076_1D64_78BD_642F) | 1);
        let mut part = Part::default();
        let ids = 60 + rng.below(140);
        if seed % 2 == 1 {
            part.first_load(&(0..ids).map(|i| (format!("{i}"), attrs(&[("name", &format!("n{i}"))]))).collect());
        }
        for _ in 0..ids {
            mutate_among(&mut rng, &mut part, ids);
        }
        let mut client = NewClient::default();
        let mut device = BTreeMap::new();
        let mut unsure = BTreeSet::new();
        for step in 0..400 {
            if rng.chance(30) {
                mutate_among(&mut rng, &mut part, ids);
            }
            if rng.chance(8) {
                part.prune_oldest(1 + rng.below(6) as usize);
                if client.state.cursor.scan.is_some() {
                    pruned_mid_cycle += 1;
                }
            }
            if effective_state(&client.state, &part.head).1 {
                // A base behind the horizon: the device starts over (docs/sync-engine.md §10).
                client = NewClient::default();
                device.clear();
                unsure.clear();
            }
            let p_size = if rng.chance(75) { 1 } else { 2 };
            let plan = new_page(&part, &mut client, p_size, 1 << 20, 1 + rng.below(4) as usize);
            max_marks = max_marks.max(client.state.cursor.marks.len());
            if client.state.cursor.marks.len() == MAX_MARKS {
                overflowed += 1;
            }
            if plan.objects > 0 && rng.chance(10) {
                new_reset(&mut client);
            } else {
                device_apply(&mut device, &plan.insert, &plan.delete);
                new_ack(&mut client, &plan);
            }
            if effective_state(&client.state, &part.head).1 {
                continue;
            }
            check_beliefs(&part, &client, &device, &mut unsure, &format!("seed {seed} step {step}"));
        }
    }
    assert!(overflowed > 0, "no cycle ran past MAX_MARKS pages (at most {max_marks} marks)");
    assert!(pruned_mid_cycle > 0, "no history was pruned during a cycle");
}

/// Without pruning or changes, a first cycle writes no sent entry while it has room for
/// marks, and its belief covers everything it sent.
#[test]
fn a_first_cycle_writes_marks_not_sent_entries() {
    let mut rng = Rng(7);
    let mut part = Part::default();
    for _ in 0..40 {
        mutate_among(&mut rng, &mut part, 40);
    }
    let mut client = NewClient::default();
    let mut device = BTreeMap::new();
    let mut pages = 0;
    loop {
        let plan = new_page(&part, &mut client, 3, 1 << 20, 4);
        assert!(plan.sent_writes.set.is_empty(), "page {pages} wrote sent entries");
        assert!(plan.undo.sent.is_empty() && plan.undo.pinned.is_empty(), "page {pages} kept per-object undo");
        device_apply(&mut device, &plan.insert, &plan.delete);
        new_ack(&mut client, &plan);
        if plan.objects == 0 {
            break;
        }
        pages += 1;
        assert!(client.state.cursor.marks.len() <= pages);
    }
    assert!(pages > 3);
    assert_eq!(device, part.md_objects());
    assert!(is_in_step(&client.state, &part.head));
}

/// An initial sync paging through a first load while the backend changes and deletes
/// objects the pages have walked and ones still ahead: the walked ones' scores before
/// their change are gone with the creation events that were never written, so the belief
/// is "what the page sent, or nothing", and the page that meets them again sends what
/// turns either into the current body. The device ends equal to the master.
#[test]
fn an_initial_sync_over_a_first_load_sends_changes_and_deletes_of_walked_objects() {
    let mut part = Part::default();
    let loaded: ObjectMap = (0..30)
        .map(|i| (format!("o{i:02}"), attrs(&[("name", &format!("n{i}")), ("price", "1"), ("brand", "b")])))
        .collect();
    part.first_load(&loaded);
    assert!(part.hist.is_empty() && part.head.horizon == part.head.version);
    let mut client = NewClient::default();
    let mut device = BTreeMap::new();
    let mut unsure = BTreeSet::new();
    let mut either = 0;
    for page in 0.. {
        assert!(page < 40, "the cycle does not end");
        let plan = new_page(&part, &mut client, 4, 1 << 20, 5);
        device_apply(&mut device, &plan.insert, &plan.delete);
        new_ack(&mut client, &plan);
        if plan.objects == 0 {
            break;
        }
        // After the first pages, change and delete objects on both sides of the scan.
        let walked = format!("o{:02}", 4 * page + 1);
        let ahead = format!("o{:02}", 4 * page + 17);
        if page < 3 && part.md.contains_key(&walked) {
            let mut objects = ObjectMap::new();
            objects.insert(walked.clone(), attrs(&[("name", "changed"), ("extra", "x")]));
            let current: HashMap<String, Body> = part.md.clone().into_iter().collect();
            let mut changes = apply_push_objects(&current, &objects).expect("push");
            changes.extend(apply_push_deletes(&current, &[format!("o{:02}", 4 * page + 2), ahead.clone()]));
            part.apply(changes);
        }
        for id in part.latest.keys() {
            if let Belief::Either(..) =
                believed_body(&client.state, client.sent.get(id).copied(), &part.record(id), id, &part.head)
            {
                either += 1;
            }
        }
        check_beliefs(&part, &client, &device, &mut unsure, &format!("page {page}"));
        assert!(unsure.is_empty(), "page {page}: unknown beliefs {unsure:?}");
    }
    assert!(either > 0, "no belief was one of two: the case is not exercised");
    assert_eq!(device, part.md_objects());
    assert!(is_in_step(&client.state, &part.head));
}
