//! Contract test of the store port: one scenario, written once over `&dyn Store`, runs
//! against the Redis edge (`SyncStore` on a real redis-server) and against `MemoryStore`,
//! and every answer must be the same — the replies, and the raw content of the keys each
//! step wrote (read back through the port's own string and hash reads). A change to a Lua
//! script without the same change in `MemoryStore` (or the reverse) fails here, naming
//! the first step that differs.
//!
//! The scenario's sections live in `store_contract/`: `partition` (the refresh decision,
//! md writes and pruning, refresh outcomes), `client` (client state: reads, commits, the
//! token rule, the probe) and `records` (kv, sessions, writes, ledger, meta).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

use rhosync_engine::model::{Change, PartitionHead, VersionedChange};
use rhosync_server::edges::RedisEdge;
use rhosync_server::store::keys::{ClientKeys, PartitionKeys};
use rhosync_server::store::{
    BeginArgs, BeginMode, BeginReply, HistoryPolicy, MemoryStore, Store, StoreError, SyncStore,
};
use rhosync_testkit::{unique_prefix, Stack};

/// A fixed "now" well past zero.
const NOW: u64 = 1_700_000_000;
const WEEK: u64 = 7 * 86_400;

/// Bodies with what JSON encoders disagree on: `/`, quotes, non-ASCII, DEL, a control byte.
const BODY_A: &str = r#"{"name":"A/1 \"q\" é"}"#;
const BODY_A2: &str = "{\"name\":\"A/2 \u{7f}\u{1}\"}";
const BODY_B: &str = r#"{"name":"B"}"#;
const BODY_B2: &str = r#"{"name":"B2"}"#;
const BODY_C: &str = r#"{"name":"C"}"#;

/// One run of the scenario: the store and what each step answered.
struct Run<'a> {
    store: &'a dyn Store,
    steps: Vec<(String, String)>,
}

impl Run<'_> {
    fn record(&mut self, step: impl Into<String>, answer: String) {
        self.steps.push((step.into(), answer));
    }

    /// Records the content of `keys` after `step`.
    async fn keys(&mut self, step: &str, keys: &[&str]) {
        let mut out = Vec::new();
        for k in keys {
            out.push(format!("{k} = {}", content(self.store, k).await));
        }
        self.record(format!("{step} → keys"), out.join("\n"));
    }

    /// Records a partition's keys, its index and, when given, one client's keys.
    async fn state(&mut self, step: &str, pk: &PartitionKeys, ck: Option<&ClientKeys>) {
        let mut keys: Vec<&str> = pk.all().to_vec();
        if let Some(ck) = ck {
            keys.extend(ck.all());
        }
        self.keys(step, &keys).await;
        let index = self.store.index(pk).await;
        self.record(format!("{step} → index"), show(&index));
    }
}

/// A key's content as the port reads it: a string, a hash (sorted), or neither.
async fn content(store: &dyn Store, key: &str) -> String {
    match store.get(key).await {
        Ok(Some(v)) => format!("string {v:?}"),
        Ok(None) => "absent".to_owned(),
        Err(_) => match store.hgetall(key).await {
            Ok(pairs) => format!("hash {:?}", pairs.into_iter().collect::<BTreeMap<_, _>>()),
            Err(_) => "another type".to_owned(),
        },
    }
}

/// An answer; errors compare as `Err` whatever their text.
fn show<T: Debug>(r: &Result<T, StoreError>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(_) => "Err".to_owned(),
    }
}

fn sorted<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let mut v = v.to_vec();
    v.sort();
    v
}

/// A query reply with its maps ordered and its hash listings sorted (the order Redis lists
/// a hash in is not part of the contract).
fn show_reply(r: &Result<BeginReply, StoreError>) -> String {
    let reply = match r {
        Ok(reply) => reply,
        Err(_) => return "Err".to_owned(),
    };
    match reply {
        BeginReply::Reset { page, st, pinned } => {
            format!("Reset {{ page: {page:?}, st: {:?}, pinned: {:?} }}", st.iter().collect::<BTreeMap<_, _>>(), sorted(pinned))
        }
        BeginReply::Build { acked, read } => format!(
            "Build {{ acked: {acked}, head: {:?}, st: {:?}, pinned: {:?}, src: {:?}, slice: {:?}, last: {}, records: {:?}, sent: {:?}, pending: {:?} }}",
            read.head,
            read.st.iter().collect::<BTreeMap<_, _>>(),
            sorted(&read.pinned),
            read.src.iter().collect::<BTreeMap<_, _>>(),
            read.slice,
            read.slice_is_last,
            read.records.iter().collect::<BTreeMap<_, _>>(),
            read.sent.iter().collect::<BTreeMap<_, _>>(),
            read.pending.iter().map(|p| sorted(p)).collect::<Vec<_>>(),
        ),
        other => format!("{other:?}"),
    }
}

