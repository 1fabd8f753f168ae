//! The parts of the in-memory store that need no Redis to pin down: TTL expiry on a
//! manual clock, the token rule, the refresh rule, the `gen` check and history pruning.
//! (`tests/store_contract.rs` compares everything with the Redis edge.)

use std::sync::Arc;

use rhosync_engine::model::{Change, PartitionHead, VersionedChange};

use super::MemoryStore;
use crate::ports::ManualClock;
use crate::store::keys::{self, PartitionKeys};
use crate::store::{refresh_due, BeginArgs, BeginMode, BeginReply, Commit, HistoryPolicy, Store, StoreError};

const NOW: u64 = 1_700_000_000;

fn store() -> (MemoryStore, ManualClock) {
    let clock = ManualClock::new();
    (MemoryStore::with_clock("t", Arc::new(clock.clone())), clock)
}

fn ok<T>(r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn args(token: Option<&str>, poll: i64) -> BeginArgs<'_> {
    BeginArgs {
        token,
        now_secs: NOW,
        poll_interval: poll,
        may_refresh: true,
        slice_limit: 10,
        mode: BeginMode::Begin,
        start_override: None,
        include_pinned: true,
    }
}

#[tokio::test]
async fn keys_expire_when_their_ttl_has_passed() {
    let (s, clock) = store();
    let k = keys::scratch(s.keys(), "k");
    ok(s.set(&k, Some("v"), Some(2)).await);
    ok(s.ledger_mark_done("j", 2).await);
    ok(s.mark_user_exists("alice", 5).await);
    clock.advance_secs(1);
    assert_eq!(ok(s.get(&k).await).as_deref(), Some("v"));
    assert!(ok(s.ledger_is_done("j").await));
    clock.advance_secs(1);
    // Gone once more than the TTL has passed (the clock moved a microsecond per reading).
    assert_eq!(ok(s.get(&k).await), None);
    assert!(!ok(s.ledger_is_done("j").await));
    assert_eq!(ok(s.session_markers("alice").await)[0].as_deref(), Some("1"));
    clock.advance_secs(4);
    assert_eq!(ok(s.session_markers("alice").await)[0], None);
    // An expired key counts as absent everywhere, the flush included.
    assert_eq!(ok(s.flush_namespace().await), 0);
}

#[tokio::test]
async fn a_plain_set_clears_the_ttl_and_incr_keeps_it() {
    let (s, clock) = store();
    let (a, b) = (keys::scratch(s.keys(), "a"), keys::registry_record(s.keys(), "user:count"));
    ok(s.set(&a, Some("1"), Some(1)).await);
    ok(s.set(&a, Some("2"), None).await);
    ok(s.set(&b, Some("5"), Some(1)).await);
    assert_eq!(ok(s.incr_counter("user:count", 1).await), 6);
    clock.advance_secs(2);
    assert_eq!(ok(s.get(&a).await).as_deref(), Some("2"));
    assert_eq!(ok(s.get(&b).await), None);
    assert!(s.set(&a, Some("x"), Some(0)).await.is_err(), "SET EX 0 is an error");
}

#[tokio::test]
async fn write_records_restart_their_ttl_and_claims_count_on() {
    let (s, clock) = store();
    ok(s.mark_write_started("w.1", "create:0", 10).await);
    clock.advance_secs(8);
    ok(s.put_write_outcome("w.1", "create:0", "done", 10).await);
    clock.advance_secs(8);
    let rec = ok(s.write_record("w.1").await);
    assert_eq!(
        (rec.started, rec.outcomes),
        (vec!["create:0".to_owned()], vec![("create:0".to_owned(), "done".to_owned())])
    );
    assert_eq!(ok(s.claim_write_key("P", "c", "d", 10, 100).await), ("d.1".to_owned(), false));
    assert_eq!(ok(s.claim_write_key("P", "c", "d", 10, 100).await), ("d.1".to_owned(), true));
    clock.advance_secs(11);
    // The last key expired: the same digest is a new write now.
    assert_eq!(ok(s.claim_write_key("P", "c", "d", 10, 100).await), ("d.2".to_owned(), false));
}

