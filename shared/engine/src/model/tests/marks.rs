//! Page marks ([`PageMark`]) in place of sent entries: a cycle of more pages than
//! [`MAX_MARKS`] (its later pages fall back to sent entries), and history pruned while
//! cycles run. After every page the belief must be right wherever it claims to know.

use std::collections::{BTreeMap, BTreeSet};

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
            Belief::Known(_) if unsure.contains(&id) => {}
            Belief::Known(b) => {
                let believed = b.map(|b| decode_body(&b).expect("body"));
                assert_eq!(believed.as_ref(), device.get(&id), "{at}: belief of {id} differs from the device");
            }
        }
    }
}

/// Backend changes and pruning between pages; small pages over up to 200 objects, so
/// some cycles run past [`MAX_MARKS`] pages.
#[test]
fn beliefs_stay_right_over_long_cycles_and_pruned_history() {
    let mut overflowed = 0;
    let mut pruned_mid_cycle = 0;
    let mut max_marks = 0;
    for seed in 1..=16u64 {
        let mut rng = Rng(seed.wrapping_mul(0xA076_1D64_78BD_642F) | 1);
        let mut part = Part::default();
        let ids = 60 + rng.below(140);
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
