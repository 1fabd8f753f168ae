//! Simultaneous requests of real clients over HTTP (docs/sync-engine.md §5.7): bursts of
//! 2, 5 and 20 GETs of one client with the same token or none, with a refresh due and not,
//! with backend pushes racing the pages, and two devices of one user. Every answer is an
//! ordinary page (no status ≥ 500); a burst carries at most one page; and after a
//! sequential sync the device holds exactly the master document.

mod sync_support;

use std::collections::BTreeMap;

use futures::future::join_all;
use serde_json::{json, Map, Value};
use sync_support::{Device, Reply, World};

const SETTINGS: &str = "\
:development:
  :poll_interval_default: 300
  :device_auth: open
:sources:
  MockAdapter:
    adapter: mock
    poll_interval: 300
  MockZero:
    adapter: mock
    poll_interval: 0
  Catalogue:
    adapter: demo
    partition_type: app
    poll_interval: 300
";

type Objects = BTreeMap<String, Map<String, Value>>;

fn backend(n: usize, tag: &str) -> Value {
    Value::Object(
        (1..=n)
            .map(|i| (i.to_string(), json!({"mock_id": i.to_string(), "name": format!("{tag} {i}"), "price": i})))
            .collect(),
    )
}

/// What a device does with a page: deleted attributes removed first (an object left
/// without attributes dropped), then inserted ones merged (docs/device-protocol.md §5.2).
fn apply(device: &mut Objects, page: &Reply) {
    let command = page.command();
    if let Some(del) = command["delete"].as_object() {
        for (id, attrs) in del {
            if let Some(obj) = device.get_mut(id) {
                for k in attrs.as_object().into_iter().flatten().map(|(k, _)| k) {
                    obj.remove(k);
                }
                if obj.is_empty() {
                    device.remove(id);
                }
            }
        }
    }
    if let Some(ins) = command["insert"].as_object() {
        for (id, attrs) in ins {
            let obj = device.entry(id.clone()).or_default();
            for (k, v) in attrs.as_object().into_iter().flatten() {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
}

/// A second handle on `d`'s session and client, so that one device can have several
/// requests in flight at once.
fn twin(d: &Device) -> Device {
    Device { http: d.http.clone(), base: d.base.clone(), cookie: d.cookie.clone(), client_id: d.client_id.clone() }
}

/// A document read through the store API as objects.
async fn store_doc(w: &World, name: &str) -> Objects {
    let (status, body) = w.admin("GET", &format!("/rc/v1/store/{name}"), None).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(id, attrs)| (id.clone(), attrs.as_object().cloned().unwrap_or_default()))
        .collect()
}

/// The master document of `user`'s partition of `source`.
async fn master(w: &World, user: &str, source: &str) -> Objects {
    store_doc(w, &format!("source:application:{user}:{source}:md")).await
}

/// `n` simultaneous GETs of `source` with `token` (or none); every answer must be 200.
async fn burst(d: &Device, source: &str, token: Option<&str>, n: usize) -> Vec<Reply> {
    let q = match token {
        Some(t) => format!("p_size=200&token={t}"),
        None => "p_size=200".to_owned(),
    };
    let requests = (0..n).map(|_| {
        let mut twin = Device {
            http: d.http.clone(),
            base: d.base.clone(),
            cookie: d.cookie.clone(),
            client_id: d.client_id.clone(),
        };
        let q = q.clone();
        async move { twin.query(source, &q).await }
    });
    let replies = join_all(requests).await;
    for r in &replies {
        assert_eq!(r.status, 200, "a simultaneous GET was not answered with a page: {} {}", r.status, r.text);
    }
    replies
}

/// Bursts until no answer carries a token; returns the number of bursts. Checks that a
/// burst carries at most one page (one token, one content) and applies every answer.
async fn sync_in_bursts(d: &Device, device: &mut Objects, source: &str, n: usize) -> usize {
    let mut token: Option<String> = None;
    for round in 1..=200 {
        let replies = burst(d, source, token.as_deref(), n).await;
        let paged: Vec<&Reply> = replies.iter().filter(|r| !r.token().is_empty()).collect();
        for r in &paged {
            assert_eq!(r.token(), paged[0].token(), "two pages in one burst");
            assert_eq!(r.command(), paged[0].command(), "two contents under one token");
        }
        for r in &replies {
            apply(device, r);
        }
        token = paged.first().map(|r| r.token());
        if token.is_none() {
            return round;
        }
    }
    panic!("bursts of {n} did not finish");
}

/// A sequential sync to the end, applied to `device`.
async fn settle(d: &mut Device, device: &mut Objects, source: &str) {
    settle_from(d, device, source, None).await;
}

/// A sequential sync to the end from the device's `token` (the page it holds, if any).
async fn settle_from(d: &mut Device, device: &mut Objects, source: &str, mut token: Option<String>) {
    for _ in 0..100 {
        let q = match &token {
            Some(t) => format!("p_size=200&token={t}"),
            None => "p_size=200".to_owned(),
        };
        let page = d.query(source, &q).await;
        assert_eq!(page.status, 200, "{}", page.text);
        apply(device, &page);
        token = Some(page.token()).filter(|t| !t.is_empty());
        if token.is_none() {
            return;
        }
    }
    panic!("the sequential sync did not finish");
}

#[tokio::test]
async fn simultaneous_gets_of_one_client_answer_pages_and_lose_nothing() {
    let w = World::new("burst", SETTINGS).await;
    for (i, n) in [2usize, 5, 20].into_iter().enumerate() {
        for source in ["MockAdapter", "MockZero"] {
            let user = format!("u{n}{source}");
            w.set_backend(&user, backend(500, "a")).await;
            let mut d = w.device(&user).await;
            let mut device = Objects::new();
            // The initial sync in bursts (a refresh is due on the first request; for
            // MockZero on every request).
            sync_in_bursts(&d, &mut device, source, n).await;
            settle(&mut d, &mut device, source).await;
            assert_eq!(device, master(&w, &user, source).await, "{source} n={n}: initial sync");
            assert_eq!(device.len(), 500);
            // Changes in the backend, a refresh due, and simultaneous pulls again.
            w.set_backend(&user, backend(300 + 50 * i, "b")).await;
            w.force_refresh(&user, source).await;
            sync_in_bursts(&d, &mut device, source, n).await;
            settle(&mut d, &mut device, source).await;
            assert_eq!(device, master(&w, &user, source).await, "{source} n={n}: after changes");
            assert_eq!(device.len(), 300 + 50 * i);
        }
    }
}

#[tokio::test]
async fn simultaneous_gets_with_pushes_racing_the_pages() {
    let w = World::new("burst-push", SETTINGS).await;
    w.set_backend("pia", backend(400, "a")).await;
    let mut d = w.device("pia").await;
    let mut device = Objects::new();
    let mut token: Option<String> = None;
    for round in 0..30 {
        // Each burst races a push_objects and a push_deletes of the same partition.
        let pushes = async {
            let objects: Map<String, Value> = (0..20)
                .map(|k| (format!("{}", 1 + (round * 37 + k * 11) % 450), json!({"name": format!("p{round}")})))
                .collect();
            let (s1, b1) = w
                .admin("POST", "/app/v1/MockAdapter/push_objects", Some(json!({"user_id": "pia", "objects": objects})))
                .await;
            let gone: Vec<String> = (0..3).map(|k| format!("{}", 1 + (round * 13 + k * 7) % 400)).collect();
            let (s2, b2) = w
                .admin("POST", "/app/v1/MockAdapter/push_deletes", Some(json!({"user_id": "pia", "objects": gone})))
                .await;
            assert_eq!((s1, s2), (200, 200), "{b1} {b2}");
        };
        let (replies, ()) = tokio::join!(burst(&d, "MockAdapter", token.as_deref(), 5), pushes);
        let paged: Vec<&Reply> = replies.iter().filter(|r| !r.token().is_empty()).collect();
        for r in &paged {
            assert_eq!(r.token(), paged[0].token(), "two pages in one burst");
        }
        for r in &replies {
            apply(&mut device, r);
        }
        token = paged.first().map(|r| r.token());
    }
    settle_from(&mut d, &mut device, "MockAdapter", token).await;
    assert_eq!(device, master(&w, "pia", "MockAdapter").await, "after pushes racing the pages");
}

#[tokio::test]
async fn two_devices_of_one_user_pull_at_once() {
    let w = World::new("burst-two", SETTINGS).await;
    w.set_backend("duo", backend(450, "a")).await;
    let mut a = w.device("duo").await;
    let mut b = w.device("duo").await;
    let (mut da, mut db) = (Objects::new(), Objects::new());
    let (ra, rb) = tokio::join!(sync_in_bursts(&a, &mut da, "MockZero", 5), sync_in_bursts(&b, &mut db, "MockZero", 5));
    assert!(ra >= 3 && rb >= 3, "450 objects in pages of 200: {ra} {rb} bursts");
    settle(&mut a, &mut da, "MockZero").await;
    settle(&mut b, &mut db, "MockZero").await;
    let md = master(&w, "duo", "MockZero").await;
    assert_eq!(da, md);
    assert_eq!(db, md);
}

/// The bench adapter's backend document of `owner`.
async fn backend_doc(w: &World, owner: &str) -> Objects {
    store_doc(w, &format!("test_db_storage:application:{owner}")).await
}

/// RhoConnect's settings unchanged (no queue): 20 simultaneous creates, then updates, then
/// deletes of one user from four devices are each answered 200 and all land in the backend;
/// each device's very next sync carries its links; the devices end equal to the backend.
#[tokio::test]
async fn simultaneous_inline_writes_of_one_user_all_land() {
    let w = World::new("burst-cud", SETTINGS).await;
    w.set_backend("wes", backend(10, "a")).await;
    let mut devices = Vec::new();
    for _ in 0..4 {
        let mut d = w.device("wes").await;
        let mut held = Objects::new();
        settle(&mut d, &mut held, "MockAdapter").await;
        devices.push((d, held));
    }
    let send = |d: &Device, body: Value| {
        let mut twin = twin(d);
        async move { twin.cud("MockAdapter", body).await }
    };
    // Creates: device k creates c{k}-{i}, five each, all at once.
    let creates = devices.iter().enumerate().flat_map(|(k, (d, _))| {
        (0..5).map(move |i| {
            let tmp = format!("tmp-{k}-{i}");
            (d, json!({"create": {tmp: {"mock_id": format!("c{k}-{i}"), "name": format!("new {k} {i}")}}}))
        })
    });
    let replies = join_all(creates.map(|(d, body)| send(d, body))).await;
    for r in &replies {
        assert_eq!(r.status, 200, "create: {}", r.text);
    }
    let doc = backend_doc(&w, "wes").await;
    for k in 0..4 {
        for i in 0..5 {
            assert!(doc.contains_key(&format!("c{k}-{i}")), "create c{k}-{i} answered 200 but not in the backend");
        }
    }
    // The very next sync of each device carries its five links.
    for (k, (d, held)) in devices.iter_mut().enumerate() {
        let page = d.query("MockAdapter", "p_size=200").await;
        let links = page.command()["links"].clone();
        for i in 0..5 {
            assert_eq!(links[format!("tmp-{k}-{i}")]["l"], json!(format!("c{k}-{i}")), "device {k}: {}", page.text);
        }
        apply(held, &page);
        // The device renames its temporary objects to the linked ids (its own creates are
        // not sent back to it).
        for i in 0..5 {
            let attrs = json!({"mock_id": format!("c{k}-{i}"), "name": format!("new {k} {i}")});
            held.insert(format!("c{k}-{i}"), attrs.as_object().cloned().unwrap_or_default());
        }
        settle_from(d, held, "MockAdapter", Some(page.token()).filter(|t| !t.is_empty())).await;
    }
    // Updates of twenty different objects, then deletes of ten, all at once.
    let updates = (0..20).map(|n| {
        let (d, _) = &devices[n % 4];
        let id = if n < 10 { (n + 1).to_string() } else { format!("c{}-{}", n % 4, n % 5) };
        (d, json!({"update": {id: {"price": format!("u{n}")}}}))
    });
    let replies = join_all(updates.map(|(d, body)| send(d, body))).await;
    assert!(
        replies.iter().all(|r| r.status == 200),
        "updates: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    // Each device applied its own writes locally (they are not sent back to it).
    for n in 0..20 {
        let id = if n < 10 { (n + 1).to_string() } else { format!("c{}-{}", n % 4, n % 5) };
        if let Some(obj) = devices[n % 4].1.get_mut(&id) {
            obj.insert("price".into(), json!(format!("u{n}")));
        }
    }
    for n in 1..=10 {
        devices[n % 4].1.remove(&n.to_string());
    }
    let deletes = (1..=10).map(|n| (&devices[n % 4].0, json!({"delete": {n.to_string(): {}}})));
    let replies = join_all(deletes.map(|(d, body)| send(d, body))).await;
    assert!(
        replies.iter().all(|r| r.status == 200),
        "deletes: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let doc = backend_doc(&w, "wes").await;
    for n in 1..=10 {
        assert!(!doc.contains_key(&n.to_string()), "delete of {n} answered 200 but still in the backend");
    }
    for n in 10..20 {
        let id = format!("c{}-{}", n % 4, n % 5);
        assert_eq!(doc[&id]["price"], json!(format!("u{n}")), "update of {id} answered 200 but not in the backend");
    }
    // After a refresh every device holds exactly the backend.
    w.force_refresh("wes", "MockAdapter").await;
    for (d, held) in devices.iter_mut() {
        settle(d, held, "MockAdapter").await;
        let expected: Objects = doc.clone();
        assert_eq!(*held, expected, "a device differs from the backend");
    }
}

/// The demo adapter keeps one catalogue document per partition (the bench's mixed source is
/// one): 20 simultaneous creates of five users of an app partition are each answered 200,
/// and all land in the catalogue, each under an id of its own (a create used to read the
/// document and save it whole, so simultaneous creates overwrote each other).
#[tokio::test]
async fn simultaneous_creates_through_the_demo_adapter_all_land() {
    let w = World::new("burst-demo", SETTINGS).await;
    let mut devices = Vec::new();
    for k in 0..5 {
        devices.push(w.device(&format!("demo{k}")).await);
    }
    let send = |d: &Device, body: Value| {
        let mut twin = twin(d);
        async move { twin.cud("Catalogue", body).await }
    };
    let creates = devices.iter().enumerate().flat_map(|(k, d)| {
        (0..4).map(move |i| (d, json!({"create": {format!("tmp-{k}-{i}"): {"name": format!("new {k} {i}")}}})))
    });
    let replies = join_all(creates.map(|(d, body)| send(d, body))).await;
    for r in &replies {
        assert_eq!(r.status, 200, "create: {}", r.text);
    }
    let doc = store_doc(&w, "demo:Catalogue:__shared__").await;
    let mut names: Vec<&str> = doc.values().filter_map(|o| o.get("name")?.as_str()).collect();
    names.retain(|n| n.starts_with("new "));
    names.sort_unstable();
    let mut expected: Vec<String> = (0..5).flat_map(|k| (0..4).map(move |i| format!("new {k} {i}"))).collect();
    expected.sort_unstable();
    assert_eq!(names, expected, "every create answered 200 is in the catalogue once: {doc:?}");
    // The five seeded products stay beside them.
    assert_eq!(doc.len(), 25, "{doc:?}");
}

/// `push_objects` racing itself: 50 simultaneous pushes of one partition all land.
#[tokio::test]
async fn simultaneous_pushes_all_land() {
    let w = World::new("burst-pushes", SETTINGS).await;
    w.set_backend("pat", backend(5, "a")).await;
    let mut d = w.device("pat").await;
    let mut held = Objects::new();
    settle(&mut d, &mut held, "MockAdapter").await;
    let pushes = (0..50).map(|n| {
        let w = &w;
        async move {
            w.admin(
                "POST",
                "/app/v1/MockAdapter/push_objects",
                Some(json!({"user_id": "pat", "objects": {format!("p{n}"): {"name": format!("pushed {n}")}}})),
            )
            .await
        }
    });
    let replies = join_all(pushes).await;
    assert!(replies.iter().all(|(s, _)| *s == 200), "pushes: {replies:?}");
    let md = master(&w, "pat", "MockAdapter").await;
    assert_eq!(md.len(), 55, "every push in the master document");
    settle(&mut d, &mut held, "MockAdapter").await;
    assert_eq!(held, md);
}
