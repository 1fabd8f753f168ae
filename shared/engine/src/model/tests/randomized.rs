//! Randomized model runs: scenario A compares the model page by page with a
//! reference that keeps a full client document per client; scenario B checks
//! after every page that the server's belief equals what the device holds.

use std::collections::BTreeMap;

use super::*;
use crate::diff::{apply_diff, diff_object, ObjectDiff};
use crate::values::{decode_body, encode_objects, BodyMap, ObjectMap};

// ----- a tiny deterministic PRNG (xorshift64*) -----

pub(super) struct Rng(pub(super) u64);
impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

// ----- the reference: a full cd per client -----

#[derive(Default, Clone)]
struct RefClient {
    cd: BTreeMap<String, Attrs>,
    undo: Option<BTreeMap<String, Option<Attrs>>>,
}

fn ref_page(md: &BTreeMap<String, Attrs>, client: &mut RefClient, p_size: usize) -> (ObjectMap, ObjectMap) {
    let mut ids: Vec<String> = md.keys().chain(client.cd.keys()).cloned().collect();
    ids.sort();
    ids.dedup();
    let (mut ins, mut del) = (ObjectMap::new(), ObjectMap::new());
    let mut undo = BTreeMap::new();
    for id in ids {
        if undo.len() >= p_size {
            break;
        }
        let id = &id;
        if let Some(d) = diff_object(md.get(id), client.cd.get(id)) {
            undo.insert(id.clone(), client.cd.get(id).cloned());
            if !d.insert.is_empty() {
                ins.insert(id.clone(), d.insert);
            }
            if !d.delete.is_empty() {
                del.insert(id.clone(), d.delete);
            }
            match md.get(id) {
                Some(m) => client.cd.insert(id.clone(), m.clone()),
                None => client.cd.remove(id),
            };
        }
    }
    client.undo = (!undo.is_empty()).then_some(undo);
    (ins, del)
}

fn ref_reset(client: &mut RefClient) {
    if let Some(undo) = client.undo.take() {
        for (id, before) in undo {
            match before {
                Some(b) => client.cd.insert(id, b),
                None => client.cd.remove(&id),
            };
        }
    }
}

// ----- the device -----

/// A page's insert part as attributes; every body must decode, as a device must read it.
pub(super) fn decoded(ins: &BodyMap) -> ObjectMap {
    ins.iter().map(|(id, b)| (id.clone(), decode_body(b).expect("a page body is canonical JSON"))).collect()
}

pub(super) fn device_apply(device: &mut BTreeMap<String, Attrs>, ins: &BodyMap, del: &ObjectMap) {
    let ins = decoded(ins);
    let mut ids: Vec<&String> = ins.keys().chain(del.keys()).collect();
    ids.dedup();
    for id in ids {
        let diff = ObjectDiff {
            insert: ins.get(id).cloned().unwrap_or_default(),
            delete: del.get(id).cloned().unwrap_or_default(),
        };
        match apply_diff(device.get(id), &diff) {
            Some(a) => device.insert(id.clone(), a),
            None => device.remove(id),
        };
    }
}

fn union_into(acc: &mut BTreeMap<String, (Attrs, Attrs)>, ins: &BodyMap, del: &ObjectMap) {
    for (id, a) in &decoded(ins) {
        acc.entry(id.clone()).or_default().0 = a.clone();
    }
    for (id, a) in del {
        acc.entry(id.clone()).or_default().1 = a.clone();
    }
}

fn random_attrs(rng: &mut Rng) -> Attrs {
    let mut a = Attrs::new();
    for name in ["name", "price", "brand"] {
        if rng.chance(70) {
            a.insert(name.to_string(), format!("v{}", rng.below(3)));
        }
    }
    if a.is_empty() {
        a.insert("name".into(), "n".into());
    }
    a
}

/// One random backend change through the various change producers.
pub(super) fn mutate(rng: &mut Rng, part: &mut Part) {
    mutate_among(rng, part, 14);
}

/// [`mutate`] over `ids` object ids.
pub(super) fn mutate_among(rng: &mut Rng, part: &mut Part, ids: u64) {
    let id = format!("{}", rng.below(ids));
    let changes = match rng.below(5) {
        0 => {
            // full refresh: random edits of a copy of md
            let mut next: ObjectMap = part.md.iter().map(|(k, b)| (k.clone(), decode_body(b).expect("body"))).collect();
            for _ in 0..rng.below(5) {
                let id = format!("{}", rng.below(ids));
                if rng.chance(30) {
                    next.shift_remove(&id);
                } else {
                    next.insert(id, random_attrs(rng));
                }
            }
            apply_refresh(&part.md, &next)
        }
        1 => {
            let mut objects = ObjectMap::new();
            objects.insert(id, random_attrs(rng));
            apply_push_objects(&part.md.clone().into_iter().collect(), &objects).expect("push")
        }
        2 => apply_push_deletes(&part.md.clone().into_iter().collect(), &[id]),
        3 => {
            let mut del = ObjectMap::new();
            del.insert(id, attrs(&[("price", "")]));
            apply_fast_update(&part.md.clone().into_iter().collect(), &ObjectMap::new(), &del).expect("fast")
        }
        _ => {
            let mut data = ObjectMap::new();
            data.insert(id, attrs(&[("brand", "b")]));
            apply_fast_update(&part.md.clone().into_iter().collect(), &data, &ObjectMap::new()).expect("fast")
        }
    };
    part.apply(changes);
}

