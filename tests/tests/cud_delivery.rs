//! Exactly-once effect of queued client writes and the failure paths, with the adapter
//! worker started, killed and restarted by the test (docs/sync-engine.md §6, docs/jobs.md §4):
//! a message delivered twice and a device retrying both reach the backend once; a worker
//! killed in the middle of a backend call loses nothing and the backend applies the write
//! once (Idempotency-Key); a write that keeps failing lands in the DLQ and the device gets
//! its `create-error`; blob parts reach S3 and the adapter; the duplicates validator;
//! inline sources.

mod cud_support;
mod sync_support;

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use cud_support::{multipart, PluginBackend};
use rhosync_e2e::{eventually, start_adapter_worker};
use serde_json::{json, Value};
use sync_support::{Device, World};

fn settings(appserver: &str) -> String {
    format!(
        "\
:development:
  :poll_interval_default: 300
  :plugin_timeout: 5
  :appserver: {appserver}
:sources:
  Contact:
    adapter: plugin
    cud_queue: true
  Shared:
    adapter: plugin
    partition_type: app
    find_duplicates_on_update: true
    cud_queue: true
  Strict:
    adapter: plugin
    partition_type: app
    find_duplicates_on_update: raise_error
    cud_queue: true
  Direct:
    adapter: plugin
"
    )
}

/// Bodies of the messages on `queue` (left visible).
async fn peek(w: &World, queue: &str) -> Vec<String> {
    let out = w
        .env
        .state
        .aws
        .sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .expect("receive");
    out.messages.unwrap_or_default().into_iter().filter_map(|m| m.body).collect()
}

async fn send(w: &World, queue: &str, body: &str) {
    w.env.state.aws.sqs.send_message().queue_url(queue).message_body(body).send().await.expect("send");
}

fn adapter_queue(w: &World) -> String {
    w.env.provisioned.adapter_queue_url.clone()
}

#[tokio::test]
async fn a_message_delivered_twice_and_a_device_retry_reach_the_backend_once() {
    let backend = PluginBackend::start().await;
    let w = World::http_only("cuddup", &settings(&backend.base)).await;
    let mut d = w.device_with_password("ann", "secret").await;

    // Same SQS message twice: the queued write is copied before any worker runs.
    assert_eq!(d.cud("Contact", json!({"create": {"tmp-1": {"name": "Once"}}})).await.status, 200);
    let bodies = peek(&w, &adapter_queue(&w)).await;
    assert_eq!(bodies.len(), 1, "the write is queued before the 200");
    send(&w, &adapter_queue(&w), &bodies[0]).await;

    // A device retrying a request whose answer it lost: same body again.
    let update = json!({"update": {"5": {"price": "10"}}});
    d.cud("Contact", update.clone()).await;
    d.cud("Contact", update.clone()).await;
    // A later, real repetition of the same change (10 → 20 → 10) is not a retry.
    d.cud("Contact", json!({"update": {"5": {"price": "20"}}})).await;
    d.cud("Contact", update).await;

    let worker = start_adapter_worker(&w.env, 1);
    w.settle_writes().await;
    worker.stop().await;
    assert_eq!(backend.calls("create").len(), 1, "duplicate delivery called the backend again");
    let prices: Vec<Value> = backend.calls("update").iter().map(|c| c.body["attributes"]["price"].clone()).collect();
    assert_eq!(prices.len(), 3, "retry deduplicated, later repetition applied: {prices:?}");
    assert_eq!(prices.iter().filter(|p| **p == "10").count(), 2);
    let page = d.query("Contact", "").await;
    assert_eq!(page.command()["links"], json!({"tmp-1": {"l": "101"}}), "{}", page.text);
}

