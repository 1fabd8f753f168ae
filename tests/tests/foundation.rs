//! The foundation's edges against the real things: Redis through the key helper, DynamoDB,
//! S3, and SQS messages flowing through the local runner into each worker — including a
//! failing message reported as a batch item failure and moved to its DLQ.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use redis::AsyncCommands;
use rhosync_e2e::{eventually, start_runner, TestEnv, DEMO_SETTINGS};
use rhosync_server::jobs::JobLedger;
use rhosync_server::registry::{ClientRecord, User};

#[tokio::test]
async fn redis_round_trip_through_the_key_helper() {
    let env = TestEnv::new("redis", DEMO_SETTINGS).await;
    let redis = &env.state.redis;
    let key = redis.keys.key("Product:alice", "probe");
    assert!(key.starts_with(&format!("{}:{{Product:alice}}:", env.prefix)), "{key}");
    let mut conn = redis.conn();
    let _: () = conn.set(&key, "v1").await.expect("SET");
    let read: String = conn.get(&key).await.expect("GET");
    assert_eq!(read, "v1");
    let slot_a: i64 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(&key).query_async(&mut conn).await.unwrap_or(-1);
    let other = redis.keys.key("Product:alice", "another");
    let slot_b: i64 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(&other).query_async(&mut conn).await.unwrap_or(-2);
    // CLUSTER KEYSLOT needs cluster support; when it answers, same tag means same slot.
    if slot_a >= 0 {
        assert_eq!(slot_a, slot_b, "keys with one hash tag share a slot");
    }
}

#[tokio::test]
async fn dynamodb_registry_put_get_and_list() {
    let env = TestEnv::new("dynamo", DEMO_SETTINGS).await;
    let registry = env.state.registry();
    let user = User { login: "alice".into(), password_hash: Some("h".into()), email: None, admin: false };
    registry.put_user(&user).await.expect("put user");
    assert_eq!(registry.user("alice").await.expect("get"), Some(user));
    assert_eq!(registry.user("bob").await.expect("get"), None);
    assert!(registry.ensure_user("bob").await.expect("ensure"), "created");
    assert!(!registry.ensure_user("bob").await.expect("ensure"), "exists already");
    let mut users = registry.users().await.expect("list");
    users.sort();
    assert_eq!(users, ["alice", "bob"]);

    let client =
        ClientRecord { id: "c1".into(), user_id: "alice".into(), app_id: "application".into(), ..Default::default() };
    registry.put_client(&client).await.expect("put client");
    assert_eq!(registry.clients_of("alice").await.expect("clients"), ["c1"]);
    // Re-assigning a client moves its membership (docs/sync-engine.md §8.2).
    registry.put_client(&ClientRecord { user_id: "bob".into(), ..client.clone() }).await.expect("move");
    assert!(registry.clients_of("alice").await.expect("clients").is_empty());
    assert_eq!(registry.clients_of("bob").await.expect("clients"), ["c1"]);

    registry.set_user_token("alice", "tok1").await.expect("token");
    registry.set_user_token("alice", "tok2").await.expect("token");
    assert_eq!(registry.token_user("tok2").await.expect("lookup").as_deref(), Some("alice"));
    assert_eq!(registry.token_user("tok1").await.expect("lookup"), None, "old token revoked");

    registry.delete_user("bob").await.expect("delete");
    assert_eq!(registry.client("c1").await.expect("get"), None, "clients go with their user");
}

#[tokio::test]
async fn s3_put_get() {
    let env = TestEnv::new("s3", DEMO_SETTINGS).await;
    let s3 = &env.state.aws.s3;
    let bucket = &env.provisioned.bucket;
    s3.put_object()
        .bucket(bucket)
        .key("data/probe.txt")
        .body(b"hello bulk".to_vec().into())
        .send()
        .await
        .expect("put object");
    let body = s3.get_object().bucket(bucket).key("data/probe.txt").send().await.expect("get object").body;
    let bytes = body.collect().await.expect("read body").into_bytes();
    assert_eq!(&bytes[..], b"hello bulk");
}