fn args(token: Option<&str>, now: u64, poll: i64, slice_limit: usize) -> BeginArgs<'_> {
    BeginArgs {
        token,
        now_secs: now,
        poll_interval: poll,
        may_refresh: true,
        slice_limit,
        mode: BeginMode::Begin,
        start_override: None,
        include_pinned: true,
    }
}

fn change(id: &str, before: Option<&str>, after: Option<&str>, version: u64) -> VersionedChange {
    VersionedChange {
        change: Change { id: id.to_owned(), before: before.map(str::to_owned), after: after.map(str::to_owned) },
        version,
    }
}

fn policy(now: u64, retention_secs: u64, max_events: Option<u64>) -> HistoryPolicy {
    HistoryPolicy { retention_secs, max_events, now_secs: now }
}

fn head(version: u64, horizon: u64, md_size: u64) -> PartitionHead {
    PartitionHead { version, horizon, md_size }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[path = "store_contract/client.rs"]
mod client;
#[path = "store_contract/partition.rs"]
mod partition;
#[path = "store_contract/records.rs"]
mod records;

/// The whole scenario; the answers in order.
async fn scenario(store: &dyn Store) -> Vec<(String, String)> {
    let mut run = Run { store, steps: Vec::new() };
    partition::refresh_decisions(&mut run).await;
    partition::applies(&mut run).await;
    partition::pruning(&mut run).await;
    partition::refresh_outcomes(&mut run).await;
    client::client_cycle(&mut run).await;
    records::kv_before_sleep(&mut run).await;
    records::sessions_before_sleep(&mut run).await;
    records::ledger_before_sleep(&mut run).await;
    // Redis expires a 1 s key once more than 1 000 ms have passed.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    records::kv_after_sleep(&mut run).await;
    records::sessions_after_sleep(&mut run).await;
    records::ledger_after_sleep(&mut run).await;
    records::writes(&mut run).await;
    records::meta(&mut run).await;
    let flushed = store.flush_namespace().await;
    run.record("flush namespace", show(&flushed));
    run.record("flush namespace again", show(&store.flush_namespace().await));
    run.record("after the flush", show(&store.app_server_url().await));
    run.steps
}

#[tokio::test]
async fn memory_store_answers_like_the_redis_store() {
    // Twice: as deployed, and with every page read's bodies read after the query script
    // (`SyncStore::with_bodies_deferred_over`) and every first load staged and renamed into
    // place (`SyncStore::with_first_loads_staged_over`), each against a memory store of its
    // namespace.
    let (namespace, deferred_namespace) = (unique_prefix("store-contract"), unique_prefix("store-contract-d"));
    let connect = |ns: String| async move {
        RedisEdge::connect(&Stack::get().redis_url, &ns).await.unwrap_or_else(|e| panic!("{e}"))
    };
    let real = SyncStore::new(connect(namespace.clone()).await);
    let deferred = SyncStore::new(connect(deferred_namespace.clone()).await)
        .with_bodies_deferred_over(0)
        .with_first_loads_staged_over(0);
    let (memory, deferred_memory) = (MemoryStore::new(&namespace), MemoryStore::new(&deferred_namespace));
    // Run side by side so the sleeps overlap.
    let (real_steps, memory_steps, deferred_steps, deferred_memory_steps) =
        tokio::join!(scenario(&real), scenario(&memory), scenario(&deferred), scenario(&deferred_memory));
    for (label, real_steps, memory_steps) in [
        ("", real_steps, memory_steps),
        (" (bodies deferred, first loads staged)", deferred_steps, deferred_memory_steps),
    ] {
        for (i, ((step, real), (memory_step, memory))) in real_steps.iter().zip(&memory_steps).enumerate() {
            assert_eq!(step, memory_step, "step {i}{label}: the runs took different paths");
            assert_eq!(real, memory, "step {i}{label}, {step}: the Redis store and the memory store disagree");
        }
        assert_eq!(real_steps.len(), memory_steps.len());
        // The scenario is the one intended, not an empty one.
        assert!(real_steps.len() > 200, "{} steps", real_steps.len());
    }
}

#[tokio::test]
async fn the_port_is_object_safe_and_both_edges_fit_it() {
    let namespace = unique_prefix("store-port");
    let redis = RedisEdge::connect(&Stack::get().redis_url, &namespace).await.unwrap_or_else(|e| panic!("{e}"));
    let stores: Vec<std::sync::Arc<dyn Store>> =
        vec![std::sync::Arc::new(SyncStore::new(redis)), std::sync::Arc::new(MemoryStore::new(&namespace))];
    for store in &stores {
        assert_eq!(store.keys().namespace(), namespace);
        store.ping().await.unwrap_or_else(|e| panic!("ping: {e}"));
    }
}

/// A large page is staged under a key of its own for its commit (Redis only: the memory
/// store passes the text directly): the commit that wins renames it into place, with no
/// expiry, and the one that loses deletes it, so no staged key stays behind.
#[tokio::test]
async fn a_staged_page_is_renamed_or_deleted_and_never_left_behind() {
    let url = &Stack::get().redis_url;
    let namespace = unique_prefix("store-stage");
    let store = SyncStore::new(RedisEdge::connect(url, &namespace).await.unwrap_or_else(|e| panic!("{e}")));
    let pk = PartitionKeys::new(store.keys(), "Src", "u1");
    let ck = pk.client("c1");
    let big = format!("{{\"page\":\"{}\"}}", "x".repeat(40_000));
    let commit = |gen: &str| rhosync_server::store::Commit {
        gen: gen.to_owned(),
        page: Some(Some(big.clone())),
        ..Default::default()
    };
    assert!(matches!(store.commit(&ck, &commit("")).await, Ok(true)), "the first commit wins");
    assert!(matches!(store.commit(&ck, &commit("")).await, Ok(false)), "a stale gen loses");
    assert_eq!(store.get(&ck.page).await.expect("GET page").as_deref(), Some(big.as_str()));

    // The raw checks need one node: the cluster pass stops here (the plain pass checks).
    if !url.starts_with("redis://") {
        return;
    }
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect");
    let ttl: i64 = redis::cmd("TTL").arg(&ck.page).query_async(&mut conn).await.expect("TTL");
    assert_eq!(ttl, -1, "the stored page does not expire");
    let staged: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}:new:*", ck.page)).query_async(&mut conn).await.expect("KEYS");
    assert!(staged.is_empty(), "staged pages left behind: {staged:?}");
}