#[tokio::test]
async fn the_token_decides_ack_resend_or_reset() {
    let (s, _) = store();
    let pk = PartitionKeys::new(s.keys(), "P", "u");
    let ck = pk.client("c");
    ok(s.hset(&pk.rs, &[("refresh_time", Some((NOW + 100).to_string()))]).await);
    let mut c = Commit { gen: String::new(), ..Commit::default() };
    c.st = vec![("base", Some("e".to_owned())), ("tok", Some("t1".to_owned())), ("fin", Some("0".to_owned()))];
    c.page = Some(Some("page".to_owned()));
    assert!(ok(s.commit(&ck, &c).await));
    assert!(!ok(s.commit(&ck, &c).await), "the gen moved on");

    let resend = ok(s.begin(&pk, &ck, &args(Some("t0"), 300)).await);
    assert_eq!(resend, BeginReply::Resend { page: "page".to_owned(), errors: String::new() });
    assert!(matches!(ok(s.begin(&pk, &ck, &args(None, 300)).await), BeginReply::Reset { page, .. } if page == "page"));
    // The right token: the page is acknowledged and, as it carried `fin`, the cycle ends
    // with the client in step at version 0.
    assert_eq!(
        ok(s.begin(&pk, &ck, &args(Some("t1"), 300)).await),
        BeginReply::InStep { md_size: 0, errors: String::new() }
    );
    let st: std::collections::BTreeMap<_, _> = ok(s.hgetall(&ck.st).await).into_iter().collect();
    assert_eq!(format!("{st:?}"), r#"{"base": "0", "gen": "2"}"#);
    assert_eq!(ok(s.get(&ck.page).await), None);
}

#[tokio::test]
async fn the_refresh_decision_is_refresh_due() {
    for poll in [-1i64, 0, 1, 300] {
        for offset in [-10i64, 0, 10] {
            let (s, _) = store();
            let pk = PartitionKeys::new(s.keys(), "P", "u");
            let ck = pk.client("c");
            let rt = NOW.saturating_add_signed(offset);
            ok(s.hset(&pk.rs, &[("refresh_time", Some(rt.to_string()))]).await);
            let (_, _, seen) = ok(s.get_many_and_probe(&[], &pk, &ck, 10).await);
            assert_eq!(seen, Some(rt as f64));
            let refreshed = matches!(ok(s.begin(&pk, &ck, &args(None, poll)).await), BeginReply::Refresh { .. });
            assert_eq!(refreshed, refresh_due(poll, rt as f64, NOW), "poll {poll}, offset {offset}");
        }
    }
}

fn insert(id: &str, version: u64) -> VersionedChange {
    VersionedChange {
        change: Change { id: id.to_owned(), before: None, after: Some("{\"a/b\":\"1\"}".to_owned()) },
        version,
    }
}

#[tokio::test]
async fn history_is_pruned_to_the_cap_and_reencoded_as_cjson_does() {
    let (s, _) = store();
    let pk = PartitionKeys::new(s.keys(), "P", "u");
    let policy = HistoryPolicy { retention_secs: 3600, max_events: Some(2), now_secs: NOW };
    let update = VersionedChange {
        change: Change { id: "x".to_owned(), before: Some("{\"a/b\":\"1\"}".to_owned()), after: Some("{}".to_owned()) },
        version: 3,
    };
    let changes = [insert("x", 1), insert("y", 2), update];
    assert!(ok(s.apply(&pk, PartitionHead::default(), &changes, &policy).await));
    let head = PartitionHead { version: 3, horizon: 1, md_size: 2 };
    assert_eq!(ok(s.read_md(&pk).await).0, head);
    // x's first event went; the one kept has its body re-encoded (`/` escaped).
    assert_eq!(ok(s.hget(&pk.hist, "x").await).as_deref(), Some(r#"[[3,"{\"a\/b\":\"1\"}"]]"#));
    assert!(!ok(s.apply(&pk, PartitionHead::default(), &[insert("z", 4)], &policy).await), "stale head");
}