#[tokio::test]
async fn each_queue_reaches_its_worker_through_the_runner() {
    let env = TestEnv::new("queues", DEMO_SETTINGS).await;
    let runner = start_runner(&env, 0).await;
    let sqs = &env.state.aws.sqs;
    let ledger = JobLedger::new(env.state.redis.clone());
    let jobs = [
        (
            &env.provisioned.adapter_queue_url,
            r#"{"id":"job-adapter","kind":"refresh","source":"Product","user":"demo"}"#,
        ),
        (&env.provisioned.push_queue_url, r#"{"id":"job-push","kind":"ping","users":["demo"]}"#),
        (&env.provisioned.bulk_queue_url, r#"{"id":"job-bulk","kind":"bulk","name":"application/demo"}"#),
    ];
    for (queue, body) in jobs {
        sqs.send_message().queue_url(queue).message_body(body).send().await.expect("send");
    }
    for id in ["job-adapter", "job-push", "job-bulk"] {
        let done =
            eventually(Duration::from_secs(20), || async { ledger.is_done(id).await.expect("ledger").then_some(()) })
                .await;
        assert!(done.is_some(), "{id} was not handled by its worker");
    }
    for (queue, _) in jobs {
        assert_eq!(visible_plus_inflight(&env, queue).await, 0, "handled messages are deleted");
    }
    runner.shutdown().await;
}

#[tokio::test]
async fn a_failing_message_is_retried_then_dead_lettered() {
    let env = TestEnv::new("dlq", DEMO_SETTINGS).await;
    let runner = start_runner(&env, 0).await;
    let sqs = &env.state.aws.sqs;
    let queue = &env.provisioned.push_queue_url;
    // Valid JSON but a job for another worker: the push worker reports it as failed.
    sqs.send_message()
        .queue_url(queue)
        .message_body(r#"{"id":"misrouted","kind":"bulk","name":"x"}"#)
        .send()
        .await
        .expect("send");
    let dlq = queue.replace("-push", "-push-dlq");
    let arrived = eventually(Duration::from_secs(30), || async {
        let out = sqs.receive_message().queue_url(&dlq).send().await.expect("receive dlq");
        out.messages.unwrap_or_default().into_iter().next()
    })
    .await
    .expect("the failing message reached the DLQ");
    assert!(arrived.body().unwrap_or_default().contains("misrouted"));
    let ledger = JobLedger::new(env.state.redis.clone());
    assert!(!ledger.is_done("misrouted").await.expect("ledger"), "a failed job is not marked done");
    assert_eq!(visible_plus_inflight(&env, queue).await, 0, "gone from the source queue");
    runner.shutdown().await;
}

#[tokio::test]
async fn health_answers_for_every_function_route_group() {
    let env = TestEnv::new("health", DEMO_SETTINGS).await;
    let runner = start_runner(&env, 0).await;
    let http = reqwest::Client::new();
    for function in ["sync", "api", "console"] {
        let response = http.get(format!("{}/health/{function}", runner.base_url())).send().await.expect("request");
        assert_eq!(response.status(), 200, "{function}");
        assert_eq!(response.headers()["cache-control"], "no-cache");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["function"], function);
        assert_eq!(body["redis"], "ok");
        assert_eq!(body["aws"], "ok");
    }
    let missing = http.get(format!("{}/no/such/route", runner.base_url())).send().await.expect("request");
    assert_eq!(missing.status(), 404);
    runner.shutdown().await;
}

async fn visible_plus_inflight(env: &TestEnv, queue: &str) -> u64 {
    let attrs = env
        .state
        .aws
        .sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .unwrap_or_default();
    [QueueAttributeName::ApproximateNumberOfMessages, QueueAttributeName::ApproximateNumberOfMessagesNotVisible]
        .iter()
        .map(|k| attrs.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn the_console_is_served_next_to_its_backend() {
    let env = TestEnv::new("console", DEMO_SETTINGS).await;
    let runner = start_runner(&env, 0).await;
    let http = reqwest::Client::new();
    let page = http.get(format!("{}/console/", runner.base_url())).send().await.expect("request");
    let status = page.status();
    let body = page.text().await.expect("body");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("rhosync console"));
    let script = http.get(format!("{}/console/console.js", runner.base_url())).send().await.expect("request");
    assert_eq!(script.status(), 200);
    let info: serde_json::Value = http
        .get(format!("{}/console/info", runner.base_url()))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["stats"], true, "statistics are on by default");
    runner.shutdown().await;
}
