//! The slot proof (docs/README.md §3 "Where data lives"): on a Redis Cluster a Lua script
//! or a `MULTI` must name keys of one slot, else Redis refuses it (`CROSSSLOT`). This test
//! calls every store method that sends a script or a transaction, through a connection that
//! records the keys each one names (`RedisEdge::recording`), and checks they hash to one
//! slot — with the keys the real store builds, so a key that lost its hash tag fails here
//! on a single node already. A second test counts the script and transaction call sites in
//! the store's sources, so a new one cannot be added without a call here.

use rhosync_engine::model::{Change, PartitionHead, VersionedChange};
use rhosync_server::auth::throttle::{Bucket, Scope};
use rhosync_server::edges::redis::SlotUnit;
use rhosync_server::edges::RedisEdge;
use rhosync_server::store::keys::PartitionKeys;
use rhosync_server::store::registry_cache::{RegistryCacheStore, Seen};
use rhosync_server::store::{BeginArgs, BeginMode, Commit, HistoryPolicy, RefreshOutcome, StatWrite, SyncStore};
use rhosync_testkit::{unique_prefix, Stack};

const NOW: u64 = 1_700_000_000;

fn change(id: &str, after: &str, version: u64) -> VersionedChange {
    VersionedChange { change: Change { id: id.to_owned(), before: None, after: Some(after.to_owned()) }, version }
}

