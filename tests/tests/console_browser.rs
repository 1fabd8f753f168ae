//! The admin console in a real browser: the runner serves `console-static/` and the REST API,
//! the test seeds data, then `tests/browser/*.mjs` drives headless Chromium through every
//! screen, asserting what each shows and what it sends (docs/console.md §6). What the page
//! caused on the queues is checked here afterwards.

mod console_support;

use console_support::Console;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_screens_in_a_browser() {
    let console = Console::start("console").await;
    console
        .api(Method::POST, "/rc/v1/users", Some(json!({"attributes": {"login": "alice", "password": "alicepw"}})))
        .await;
    console.seed_users(2000).await;
    console.seed_device("alice").await;
    let md = json!({"data": {"1": {"name": "Pump", "price": "12"}, "2": {"name": "Valve", "price": "3"}}});
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
}

/// The Jobs and Rejected writes screens over the job routes of docs/rest-api.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jobs_screens_in_a_browser() {
    let console = Console::start("consolejobs").await;
    console
        .api(Method::POST, "/rc/v1/users", Some(json!({"attributes": {"login": "alice", "password": "alicepw"}})))
        .await;
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
}
