//! The small records: kv documents, session markers, write records and claims, the job
//! ledger, counters, statistics and the app server URL.

use rhosync_server::store::keys;

use super::*;

/// Plain strings and hashes, wrong types, TTLs (the caller sleeps between the halves).
pub(super) async fn kv_before_sleep(run: &mut Run<'_>) {
    let s = run.store;
    let k = s.keys();
    let (a, b, h) = (keys::scratch(k, "a"), keys::scratch(k, "b"), keys::scratch(k, "h"));
    run.record("get absent", show(&s.get(&a).await));
    run.record("set", show(&s.set(&a, Some("1"), None).await));
    run.record("set with ttl 0", show(&s.set(&b, Some("1"), Some(0)).await));
    run.record("set with ttl 1", show(&s.set(&b, Some("2"), Some(1)).await));
    run.record("get_two", show(&s.get_two(&a, &b).await));
    run.record(
        "hset",
        show(&s.hset(&h, &[("f", Some("1".to_owned())), ("g", Some("2".to_owned())), ("f", None)]).await),
    );
    run.record(
        "hset_many",
        show(&s.hset_many(&h, &[("x".to_owned(), "9".to_owned()), ("g".to_owned(), "3".to_owned())]).await),
    );
    run.record("hset of nothing", show(&s.hset(&h, &[]).await));
    run.record("hset_many of nothing", show(&s.hset_many(&h, &[]).await));
    run.record("hgetall", show(&s.hgetall(&h).await.map(|p| sorted(&p))));
    run.record("hget", show(&s.hget(&h, "g").await));
    run.record("hget absent", show(&s.hget(&h, "f").await));
    run.record("get of a hash", show(&s.get(&h).await));
    run.record("hget of a string", show(&s.hget(&a, "f").await));
    run.record("hset of a string", show(&s.hset(&a, &[("f", Some("1".to_owned()))]).await));
    run.record("get_many", show(&s.get_many(&[&a, &b, &keys::scratch(k, "none")]).await));
    run.record("get_many with a hash", show(&s.get_many(&[&a, &h]).await));
    run.record("get_many of nothing", show(&s.get_many(&[]).await));
    let cas = keys::scratch(k, "cas");
    run.record("set_if absent, expecting absent", show(&s.set_if(&cas, None, "v1").await));
    run.record("set_if expecting absent, present", show(&s.set_if(&cas, None, "v2").await));
    run.record("set_if with the stale value", show(&s.set_if(&cas, Some("v0"), "v2").await));
    run.record("set_if with the current value", show(&s.set_if(&cas, Some("v1"), "v2").await));
    run.record("after set_if", show(&s.get(&cas).await));
    run.record("set_if over a hash", show(&s.set_if(&h, Some("x"), "v").await));
    let emptied = keys::scratch(k, "emptied");
    let _ = s.hset(&emptied, &[("only", Some("1".to_owned()))]).await;
    let _ = s.hset(&emptied, &[("only", None)]).await;
    run.record("an emptied hash is gone", show(&s.get(&emptied).await));
    // Expiring and persisting: `c` gets a TTL and then loses it.
    let c = keys::scratch(k, "c");
    let _ = s.set(&c, Some("x"), Some(1)).await;
    run.record("set without ttl over one with ttl", show(&s.set(&c, Some("y"), None).await));
    let rec = keys::client_record(k, "c1");
    let _ = s.set(&rec, Some("{}"), None).await;
    run.record("client record", show(&s.get(&rec).await));
    run.record("purge client record", show(&s.purge_client_record("c1").await));
    run.record("client record purged", show(&s.get(&rec).await));
    run.record("del of nothing", show(&s.del(&[]).await));
    let (d1, d2) = (keys::scratch(k, "d1"), keys::scratch(k, "d2"));
    let _ = s.set(&d1, Some("1"), None).await;
    let _ = s.hset(&d2, &[("f", Some("1".to_owned()))]).await;
    run.record("del", show(&s.del(&[&d1, &d2, &keys::scratch(k, "none")]).await));
    run.keys("del", &[&d1, &d2]).await;
    run.record("set None deletes", show(&s.set(&a, None, None).await));
    run.record("get deleted", show(&s.get(&a).await));
}

pub(super) async fn kv_after_sleep(run: &mut Run<'_>) {
    let s = run.store;
    let k = s.keys();
    run.record("ttl expired", show(&s.get(&keys::scratch(k, "b")).await));
    run.record("ttl cleared by a plain set", show(&s.get(&keys::scratch(k, "c")).await));
}

/// Session markers, with their TTLs.
pub(super) async fn sessions_before_sleep(run: &mut Run<'_>) {
    let s = run.store;
    run.record("session marker keys", format!("{:?}", s.session_marker_keys("alice")));
    run.record("markers of nobody", show(&s.session_markers("alice").await));
    run.record("mark exists", show(&s.mark_user_exists("alice", 60).await));
    run.record("mark exists ttl 0", show(&s.mark_user_exists("bob", 0).await));
    run.record("markers after exists", show(&s.session_markers("alice").await));
    run.record("void sessions", show(&s.void_sessions_of("alice", 1234, 60).await));
    run.record("markers after void", show(&s.session_markers("alice").await));
    run.record("void all", show(&s.void_all_sessions(5678, 60).await));
    run.record("markers after void all", show(&s.session_markers("alice").await));
    let _ = s.mark_user_exists("carol", 60).await;
    run.record("void sessions ttl 0", show(&s.void_sessions_of("carol", 1, 0).await));
    run.record("markers after void ttl 0", show(&s.session_markers("carol").await));
    run.record("mark exists ttl 1", show(&s.mark_user_exists("dave", 1).await));
}

