//! The console's backend over HTTP against real Redis and the AWS emulator
//! (docs/rest-api.md §4.5, §13; docs/jobs.md §7): statistics recorded per route and per
//! adapter call; a job that fails three times lands in the DLQ through the queue's redrive
//! policy and is listed with its error, replayed once (and then runs) or discarded; rejected
//! client writes listed, retried after the backend is fixed, dismissed; the admin token is
//! required on every route.

mod sync_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use rhosync_e2e::eventually;
use rhosync_server::ports::jobs::{CudWrite, Job, JobMessage, RawAttrs};
use rhosync_server::ports::Queue;
use serde_json::{json, Value};
use sync_support::{World, SYNC_SETTINGS};

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn statistics_are_recorded_per_route_and_adapter_call() {
    let w = World::new("statson", SYNC_SETTINGS).await;
    let mut d = w.device("amy").await;
    d.sync_all("Product", 100).await;
    let (status, _) = w.admin("GET", &format!("/rc/v1/clients/{}", d.client_id), None).await;
    assert_eq!(status, 200);
    // The samples go to Redis with the first request a second after the last flush.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = w.admin("GET", "/rc/v1/system/stats?names=*", None).await;
    assert_eq!(status, 200);
    let (status, body) = w.admin("GET", "/rc/v1/system/stats?names=*", None).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<String> = serde_json::from_value(parse(&body)).unwrap_or_default();
    for want in ["http:GET:/app/v1/Product", "http:GET:/rc/v1/clients/*", "source:query:Product", "users"] {
        assert!(names.iter().any(|n| n == want), "{want} missing from {names:?}");
    }
    assert!(!names.iter().any(|n| n.contains(&d.client_id)), "client ids are collapsed: {names:?}");
    let (status, body) = w.admin("GET", "/rc/v1/system/stats?metric=http:GET:/app/v1/Product", None).await;
    assert_eq!(status, 200, "{body}");
    let members: Vec<String> = serde_json::from_value(parse(&body)).unwrap_or_default();
    assert!(!members.is_empty());
    for m in &members {
        let (value, bucket) = m.rsplit_once(':').unwrap_or_else(|| panic!("{m}"));
        assert_eq!(bucket.parse::<i64>().unwrap_or(-1) % 60, 0, "{m}");
        let (n, sum) = value.split_once(',').unwrap_or_else(|| panic!("{m}"));
        let n: f64 = n.parse().unwrap_or_else(|_| panic!("{m}"));
        let sum: f64 = sum.parse().unwrap_or_else(|_| panic!("{m}"));
        assert!(n >= 1.0 && sum >= 0.0, "{m}");
    }
    let info: Value = w.http.get(w.url("/console/info")).send().await.expect("info").json().await.expect("json");
    assert_eq!(info["stats"], true);
}

#[tokio::test]
async fn statistics_off_answer_500() {
    let settings = SYNC_SETTINGS.replace(":development:\n", ":development:\n  :stats: false\n");
    let w = World::new("statsoff", &settings).await;
    let (status, body) = w.admin("GET", "/rc/v1/system/stats?names=*", None).await;
    assert_eq!((status, body.as_str()), (500, "Stats not enabled"));
    let info: Value = w.http.get(w.url("/console/info")).send().await.expect("info").json().await.expect("json");
    assert_eq!(info["stats"], false);
}

#[tokio::test]
async fn concurrent_flushes_lose_no_sample() {
    let w = World::new("statsflush", SYNC_SETTINGS).await;
    let store = w.env.state.sync.store.clone();
    let recorders: Vec<_> = (0..8).map(|_| Arc::new(rhosync_server::stats::StatsRecorder::new(true))).collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    for r in &recorders {
        for _ in 0..25 {
            r.record_at("test:flush", now as i64, 0.5);
        }
    }
    let flushes = recorders.iter().map(|r| {
        let (r, store) = (r.clone(), store.clone());
        async move { r.flush(&*store).await }
    });
    futures::future::join_all(flushes).await;
    let (status, body) = w.admin("GET", "/rc/v1/system/stats?metric=test:flush", None).await;
    assert_eq!(status, 200, "{body}");
    let members: Vec<String> = serde_json::from_value(parse(&body)).unwrap_or_default();
    assert_eq!(members.len(), 1, "{members:?}");
    assert!(members[0].starts_with("200.0,100.0:"), "{members:?}");
}

