//! The query script over client state and the commit script: build reads with slices,
//! commits, the token rule, a completed cycle, the in-step shortcut and the probe.

use indexmap::{IndexMap, IndexSet};
use rhosync_engine::model::SentWrites;
use rhosync_server::store::keys;
use rhosync_server::store::Commit;

use super::*;

fn commit_of(gen: &str) -> Commit {
    Commit { gen: gen.to_owned(), ..Commit::default() }
}

/// The query script over client state: build reads with slices, commits, the token rule
/// (ack, resend, reset), a completed cycle, the in-step shortcut and the probe.
pub(super) async fn client_cycle(run: &mut Run<'_>) {
    let s = run.store;
    let pk = PartitionKeys::new(s.keys(), "Product", "cycle");
    let ck = pk.client("c1");
    let p = policy(NOW, WEEK, None);
    let changes = [
        change("a", None, Some(BODY_A), 1),
        change("b", None, Some(BODY_B), 2),
        change("c", None, Some(BODY_C), 3),
        change("b", Some(BODY_B), Some(BODY_B2), 4),
    ];
    let r = s.apply(&pk, head(0, 0, 0), &changes, &p).await;
    run.record("cycle: apply", show(&r));
    let _ = s.hset(&pk.rs, &[("refresh_time", Some((NOW + 10_000).to_string()))]).await;
    let _ =
        s.hset(&pk.src, &[("errors", Some("[\"src\"]".to_owned())), ("metadata_sha1", Some("m1".to_owned()))]).await;

    // A new client: a page of 2 of the 3 live ids.
    let r = s.begin(&pk, &ck, &args(None, NOW, 300, 2)).await;
    assert!(matches!(&r, Ok(BeginReply::Build { acked: false, read }) if !read.slice_is_last), "first page: {r:?}");
    run.record("cycle: first query", show_reply(&r));

    // Its page committed: state, pins, sent map, page, pending docs.
    let mut c = commit_of("");
    c.st = vec![
        ("base", Some("e".to_owned())),
        ("scan", Some("2".to_owned())),
        ("tok", Some("t1".to_owned())),
        ("lt", Some("x".to_owned())),
        ("msha", None),
    ];
    c.pin_set = vec![("p1".to_owned(), BODY_A.to_owned()), ("p2".to_owned(), String::new())];
    c.sent = SentWrites {
        clear: false,
        remove: IndexSet::new(),
        set: IndexMap::from([("a".to_owned(), 1), ("c".to_owned(), 3)]),
    };
    c.page = Some(Some("{\"page\":1}".to_owned()));
    c.add[0] = vec![("l1".to_owned(), "link".to_owned())];
    c.add[1] = vec![("e1".to_owned(), "cerr".to_owned())];
    let r = s.commit(&ck, &c).await;
    assert!(matches!(r, Ok(true)), "commit: {r:?}");
    run.record("cycle: commit page 1", show(&r));
    run.state("cycle: commit page 1", &pk, Some(&ck)).await;
    let r = s.commit(&ck, &c).await;
    assert!(matches!(r, Ok(false)), "stale commit: {r:?}");
    run.record("cycle: commit with a stale gen", show(&r));
    run.state("cycle: commit with a stale gen", &pk, Some(&ck)).await;

    // A page is pending: the probe is busy; a wrong token resends; no token resets.
    let probe = s.get_many_and_probe(&[&ck.page], &pk, &ck, 2).await;
    assert!(
        matches!(&probe, Ok((_, BeginReply::Busy { pending: Some(t) }, None)) if t == "t1"),
        "pending page: the probe is busy and tells its token: {probe:?}"
    );
    run.record("cycle: probe with a pending page", show(&probe));
    let r = s.begin(&pk, &ck, &args(Some("wrong"), NOW, 300, 2)).await;
    assert!(matches!(r, Ok(BeginReply::Resend { .. })), "resend: {r:?}");
    run.record("cycle: wrong token", show_reply(&r));
    let r = s.begin(&pk, &ck, &args(None, NOW, 300, 2)).await;
    assert!(matches!(r, Ok(BeginReply::Reset { .. })), "reset: {r:?}");
    run.record("cycle: no token", show_reply(&r));
    run.state("cycle: resend and reset write nothing", &pk, Some(&ck)).await;

    // The right token: acknowledged, the next slice from the scan position.
    let r = s.begin(&pk, &ck, &args(Some("t1"), NOW, 300, 2)).await;
    assert!(matches!(&r, Ok(BeginReply::Build { acked: true, .. })), "ack: {r:?}");
    run.record("cycle: ack page 1", show_reply(&r));
    run.state("cycle: ack page 1", &pk, Some(&ck)).await;

    // The last page, ending the cycle (`fin`); its ack completes the cycle. (Every ack
    // bumps `gen`: this commit is planned after the ack of page 1.)
    let mut c = commit_of("2");
    c.st = vec![
        ("scan", Some("4".to_owned())),
        ("fin", Some("4".to_owned())),
        ("tok", Some("t2".to_owned())),
        ("msha", Some("m1".to_owned())),
    ];
    c.pin_del = vec!["p1".to_owned(), "p2".to_owned()];
    c.sent = SentWrites {
        clear: false,
        remove: IndexSet::from(["a".to_owned()]),
        set: IndexMap::from([("b".to_owned(), 4)]),
    };
    c.page = Some(Some("{\"page\":2}".to_owned()));
    c.consume[0] = vec!["l1".to_owned()];
    c.consume[1] = vec!["e1".to_owned(), "never-there".to_owned()];
    let r = s.commit(&ck, &c).await;
    run.record("cycle: commit the last page", show(&r));
    run.state("cycle: commit the last page", &pk, Some(&ck)).await;
    let r = s.begin(&pk, &ck, &args(Some("t2"), NOW, 300, 2)).await;
    assert!(matches!(r, Ok(BeginReply::InStep { .. })), "ack with fin: in step: {r:?}");
    run.record("cycle: ack the last page", show_reply(&r));
    run.state("cycle: ack the last page", &pk, Some(&ck)).await;

    // In step: the probe answers without the full step, with the refresh time it saw.
    let _ = s.set(&keys::client_record(s.keys(), "c1"), Some("{\"rec\":1}"), None).await;
    let probe = s.get_many_and_probe(&[&ck.page, &keys::client_record(s.keys(), "c1")], &pk, &ck, 2).await;
    assert!(matches!(&probe, Ok((_, BeginReply::InStep { .. }, Some(_)))), "in step: the probe answers: {probe:?}");
    run.record("cycle: probe in step", show(&probe.map(|(v, r, t)| (v, show_reply(&Ok(r)), t))));
    // A new schema sha: no longer in step.
    let _ = s.hset(&pk.src, &[("schema_sha1", Some("s1".to_owned()))]).await;
    let probe = s.get_many_and_probe(&[], &pk, &ck, 2).await;
    run.record("cycle: probe with a new schema", show(&probe.map(|(v, r, t)| (v, show_reply(&Ok(r)), t))));
    let _ = s.hset(&pk.src, &[("schema_sha1", None)]).await;

    // The partition moves on: a read from the client's base, then only the read.
    let r = s
        .apply(&pk, head(4, 0, 3), &[change("d", None, Some(BODY_C), 5), change("a", Some(BODY_A), None, 6)], &p)
        .await;
    run.record("cycle: apply after the cycle", show(&r));
    let r = s.begin(&pk, &ck, &args(None, NOW, 300, 10)).await;
    run.record("cycle: query behind the head", show_reply(&r));
    let read_only =
        BeginArgs { mode: BeginMode::Read, include_pinned: false, start_override: Some(1), ..args(None, NOW, 300, 2) };
    let r = s.begin(&pk, &ck, &read_only).await;
    run.record("cycle: read from an override", show_reply(&r));
    let no_slice = BeginArgs { mode: BeginMode::Read, ..args(None, NOW, 300, 0) };
    let r = s.begin(&pk, &ck, &no_slice).await;
    run.record("cycle: read without a slice", show_reply(&r));
    let probe = s.get_many_and_probe(&[], &pk, &ck, 1).await;
    run.record("cycle: probe behind the head", show(&probe.map(|(v, r, t)| (v, show_reply(&Ok(r)), t))));

    // A base below the horizon reads from the start.
    let _ = s.hset(&pk.head, &[("h", Some("5".to_owned()))]).await;
    let r = s.begin(&pk, &ck, &args(None, NOW, 300, 10)).await;
    run.record("cycle: base below the horizon", show_reply(&r));
    // A garbled base or scan is a Lua error.
    let other = pk.client("c2");
    let _ = s.hset(&other.st, &[("base", Some("x".to_owned()))]).await;
    run.record("cycle: garbled base", show_reply(&s.begin(&pk, &other, &args(None, NOW, 300, 10)).await));
    let _ = s.hset(&other.st, &[("base", Some("e".to_owned())), ("scan", Some("y".to_owned()))]).await;
    run.record("cycle: garbled scan", show_reply(&s.begin(&pk, &other, &args(None, NOW, 300, 10)).await));
    run.record("cycle: garbled scan, no slice", show_reply(&s.begin(&pk, &other, &args(None, NOW, 300, 0)).await));
    // A garbled gen: the ack's HINCRBY fails after its first writes.
    let third = pk.client("c3");
    let _ = s
        .hset(&third.st, &[("tok", Some("t".to_owned())), ("fin", Some("3".to_owned())), ("gen", Some("g".to_owned()))])
        .await;
    run.record(
        "cycle: ack over a garbled gen",
        show_reply(&s.begin(&pk, &third, &args(Some("t"), NOW, 300, 10)).await),
    );
    run.keys("cycle: ack over a garbled gen", &[&third.st]).await;

    // A page stored, then deleted with the sent map cleared and refilled.
    let mut c = commit_of("4");
    c.page = Some(Some("{\"page\":3}".to_owned()));
    c.sent = SentWrites { clear: false, remove: IndexSet::new(), set: IndexMap::from([("x".to_owned(), 9)]) };
    let r = s.commit(&ck, &c).await;
    assert!(matches!(r, Ok(true)), "commit a page: {r:?}");
    run.record("cycle: commit a page", show(&r));
    let mut c = commit_of("5");
    c.page = Some(None);
    c.sent = SentWrites {
        clear: true,
        remove: IndexSet::from(["y".to_owned()]),
        set: IndexMap::from([("z".to_owned(), 10)]),
    };
    c.add[5] = vec![("gone".to_owned(), "1".to_owned())];
    let r = s.commit(&ck, &c).await;
    assert!(matches!(r, Ok(true)), "commit deleting the page: {r:?}");
    run.record("cycle: commit deleting the page", show(&r));
    run.keys("cycle: commit deleting the page", &ck.all()).await;

    // A page of 40 kB: the Redis store stages it under a key of its own and the script
    // renames it into place (`SyncStore::commit`); the answers are the same.
    let big = format!("{{\"page\":\"{}\"}}", "é".repeat(20_000));
    let mut c = commit_of("5");
    c.page = Some(Some(big.clone()));
    let r = s.commit(&ck, &c).await;
    assert!(matches!(r, Ok(false)), "stale commit of a large page: {r:?}");
    run.record("cycle: stale commit of a large page", show(&r));
    run.keys("cycle: stale commit of a large page", &ck.all()).await;
    c.gen = "6".to_owned();
    let r = s.commit(&ck, &c).await;
    assert!(matches!(r, Ok(true)), "commit a large page: {r:?}");
    run.record("cycle: commit a large page", show(&r));
    assert_eq!(content(s, &ck.page).await, format!("string {big:?}"), "the large page is stored as it was");
    run.keys("cycle: commit a large page", &ck.all()).await;

    let r = s.purge_client_docs(&ck).await;
    run.record("cycle: purge client docs", show(&r));
    let r = s.purge_partition(&pk).await;
    run.record("cycle: purge partition", show(&r));
    run.state("cycle: purged", &pk, Some(&ck)).await;
}