/// Scenario A: backend changes only between sync cycles, so both models must
/// send exactly the same per-object content in every cycle.
#[test]
fn randomized_equivalence_with_full_cd_reference() {
    for seed in 1..=60u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut part = Part::default();
        let (mut new_c, mut ref_c) = (NewClient::default(), RefClient::default());
        let (mut dev_new, mut dev_ref) = (BTreeMap::new(), BTreeMap::new());
        let mut temp_counter = 0;
        for _round in 0..40 {
            for _ in 0..rng.below(4) {
                mutate(&mut rng, &mut part);
            }
            // device-side CUD between cycles
            if rng.chance(20) {
                temp_counter += 1;
                let real = format!("c{temp_counter}");
                let a = random_attrs(&mut rng);
                let change = apply_create(part.md.get(&real), &real, &a);
                part.apply(vec![change]);
                pin_created_object(&mut new_c.state, &real, &a);
                ref_c.cd.insert(real.clone(), a.clone());
                // the device renames temp → real when the link arrives; same content
                dev_new.insert(real.clone(), a.clone());
                dev_ref.insert(real, a);
            }
            if rng.chance(15) {
                if let Some(id) = dev_new.keys().next().cloned() {
                    if dev_ref.contains_key(&id) {
                        let changes =
                            apply_push_deletes(&part.md.clone().into_iter().collect(), std::slice::from_ref(&id));
                        part.apply(changes);
                        pin_client_delete(&mut new_c.state, &id);
                        ref_c.cd.remove(&id);
                        dev_new.remove(&id);
                        dev_ref.remove(&id);
                    }
                }
            }
            if rng.chance(5) {
                new_c = NewClient::default();
                ref_c = RefClient::default();
                dev_new.clear();
                dev_ref.clear();
            }
            let p_size = 1 + rng.below(4) as usize;
            let byte_cap = if rng.chance(30) { 40 } else { 1 << 20 };
            let limit = 1 + rng.below(6) as usize;
            let md = part.md_objects();
            let (mut u_new, mut u_ref) = (BTreeMap::new(), BTreeMap::new());
            // one protocol cycle of each, with lost pages (reset with undo)
            for _ in 0..200 {
                let plan = new_page(&part, &mut new_c, p_size, byte_cap, limit);
                assert!(plan.objects <= p_size);
                if plan.objects == 0 {
                    break;
                }
                if rng.chance(20) {
                    new_reset(&mut new_c);
                    continue;
                }
                union_into(&mut u_new, &plan.insert, &plan.delete);
                device_apply(&mut dev_new, &plan.insert, &plan.delete);
                new_ack(&mut new_c, &plan);
            }
            for _ in 0..200 {
                let (ins, del) = ref_page(&md, &mut ref_c, p_size);
                if ins.is_empty() && del.is_empty() {
                    break;
                }
                if rng.chance(20) {
                    ref_reset(&mut ref_c);
                    continue;
                }
                let ins = encode_objects(&ins);
                union_into(&mut u_ref, &ins, &del);
                device_apply(&mut dev_ref, &ins, &del);
                ref_c.undo = None;
            }
            assert_eq!(u_new, u_ref, "seed {seed}: per-cycle content differs");
            assert_eq!(dev_new, md, "seed {seed}: device out of step");
            assert_eq!(dev_ref, md, "seed {seed}: reference device out of step");
            let cd = materialize_cd(&new_c.state, &part.head, &new_c.sent, &part.all_records()).expect("cd");
            let cd: BTreeMap<String, Attrs> = cd.into_iter().collect();
            assert_eq!(cd, ref_c.cd, "seed {seed}: materialised cd differs");
            assert!(is_in_step(&new_c.state, &part.head), "seed {seed}: not O(1) after a full cycle");
            assert!(new_c.sent.is_empty());
        }
    }
}

/// Scenario B: backend changes between any two pages. After every
/// acknowledged page the server's belief must equal what the device holds,
/// and a quiet final cycle must bring the device to md.
#[test]
fn randomized_belief_tracks_device_with_concurrent_changes() {
    for seed in 1..=60u64 {
        let mut rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
        let mut part = Part::default();
        let mut client = NewClient::default();
        let mut device: BTreeMap<String, Attrs> = BTreeMap::new();
        for step in 0..300 {
            if rng.chance(35) {
                mutate(&mut rng, &mut part);
            }
            let p_size = 1 + rng.below(3) as usize;
            let plan = new_page(
                &part,
                &mut client,
                p_size,
                if rng.chance(20) { 30 } else { 1 << 20 },
                1 + rng.below(4) as usize,
            );
            if plan.objects > 0 && rng.chance(15) {
                new_reset(&mut client);
            } else {
                device_apply(&mut device, &plan.insert, &plan.delete);
                new_ack(&mut client, &plan);
            }
            let cd = materialize_cd(&client.state, &part.head, &client.sent, &part.all_records()).expect("cd");
            let cd: BTreeMap<String, Attrs> = cd.into_iter().collect();
            assert_eq!(cd, device, "seed {seed} step {step}: belief differs from device");
        }
        for _ in 0..200 {
            let plan = new_page(&part, &mut client, 3, 1 << 20, 3);
            device_apply(&mut device, &plan.insert, &plan.delete);
            new_ack(&mut client, &plan);
            if plan.objects == 0 && plan.completed {
                break;
            }
        }
        assert_eq!(device, part.md_objects(), "seed {seed}: not converged");
        assert!(is_in_step(&client.state, &part.head));
    }
}