async fn dead_letter_rows(w: &World, queue: &str) -> Vec<Value> {
    let (status, body) = w.admin("GET", &format!("/rc/v1/system/jobs/{queue}/dead_letters"), None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(parse(&body)).unwrap_or_default()
}

#[tokio::test]
async fn failed_jobs_reach_the_dlq_and_are_replayed_once_or_discarded() {
    let w = World::new("dlq", SYNC_SETTINGS).await;
    // A queued write whose payload is not (yet) in the bucket fails on every delivery.
    let object = "cud/Product/dlq-test.1.json";
    let key = "dlq-test.1";
    let job = Job::Cud { source: "Product".into(), user: "amy".into(), write: None, write_ref: Some(object.into()) };
    w.env.state.queue().send(Queue::Adapter, &JobMessage { id: Some(key.into()), job }).await.expect("sent");
    w.env
        .state
        .aws
        .sqs
        .send_message()
        .queue_url(&w.env.provisioned.adapter_queue_url)
        .message_body("not a job")
        .send()
        .await
        .expect("sent");

    let rows = eventually(Duration::from_secs(60), || async {
        let rows = dead_letter_rows(&w, "adapter").await;
        (rows.len() == 2).then_some(rows)
    })
    .await
    .expect("both messages reach the DLQ");
    let (status, body) = w.admin("GET", "/rc/v1/system/jobs", None).await;
    assert_eq!(status, 200, "{body}");
    let overview = parse(&body);
    let adapter = overview["queues"].as_array().and_then(|q| q.iter().find(|q| q["name"] == "adapter")).cloned();
    assert_eq!(adapter.expect("adapter queue")["dead_letter"]["depth"], 2, "{overview}");

    let cud = rows.iter().find(|r| r["kind"] == "cud").expect("the cud job");
    assert_eq!((cud["source"].as_str(), cud["user"].as_str()), (Some("Product"), Some("amy")), "{cud}");
    assert!(cud["error"].as_str().unwrap_or_default().contains("not stored"), "{cud}");
    assert!(cud["receive_count"].as_u64().unwrap_or(0) >= 3, "{cud}");
    assert_eq!(cud["body"]["id"], key);
    let junk = rows.iter().find(|r| r["kind"] == "unknown").expect("the malformed message");
    assert!(junk["error"].as_str().unwrap_or_default().contains("malformed"), "{junk}");

    // Fixed: the payload is stored now. Two replays at once replay it once.
    let write = CudWrite {
        key: key.into(),
        source: "Product".into(),
        login: "amy".into(),
        client_id: "c-dlq".into(),
        accepted_ms: 1,
        create: vec![("tmp-1".into(), RawAttrs::from_iter([("name".to_owned(), json!("Replayed"))]))],
        update: Vec::new(),
        delete: Vec::new(),
        blobs: Vec::new(),
    };
    let payload = serde_json::to_vec(&write).expect("encodes");
    w.env.state.blobs().put(object, payload, Some("application/json")).await.expect("stored");
    let id = cud["id"].as_str().unwrap_or_default().to_owned();
    let replay = || w.admin("POST", "/rc/v1/system/jobs/adapter/dead_letters/replay", Some(json!({"ids": [id]})));
    let (a, b) = tokio::join!(replay(), replay());
    assert_eq!((a.0, b.0), (200, 200));
    let replayed = parse(&a.1)["replayed"].as_u64().unwrap_or(9) + parse(&b.1)["replayed"].as_u64().unwrap_or(9);
    assert_eq!(replayed, 1, "{} {}", a.1, b.1);
    let store = w.env.state.sync.store.clone();
    let done =
        eventually(Duration::from_secs(30), || async { store.ledger_is_done(key).await.ok().filter(|d| *d) }).await;
    assert_eq!(done, Some(true), "the replayed job ran");

    let junk_id = junk["id"].as_str().unwrap_or_default().to_owned();
    let discard = json!({"ids": [junk_id]});
    let (status, body) =
        w.admin("POST", "/rc/v1/system/jobs/adapter/dead_letters/discard", Some(discard.clone())).await;
    assert_eq!((status, parse(&body)["discarded"].as_u64()), (200, Some(1)), "{body}");
    let (_, body) = w.admin("POST", "/rc/v1/system/jobs/adapter/dead_letters/discard", Some(discard)).await;
    assert_eq!(parse(&body)["discarded"], 0, "an id not found is skipped");
    assert!(dead_letter_rows(&w, "adapter").await.is_empty());

    let (status, body) = w.admin("GET", "/rc/v1/system/jobs/nope/dead_letters", None).await;
    assert_eq!((status, body.as_str()), (404, "Unknown queue nope"));
    let (status, _) = w.admin("POST", "/rc/v1/system/jobs/adapter/dead_letters/replay", Some(json!({"x": 1}))).await;
    assert_eq!(status, 400);
}

/// A REST backend whose creates fail while `failing` is set.
async fn backend(failing: Arc<AtomicBool>) -> String {
    async fn list() -> Response {
        axum::Json(json!({"items": []})).into_response()
    }
    async fn create(State(failing): State<Arc<AtomicBool>>) -> Response {
        if failing.load(Ordering::SeqCst) {
            return (StatusCode::UNPROCESSABLE_ENTITY, "{\"error\":\"refused\"}").into_response();
        }
        (StatusCode::CREATED, axum::Json(json!({"id": "r1"}))).into_response()
    }
    let app = Router::new().route("/items", axum::routing::get(list).post(create)).with_state(failing);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

fn rest_settings(base: &str) -> String {
    format!(
        r#"
:development:
  :poll_interval_default: 300
  :device_auth: open
  :plugin_timeout: 3
:sources:
  Item:
    adapter: rest
    url: {base}
    poll_interval: 300
    cud_queue: true
    adapter_options:
      list_url: /items
      records_pointer: /items
      create: {{url: /items, id_pointer: /id}}
"#
    )
}

#[tokio::test]
async fn rejected_writes_are_listed_retried_and_dismissed() {
    let failing = Arc::new(AtomicBool::new(true));
    let base = backend(failing.clone()).await;
    let w = World::new("rejected", &rest_settings(&base)).await;
    let mut d = w.device("ann").await;
    d.sync_all("Item", 100).await;
    let r = d.cud("Item", json!({"create": {"tmp-1": {"name": "Bolt"}, "tmp-2": {"name": "Nut"}}})).await;
    assert_eq!(r.status, 200);
    w.settle_writes().await;

    let (status, body) = w.admin("GET", "/rc/v1/system/rejected_writes?source_id=Item&user_id=ann", None).await;
    assert_eq!(status, 200, "{body}");
    let mut rows: Vec<Value> = serde_json::from_value(parse(&body)).unwrap_or_default();
    rows.sort_by_key(|r| r["object"].as_str().unwrap_or_default().to_owned());
    assert_eq!(rows.len(), 2, "{body}");
    assert_eq!(
        rows[0],
        json!({"source": "Item", "user": "ann", "client": d.client_id, "op": "create", "object": "tmp-1",
               "attributes": {"name": "Bolt"}, "error": "422 Unprocessable Entity"})
    );
    let (_, body) = w.admin("GET", "/rc/v1/system/rejected_writes?user_id=bob", None).await;
    assert_eq!(parse(&body), json!([]));

    // The backend is fixed; tmp-1 is retried (twice at once: once), tmp-2 dismissed.
    failing.store(false, Ordering::SeqCst);
    let sel = |objects: Value| json!({"source": "Item", "user": "ann", "client": d.client_id, "op": "create", "objects": objects});
    let retry = || w.admin("POST", "/rc/v1/system/rejected_writes/retry", Some(sel(json!(["tmp-1"]))));
    let (a, b) = tokio::join!(retry(), retry());
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    assert_eq!(parse(&a.1)["retried"].as_u64().unwrap_or(9) + parse(&b.1)["retried"].as_u64().unwrap_or(9), 1);
    let (status, body) = w.admin("POST", "/rc/v1/system/rejected_writes/dismiss", Some(sel(json!(["tmp-2"])))).await;
    assert_eq!((status, parse(&body)["dismissed"].as_u64()), (200, Some(1)), "{body}");
    w.settle_writes().await;
    let (_, body) = w.admin("GET", "/rc/v1/system/rejected_writes", None).await;
    assert_eq!(parse(&body), json!([]), "nothing rejected any more");
    let page = d.query("Item", "").await;
    assert_eq!(page.command()["links"], json!({"tmp-1": {"l": "r1"}}), "{}", page.text);
}

#[tokio::test]
async fn every_console_route_needs_the_admin_token() {
    let w = World::new("consoleauth", SYNC_SETTINGS).await;
    let routes = [
        ("GET", "/rc/v1/system/jobs"),
        ("GET", "/rc/v1/system/jobs/adapter/dead_letters"),
        ("POST", "/rc/v1/system/jobs/adapter/dead_letters/replay"),
        ("POST", "/rc/v1/system/jobs/push/dead_letters/discard"),
        ("GET", "/rc/v1/system/rejected_writes"),
        ("POST", "/rc/v1/system/rejected_writes/retry"),
        ("POST", "/rc/v1/system/rejected_writes/dismiss"),
    ];
    for (method, path) in routes {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = w
            .http
            .request(method, w.url(path))
            .header("Content-Type", "application/json")
            .body(json!({"ids": []}).to_string())
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 422, "{path}");
    }
    let (status, body) = w.admin("GET", "/rc/v1/system/jobs", None).await;
    assert_eq!(status, 200, "{body}");
    let overview = parse(&body);
    let names: Vec<&str> =
        overview["queues"].as_array().into_iter().flatten().filter_map(|q| q["name"].as_str()).collect();
    assert_eq!(names, ["adapter", "push", "bulk"]);
    assert!(overview["bulk"].is_array() && overview["pings"].is_array(), "{overview}");
}