/// Every store call that sends a script or a transaction, each once (with names that
/// need escaping in tags, too).
async fn every_script_and_transaction(store: &SyncStore) {
    let ok = |what: &str, r: Result<(), rhosync_server::store::StoreError>| {
        r.unwrap_or_else(|e| panic!("{what}: {e}"));
    };
    for (source, user) in [("Product", "alice"), ("Odd{src}", "b|o{b}")] {
        let pk = PartitionKeys::new(store.keys(), source, user);
        let ck = pk.client("client-1");
        let policy = HistoryPolicy { retention_secs: 3600, max_events: None, now_secs: NOW };
        let head = PartitionHead::default();
        let changes = [change("1", r#"{"name":"a"}"#, 1), change("2", r#"{"name":"b"}"#, 2)];
        ok("apply", store.apply(&pk, head, &changes, &policy).await.map(drop));
        // A first load staged by plain writes and committed by renames, into its own source.
        let staged = store.clone().with_first_loads_staged_over(0);
        let first = PartitionKeys::new(store.keys(), &format!("{source}-first"), user);
        ok("apply (staged first load)", staged.apply(&first, head, &changes, &policy).await.map(drop));
        let outcome = RefreshOutcome {
            errors: None,
            metadata: Some(("{}", "sha")),
            schema: None,
            failed: false,
            poll_interval: 300,
            retry_limit: 1,
            now: NOW,
        };
        ok("finish_refresh", store.finish_refresh(&pk, &outcome).await);
        let begin = BeginArgs {
            token: None,
            now_secs: NOW,
            poll_interval: 300,
            may_refresh: true,
            slice_limit: 100,
            mode: BeginMode::Begin,
            start_override: None,
            include_pinned: true,
        };
        ok("begin", store.begin(&pk, &ck, &begin).await.map(drop));
        let other = store.keys().key("elsewhere", "x");
        ok("probe", store.get_many_and_probe(&[other.as_str()], &pk, &ck, 100).await.map(drop));
        ok("commit", store.commit(&ck, &Commit::default()).await.map(drop));
        // A large page is staged beside the page key and renamed by the script.
        let staged = Commit { page: Some(Some(format!("\"{}\"", "x".repeat(20_000)))), ..Commit::default() };
        ok("commit of a staged page", store.commit(&ck, &staged).await.map(drop));
        ok("read_md", store.read_md(&pk).await.map(drop));
        ok("read_bodies", store.read_bodies(&pk, &["1".to_owned()]).await.map(drop));
        ok("records", store.records(&pk, &["1".to_owned()]).await.map(drop));
        ok("records of none", store.records(&pk, &[]).await.map(drop));
        ok("hset", store.hset(&ck.st, &[("lt", Some("1".to_owned())), ("gen", None)]).await);
        ok("set_if", store.set_if(&ck.search, None, "{}").await.map(drop));
        ok("claim_write_key", store.claim_write_key(source, "client-1", "digest", 60, 60).await.map(drop));
        ok("mark_write_persisted", store.mark_write_persisted("wk-1", 60).await);
        ok("void_sessions_of", store.void_sessions_of(user, NOW, 60).await);
        let bucket = Bucket { scope: Scope::Login, name: user.to_owned(), window_start: NOW };
        ok("throttle_reserve", store.throttle_reserve(&bucket, 5, 60).await.map(drop));
        ok("throttle_release", store.throttle_release(&[bucket]).await);
        let mac = "0123456789abcdef0123456789abcdef01234567";
        ok("legacy_exchange_claim", store.legacy_exchange_claim(mac, "1|v1.x.y", 60).await.map(drop));
        ok("registry cache fill", store.fill("u", user, &Seen::default(), "{}", 60).await.map(drop));
        ok("registry cache written", store.written("t", user, Some((&Seen::default(), "\"x\"")), 60).await);
    }
    ok("record_stat", store.record_stat("users", NOW as i64, 60, 3600, 1).await);
    let write = |metric: &str| StatWrite {
        metric: metric.to_owned(),
        expected: None,
        remove: Vec::new(),
        add: vec![(NOW as i64, format!("1:{NOW}"))],
        prune_upto: 0,
    };
    ok("stat_write", store.stat_write(&[write("http:GET"), write("sync:query")]).await.map(drop));
    let pings = store.keys().key("jobs", "pings");
    ok("push_capped", store.push_capped(&pings, "{}", 10).await);
}

#[tokio::test]
async fn every_script_and_transaction_names_keys_of_one_slot() {
    let edge =
        RedisEdge::connect(&Stack::get().redis_url, &unique_prefix("slots")).await.unwrap_or_else(|e| panic!("{e}"));
    let (recording, log) = edge.recording();
    let store = SyncStore::new(recording);
    every_script_and_transaction(&store).await;
    let units = log.units();
    let crossing: Vec<&SlotUnit> = units.iter().filter(|u| !u.one_slot()).collect();
    assert!(crossing.is_empty(), "scripts or transactions naming keys of several slots: {crossing:#?}");
    // The recorder saw what was sent: every script (by its key count) and transaction.
    let scripts = units.iter().filter(|u| u.what == "EVALSHA").count();
    let transactions = units.iter().filter(|u| u.what.starts_with("MULTI")).count();
    assert!(scripts >= 2 * 9 + 2, "{scripts} script calls recorded: {units:#?}");
    assert!(transactions > 2 * 7, "{transactions} transactions recorded: {units:#?}");
    assert!(units.iter().any(|u| u.keys.len() > 10), "the query script names its 16 keys");
    let _ = store.flush_namespace().await;
}

#[test]
fn a_lost_hash_tag_is_caught() {
    let unit = |keys: &[&str]| SlotUnit { what: "EVALSHA".into(), keys: keys.iter().map(|k| k.to_string()).collect() };
    // What a key built without its tag would look like next to its tagged siblings.
    assert!(!unit(&["rs:{Product|alice}:md", "rs:Product|alice:idx"]).one_slot());
    assert!(unit(&["rs:{Product|alice}:md", "rs:{Product|alice}:c:x:st"]).one_slot());
}

/// Every place in the store's sources that sends a script (`invoke_async`, a script in a
/// pipeline) or a transaction (`.atomic()`), per file. A new one must get a call in
/// [`every_script_and_transaction`] and then its count here.
const CALL_SITES: &[(&str, &str, usize)] = &[
    ("commit.rs", include_str!("../src/store/commit.rs"), 2),
    ("kv.rs", include_str!("../src/store/kv.rs"), 2),
    ("ledger.rs", include_str!("../src/store/ledger.rs"), 0),
    ("legacy_exchange.rs", include_str!("../src/store/legacy_exchange.rs"), 1),
    ("meta.rs", include_str!("../src/store/meta.rs"), 3),
    ("partition.rs", include_str!("../src/store/partition.rs"), 6),
    ("query.rs", include_str!("../src/store/query.rs"), 2),
    ("registry_cache.rs", include_str!("../src/store/registry_cache.rs"), 2),
    ("sessions.rs", include_str!("../src/store/sessions.rs"), 1),
    ("throttle.rs", include_str!("../src/store/throttle.rs"), 2),
    ("writes.rs", include_str!("../src/store/writes.rs"), 2),
];

#[test]
fn every_script_and_transaction_call_site_is_exercised() {
    for (file, text, expected) in CALL_SITES {
        let found =
            ["invoke_async(", "invoke_script(", ".atomic()"].iter().map(|p| text.matches(p).count()).sum::<usize>();
        assert_eq!(
            found, *expected,
            "store/{file} has {found} script or transaction call sites, this test knows {expected}: \
             call the new one in every_script_and_transaction and update CALL_SITES"
        );
    }
    // Every store source file is listed (mod.rs and keys.rs send nothing; memory/ is not Redis).
    let listed: Vec<&str> = CALL_SITES.iter().map(|(f, _, _)| *f).collect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".rs") && !["mod.rs", "keys.rs", "port.rs"].contains(&f.as_str()))
        .collect();
    files.sort();
    assert_eq!(files, listed, "a store source file is missing from CALL_SITES");
}
