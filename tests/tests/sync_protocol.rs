//! The device protocol over real HTTP, Redis and the AWS emulator: token rules
//! (docs/device-protocol.md §5.4), paging and the byte cap, partitions, poll intervals with a
//! controllable clock, search, pass-through, and bad input.

mod sync_support;

use serde_json::{json, Value};
use sync_support::{World, SYNC_SETTINGS};

fn objects(n: usize) -> Value {
    Value::Object(
        (1..=n)
            .map(|i| {
                (
                    i.to_string(),
                    json!({"mock_id": i.to_string(), "name": format!("item {i}"), "price": format!("{i}0")}),
                )
            })
            .collect(),
    )
}

/// Settings with an extra failing source (a plugin source with no app server) and a custom
/// partition mapping for the mock.
const MORE_SETTINGS: &str = "\
:development:
  :poll_interval_default: 300
  :device_auth: open
:sources:
  MockAdapter:
    adapter: mock
    poll_interval: 300
  TeamMock:
    adapter: mock
    poll_interval: 300
    adapter_options:
      partitions:
        alice: teamA
        bob: teamA
  Broken:
    adapter: plugin
    poll_interval: 0
";

#[tokio::test]
async fn token_rules_ack_resend_reset() {
    let w = World::new("tokens", SYNC_SETTINGS).await;
    w.set_backend("ann", objects(3)).await;
    let mut d = w.device("ann").await;
    // First page (2 of 3), with headers.
    let p1 = d.query("MockAdapter", "p_size=2").await;
    assert_eq!(p1.count(), 2);
    assert_eq!(p1.total(), 3);
    let t1 = p1.token();
    assert!(t1.parse::<u64>().is_ok_and(|t| t > 1), "decimal token: {t1}");
    assert_eq!(p1.header("X-Rhoconnect-PAGE-TOKEN"), Some(t1.clone()));
    assert_eq!(p1.header("X-Rhoconnect-PAGE-OBJECT-COUNT").as_deref(), Some("2"));
    // A wrong token (and "") → the same page again, same token, no adapter call.
    w.set_backend("ann", objects(5)).await;
    w.force_refresh("ann", "MockAdapter").await;
    for wrong in ["12345", ""] {
        let again = d.query("MockAdapter", &format!("p_size=2&token={wrong}")).await;
        assert_eq!(again.text, p1.text, "resend for token {wrong:?}");
    }
    // No token while the page is pending (and older than the window of simultaneous
    // requests, docs/sync-engine.md §5.7) → reset with undo: the same objects again, new token.
    w.clock.advance_secs(3);
    let p1b = d.query("MockAdapter", "p_size=2").await;
    assert_ne!(p1b.token(), t1);
    assert_eq!(p1b.total(), 5, "the reset path refreshes (forced above)");
    let first_ids = p1b.insert_ids();
    assert_eq!(first_ids, p1.insert_ids(), "the undone page's objects come first");
    // The old token is now stale → resend of the new pending page.
    assert_eq!(d.query("MockAdapter", &format!("p_size=2&token={t1}")).await.text, p1b.text);
    // Acknowledge → the rest, then the empty page.
    let mut seen: Vec<String> = first_ids;
    let mut token = p1b.token();
    loop {
        let p = d.query("MockAdapter", &format!("p_size=2&token={token}")).await;
        assert!(p.count() <= 2);
        seen.extend(p.insert_ids());
        token = p.token();
        if token.is_empty() {
            assert_eq!(p.command(), json!({}));
            assert!(p.header("X-Rhoconnect-PAGE-TOKEN").is_none());
            break;
        }
    }
    seen.sort();
    assert_eq!(seen, ["1", "2", "3", "4", "5"]);
    // In step: a new cycle is one empty page.
    let p = d.query("MockAdapter", "").await;
    assert_eq!((p.token(), p.count(), p.total()), (String::new(), 0, 5));
}

