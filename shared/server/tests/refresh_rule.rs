//! The refresh rule is written twice: in `lua/begin.lua` (the full query step decides and
//! records the refresh) and in `store::refresh_due` (the probe path of
//! `sync::query::serve_probed` decides from the refresh time its probe saw). This pins the
//! two together against a real redis-server: for every poll interval kind and a recorded
//! refresh time before, at and after now, the probe reports the recorded time, and the
//! query script in begin mode decides "refresh" exactly when `refresh_due` says so.

use rhosync_server::edges::RedisEdge;
use rhosync_server::store::keys::PartitionKeys;
use rhosync_server::store::{refresh_due, BeginArgs, BeginMode, BeginReply, SyncStore};
use rhosync_testkit::{unique_prefix, Stack};

/// A fixed "now" well past zero, so `now - 10` is a plain past time.
const NOW: u64 = 1_700_000_000;

#[tokio::test]
async fn begin_script_and_refresh_due_agree() {
    let redis = RedisEdge::connect(&Stack::get().redis_url, &unique_prefix("refresh-rule"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let store = SyncStore::new(redis);
    let mut cases = 0;
    for poll in [-1i64, 0, 1, 300] {
        for offset in [-10i64, 0, 10] {
            // One partition per case, so each starts from the same recorded state.
            let pk = PartitionKeys::new(store.keys(), "Product", &format!("p{poll}_{offset}"));
            let ck = pk.client("c1");
            let refresh_time = NOW.saturating_add_signed(offset);
            store
                .hset(&pk.rs, &[("refresh_time", Some(refresh_time.to_string()))])
                .await
                .unwrap_or_else(|e| panic!("recording the refresh time: {e}"));

            // What the probe path decides from.
            let (_, _, seen) =
                store.get_many_and_probe(&[], &pk, &ck, 10).await.unwrap_or_else(|e| panic!("probe: {e}"));
            let seen = seen.unwrap_or_else(|| panic!("poll {poll}, offset {offset}: the probe saw no refresh time"));
            assert_eq!(seen, refresh_time as f64, "poll {poll}, offset {offset}: the probe's refresh time");
            let expected = refresh_due(poll, seen, NOW);

            // What the full step decides.
            let args = BeginArgs {
                token: None,
                now_secs: NOW,
                poll_interval: poll,
                may_refresh: true,
                slice_limit: 10,
                mode: BeginMode::Begin,
                start_override: None,
                include_pinned: true,
            };
            let reply = store.begin(&pk, &ck, &args).await.unwrap_or_else(|e| panic!("query script: {e}"));
            let refreshed = matches!(reply, BeginReply::Refresh { .. });
            assert_eq!(
                refreshed, expected,
                "poll {poll}, refresh time now{offset:+}: the script decided {reply:?}, refresh_due says {expected}"
            );
            cases += 1;
        }
    }
    assert_eq!(cases, 12);
}