#[tokio::test]
async fn a_worker_killed_mid_call_loses_nothing_and_the_backend_applies_once() {
    let backend = PluginBackend::start().await;
    let w = World::http_only("cudcrash", &settings(&backend.base)).await;
    // Redeliver an unsettled message after 2 s instead of the template's 30 s.
    w.env
        .state
        .aws
        .sqs
        .set_queue_attributes()
        .queue_url(adapter_queue(&w))
        .attributes(QueueAttributeName::VisibilityTimeout, "2")
        .send()
        .await
        .expect("visibility");
    let mut d = w.device_with_password("ann", "secret").await;
    let gate = backend.hold_next_create();
    let first = start_adapter_worker(&w.env, 1);
    assert_eq!(d.cud("Contact", json!({"create": {"tmp-1": {"name": "Survivor"}}})).await.status, 200);
    let called =
        eventually(Duration::from_secs(10), || async { (backend.calls("create").len() == 1).then_some(()) }).await;
    assert!(called.is_some(), "the worker reached the backend");

    // Crash while the backend holds the call; then let the backend finish it (it applies
    // the create, but nobody hears the answer).
    first.kill();
    gate.notify_one();

    let second = start_adapter_worker(&w.env, 1);
    w.settle_writes().await;
    second.stop().await;
    let creates = backend.calls("create");
    assert_eq!(creates.len(), 2, "redelivery called again: the outcome was never recorded");
    assert_eq!(creates[0].idempotency_key, creates[1].idempotency_key, "same key on the retry");
    assert_eq!(backend.effects(), 1, "applied once");
    assert_eq!(backend.objects("ann").len(), 1);
    let page = d.query("Contact", "").await;
    assert_eq!(page.command()["links"], json!({"tmp-1": {"l": "101"}}), "{}", page.text);
}

async fn post_multipart(d: &mut Device, cud: &Value, files: &[(&str, &str, &[u8])]) -> u16 {
    let boundary = "rhosync-test-boundary";
    let body = multipart(boundary, &[("cud", &cud.to_string())], files);
    let req = d
        .http
        .post(format!("{}/application", d.base))
        .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
        .body(body);
    d.send(req).await.status
}

async fn blob_keys(w: &World) -> Vec<String> {
    let out = w
        .env
        .state
        .aws
        .s3
        .list_objects_v2()
        .bucket(&w.env.provisioned.bucket)
        .prefix("blobs/")
        .send()
        .await
        .expect("list");
    out.contents.unwrap_or_default().into_iter().filter_map(|o| o.key).collect()
}

#[tokio::test]
async fn blob_parts_are_stored_before_the_answer_and_handed_to_the_adapter() {
    let backend = PluginBackend::start().await;
    let w = World::http_only("cudblob", &settings(&backend.base)).await;
    let mut d = w.device_with_password("ann", "secret").await;
    let cud = json!({"source_name": "Contact", "client_id": d.client_id,
        "create": {"tmp-p": {"name": "pic", "image": "/sdcard/p.png"}}, "blob_fields": ["image"]});
    assert_eq!(post_multipart(&mut d, &cud, &[("image-tmp-p", "p.png", b"\x89PNG-bytes")]).await, 200);

    let keys = blob_keys(&w).await;
    assert_eq!(keys.len(), 1, "stored before the 200: {keys:?}");
    let stored =
        w.env.state.aws.s3.get_object().bucket(&w.env.provisioned.bucket).key(&keys[0]).send().await.expect("get");
    assert_eq!(stored.body.collect().await.expect("bytes").into_bytes().as_ref(), b"\x89PNG-bytes");

    let worker = start_adapter_worker(&w.env, 1);
    w.settle_writes().await;
    worker.stop().await;
    let creates = backend.calls("create");
    assert_eq!(creates.len(), 1);
    let expected = format!("s3://{}/{}", w.env.provisioned.bucket, keys[0]);
    assert_eq!(creates[0].body["attributes"], json!({"name": "pic", "image": expected}));
    let page = d.query("Contact", "").await;
    assert_eq!(page.command()["links"], json!({"tmp-p": {"l": "101"}}), "{}", page.text);
}

