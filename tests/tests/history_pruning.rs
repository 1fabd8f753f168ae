//! History retention of the sync store against real Redis and HTTP: a device that stayed
//! away while its partition's history was pruned past its cursor gets the whole partition
//! again (the engine's stale-cursor path), a device in step keeps getting incremental
//! pages, and the retained history stays under its cap however many changes come in.

mod sync_support;

use std::collections::HashMap;

use rhosync_server::store::keys::PartitionKeys;
use serde_json::{json, Value};
use sync_support::World;

/// Mock source with a one-hour retention window and a given event cap.
fn settings(max_events: u64) -> String {
    format!(
        "\
:development:
  :poll_interval_default: 300
  :device_auth: open
  :history_retention_secs: 3600
  :history_max_events: {max_events}
:sources:
  MockAdapter:
    adapter: mock
    poll_interval: 300
"
    )
}

fn item(i: u32, price: &str) -> (String, Value) {
    (i.to_string(), json!({"mock_id": i.to_string(), "name": format!("item {i}"), "price": price}))
}

fn objects(items: Vec<(String, Value)>) -> Value {
    Value::Object(items.into_iter().collect())
}

/// What the store holds for one partition's history.
struct HistoryView {
    horizon: Option<u64>,
    log_len: u64,
    /// Events across every object's history list.
    events: usize,
    /// Ids in the change index.
    indexed: Vec<String>,
}

async fn history(w: &World, login: &str) -> HistoryView {
    let pk = PartitionKeys::new(&w.env.state.redis.keys, "MockAdapter", login);
    let mut conn = w.env.state.redis.conn();
    let horizon: Option<u64> = redis::cmd("HGET").arg(&pk.head).arg("h").query_async(&mut conn).await.expect("HGET h");
    let log_len: u64 = redis::cmd("ZCARD").arg(&pk.hlog).query_async(&mut conn).await.expect("ZCARD");
    let hist: HashMap<String, String> =
        redis::cmd("HGETALL").arg(&pk.hist).query_async(&mut conn).await.expect("HGETALL");
    let events = hist.values().map(|t| serde_json::from_str::<Vec<Value>>(t).expect("history list").len()).sum();
    let mut indexed: Vec<String> =
        redis::cmd("ZRANGE").arg(&pk.idx).arg(0).arg(-1).query_async(&mut conn).await.expect("ZRANGE");
    indexed.sort();
    HistoryView { horizon, log_len, events, indexed }
}

/// Replaces the backend data and runs the refresh through `d`'s next query.
async fn change_backend(w: &World, login: &str, data: Value) {
    w.set_backend(login, data).await;
    w.force_refresh(login, "MockAdapter").await;
}