/// Page reads whose bodies come after the query script (here every read: threshold 0) race
/// a writer on another connection: each read is still one snapshot — every body is the one
/// its index score names — because a read whose partition version moved in between is made
/// again in one step (`SyncStore::begin`).
#[tokio::test]
async fn deferred_bodies_never_mix_snapshots_under_concurrent_writes() {
    const N: u64 = 20;
    const WRITES: u64 = 400;
    let url = &Stack::get().redis_url;
    let namespace = unique_prefix("store-defer");
    let connect = || async { RedisEdge::connect(url, &namespace).await.unwrap_or_else(|e| panic!("{e}")) };
    let reader = SyncStore::new(connect().await).with_bodies_deferred_over(0);
    let writer = SyncStore::new(connect().await);
    let pk = PartitionKeys::new(reader.keys(), "Src", "u1");
    let ck = pk.client("c1");
    let body = |v: u64| format!(r#"{{"v":"{v}"}}"#);
    let p = policy(NOW, WEEK, None);
    let first: Vec<VersionedChange> =
        (1..=N).map(|v| change(&format!("o{}", v % N), None, Some(&body(v)), v)).collect();
    assert!(matches!(writer.apply(&pk, head(0, 0, 0), &first, &p).await, Ok(true)));

    let writes = async {
        let mut at: Vec<u64> = (0..N).map(|i| if i == 0 { N } else { i }).collect();
        for v in N + 1..=N + WRITES {
            let i = (v % N) as usize;
            let c = change(&format!("o{i}"), Some(&body(at[i])), Some(&body(v)), v);
            assert!(matches!(writer.apply(&pk, head(v - 1, 0, N), &[c], &p).await, Ok(true)), "write {v}");
            at[i] = v;
        }
    };
    let read_args = BeginArgs {
        token: None,
        now_secs: NOW,
        poll_interval: -1,
        may_refresh: false,
        slice_limit: 2 * N as usize,
        mode: BeginMode::Read,
        start_override: Some(0),
        include_pinned: false,
    };
    let reads = async {
        let mut reads = 0;
        while reads < 2000 {
            let reply = reader.begin(&pk, &ck, &read_args).await.expect("read");
            let BeginReply::Build { read, .. } = reply else { panic!("a read builds: {reply:?}") };
            assert_eq!(read.slice.len() as u64, N);
            for (id, score) in &read.slice {
                let current = read.records[id].current.as_deref();
                assert_eq!(current, Some(body(*score).as_str()), "{id}: the body is not the one of version {score}");
            }
            reads += 1;
            if read.head.version == N + WRITES {
                break;
            }
        }
        reads
    };
    let ((), reads) = tokio::join!(writes, reads);
    assert!(reads > 10, "only {reads} reads raced the writes");
}

/// Staged first loads (`SyncStore::with_first_loads_staged_over`) of one empty partition
/// race each other, and a reader on another connection watches: exactly one load lands,
/// whole (the reader sees no object or all of them, never part), the losers are told the
/// partition moved, and no staged key is left behind.
#[tokio::test]
async fn simultaneous_staged_first_loads_land_once_and_whole() {
    const N: u64 = 3_000;
    const LOADERS: u64 = 4;
    let url = &Stack::get().redis_url;
    let namespace = unique_prefix("store-first-load");
    let connect = || async { RedisEdge::connect(url, &namespace).await.unwrap_or_else(|e| panic!("{e}")) };
    let reader = SyncStore::new(connect().await);
    let pk = PartitionKeys::new(reader.keys(), "Src", "u1");
    let p = policy(NOW, WEEK, None);
    let mut loaders = Vec::new();
    for l in 0..LOADERS {
        let store = SyncStore::new(connect().await).with_first_loads_staged_over(0);
        let (pk, p) = (pk.clone(), p);
        loaders.push(tokio::spawn(async move {
            let load: Vec<VersionedChange> =
                (1..=N).map(|v| change(&format!("o{v}"), None, Some(&format!(r#"{{"loader":"{l}"}}"#)), v)).collect();
            (l, store.apply(&pk, head(0, 0, 0), &load, &p).await.expect("apply"))
        }));
    }
    let watch = async {
        let mut seen = Vec::new();
        loop {
            let (h, md) = reader.read_md(&pk).await.expect("read_md");
            assert!(md.is_empty() || md.len() as u64 == N, "a reader saw {} of {N} objects", md.len());
            assert_eq!(h.md_size, md.len() as u64, "the head's size is the md's");
            seen.push(md.len());
            if !md.is_empty() {
                return (h, md, seen);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let (results, (h, md, _)) = tokio::join!(futures::future::join_all(loaders), watch);
    let results: Vec<(u64, bool)> = results.into_iter().map(|r| r.expect("loader")).collect();
    let winners: Vec<u64> = results.iter().filter(|(_, ok)| *ok).map(|(l, _)| *l).collect();
    assert_eq!(winners.len(), 1, "exactly one load lands: {results:?}");
    assert_eq!(h, head(N, N, N), "the load's version, its size, and the horizon at it");
    let winner_body = format!(r#"{{"loader":"{}"}}"#, winners[0]);
    assert!(md.values().all(|b| *b == winner_body), "every object is the winner's");
    assert_eq!(reader.index(&pk).await.expect("index").len() as u64, N);
    // The raw check needs one node: the cluster pass stops here (the plain pass checks).
    if !url.starts_with("redis://") {
        return;
    }
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut conn = client.get_multiplexed_async_connection().await.expect("connect");
    let staged: Vec<String> =
        redis::cmd("KEYS").arg(format!("{namespace}*:new:*")).query_async(&mut conn).await.expect("KEYS");
    assert!(staged.is_empty(), "staged keys left behind: {staged:?}");
}
