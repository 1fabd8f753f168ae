//! The partition's scripts: the refresh decision of the query script with no client
//! state, md writes (`apply.lua`) with history pruning, and refresh outcomes
//! (`finish_refresh.lua`).

use rhosync_server::store::keys;
use rhosync_server::store::{RefreshOutcome, APPLY_CHUNK};

use super::*;

/// The query script with no state yet: the refresh decision under each poll interval
/// kind, the probe, and an unreadable refresh time.
pub(super) async fn refresh_decisions(run: &mut Run<'_>) {
    let s = run.store;
    for poll in [-1i64, 0, 300] {
        let pk = PartitionKeys::new(s.keys(), "Product", &format!("fresh{poll}"));
        let ck = pk.client("c1");
        let probe = s.get_many_and_probe(&[], &pk, &ck, 10).await;
        assert!(
            matches!(&probe, Ok((_, BeginReply::Busy { pending: None }, None))),
            "no refresh time: the probe is busy"
        );
        run.record(format!("poll {poll}: probe without a refresh time"), show(&probe));
        let first = s.begin(&pk, &ck, &args(None, NOW, poll, 10)).await;
        assert_eq!(matches!(first, Ok(BeginReply::Refresh { .. })), poll != -1, "poll {poll}: {first:?}");
        run.record(format!("poll {poll}: first query"), show_reply(&first));
        run.state(&format!("poll {poll}: first query"), &pk, Some(&ck)).await;
        for (label, now) in [("10 s later", NOW + 10), ("300 s later", NOW + 300)] {
            let again = s.begin(&pk, &ck, &args(None, now, poll, 10)).await;
            run.record(format!("poll {poll}: query {label}"), show_reply(&again));
            run.keys(&format!("poll {poll}: query {label}"), &[&pk.rs]).await;
        }
        let probe = s.get_many_and_probe(&[&keys::client_record(s.keys(), "c1")], &pk, &ck, 10).await;
        run.record(
            format!("poll {poll}: probe with a refresh time"),
            format!("{:?}", probe.as_ref().map(|(v, r, t)| (v, show_reply(&Ok(r.clone())), t)).map_err(|_| "Err")),
        );
        let no_refresh = BeginArgs { may_refresh: false, ..args(None, NOW + 1000, poll, 10) };
        let quiet = s.begin(&pk, &ck, &no_refresh).await;
        run.record(format!("poll {poll}: query that may not refresh"), show_reply(&quiet));
    }
    // An unreadable refresh time: a Lua error unless the poll interval alone decides.
    let pk = PartitionKeys::new(s.keys(), "Product", "garbled");
    let ck = pk.client("c1");
    let set = s.hset(&pk.rs, &[("refresh_time", Some("soon".to_owned()))]).await;
    run.record("garbled refresh time: set", show(&set));
    for poll in [-1i64, 0, 300] {
        let r = s.begin(&pk, &ck, &args(None, NOW, poll, 10)).await;
        run.record(format!("garbled refresh time, poll {poll}"), show_reply(&r));
    }
    let probe = s.get_many_and_probe(&[], &pk, &ck, 10).await;
    run.record(
        "garbled refresh time: probe",
        format!("{:?}", probe.map(|(v, r, t)| (v, show_reply(&Ok(r)), t)).map_err(|_| "Err")),
    );
}

