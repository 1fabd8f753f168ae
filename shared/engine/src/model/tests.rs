//! Model tests: unit cases plus a randomized comparison against a reference
//! that keeps a full client document per client (RC7 semantics,
//! sync-engine.md §7.1–7.2, with the §7.4 undo DEVIATION).

use std::collections::{BTreeMap, HashMap};

use indexmap::IndexMap;

use super::*;
use crate::diff::{apply_diff, diff_object};
use crate::values::{decode_body, encode_body};

// ----- a tiny deterministic PRNG (xorshift64*) -----

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

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
        let sent: SentEntries =
            ids.iter().filter_map(|id| client.sent.get(id).map(|v| (id.clone(), *v))).collect();
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

fn device_apply(device: &mut BTreeMap<String, Attrs>, ins: &ObjectMap, del: &ObjectMap) {
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

fn union_into(acc: &mut BTreeMap<String, (Attrs, Attrs)>, ins: &ObjectMap, del: &ObjectMap) {
    for (id, a) in ins {
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
fn mutate(rng: &mut Rng, part: &mut Part) {
    let id = format!("{}", rng.below(14));
    let changes = match rng.below(5) {
        0 => {
            // full refresh: random edits of a copy of md
            let mut next: ObjectMap =
                part.md.iter().map(|(k, b)| (k.clone(), decode_body(b).expect("body"))).collect();
            for _ in 0..rng.below(5) {
                let id = format!("{}", rng.below(14));
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
                        let changes = apply_push_deletes(&part.md.clone().into_iter().collect(), std::slice::from_ref(&id));
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
            let plan = new_page(&part, &mut client, p_size, if rng.chance(20) { 30 } else { 1 << 20 }, 1 + rng.below(4) as usize);
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
    assert_eq!(p.insert["1"], md["1"]);
    let p = new_page(&part, &mut c, 500, 1 << 20, 1000);
    assert_eq!(p.count(), 0);
    assert!(p.completed);
    assert!(is_in_step(&c.state, &part.head));
    assert!(c.sent.is_empty());
    // one attribute changes (sync-protocol.md §6.6 d)
    let mut md2 = md.clone();
    md2.get_mut("2").expect("2").insert("price".into(), "89.99".into());
    part.apply(apply_refresh(&part.md.clone(), &md2));
    let p = new_page(&part, &mut c, 500, 1 << 20, 1000);
    assert_eq!(p.insert["2"], attrs(&[("price", "89.99")]));
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
    part.apply(vec![Change { id: "1".into(), before: Some(body.clone()), after: Some(encode_body(&attrs(&[("name", "B")]))) }]);
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

#[test]
fn doc_names_round_trip() {
    for (name, expected) in [
        (
            "source:application:testuser:Product:md",
            DocName::Source { partition: "testuser".into(), source: "Product".into(), doc: "md".into() },
        ),
        (
            "client:application:u:abc:MockAdapter:cd",
            DocName::Client { login: "u".into(), client_id: "abc".into(), source: "MockAdapter".into(), doc: "cd".into() },
        ),
        ("source:application:Product:create", DocName::CudQueue { source: "Product".into(), op: "create".into() }),
        (
            "read_state:application:__shared__:Catalog:refresh_time",
            DocName::ReadState { partition: "__shared__".into(), source: "Catalog".into(), field: "refresh_time".into() },
        ),
        ("source:Product:poll_interval", DocName::PollInterval { source: "Product".into() }),
        ("user:count", DocName::Counter { kind: "user".into() }),
        ("client:abc:user_id", DocName::Record { kind: "client".into(), id: "abc".into(), field: "user_id".into() }),
        ("test_db_storage:application:u", DocName::Scratch("test_db_storage:application:u".into())),
    ] {
        let parsed = DocName::parse(name);
        assert_eq!(parsed, expected, "{name}");
        assert_eq!(parsed.to_name(), name);
    }
    let lock = DocName::parse("lock:source:application:u:P:md");
    assert!(matches!(lock, DocName::Lock(_)));
    assert_eq!(lock.to_name(), "lock:source:application:u:P:md");
}

/// The stored page keeps its undo as JSON; "not pinned" and "pinned as
/// absent" must survive the round trip (both would be `null` naively).
#[test]
fn page_undo_serde_keeps_pinned_states_apart() {
    let undo = PageUndo {
        cursor: ClientCursor { base: Base::At(7), scan: Some(9) },
        pinned: vec![
            ("a".into(), None),
            ("b".into(), Some(None)),
            ("c".into(), Some(Some(r#"{"x":"1"}"#.into()))),
        ],
        sent: vec![("a".into(), Some(3)), ("b".into(), None)],
    };
    let text = serde_json::to_string(&undo).expect("serialize");
    let back: PageUndo = serde_json::from_str(&text).expect("deserialize");
    assert_eq!(back, undo);
}

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

#[test]
fn diff_size_matches_the_encoded_length() {
    let odd = attrs(&[("name", "quote \" back \\ tab \t nl \n bell \u{7} é ✓"), ("a", ""), ("zz", "plain")]);
    for insert in [odd.clone(), attrs(&[("k", "v")]), Attrs::new()] {
        let diff = ObjectDiff { insert: insert.clone(), delete: odd.clone() };
        let expected = |a: &Attrs| if a.is_empty() { 0 } else { 3 + 4 + encode_body(a).len() };
        assert_eq!(diff_size("abc", &diff), expected(&insert) + expected(&odd), "{insert:?}");
    }
}
