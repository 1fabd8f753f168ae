//! The admin console in a real browser: the runner serves `console-static/` and the REST API,
//! the test seeds data, then `tests/browser/*.mjs` drives headless Chromium through every
//! screen, asserting what each shows and what it sends (docs/console.md §6). What the page
//! caused on the queues is checked here afterwards, and the ping of one user it sent is then
//! delivered by the push worker to a fake APNs.

mod console_support;
#[allow(unused_imports)] // `Recorded` is re-exported for the push tests.
mod push_support;
mod sync_support;

use console_support::{refusing_backend, Console, CONSOLE_SETTINGS};
use reqwest::Method;
use rhosync_local::ConsumerOptions;
use rhosync_server::jobs::workers::WorkerName;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_screens_in_a_browser() {
    // APNs is a local fake (HTTP/2 over TLS, a certificate made here), so the pings the page
    // sends reach alice's iPhone once the push worker runs.
    let (apns, ca_pem) = push_support::tls_h2(push_support::ok()).await;
    let keys = push_support::keys("console-push", "http://127.0.0.1:9/token", &ca_pem);
    let push_settings = format!(
        "  :apns_endpoint: {}\n  :apns_ca_file: {}\n  :apns_key_file: {}\n  :apns_key_id: ABC123DEFG\n  \
         :apns_team_id: TEAM123456\n  :apns_topic: com.example.default\n",
        apns.url,
        keys.ca_file.display(),
        keys.apns_key.display()
    );
    let settings = CONSOLE_SETTINGS.replacen(":sources:", &format!("{push_settings}:sources:"), 1);
    let console = Console::start_with("console", &settings).await;
    console
        .api(Method::POST, "/rc/v1/users", Some(json!({"attributes": {"login": "alice", "password": "alicepw"}})))
        .await;
    console.seed_users(2000).await;
    // alice's iPhone syncs Product once (the demo adapter's query is timed into the statistics).
    let mut phone = console.device("alice", "alicepw").await;
    let pages = phone.sync("Product").await;
    assert!(pages[0].to_string().contains("insert"), "the first page carries objects: {pages:?}");
    let md = json!({"data": {"1": {"name": "Pump", "price": "12"}, "2": {"name": "Valve", "price": "3"},
                             "3": {"name": "<img src=x onerror=alert(1)>", "price": "0"}}});
    console.api(Method::POST, "/rc/v1/store/source:application:alice:Product:md", Some(md)).await;

    console.run_script("console.mjs");

    // The two pings the page sent are on the push queue as the API queued them.
    let pings: Vec<Value> = console
        .queue_bodies(&console.env.provisioned.push_queue_url)
        .await
        .into_iter()
        .filter(|b| b["kind"] == "ping")
        .collect();
    let one =
        pings.iter().find(|p| p["users"] == json!(["alice"])).unwrap_or_else(|| panic!("no ping of alice: {pings:?}"));
    assert_eq!(one["message"], "hello alice");
    assert_eq!(one["sources"], json!(["Product"]));
    assert_eq!((&one["badge"], &one["sound"], &one["vibrate"]), (&json!("1"), &json!("welcome.mp3"), &json!("2000")));
    let all = pings
        .iter()
        .find(|p| p["users"].as_array().is_some_and(|u| u.len() == 2001))
        .unwrap_or_else(|| panic!("no ping of all 2001 users: {} pings", pings.len()));
    assert_eq!(all["message"], "push message");

    // The push worker delivers the ping of alice to her iPhone through a fake APNs. (The
    // ping of all 2,001 users is taken off the queue first: resolving it asks the emulator
    // for each user's devices one by one, which takes minutes there.)
    let push_queue = &console.env.provisioned.push_queue_url;
    let everyone = |b: &Value| b["users"].as_array().is_some_and(|u| u.len() == 2001);
    assert_eq!(console.delete_where(push_queue, everyone).await, 1, "the ping of all users is on the queue once");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(rhosync_local::consumers::run(
        console.env.state.clone(),
        WorkerName::Push,
        ConsumerOptions::default(),
        stopped,
    ));
    let delivered = apns.wait_for("/3/device/abcd1234", 1).await;
    assert_eq!(
        delivered[0].json(),
        json!({"aps": {"alert": "hello alice", "badge": 1, "sound": "welcome.mp3", "vibrate": "2000"},
               "do_sync": ["Product"]})
    );
    assert_eq!(delivered[0].header("apns-topic").as_deref(), Some("com.example.app"));
    rhosync_e2e::settle_sqs(&console.env.state.aws.sqs, push_queue, std::time::Duration::from_secs(60)).await;
    assert_eq!(apns.requests().len(), 1, "the ping reaches the iPhone once");
    let _ = stop.send(true);
    let _ = worker.await;
}

/// The Jobs and Rejected writes screens over the job routes of docs/rest-api.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_screens_in_a_browser() {
    // Source Item's backend refuses the first two creates; writes are applied inline.
    let (backend, creates) = refusing_backend(2).await;
    let settings = format!(
        "{CONSOLE_SETTINGS}  Item:
    adapter: rest
    url: {backend}
    partition_type: user
    poll_interval: 300
    adapter_options:
      list_url: /items
      records_pointer: /items
      create: {{url: /items, id_pointer: /id}}
"
    );
    let console = Console::start_with("consolejobs", &settings).await;
    console
        .api(Method::POST, "/rc/v1/users", Some(json!({"attributes": {"login": "alice", "password": "alicepw"}})))
        .await;
    let mut phone = console.device("alice", "alicepw").await;
    phone.sync("Item").await;
    for (id, name) in [("tmp-1", "Bolt"), ("tmp-2", "<img src=x onerror=alert(1)>")] {
        phone.call("POST", "/app/v1/Item", Some(json!({"create": {id: {"name": name}}})), 200).await;
    }
    let rejected = console.api(Method::GET, "/rc/v1/system/rejected_writes?user_id=alice", None).await;
    assert_eq!(serde_json::from_str::<Value>(&rejected).map(|v| v.as_array().map(Vec::len)).ok().flatten(), Some(2));
    let push = console.env.provisioned.push_queue_url.clone();
    let dlq = format!("{push}-dlq");
    for n in 1..=2 {
        console
            .send(
                &dlq,
                &json!({"id": format!("dead-{n}"), "kind": "ping", "users": ["alice"], "message": format!("dead {n}")}),
            )
            .await;
    }

    console.run_script("jobs.mjs");

    let replayed = console.queue_bodies(&push).await;
    assert_eq!(replayed.len(), 1, "the replayed message is back on the push queue: {replayed:?}");
    assert_eq!(replayed[0]["kind"], "ping");
    assert!(console.queue_bodies(&dlq).await.is_empty(), "the dead-letter queue is empty");

    // The page retried tmp-1 (the backend took it this time) and dismissed tmp-2.
    let seen = creates.lock().map(|c| c.clone()).unwrap_or_default();
    assert_eq!(seen.len(), 3, "two refused creates and the retried one: {seen:?}");
    assert_eq!(seen[2]["name"], "Bolt", "{seen:?}");
    let left = console.api(Method::GET, "/rc/v1/system/rejected_writes", None).await;
    assert_eq!(left, "[]");
    let page = phone.call("GET", "/app/v1/Item", None, 200).await;
    assert!(page.to_string().contains(r#""links":{"tmp-1":{"l":"r1"}}"#), "the retried create's link: {page}");
}