/// md writes: versions, md size, history, the expected-head check, chunking.
pub(super) async fn applies(run: &mut Run<'_>) {
    let s = run.store;
    let pk = PartitionKeys::new(s.keys(), "Product", "alice");
    let p = policy(NOW, WEEK, None);
    let first =
        [change("a", None, Some(BODY_A), 1), change("b", None, Some(BODY_B), 2), change("c", None, Some(BODY_C), 3)];
    let r = s.apply(&pk, head(0, 0, 0), &first, &p).await;
    assert!(matches!(r, Ok(true)), "first apply: {r:?}");
    run.record("apply 3 inserts", show(&r));
    run.state("apply 3 inserts", &pk, None).await;
    let stale = s.apply(&pk, head(0, 0, 0), &[change("d", None, Some(BODY_C), 1)], &p).await;
    assert!(matches!(stale, Ok(false)), "stale apply: {stale:?}");
    run.record("apply on a stale head", show(&stale));
    run.state("apply on a stale head", &pk, None).await;
    let second = [
        change("b", Some(BODY_B), Some(BODY_B2), 4),
        change("c", Some(BODY_C), None, 5),
        change("a", Some(BODY_A), Some(BODY_A2), 6),
    ];
    let r = s.apply(&pk, head(3, 0, 3), &second, &p).await;
    run.record("apply update, delete, update", show(&r));
    run.state("apply update, delete, update", &pk, None).await;
    run.record("read_md", show(&s.read_md(&pk).await.map(|(h, md)| (h, md.into_iter().collect::<BTreeMap<_, _>>()))));
    let some = ids(&["a", "c", "zz"]);
    run.record(
        "read_bodies",
        show(&s.read_bodies(&pk, &some).await.map(|(h, b)| (h, b.into_iter().collect::<BTreeMap<_, _>>()))),
    );
    run.record("read_bodies of nothing", show(&s.read_bodies(&pk, &[]).await.map(|(h, b)| (h, b.len()))));
    run.record(
        "records",
        show(&s.records(&pk, &some).await.map(|(h, r)| (h, r.into_iter().collect::<BTreeMap<_, _>>()))),
    );
    run.record("records of nothing", show(&s.records(&pk, &[]).await.map(|(h, r)| (h, r.len()))));
    let empty = s.apply(&pk, head(0, 0, 0), &[], &p).await;
    run.record("apply of no change on a stale head", show(&empty));
    // Two changes of one id in one call: the script writes md sets before md deletions.
    let twice = [change("b", Some(BODY_B2), None, 7), change("b", None, Some(BODY_B), 8)];
    let r = s.apply(&pk, head(6, 0, 2), &twice, &p).await;
    run.record("apply delete then re-insert of one id", show(&r));
    run.state("apply delete then re-insert of one id", &pk, None).await;

    // A head field that is not a number.
    let garbled = PartitionKeys::new(s.keys(), "Product", "garbled-head");
    let _ = s.hset(&garbled.head, &[("v", Some("x".to_owned()))]).await;
    run.record("garbled head: read_md", show(&s.read_md(&garbled).await.map(|(h, md)| (h, md.len()))));
    run.record("garbled head: records", show(&s.records(&garbled, &ids(&["a"])).await.map(|(h, r)| (h, r.len()))));
    run.record("garbled head: apply", show(&s.apply(&garbled, head(0, 0, 0), &first, &p).await));
    let probe = s.get_many_and_probe(&[], &garbled, &garbled.client("c1"), 10).await;
    run.record("garbled head: probe", show(&probe.map(|(v, r, t)| (v, show_reply(&Ok(r)), t))));

    // More changes than one script call takes.
    let big = PartitionKeys::new(s.keys(), "Product", "big");
    let changes: Vec<VersionedChange> =
        (1..=APPLY_CHUNK as u64 + 3).map(|v| change(&format!("o{v}"), None, Some(BODY_B), v)).collect();
    let r = s.apply(&big, head(0, 0, 0), &changes, &p).await;
    run.record("chunked apply", show(&r));
    run.keys("chunked apply", &[&big.head]).await;
    let index = s.index(&big).await;
    run.record(
        "chunked apply: index size and ends",
        show(&index.map(|i| (i.len(), i.first().cloned(), i.last().cloned()))),
    );
    let probe_ids = ids(&["o1", "o5000", "o5001", "o5003"]);
    run.record(
        "chunked apply: records",
        show(&s.records(&big, &probe_ids).await.map(|(h, r)| (h, r.into_iter().collect::<BTreeMap<_, _>>()))),
    );
}

/// History pruning, by the event cap and by age, with the tombstones it drops.
pub(super) async fn pruning(run: &mut Run<'_>) {
    let s = run.store;
    // By the cap: at most 3 events, whatever their age.
    let pk = PartitionKeys::new(s.keys(), "Product", "capped");
    let capped = policy(NOW, WEEK, Some(3));
    let steps: Vec<(PartitionHead, Vec<VersionedChange>)> = vec![
        (
            head(0, 0, 0),
            vec![
                change("x", None, Some(BODY_A), 1),
                change("x", Some(BODY_A), Some(BODY_A2), 2),
                change("y", None, Some(BODY_B), 3),
                change("x", Some(BODY_A2), Some(BODY_A), 4),
                change("z", None, Some(BODY_C), 5),
            ],
        ),
        (head(5, 2, 3), vec![change("y", Some(BODY_B), None, 6)]),
        (head(6, 3, 2), vec![change("z", Some(BODY_C), Some(BODY_B2), 7), change("x", Some(BODY_A), Some(BODY_A2), 8)]),
        (head(8, 5, 2), vec![change("w", None, Some(BODY_C), 9), change("w", Some(BODY_C), None, 10)]),
    ];
    for (i, (expected, changes)) in steps.iter().enumerate() {
        let r = s.apply(&pk, *expected, changes, &capped).await;
        run.record(format!("capped apply {i}"), show(&r));
        run.state(&format!("capped apply {i}"), &pk, None).await;
        let all = ids(&["w", "x", "y", "z"]);
        run.record(
            format!("capped apply {i}: records"),
            show(&s.records(&pk, &all).await.map(|(h, r)| (h, r.into_iter().collect::<BTreeMap<_, _>>()))),
        );
    }

    // By age: events written more than 100 s before a later write go.
    let pk = PartitionKeys::new(s.keys(), "Product", "aged");
    let r = s
        .apply(
            &pk,
            head(0, 0, 0),
            &[change("a", None, Some(BODY_A), 1), change("b", None, Some(BODY_B), 2)],
            &policy(NOW, 100, None),
        )
        .await;
    run.record("aged apply at now", show(&r));
    let r = s.apply(&pk, head(2, 0, 2), &[change("b", Some(BODY_B), None, 3)], &policy(NOW + 50, 100, None)).await;
    run.record("aged apply 50 s later", show(&r));
    run.state("aged apply 50 s later", &pk, None).await;
    let r = s
        .apply(&pk, head(3, 0, 1), &[change("a", Some(BODY_A), Some(BODY_A2), 4)], &policy(NOW + 200, 100, None))
        .await;
    run.record("aged apply 200 s later", show(&r));
    run.state("aged apply 200 s later", &pk, None).await;
    let r = s.apply(&pk, head(4, 2, 1), &[change("c", None, Some(BODY_C), 5)], &policy(NOW + 1000, 100, None)).await;
    run.record("aged apply 1000 s later", show(&r));
    run.state("aged apply 1000 s later", &pk, None).await;
}

