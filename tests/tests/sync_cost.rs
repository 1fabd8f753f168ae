//! Evidence for the data model (docs/README.md §3 "Performance design"): on a private
//! redis-server, seed a 100k-object source, bring a device in step, then count the Redis
//! commands (`INFO commandstats`, scripts' inner commands included) and the top-level
//! calls of (a) a sync with no change and (b) an incremental sync after 10 objects changed.
//! Run with `--nocapture` to see the figures.

mod sync_support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use rhosync_e2e::{start_runner, TestEnv};
use rhosync_server::config::Config;
use rhosync_server::edges::RedisEdge;
use rhosync_server::ports::ManualClock;
use rhosync_server::sync::scratch::StoreScratch;
use rhosync_server::AppState;
use serde_json::{json, Map, Value};
use sync_support::{Device, World};

const OBJECTS: usize = 100_000;

struct PrivateRedis(Child, u16);

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn private_redis() -> PrivateRedis {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0);
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("redis-server is needed for this measurement: {e}"));
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    PrivateRedis(child, port)
}

async fn stats(conn: &mut rhosync_server::edges::RedisConn) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(conn).await.unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.split(',').find_map(|kv| kv.strip_prefix("calls="))?.parse().ok()?;
            Some((name.to_owned(), calls))
        })
        .filter(|(name, _)| !["info", "config"].contains(&name.as_str()))
        .collect()
}

async fn reset(conn: &mut rhosync_server::edges::RedisConn) {
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(conn).await.unwrap_or(());
}

/// `GET`s of the one pipelined read each query request starts with: client record, poll
/// interval, and the session check's three keys (user exists, login revoked, system reset).
const GETS_PER_REQUEST: u64 = 5;

/// Round trips of a query path: each request starts with one pipelined read of
/// [`GETS_PER_REQUEST`] keys — carrying the query script's probe too when the request has
/// no token — then makes its other script calls (`EVALSHA`) one by one; nothing else
/// reaches Redis there. `probes`: how many of the script calls rode in a lookup pipeline.
fn round_trips(s: &BTreeMap<String, u64>, probes: u64) -> u64 {
    s.get("evalsha").copied().unwrap_or(0) - probes + s.get("get").copied().unwrap_or(0) / GETS_PER_REQUEST
}

/// Commands executed, scripts' inner commands included.
fn commands(s: &BTreeMap<String, u64>) -> u64 {
    s.iter().filter(|(k, _)| k.as_str() != "config|resetstat").map(|(_, v)| v).sum()
}

async fn sync_cycle(d: &mut Device) -> u64 {
    d.sync_all("MockAdapter", 2000).await.iter().map(|p| p.count()).sum()
}

