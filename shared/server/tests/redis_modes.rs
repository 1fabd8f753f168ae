//! The Redis edge in each of its modes (docs/README.md §3 "Where data lives"): whatever
//! `REDIS_URL` names — one node, a cluster (`redis+cluster://`, the second pass of
//! `infra/test`) or a TLS node (`rediss://` with `REDIS_CA_FILE`, the third) — a SCAN walk
//! sees every key, plain pipelines may name keys of any slots, and a TLS server's
//! certificate is verified.

use std::time::Duration;

use rhosync_server::edges::{ConnectOptions, RedisEdge};
use rhosync_server::store::SyncStore;
use rhosync_testkit::{unique_prefix, Stack};

async fn store(label: &str) -> SyncStore {
    let edge =
        RedisEdge::connect(&Stack::get().redis_url, &unique_prefix(label)).await.unwrap_or_else(|e| panic!("{e}"));
    SyncStore::new(edge)
}

#[tokio::test]
async fn the_url_picks_the_mode() {
    let url = &Stack::get().redis_url;
    let edge = RedisEdge::connect(url, &unique_prefix("mode")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(edge.is_cluster(), url.contains("+cluster://"), "{url}");
}

#[tokio::test]
async fn a_scan_walk_and_the_namespace_flush_reach_every_key() {
    let store = store("scan").await;
    // 300 tags spread the keys over every slot range, so over every master of a cluster.
    let keys: Vec<String> = (0..300).map(|i| store.keys().key(&format!("t{i}"), "v")).collect();
    for key in &keys {
        store.set(key, Some("1"), Some(600)).await.unwrap_or_else(|e| panic!("SET {key}: {e}"));
    }
    let pattern = format!("{}:{{*", store.keys().namespace());
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = 0;
    let mut steps = 0;
    loop {
        let (next, batch) = store.scan_keys(cursor, &pattern, 50).await.unwrap_or_else(|e| panic!("SCAN: {e}"));
        seen.extend(batch);
        steps += 1;
        assert!(steps < 10_000, "the walk does not end");
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let expected: std::collections::BTreeSet<String> = keys.iter().cloned().collect();
    assert_eq!(seen, expected);
    assert_eq!(store.flush_namespace().await.unwrap_or_else(|e| panic!("flush: {e}")), 300);
    let (_, left) = store.scan_keys(0, &pattern, 1000).await.unwrap_or_else(|e| panic!("SCAN: {e}"));
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn the_statistics_names_come_from_every_node() {
    let store = store("statnames").await;
    for metric in ["a", "b", "c"] {
        store.record_stat(metric, 60, 60, 3600, 1).await.unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(store.stat_names("*").await.unwrap_or_else(|e| panic!("{e}")), ["a", "b", "c"]);
    let _ = store.flush_namespace().await;
}

#[tokio::test]
async fn plain_pipelines_may_name_keys_of_any_slots() {
    let store = store("pipes").await;
    let keys: Vec<String> = (0..40).map(|i| store.keys().key(&format!("p{i}"), "v")).collect();
    for (i, key) in keys.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
        store.set(key, Some(&i.to_string()), Some(600)).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let got = store.get_many(&refs).await.unwrap_or_else(|e| panic!("get_many: {e}"));
    let want: Vec<Option<String>> = (0..40).map(|i| (i % 3 != 0).then(|| i.to_string())).collect();
    assert_eq!(got, want, "answers in the pipeline's order");
    let ids: Vec<String> = (0..40).map(|i| format!("job-{i}")).collect();
    store.ledger_mark_all_done(&ids[..20], 600).await.unwrap_or_else(|e| panic!("{e}"));
    let done = store.ledger_done_among(&ids).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done, (0..40).map(|i| i < 20).collect::<Vec<_>>());
    let _ = store.flush_namespace().await;
}

#[tokio::test]
async fn a_tls_server_is_verified() {
    let url = &Stack::get().redis_url;
    let opts = |ca_file| ConnectOptions { timeout: Duration::from_millis(1500), ca_file };
    if url.starts_with("rediss") {
        // The test CA is in no system store: without it the handshake must fail.
        let err = RedisEdge::connect_opts(url, "tls", &opts(None)).await.err();
        assert!(err.is_some(), "a server signed by an unknown CA was accepted");
        let ca = std::env::var_os("REDIS_CA_FILE").map(std::path::PathBuf::from);
        assert!(ca.is_some(), "the TLS pass sets REDIS_CA_FILE");
        RedisEdge::connect_opts(url, "tls", &opts(ca)).await.unwrap_or_else(|e| panic!("with the CA: {e}"));
    } else {
        // A plain server does not speak TLS: a rediss:// URL to it fails instead of
        // falling back to plain text.
        let tls_url = url.replacen("redis", "rediss", 1);
        let err = RedisEdge::connect_opts(&tls_url, "tls", &opts(None)).await.err();
        assert!(err.is_some(), "{tls_url} connected to a plain-text server");
    }
}