#[tokio::test]
async fn a_device_away_past_the_horizon_is_resynced_and_one_in_step_is_not() {
    let w = World::new("hist-stale", &settings(1_000)).await;
    let all = |p3: &str| objects((1..=5).map(|i| item(i, if i == 3 { p3 } else { "10" })).collect());
    w.set_backend("ann", all("10")).await;
    let mut away = w.device("ann").await;
    let mut near = w.device("ann").await;
    assert_eq!(away.sync_all("MockAdapter", 100).await.iter().map(|p| p.count()).sum::<u64>(), 5);
    assert_eq!(near.sync_all("MockAdapter", 100).await.iter().map(|p| p.count()).sum::<u64>(), 5);

    // While `away` is offline: object 1 is deleted and object 2 changes; `near` follows.
    let mut later: Vec<(String, Value)> = (2..=5).map(|i| item(i, "10")).collect();
    later[0] = item(2, "20");
    change_backend(&w, "ann", objects(later.clone())).await;
    let p = near.query("MockAdapter", "").await;
    assert_eq!(
        p.command(),
        json!({"insert": {"2": {"price": "20"}}, "delete": {"2": {"price": "10"}, "1": {"mock_id": "1", "name": "item 1", "price": "10"}}})
    );
    near.query("MockAdapter", &format!("token={}", p.token())).await;
    let before = history(&w, "ann").await;
    // The first load (5 new objects into an empty partition) keeps no history and puts the
    // horizon at its last version (docs/sync-engine.md §10); the two changes since are kept.
    assert_eq!((before.horizon, before.events), (Some(5), 2), "nothing pruned within the window");
    assert!(before.indexed.contains(&"1".to_owned()), "the deletion is kept as a tombstone");

    // Two hours later one more change: every earlier event is past retention and goes.
    w.clock.advance_secs(2 * 3600);
    later[1] = item(3, "30");
    change_backend(&w, "ann", objects(later)).await;
    let p = near.query("MockAdapter", "").await;
    assert_eq!(p.status, 200, "{}", p.text);
    // `near`'s cursor (version 7) is at the horizon: still an incremental page.
    assert_eq!(p.command(), json!({"insert": {"3": {"price": "30"}}, "delete": {"3": {"price": "10"}}}));
    near.query("MockAdapter", &format!("token={}", p.token())).await;
    let after = history(&w, "ann").await;
    assert_eq!(after.horizon, Some(7), "horizon at the last pruned version");
    assert_eq!((after.log_len, after.events), (1, 1), "only the fresh event is retained");
    assert_eq!(after.indexed, ["2", "3", "4", "5"], "the tombstone of 1 is pruned");

    // `away` (cursor 5 < horizon 7) gets everything again as whole-object inserts; the
    // deletion of 1 is lost to it (the documented limitation).
    let pages = away.sync_all("MockAdapter", 100).await;
    let first = &pages[0];
    assert_eq!(first.insert_ids(), ["2", "3", "4", "5"]);
    assert_eq!(first.command()["insert"]["3"], json!({"mock_id": "3", "name": "item 3", "price": "30"}));
    assert!(first.command().get("delete").is_none(), "{}", first.text);
    assert_eq!(pages.last().map(|p| p.count()), Some(0));
    // Both devices are in step afterwards.
    for d in [&mut away, &mut near] {
        let p = d.query("MockAdapter", "").await;
        assert_eq!((p.count(), p.token(), p.total()), (0, String::new(), 4));
    }
}

#[tokio::test]
async fn history_stays_under_its_cap_under_many_changes() {
    const CAP: u64 = 50;
    let w = World::new("hist-cap", &settings(CAP)).await;
    let mut prices = vec![0u32; 20];
    let data = |prices: &[u32]| objects((1..=20).map(|i| item(i, &prices[i as usize - 1].to_string())).collect());
    w.set_backend("cap", data(&prices)).await;
    let mut d = w.device("cap").await;
    let mut watcher = w.device("cap").await;
    d.sync_all("MockAdapter", 100).await;
    watcher.sync_all("MockAdapter", 100).await;
    let mut peak = 0;
    for round in 1..=40u32 {
        // Each round reprices one half of the objects: 10 events.
        for (i, p) in prices.iter_mut().enumerate() {
            if i as u32 % 2 == round % 2 {
                *p = round;
            }
        }
        change_backend(&w, "cap", data(&prices)).await;
        let pages = d.sync_all("MockAdapter", 100).await;
        assert_eq!(pages[0].insert_ids().len(), 10, "round {round}: {}", pages[0].text);
        let h = history(&w, "cap").await;
        assert!(h.log_len <= CAP, "round {round}: {} events logged", h.log_len);
        assert_eq!(h.events as u64, h.log_len, "round {round}: the log and the lists agree");
        peak = peak.max(h.log_len);
    }
    assert_eq!(peak, CAP, "the cap is reached, and held");
    let h = history(&w, "cap").await;
    // 20 initial + 400 events, 50 kept: the horizon is at version 370.
    assert_eq!(h.horizon, Some(370), "horizon moved with the pruning");
    // The watcher synced before the rounds only: past the horizon, it gets every object
    // whole, although an incremental page would carry just the prices.
    let pages = watcher.sync_all("MockAdapter", 100).await;
    assert_eq!(pages.iter().map(|p| p.count()).sum::<u64>(), 20);
    for p in &pages {
        for (id, attrs) in p.command()["insert"].as_object().cloned().unwrap_or_default() {
            assert_eq!(attrs.as_object().map(|a| a.len()), Some(3), "object {id} whole: {}", p.text);
        }
        assert!(p.command().get("delete").is_none());
    }
    // The device that followed every round is in step.
    let p = d.query("MockAdapter", "").await;
    assert_eq!((p.count(), p.token()), (0, String::new()));
}