#[tokio::test]
async fn redis_cost_of_syncs_on_a_100k_object_source() {
    let redis = private_redis();
    let mut env = TestEnv::new(
        "cost",
        &sync_support::SYNC_SETTINGS.replace(":development:\n", ":development:\n  :stats: false\n"),
    )
    .await;
    let vars: Vec<(String, String)> = env
        .vars()
        .into_iter()
        .map(|(k, v)| if k == "REDIS_URL" { (k, format!("redis://127.0.0.1:{}", redis.1)) } else { (k, v) })
        .collect();
    let config = Config::from_lookup(|key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    let edge =
        RedisEdge::connect(&config.env.redis_url, &config.env.redis_namespace).await.unwrap_or_else(|e| panic!("{e}"));
    let clock = ManualClock::new();
    env.state = AppState::new(config, edge.clone(), env.state.aws.clone()).with_clock(Arc::new(clock.clone()));
    let runner = start_runner(&env, 1).await;
    let world = World { env, runner, clock, http: reqwest::Client::new() };
    let mut conn = edge.conn();

    // Backend with 100k objects, written straight into the mock's scratch document.
    let data: Map<String, Value> = (0..OBJECTS)
        .map(|i| {
            (
                format!("{i}"),
                json!({"mock_id": i.to_string(), "name": format!("object {i}"), "price": format!("{}", i % 1000)}),
            )
        })
        .collect();
    StoreScratch::new(world.env.state.sync.store.clone())
        .write("test_db_storage:application:costuser", Some(&Value::Object(data)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut d = world.device("costuser").await;

    reset(&mut conn).await;
    let sent = sync_cycle(&mut d).await;
    assert_eq!(sent, OBJECTS as u64);
    let initial = stats(&mut conn).await;
    eprintln!("initial sync incl. refresh of {OBJECTS} objects: {initial:?}");
    // A first load, in chunks of 5,000: no history event and no pruning log for any chunk,
    // and the horizon at the head (docs/sync-engine.md §10).
    let pk = rhosync_server::store::keys::PartitionKeys::new(&edge.keys, "MockAdapter", "costuser");
    let (head_v, head_h): (Option<u64>, Option<u64>) =
        redis::cmd("HMGET").arg(&pk.head).arg("v").arg("h").query_async(&mut conn).await.expect("HMGET head");
    let (hist_len, log_len): (u64, u64) = redis::pipe()
        .cmd("HLEN")
        .arg(&pk.hist)
        .cmd("ZCARD")
        .arg(&pk.hlog)
        .query_async(&mut conn)
        .await
        .expect("HLEN, ZCARD");
    assert_eq!((hist_len, log_len), (0, 0), "the first load kept no history");
    assert_eq!((head_v, head_h), (Some(OBJECTS as u64), Some(OBJECTS as u64)), "horizon at the head");

    // (a) No change: one request, in step.
    reset(&mut conn).await;
    let p = d.query("MockAdapter", "p_size=2000").await;
    assert_eq!((p.count(), p.token()), (0, String::new()));
    let none = stats(&mut conn).await;
    eprintln!("no-change sync: {none:?}: {} commands, {} round trips", commands(&none), round_trips(&none, 1));
    assert_eq!(none.get("evalsha"), Some(&1), "one script call: the probe");
    assert_eq!(none.get("get"), Some(&GETS_PER_REQUEST), "client record, poll interval and session check, pipelined");
    assert_eq!(round_trips(&none, 1), 1, "the probe answers in the lookup's round trip");
    assert!(!none.contains_key("zrangebyscore") && !none.contains_key("hset"), "no index scan, no write when in step");
    assert!(commands(&none) <= 20, "O(1) commands: {}", commands(&none));

    // (b) 10 objects change through the push API, then an incremental sync.
    let changed: Map<String, Value> = (0..10).map(|i| (format!("{}", i * 7919), json!({"price": "changed"}))).collect();
    let (status, _) = world
        .admin("POST", "/app/v1/MockAdapter/push_objects", Some(json!({"user_id": "costuser", "objects": changed})))
        .await;
    assert_eq!(status, 200);
    reset(&mut conn).await;
    let pages = d.sync_all("MockAdapter", 2000).await;
    assert_eq!(pages.iter().map(|p| p.insert_ids().len()).sum::<usize>(), 10);
    let incr = stats(&mut conn).await;
    eprintln!(
        "10-change incremental sync ({} requests): {incr:?}: {} commands, {} round trips",
        pages.len(),
        commands(&incr),
        round_trips(&incr, 1)
    );
    assert_eq!(pages.len(), 2, "one page with the 10 objects, one acknowledging request");
    // The page: lookup + probe (which read the changes), then the commit. The
    // acknowledgement (it has a token, so no probe): lookup, then the query script, which
    // completes the cycle and answers in step.
    assert_eq!(incr.get("evalsha"), Some(&3), "probe + commit, then the acknowledging step");
    assert_eq!(round_trips(&incr, 1), 4);
    assert!(commands(&incr) <= 80, "proportional to the change, not to {OBJECTS}: {} commands", commands(&incr));

    // Memory of a device in step.
    let keys: Vec<String> = redis::cmd("KEYS").arg("*:c:*").query_async(&mut conn).await.unwrap_or_default();
    let mut bytes = 0u64;
    for k in &keys {
        let m: Option<u64> = redis::cmd("MEMORY").arg("USAGE").arg(k).query_async(&mut conn).await.unwrap_or(None);
        bytes += m.unwrap_or(0);
    }
    eprintln!("client keys of the in-step device: {keys:?}, {bytes} bytes");
    assert!(bytes < 2_000, "an in-step device costs little memory: {bytes} bytes");
}