#[tokio::test]
async fn a_write_that_keeps_failing_goes_to_the_dlq_and_the_device_gets_its_error() {
    let backend = PluginBackend::start().await;
    let w = World::http_only("cuddlq", &settings(&backend.base)).await;
    let mut d = w.device_with_password("ann", "secret").await;
    let cud = json!({"source_name": "Contact", "client_id": d.client_id,
        "create": {"tmp-p": {"name": "lost", "image": "/sdcard/p.png"}}, "blob_fields": ["image"]});
    assert_eq!(post_multipart(&mut d, &cud, &[("image-tmp-p", "p.png", b"bytes")]).await, 200);
    // The stored bytes vanish: every attempt fails on infrastructure, not on the adapter.
    for key in blob_keys(&w).await {
        w.env.state.aws.s3.delete_object().bucket(&w.env.provisioned.bucket).key(key).send().await.expect("delete");
    }

    let worker = start_adapter_worker(&w.env, 1);
    let dlq = w
        .env
        .state
        .aws
        .sqs
        .get_queue_url()
        .queue_name(format!("{}-adapter-dlq", w.env.prefix))
        .send()
        .await
        .expect("dlq");
    let dlq = dlq.queue_url.unwrap_or_default();
    let dead = eventually(Duration::from_secs(20), || {
        let dlq = dlq.clone();
        let w = &w;
        async move {
            let bodies = peek(w, &dlq).await;
            (!bodies.is_empty()).then_some(bodies)
        }
    })
    .await
    .expect("the write reached the DLQ");
    worker.stop().await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].contains("tmp-p"));
    assert!(backend.calls("create").is_empty());
    let page = d.query("Contact", "").await;
    assert_eq!(
        page.command()["create-error"],
        json!({"tmp-p": {"name": "lost", "image": "/sdcard/p.png"}, "tmp-p-error": {"message": "write could not be applied"}}),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn duplicate_updates_of_one_batch_are_applied_once_or_refused() {
    let backend = PluginBackend::start().await;
    let w = World::http_only("cudval", &settings(&backend.base)).await;
    let mut ann = w.device_with_password("ann", "secret").await;
    let mut bob = w.device_with_password("bob", "secret").await;
    let same = json!({"update": {"1": {"name": "Same"}}});
    for source in ["Shared", "Strict"] {
        ann.cud(source, same.clone()).await;
        bob.cud(source, same.clone()).await;
    }
    let worker = start_adapter_worker(&w.env, 1);
    w.settle_writes().await;
    worker.stop().await;
    let per_source = |s: &str| backend.calls("update").iter().filter(|c| c.body["resource"] == s).count();
    assert_eq!(per_source("Shared"), 1, "bob's duplicate is skipped");
    assert_eq!(per_source("Strict"), 1, "bob's duplicate is refused");
    assert!(bob.query("Shared", "").await.command().get("update-error").is_none());
    let page = bob.query("Strict", "").await;
    assert_eq!(
        page.command()["update-error"]["1-error"],
        json!({"message": "Error during update: object conflict detected"}),
        "{}",
        page.text
    );
}

#[tokio::test]
async fn an_inline_source_applies_the_write_before_answering() {
    let backend = PluginBackend::start().await;
    let w = World::http_only("cudinline", &settings(&backend.base)).await;
    let mut d = w.device_with_password("ann", "secret").await;
    assert_eq!(d.cud("Direct", json!({"create": {"t": {"name": "Now"}}})).await.status, 200);
    assert_eq!(backend.calls("create").len(), 1, "applied inside the request");
    assert!(peek(&w, &adapter_queue(&w)).await.is_empty(), "nothing queued");
    // A retry of the same request does not call the backend again.
    d.cud("Direct", json!({"create": {"t": {"name": "Now"}}})).await;
    assert_eq!(backend.calls("create").len(), 1);
    assert_eq!(d.query("Direct", "").await.command()["links"], json!({"t": {"l": "101"}}));
}