pub(super) async fn sessions_after_sleep(run: &mut Run<'_>) {
    run.record("exists marker expired", show(&run.store.session_markers("dave").await));
}

/// Client-write records and write-key claims.
pub(super) async fn writes(run: &mut Run<'_>) {
    let s = run.store;
    run.record("record of nothing", show(&s.write_record("d.1").await));
    run.record("mark started", show(&s.mark_write_started("d.1", "create:0", 60).await));
    run.record("mark started again", show(&s.mark_write_started("d.1", "update:1", 60).await));
    run.record("outcome", show(&s.put_write_outcome("d.1", "create:0", "{\"ok\":true}", 60).await));
    run.record("persisted", show(&s.mark_write_persisted("d.1", 60).await));
    run.record(
        "record",
        show(&s.write_record("d.1").await.map(|w| (sorted(&w.started), sorted(&w.outcomes), w.persisted))),
    );
    run.record("mark started ttl 0", show(&s.mark_write_started("d.1", "delete:2", 0).await));
    run.record("record after ttl 0", show(&s.write_record("d.1").await));
    let _ = s.set(&keys::write_record(s.keys(), "str"), Some("x"), None).await;
    run.record("outcome on a string", show(&s.put_write_outcome("str", "create:0", "x", 60).await));
    run.record("record of a string", show(&s.write_record("str").await));

    let claims: [(&str, &str, u64, u64); 9] = [
        ("first claim", "d1", 60, 600),
        ("retry", "d1", 60, 600),
        ("another digest", "d2", 60, 600),
        ("the first digest again", "d1", 60, 600),
        ("a digest with a dot", "x.y", 60, 600),
        ("the dotted digest again", "x.y", 60, 600),
        ("counter ttl 0", "d3", 60, 0),
        ("after counter ttl 0", "d4", 60, 600),
        ("key ttl 0", "d5", 0, 600),
    ];
    for (label, digest, key_ttl, counter_ttl) in claims {
        run.record(
            format!("claim: {label}"),
            show(&s.claim_write_key("Product", "c1", digest, key_ttl, counter_ttl).await),
        );
    }
    let (last, seq) = keys::write_claim(s.keys(), "Product", "c1");
    run.keys("claims", &[&last, &seq]).await;
}

/// The job ledger.
pub(super) async fn ledger_before_sleep(run: &mut Run<'_>) {
    let s = run.store;
    run.record("ledger: not done", show(&s.ledger_is_done("j1").await));
    run.record("ledger: mark", show(&s.ledger_mark_done("j1", 60).await));
    run.record("ledger: done", show(&s.ledger_is_done("j1").await));
    run.record("ledger: mark ttl 0", show(&s.ledger_mark_done("j2", 0).await));
    run.record("ledger: mark ttl 1", show(&s.ledger_mark_done("j3", 1).await));
    run.keys("ledger", &[&keys::job_done(s.keys(), "j1")]).await;
}

pub(super) async fn ledger_after_sleep(run: &mut Run<'_>) {
    run.record("ledger: expired", show(&run.store.ledger_is_done("j3").await));
}

/// Counters, statistics and the app server URL.
pub(super) async fn meta(run: &mut Run<'_>) {
    let s = run.store;
    run.record("incr new", show(&s.incr_counter("user:count", 1).await));
    run.record("incr by 5", show(&s.incr_counter("user:count", 5).await));
    run.record("decr by 2", show(&s.incr_counter("user:count", -2).await));
    let _ = s.set(&keys::registry_record(s.keys(), "client:count"), Some("lots"), None).await;
    run.record("incr a non-number", show(&s.incr_counter("client:count", 1).await));
    let _ = s.set(&keys::registry_record(s.keys(), "client:count"), Some(&i64::MAX.to_string()), None).await;
    run.record("incr past the maximum", show(&s.incr_counter("client:count", 1).await));

    let buckets: [(i64, i64); 5] = [(1000, 1), (1030, 2), (1100, 3), (1159, 4), (5000, 5)];
    for (start, value) in buckets {
        run.record(format!("record_stat {start}"), show(&s.record_stat("users", start, 60, 3600, value).await));
        run.record(format!("stat after {start}"), show(&s.stat("users", 0, -1).await));
    }
    let _ = s.record_stat("clients", 10, 60, 3600, 7).await;
    run.record("stat range", show(&s.stat("users", -1, -1).await));
    run.record("stat out of range", show(&s.stat("users", 5, 9).await));
    let _ = s.set(&keys::stat(s.keys(), "text"), Some("hello"), None).await;
    run.record("stat text", show(&s.stat("text", 0, -1).await));
    run.record("stat missing", show(&s.stat("nothing", 0, -1).await));
    let _ = s.hset(&keys::stat(s.keys(), "hashed"), &[("f", Some("1".to_owned()))]).await;
    run.record("stat of a hash", show(&s.stat("hashed", 0, -1).await));
    run.record("record_stat on a string", show(&s.record_stat("text", 1, 60, 3600, 1).await));
    for glob in ["*", "u*", "[a-h]*", "?ext", "[^u]*", "nothing*", "user\\s", "*a*"] {
        run.record(format!("stat_names {glob}"), show(&s.stat_names(glob).await));
    }

    run.record("app server url unset", show(&s.app_server_url().await));
    run.record("set app server url", show(&s.set_app_server_url(Some("http://app/x?y")).await));
    run.record("app server url", show(&s.app_server_url().await));
    run.record("unset app server url", show(&s.set_app_server_url(None).await));
    run.record("app server url again", show(&s.app_server_url().await));
    run.record("ping", show(&s.ping().await));
}