/// Refresh outcomes: errors, metadata, schema, and the retry counter.
pub(super) async fn refresh_outcomes(run: &mut Run<'_>) {
    let s = run.store;
    let pk = PartitionKeys::new(s.keys(), "Product", "outcomes");
    /// label, errors, metadata, schema, failed, poll interval, retry limit, now
    type Call<'a> =
        (&'a str, Option<&'a str>, Option<(&'a str, &'a str)>, Option<(&'a str, &'a str)>, bool, i64, i64, u64);
    let calls: Vec<Call<'_>> = vec![
        (
            "success with errors and metadata",
            Some(r#"{"e":"boom/1"}"#),
            Some(("{\"m\":1}", "sha-m")),
            None,
            false,
            300,
            2,
            NOW,
        ),
        ("success without errors, with a schema", None, None, Some(("{\"s\":1}", "sha-s")), false, 300, 2, NOW + 5),
        ("metadata named '-'", Some(""), Some(("-", "sha-dash")), None, false, 300, 2, NOW + 6),
        ("failure 1", Some("[\"e1\"]"), None, None, true, 300, 2, NOW + 10),
        ("failure 2", Some("[\"e2\"]"), None, None, true, 300, 2, NOW + 20),
        ("failure 3 (over the limit)", Some("[\"e3\"]"), None, None, true, 300, 2, NOW + 30),
        ("failure after the poll interval", Some("[\"e4\"]"), None, None, true, 300, 2, NOW + 400),
        ("failure with poll 0", None, None, None, true, 0, 2, NOW + 500),
        ("failure with poll -1", None, None, None, true, -1, 2, NOW + 600),
        ("failure with no retries allowed", None, None, None, true, 300, 0, NOW + 610),
    ];
    for (label, errors, metadata, schema, failed, poll, limit, now) in calls {
        let outcome = RefreshOutcome { errors, metadata, schema, failed, poll_interval: poll, retry_limit: limit, now };
        let r = s.finish_refresh(&pk, &outcome).await;
        run.record(format!("finish_refresh: {label}"), show(&r));
        run.keys(&format!("finish_refresh: {label}"), &[&pk.src, &pk.rs]).await;
    }
    // A failure on a read state without prev_refresh_time, and with an unreadable one.
    let fresh = PartitionKeys::new(s.keys(), "Product", "outcomes2");
    let first_failure = RefreshOutcome {
        errors: None,
        metadata: None,
        schema: None,
        failed: true,
        poll_interval: 300,
        retry_limit: 3,
        now: NOW,
    };
    let r = s.finish_refresh(&fresh, &first_failure).await;
    run.record("finish_refresh: first failure ever", show(&r));
    run.keys("finish_refresh: first failure ever", &[&fresh.rs]).await;
    let _ = s.hset(&fresh.rs, &[("prev_refresh_time", Some("later".to_owned()))]).await;
    let r = s.finish_refresh(&fresh, &first_failure).await;
    run.record("finish_refresh: unreadable prev_refresh_time", show(&r));
    let r = s.finish_refresh(&fresh, &RefreshOutcome { failed: false, ..first_failure }).await;
    run.record("finish_refresh: success over an unreadable prev_refresh_time", show(&r));
    run.keys("finish_refresh: success over an unreadable prev_refresh_time", &[&fresh.rs]).await;
}