#[tokio::test]
async fn paging_over_many_pages_and_the_byte_cap() {
    let w = World::new("paging", SYNC_SETTINGS).await;
    w.set_backend("pat", objects(7)).await;
    let mut d = w.device("pat").await;
    let pages = d.sync_all("MockAdapter", 2).await;
    assert_eq!(pages.len(), 5, "4 pages of ≤2 objects and the closing empty page");
    let mut ids: Vec<String> = pages.iter().flat_map(|p| p.insert_ids()).collect();
    ids.sort_by_key(|i| i.parse::<u32>().unwrap_or(0));
    assert_eq!(ids, (1..=7).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(pages.iter().all(|p| p.count() <= 2 && p.total() == 7));

    // A tiny byte cap: pages hold fewer objects than p_size (but at least one).
    let small = SYNC_SETTINGS.replace(":page_byte_cap: 1048576", ":page_byte_cap: 120");
    let w = World::new("bytecap", &small).await;
    w.set_backend("bea", objects(6)).await;
    let mut d = w.device("bea").await;
    let pages = d.sync_all("MockAdapter", 100).await;
    assert!(pages.len() >= 4, "a 120-byte cap splits 6 objects: {} pages", pages.len());
    assert!(pages.iter().all(|p| p.text.len() < 400), "pages stay small");
    assert_eq!(pages.iter().map(|p| p.count()).sum::<u64>(), 6);
}

#[tokio::test]
async fn attribute_diffs_deletes_and_errors_only_pages() {
    let w = World::new("diffs", MORE_SETTINGS).await;
    w.set_backend("dan", objects(2)).await;
    let mut d = w.device("dan").await;
    d.sync_all("MockAdapter", 100).await;
    w.set_backend("dan", json!({"2": {"mock_id": "2", "name": "item 2", "price": "99"}})).await;
    w.force_refresh("dan", "MockAdapter").await;
    let p = d.query("MockAdapter", "").await;
    assert_eq!(
        p.command(),
        json!({"insert": {"2": {"price": "99"}}, "delete": {"2": {"price": "20"}, "1": {"mock_id": "1", "name": "item 1", "price": "10"}}})
    );
    assert_eq!((p.count(), p.total()), (3, 1));

    // A create the adapter refuses: the error page has no token and is sent once.
    let created = d.cud("Broken", json!({"create": {"tmp-1": {"name": "x"}}})).await;
    assert_eq!(created.status, 200);
    w.settle_writes().await;
    let p = d.query("Broken", "").await;
    assert_eq!(p.token(), "", "errors-only page: {}", p.text);
    let cmd = p.command();
    assert_eq!(cmd["create-error"]["tmp-1"], json!({"name": "x"}));
    assert!(cmd["create-error"]["tmp-1-error"]["message"].is_string());
    assert!(cmd["source-error"]["query-error"]["message"].is_string(), "{cmd}");
    // Next page: the CUD error is gone, the source error stays until a good refresh.
    let p = d.query("Broken", "").await;
    assert!(p.command().get("create-error").is_none());
    assert!(p.command()["source-error"]["query-error"].is_object());
}

#[tokio::test]
async fn source_errors_repeat_until_a_successful_refresh() {
    let w = World::new("srcerr", SYNC_SETTINGS).await;
    let (status, _) =
        w.admin("POST", "/rc/v1/store/test_db_storage:application:eve", Some(json!({"data": "garbage"}))).await;
    assert_eq!(status, 200);
    let mut d = w.device("eve").await;
    for _ in 0..2 {
        let p = d.query("MockAdapter", "").await;
        assert!(
            p.command()["source-error"]["query-error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("not an object map")),
            "{}",
            p.text
        );
    }
    w.set_backend("eve", objects(1)).await;
    w.force_refresh("eve", "MockAdapter").await;
    let p = d.query("MockAdapter", "").await;
    assert!(p.command().get("source-error").is_none(), "{}", p.text);
    assert_eq!(p.insert_ids(), ["1"]);
}

#[tokio::test]
async fn poll_intervals_follow_the_clock() {
    let w = World::new("poll", SYNC_SETTINGS).await;
    w.set_backend("pia", objects(1)).await;
    let mut d = w.device("pia").await;
    assert_eq!(d.sync_all("MockAdapter", 100).await[0].insert_ids(), ["1"]);
    w.set_backend("pia", objects(2)).await;
    // 300 s poll interval: nothing new until the clock passes it.
    w.clock.advance_secs(299);
    assert_eq!(d.query("MockAdapter", "").await.count(), 0);
    w.clock.advance_secs(2);
    assert_eq!(d.query("MockAdapter", "").await.insert_ids(), ["2"], "refreshed after 301 s");

    // poll_interval 0: every new page refreshes.
    let (status, _) =
        w.admin("PUT", "/rc/v1/readstate/users/pia/sources/MockAdapter", Some(json!({"poll_interval": 0}))).await;
    assert_eq!(status, 200);
    // The page with "2" was never acknowledged: a sync without a token past the window of
    // simultaneous requests (docs/sync-engine.md §5.7) undoes it and starts over.
    w.clock.advance_secs(3);
    d.sync_all("MockAdapter", 100).await;
    w.set_backend("pia", objects(3)).await;
    let p = d.query("MockAdapter", "").await;
    assert_eq!(p.insert_ids(), ["3"]);

    // poll_interval -1: never from queries, even when forced; pushes still arrive.
    d.query("MockAdapter", &format!("token={}", p.token())).await;
    let (status, _) =
        w.admin("PUT", "/rc/v1/readstate/users/pia/sources/MockAdapter", Some(json!({"poll_interval": -1}))).await;
    assert_eq!(status, 200);
    w.set_backend("pia", objects(4)).await;
    w.clock.advance_secs(100_000);
    assert_eq!(d.query("MockAdapter", "").await.count(), 0);
    let (status, body) = w
        .admin(
            "POST",
            "/app/v1/MockAdapter/push_objects",
            Some(json!({"user_id": "pia", "objects": {"9": {"name": "pushed"}}})),
        )
        .await;
    assert_eq!((status, body.as_str()), (200, "done"));
    assert_eq!(d.query("MockAdapter", "").await.insert_ids(), ["9"]);
}

#[tokio::test]
async fn user_app_and_custom_partitions() {
    let settings = format!("{MORE_SETTINGS}  AppMock:\n    adapter: mock\n    partition_type: app\n");
    let w = World::new("parts", &settings).await;
    w.set_backend("ulla", objects(1)).await;
    w.set_backend("ute", objects(2)).await;
    w.set_backend("__shared__", json!({"s": {"name": "shared"}})).await;
    w.set_backend("teamA", json!({"t": {"name": "team"}})).await;
    let mut ulla = w.device("ulla").await;
    let mut ute = w.device("ute").await;
    // user partition: each user their own md.
    assert_eq!(ulla.sync_all("MockAdapter", 100).await[0].insert_ids(), ["1"]);
    assert_eq!(ute.sync_all("MockAdapter", 100).await[0].insert_ids(), ["1", "2"]);
    // app partition: one md for everyone, documents named __shared__.
    assert_eq!(ulla.sync_all("AppMock", 100).await[0].insert_ids(), ["s"]);
    assert_eq!(ute.sync_all("AppMock", 100).await[0].insert_ids(), ["s"]);
    let (_, md) = w.admin("GET", "/rc/v1/store/source:application:__shared__:AppMock:md", None).await;
    assert_eq!(serde_json::from_str::<Value>(&md).unwrap_or_default(), json!({"s": {"name": "shared"}}));
    // custom partition: alice and bob share teamA.
    let mut alice = w.device("alice").await;
    let mut bob = w.device("bob").await;
    assert_eq!(alice.sync_all("TeamMock", 100).await[0].insert_ids(), ["t"]);
    assert_eq!(bob.sync_all("TeamMock", 100).await[0].insert_ids(), ["t"]);
    let (_, md) = w.admin("GET", "/rc/v1/store/source:application:teamA:TeamMock:md", None).await;
    assert_eq!(serde_json::from_str::<Value>(&md).unwrap_or_default(), json!({"t": {"name": "team"}}));
    let (_, names) = w.admin("GET", "/rc/v1/users/bob/sources/TeamMock/docnames", None).await;
    assert_eq!(serde_json::from_str::<Value>(&names).unwrap_or_default()["md"], "source:application:teamA:TeamMock:md");
    let (_, none) = w.admin("GET", "/rc/v1/store/source:application:bob:TeamMock:md", None).await;
    assert_eq!(none, "{}");
}

#[tokio::test]
async fn search_pages_and_acknowledgement() {
    let w = World::new("search", SYNC_SETTINGS).await;
    let mut d = w.device("sam").await;
    // Legacy form with Rack nested keys (Rhodes).
    let path = format!(
        "/application/search?client_id={}&p_size=2&version=3&search[brand]=Apple&sources[][name]=Product",
        d.client_id
    );
    let r = d.send(d.http.get(w.url(&path))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.header("warning").is_some_and(|h| h.contains("deprecated")));
    let body = r.json();
    let el = &body[0];
    assert_eq!(el[2], json!({"source": "Product"}));
    assert_eq!(el[3], json!({"count": 1}));
    assert_eq!(el[4]["insert"]["1"]["name"], "iPhone");
    let token = el[1]["token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(r.header("X-Rhoconnect-PAGE-TOKEN"), Some(token.clone()));
    // Acknowledge: nothing left → [].
    let ack = format!("{path}&sources[][token]={token}")
        .replace("sources[][name]=Product&sources[][token]", "sources[][name]=Product&sources[][token]");
    let r = d.send(d.http.get(w.url(&ack))).await;
    assert_eq!(r.json(), json!([[]]));
    // Wrong token → the invalid-token error.
    let r = d.send(d.http.get(w.url(&format!("{path}&sources[][token]=777")))).await;
    assert_eq!(r.json()[0][2]["search-error"]["search-error"]["message"], "Search error - invalid token");
    // The searched object was pinned: the next query does not send it again, md has it.
    let pages = d.sync_all("Product", 100).await;
    let ids: Vec<String> = pages.iter().flat_map(|p| p.insert_ids()).collect();
    assert!(!ids.contains(&"1".to_owned()), "search result not re-sent: {ids:?}");
    assert_eq!(ids.len(), 4);
    // v1 form; no sources → [].
    let r = d.post_json("/rc/v1/app/search", json!({"client_id": d.client_id})).await;
    assert_eq!(r.json(), json!([]));
}

#[tokio::test]
async fn pass_through_sources_are_neither_stored_nor_resent() {
    let w = World::new("pass", SYNC_SETTINGS).await;
    w.set_backend("pam", objects(3)).await;
    let mut d = w.device("pam").await;
    let p = d.query("PassMock", "p_size=1").await;
    assert_eq!((p.count(), p.total()), (3, 3), "one page, p_size ignored");
    assert!(!p.token().is_empty());
    let again = d.query("PassMock", &format!("token={}", p.token())).await;
    assert_eq!(again.count(), 3, "poll_interval 0: the adapter result again, never a resend");
    let (_, md) = w.admin("GET", "/rc/v1/store/source:application:pam:PassMock:md", None).await;
    assert_eq!(md, "{}", "nothing stored");
    w.set_backend("pam", json!({})).await;
    let empty = d.query("PassMock", "").await;
    assert_eq!(empty.json(), json!([{"version":3},{"token":""},{"count":0},{"progress_count":0},{"total_count":0},{}]));
}

#[tokio::test]
async fn legacy_routes_client_lifecycle_and_user_switch() {
    let w = World::new("legacy", SYNC_SETTINGS).await;
    w.set_backend("lee", objects(2)).await;
    let mut d = w.device("lee").await;
    let q = format!("/application?client_id={}&p_size=2000&version=3&source_name=MockAdapter", d.client_id);
    let p = d.send(d.http.get(w.url(&q))).await;
    assert_eq!(
        p.header("warning").as_deref(),
        Some("Use of the GET /application is deprecated. Use Rhoconnect API v1 instead.")
    );
    assert_eq!(p.count(), 2);
    let p = d.send(d.http.get(w.url(&format!("{q}&token={}", p.token())))).await;
    assert_eq!(p.token(), "");
    // clientreset with Rack sources → only that source's documents go.
    let r = d
        .send(
            d.http
                .get(w.url(&format!("/application/clientreset?client_id={}&sources[][name]=MockAdapter", d.client_id))),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json()["sources"]["MockAdapter"].is_object(), "{}", r.text);
    assert_eq!(d.send(d.http.get(w.url(&q))).await.count(), 2, "full resend after reset");
    // clientregister creates a missing client.
    let r = d
        .post_json(
            "/rc/v1/clients/abcdef0123456789abcdef0123456789/register",
            json!({"device_type": "APPLE", "device_pin": "p"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let (_, rec) = w.admin("GET", "/rc/v1/clients/abcdef0123456789abcdef0123456789", None).await;
    assert!(rec.contains("APPLE"), "{rec}");
    // Another user logs in on the same device: the client moves and starts over.
    let login =
        d.post_json("/application/clientlogin", json!({"login": "other", "password": "x", "remember_me": 1})).await;
    assert_eq!(login.status, 200);
    w.set_backend("other", objects(1)).await;
    let p = d.send(d.http.get(w.url(&q))).await;
    assert_eq!(p.insert_ids(), ["1"], "the client now syncs as 'other': {}", p.text);
}

#[tokio::test]
async fn bad_input_gets_clear_answers_and_writes_nothing() {
    let w = World::new("badin", SYNC_SETTINGS).await;
    w.set_backend("bo", objects(2)).await;
    let mut d = w.device("bo").await;
    let good_id = d.client_id.clone();
    // Unknown client: 500, text/plain, exactly "Unknown client".
    d.client_id = "deadbeef".into();
    let r = d.query("MockAdapter", "").await;
    assert_eq!((r.status, r.text.as_str()), (500, "Unknown client"));
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    // Missing client id.
    d.client_id = String::new();
    let r = d.send(d.http.get(w.url("/app/v1/MockAdapter"))).await;
    assert_eq!((r.status, r.text.as_str()), (500, "Unknown client"));
    d.client_id = good_id.clone();
    // Missing source name on the legacy route → Unknown source; unknown name → a page.
    let r = d.send(d.http.get(w.url(&format!("/application?client_id={good_id}")))).await;
    assert_eq!((r.status, r.text.as_str()), (500, "Unknown source"));
    let r = d.query("NoSuchSource", "").await;
    assert_eq!(r.status, 200);
    assert!(r.command()["source-error"]["query-error"]["message"].is_string());
    // Malformed JSON, before authentication.
    let r = d
        .send(d.http.post(w.url("/application")).header("Content-Type", "application/json").body("{\"create\":"))
        .await;
    assert_eq!((r.status, r.text.as_str()), (500, "Server error while processing client data"));
    let r = reqwest::Client::new()
        .post(w.url("/rc/v1/app/login"))
        .header("Content-Type", "application/json")
        .body("[1]")
        .send()
        .await;
    assert_eq!(r.map(|r| r.status().as_u16()).unwrap_or(0), 500);
    // Absurd p_size: 400 with a message, nothing written.
    for bad in ["-1", "abc", "100000000"] {
        let r = d.query("MockAdapter", &format!("p_size={bad}")).await;
        assert_eq!(r.status, 400, "p_size={bad}: {}", r.text);
        assert!(r.text.contains("p_size"), "{}", r.text);
    }
    let (_, tok) =
        w.admin("GET", &format!("/rc/v1/store/client:application:bo:{good_id}:MockAdapter:page_token"), None).await;
    assert_eq!(tok, "", "no page state written");
    let (_, md) = w.admin("GET", "/rc/v1/store/source:application:bo:MockAdapter:md", None).await;
    assert_eq!(md, "{}", "no refresh ran");
    // Not logged in.
    d.cookie = None;
    let r = d.query("MockAdapter", "").await;
    assert_eq!((r.status, r.text.as_str()), (401, "Not authenticated"));
    // Login refused for the reserved admin login and empty logins.
    let r = d.post_json("/rc/v1/app/login", json!({"login": "rhoadmin", "password": ""})).await;
    assert_eq!((r.status, r.text.as_str()), (401, "Unable to authenticate 'rhoadmin'"));
    let r = d.post_json("/rc/v1/app/login", json!({"password": "x"})).await;
    assert_eq!((r.status, r.text.as_str()), (401, "Unable to authenticate ''"));
}

/// The client-state hash of `login`'s device on MockAdapter (a user-partitioned source).
async fn client_state(w: &World, login: &str, client_id: &str) -> std::collections::HashMap<String, String> {
    let pk = rhosync_server::store::keys::PartitionKeys::new(&w.env.state.redis.keys, "MockAdapter", login);
    let ck = pk.client(client_id);
    let mut conn = w.env.state.redis.conn();
    let st: std::collections::HashMap<String, String> =
        redis::cmd("HGETALL").arg(&ck.st).query_async(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    let sent: bool = redis::cmd("EXISTS").arg(&ck.sent).query_async(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(st.contains_key("fin") || st.contains_key("scan") || !sent, "a sent map outlived its cycle: {st:?}");
    st
}

/// The head version of `login`'s MockAdapter partition.
async fn head_version(w: &World, login: &str) -> String {
    let pk = rhosync_server::store::keys::PartitionKeys::new(&w.env.state.redis.keys, "MockAdapter", login);
    let v: Option<String> = redis::cmd("HGET")
        .arg(&pk.head)
        .arg("v")
        .query_async(&mut w.env.state.redis.conn())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    v.unwrap_or_default()
}

/// The acknowledgement of a cycle's last page completes the cycle (the device is in step,
/// in O(1) state, without a scan of its own); a reset in between undoes that; the
/// one-round-trip in-step answer still refuses bad input; and a Redis that forgot its
/// scripts is served all the same.
#[tokio::test]
async fn last_page_acknowledgement_completes_the_cycle() {
    let w = World::new("complete", SYNC_SETTINGS).await;
    w.set_backend("cy", objects(3)).await;
    let mut d = w.device("cy").await;
    let p1 = d.query("MockAdapter", "p_size=2").await;
    assert_eq!(p1.count(), 2);
    assert!(!client_state(&w, "cy", &d.client_id).await.contains_key("fin"), "more objects to come: no completion yet");
    let p2 = d.query("MockAdapter", &format!("p_size=2&token={}", p1.token())).await;
    assert_eq!(p2.insert_ids().len(), 1);
    let st = client_state(&w, "cy", &d.client_id).await;
    assert_eq!(
        st.get("fin"),
        Some(&head_version(&w, "cy").await),
        "the last page completes on its acknowledgement: {st:?}"
    );
    // The acknowledgement: an empty page, and the state of a device in step.
    let p3 = d.query("MockAdapter", &format!("p_size=2&token={}", p2.token())).await;
    assert_eq!((p3.count(), p3.token()), (0, String::new()));
    let st = client_state(&w, "cy", &d.client_id).await;
    assert_eq!(st.get("base"), Some(&head_version(&w, "cy").await), "{st:?}");
    for gone in ["scan", "fin", "tok"] {
        assert!(!st.contains_key(gone), "{gone} left after completion: {st:?}");
    }

    // A change, its page, then a reset instead of the acknowledgement: the completion
    // marker goes with the undone page, and the object comes again.
    let (status, _) = w
        .admin(
            "POST",
            "/app/v1/MockAdapter/push_objects",
            Some(json!({"user_id": "cy", "objects": {"2": {"name": "changed"}}})),
        )
        .await;
    assert_eq!(status, 200);
    let p4 = d.query("MockAdapter", "p_size=2").await;
    assert_eq!(p4.insert_ids(), ["2"]);
    w.clock.advance_secs(3); // past the window of simultaneous requests
    let p5 = d.query("MockAdapter", "p_size=2").await;
    assert_eq!(p5.insert_ids(), ["2"], "reset with undo sends the object again");
    assert_ne!(p5.token(), p4.token());
    let done = d.query("MockAdapter", &format!("p_size=2&token={}", p5.token())).await;
    assert_eq!((done.count(), done.token()), (0, String::new()));
    assert_eq!(client_state(&w, "cy", &d.client_id).await.get("base"), Some(&head_version(&w, "cy").await));

    // In step: bad input is still refused (the fast answer comes after the checks).
    let r = d.query("MockAdapter", "p_size=-1").await;
    assert_eq!(r.status, 400, "{}", r.text);
    // A Redis that lost its scripts (restart, SCRIPT FLUSH): the probe reloads and answers.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut w.env.state.redis.conn())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let p = d.query("MockAdapter", "p_size=2").await;
    assert_eq!((p.status, p.count(), p.total()), (200, 0, 3));
}
