//! Contract tests of the ports: the same operations against the real edge (on the AWS
//! emulator) and against the in-memory implementation must give the same answers, so tests
//! that use the in-memory ones test what production does.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rhosync_server::edges::{aws, AwsClients, QueueUrls, S3BlobStore, SqsJobQueue};
use rhosync_server::ports::queue::MAX_MESSAGE_BYTES;
use rhosync_server::ports::{
    BlobStore, CudOp, CudWrite, Job, JobMessage, JobQueue, MemoryBlobStore, MemoryJobQueue, Queue,
};
use rhosync_server::registry::dynamo::{MAX_PK_BYTES, MAX_SK_BYTES};
use rhosync_server::registry::{ClientRecord, DynamoRegistry, MemoryRegistry, Registry, SourceOverrides, User};
use rhosync_testkit::{unique_prefix, Stack};
use serde_json::{json, Value};

/// Fresh emulated resources (table, bucket, queues) for one test.
async fn provisioned(label: &str) -> (AwsClients, aws::Provisioned) {
    let stack = Stack::get();
    let clients = AwsClients::from_env().await;
    let provisioned = aws::provision(&clients, &unique_prefix(label))
        .await
        .unwrap_or_else(|e| panic!("provisioning on {} failed: {e}", stack.aws_endpoint_url));
    (clients, provisioned)
}

/// Compares the answers of two runs step by step, naming the first step that differs.
fn assert_same_answers(steps: &[String], real: &[String], memory: &[String]) {
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(real.get(i), memory.get(i), "step {i}, {step}: the edge and the in-memory port disagree");
    }
    assert_eq!(real.len(), memory.len());
}

#[derive(Debug, Clone)]
enum RegistryOp {
    User(String),
    PutUser(User),
    PutAdmin(User),
    EnsureUser(String),
    CreateUser(User),
    DeleteUser(String),
    Users,
    Client(String),
    PutClient(ClientRecord),
    CreateClient(ClientRecord),
    PutClientOwnedBy(ClientRecord, Option<String>),
    DeleteClient(String),
    ClientsOf(String),
    ForgetDevicePin(String, String),
    Clients(Vec<String>),
    TokenUser(String),
    UserToken(String),
    SetUserToken(String, String),
    DeleteToken(String),
    Clear,
    SourceOverrides(String),
    PutSourceOverrides(String, SourceOverrides),
    RegisteredSources,
}

/// Runs `op` and renders its answer; errors compare as `Err` whatever their text.
async fn run(registry: &dyn Registry, op: &RegistryOp) -> String {
    fn show<T: std::fmt::Debug>(r: Result<T, rhosync_server::registry::RegistryError>) -> String {
        match r {
            Ok(v) => format!("Ok({v:?})"),
            Err(_) => "Err".to_owned(),
        }
    }
    match op {
        RegistryOp::User(login) => show(registry.user(login).await),
        RegistryOp::PutUser(user) => show(registry.put_user(user).await),
        RegistryOp::PutAdmin(user) => show(registry.put_admin(user).await),
        RegistryOp::EnsureUser(login) => show(registry.ensure_user(login).await),
        RegistryOp::CreateUser(user) => show(registry.create_user(user).await),
        RegistryOp::DeleteUser(login) => show(registry.delete_user(login).await),
        RegistryOp::Users => show(registry.users().await),
        RegistryOp::Client(id) => show(registry.client(id).await),
        RegistryOp::PutClient(client) => show(registry.put_client(client).await),
        RegistryOp::CreateClient(client) => show(registry.create_client(client).await),
        RegistryOp::PutClientOwnedBy(client, owner) => {
            show(registry.put_client_owned_by(client, owner.as_deref()).await)
        }
        RegistryOp::DeleteClient(id) => show(registry.delete_client(id).await),
        RegistryOp::ClientsOf(login) => show(registry.clients_of(login).await),
        RegistryOp::ForgetDevicePin(id, pin) => show(registry.forget_device_pin(id, pin).await),
        RegistryOp::Clients(ids) => show(registry.clients(ids).await.map(|mut found| {
            found.sort_by(|a, b| a.id.cmp(&b.id));
            found
        })),
        RegistryOp::TokenUser(token) => show(registry.token_user(token).await),
        RegistryOp::UserToken(login) => show(registry.user_token(login).await),
        RegistryOp::SetUserToken(login, token) => show(registry.set_user_token(login, token).await),
        RegistryOp::DeleteToken(token) => show(registry.delete_token(token).await),
        RegistryOp::Clear => show(registry.clear().await),
        RegistryOp::SourceOverrides(name) => show(registry.source_overrides(name).await),
        RegistryOp::PutSourceOverrides(name, overrides) => show(registry.put_source_overrides(name, overrides).await),
        RegistryOp::RegisteredSources => show(registry.registered_sources().await),
    }
}

fn user(login: &str, hash: Option<&str>, email: Option<&str>, admin: bool) -> User {
    User { login: login.into(), password_hash: hash.map(str::to_owned), email: email.map(str::to_owned), admin }
}

fn client(id: &str, owner: &str) -> ClientRecord {
    ClientRecord { id: id.into(), user_id: owner.into(), app_id: "application".into(), ..ClientRecord::default() }
}

fn overrides(value: Value) -> SourceOverrides {
    match value {
        Value::Object(map) => map,
        _ => SourceOverrides::new(),
    }
}

/// Every operation of the port, including the corners: tokens kept on profiles, bare
/// profiles, owner changes, cascading deletes, keys over DynamoDB's limits.
fn registry_script() -> Vec<RegistryOp> {
    use RegistryOp::*;
    let s = |v: &str| v.to_owned();
    let mut device = BTreeMap::new();
    device.insert(s("device_type"), s("iPhone"));
    device.insert(s("device_pin"), s("pin-1"));
    let c1 = ClientRecord { device, last_sync: Some(s("2024-01-01T00:00:00Z")), ..client("c1", "amy") };
    let too_long_pk = "p".repeat(MAX_PK_BYTES);
    let too_long_sk = "q".repeat(MAX_SK_BYTES);
    vec![
        Users,
        User(s("amy")),
        CreateUser(user("amy", Some("h1"), Some("amy@example.com"), false)),
        CreateUser(user("amy", Some("h2"), None, true)),
        User(s("amy")),
        // A login that starts with the key prefix itself is listed as it is.
        CreateUser(user("USER#USER#eve", None, None, false)),
        EnsureUser(s("bob")),
        EnsureUser(s("bob")),
        User(s("bob")),
        PutUser(user("bob", Some("hb"), Some("bob@example.com"), false)),
        PutAdmin(user("rhoadmin", Some("ha"), None, true)),
        Users,
        User(s("rhoadmin")),
        SetUserToken(s("bob"), s("t1")),
        SetUserToken(s("bob"), s("t2")),
        TokenUser(s("t1")),
        TokenUser(s("t2")),
        UserToken(s("bob")),
        PutUser(user("bob", None, None, true)),
        UserToken(s("bob")),
        User(s("bob")),
        SetUserToken(s("bob"), s("t2")),
        TokenUser(s("t2")),
        SetUserToken(s("amy"), s("t2")),
        TokenUser(s("t2")),
        UserToken(s("bob")),
        UserToken(s("amy")),
        SetUserToken(s("ghost"), s("t3")),
        User(s("ghost")),
        Users,
        CreateUser(user("ghost", Some("hg"), None, false)),
        DeleteToken(s("t3")),
        TokenUser(s("t3")),
        UserToken(s("ghost")),
        DeleteToken(s("never-issued")),
        CreateClient(c1),
        Client(s("c1")),
        Client(s("c2")),
        // Dead push addresses (docs/push.md §7): only the registered one is dropped.
        ForgetDevicePin(s("c1"), s("other-pin")),
        ForgetDevicePin(s("c1"), s("pin-1")),
        Client(s("c1")),
        ForgetDevicePin(s("c1"), s("pin-1")),
        ForgetDevicePin(s("no-such-client"), s("pin-1")),
        ForgetDevicePin(too_long_pk.clone(), s("pin-1")),
        Clients(vec![s("c1"), s("no-such-client"), s("c1"), too_long_pk.clone()]),
        Clients(Vec::new()),
        PutClient(client("c2", "amy")),
        ClientsOf(s("amy")),
        PutClient(client("c2", "bob")),
        ClientsOf(s("amy")),
        ClientsOf(s("bob")),
        PutClientOwnedBy(client("c3", "amy"), None),
        PutClientOwnedBy(ClientRecord { last_sync: Some(s("later")), ..client("c3", "amy") }, Some(s("amy"))),
        Client(s("c3")),
        PutClientOwnedBy(client("c3", "bob"), Some(s("amy"))),
        ClientsOf(s("amy")),
        ClientsOf(s("bob")),
        DeleteClient(s("c1")),
        Client(s("c1")),
        ClientsOf(s("amy")),
        DeleteClient(s("no-such-client")),
        ClientsOf(s("nobody")),
        DeleteUser(s("bob")),
        ClientsOf(s("bob")),
        Client(s("c2")),
        Client(s("c3")),
        User(s("bob")),
        TokenUser(s("t2")),
        UserToken(s("amy")),
        Users,
        DeleteUser(s("nobody")),
        SourceOverrides(s("Product")),
        PutSourceOverrides(s("Product"), overrides(json!({"poll_interval": 10, "nested": {"a": [1, "b", null]}}))),
        SourceOverrides(s("Product")),
        PutSourceOverrides(s("Customer"), overrides(json!({}))),
        RegisteredSources,
        PutSourceOverrides(s("Product"), overrides(json!({"queue": "q"}))),
        SourceOverrides(s("Product")),
        SourceOverrides(s("Customer")),
        // Keys over DynamoDB's limits.
        User(too_long_pk.clone()),
        PutUser(user(&too_long_pk, None, None, false)),
        PutUser(user(&too_long_sk, None, None, false)),
        User(too_long_sk.clone()),
        Users,
        CreateClient(client(&too_long_sk, "amy")),
        Client(too_long_sk.clone()),
        ClientsOf(s("amy")),
        DeleteClient(too_long_pk.clone()),
        ClientsOf(too_long_pk.clone()),
        TokenUser(too_long_pk.clone()),
        DeleteToken(too_long_pk.clone()),
        SetUserToken(s("amy"), too_long_pk.clone()),
        TokenUser(s("t2")),
        UserToken(s("amy")),
        DeleteUser(too_long_pk.clone()),
        Clear,
        Users,
        RegisteredSources,
        User(s("amy")),
        User(s("rhoadmin")),
        Client(s("c3")),
        SourceOverrides(s("Product")),
        UserToken(s("ghost")),
        CreateUser(user("amy", None, None, false)),
        Users,
    ]
}

#[tokio::test]
async fn memory_registry_answers_like_the_dynamodb_registry() {
    let (clients, provisioned) = provisioned("regcontract").await;
    let dynamo = DynamoRegistry::new(clients.dynamodb.clone(), provisioned.table.clone());
    let memory = MemoryRegistry::new();
    let script = registry_script();
    let (mut real, mut fake) = (Vec::new(), Vec::new());
    for op in &script {
        real.push(run(&dynamo, op).await);
        fake.push(run(&memory, op).await);
    }
    let steps: Vec<String> = script.iter().map(|op| format!("{op:?}").chars().take(160).collect()).collect();
    assert_same_answers(&steps, &real, &fake);
}

/// Receives from `url` until `count` messages came (or `within` passed); deletes them.
async fn receive_bodies(sqs: &aws_sdk_sqs::Client, url: &str, count: usize, within: Duration) -> Vec<String> {
    let mut bodies = Vec::new();
    let deadline = Instant::now() + within;
    while bodies.len() < count && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("receive: {}", rhosync_server::edges::AwsError::sdk("sqs", e)));
        for message in out.messages.unwrap_or_default() {
            if let Some(handle) = &message.receipt_handle {
                sqs.delete_message().queue_url(url).receipt_handle(handle).send().await.expect("delete");
            }
            bodies.extend(message.body);
        }
    }
    bodies
}

fn job_messages() -> Vec<(Queue, JobMessage)> {
    let mut attrs = serde_json::Map::new();
    attrs.insert("name".into(), json!("Café ☕"));
    attrs.insert("price".into(), json!(1.5));
    let write = CudWrite {
        key: "abc.1".into(),
        source: "Product".into(),
        login: "amy".into(),
        client_id: "c1".into(),
        accepted_ms: 1_700_000_000_000,
        create: vec![("tmp-1".into(), attrs)],
        update: Vec::new(),
        delete: vec![("9".into(), serde_json::Map::new())],
        blobs: vec![rhosync_server::ports::BlobRef {
            op: CudOp::Create,
            object: "tmp-1".into(),
            field: "photo".into(),
            stored_key: "blobs/Product/abc.1/create-photo-tmp-1".into(),
            filename: Some("p.jpg".into()),
            content_type: None,
            size: 3,
        }],
    };
    vec![
        (
            Queue::Adapter,
            JobMessage {
                id: Some("r1".into()),
                job: Job::Refresh {
                    source: "Product".into(),
                    user: "amy".into(),
                    query: Some(json!({"q": [1, {"x": null}]})),
                },
            },
        ),
        (
            Queue::Adapter,
            JobMessage {
                id: Some(write.key.clone()),
                job: Job::Cud {
                    source: "Product".into(),
                    user: "amy".into(),
                    write: Some(Box::new(write)),
                    write_ref: None,
                },
            },
        ),
        (
            Queue::Push,
            JobMessage {
                id: None,
                job: Job::ping(vec!["amy".into(), "bøb".into()], vec!["Product".into()], "push_notify"),
            },
        ),
        (Queue::Push, JobMessage::with_fresh_id(Job::ping(vec!["amy".into()], Vec::new(), "api"))),
        (
            Queue::Bulk,
            JobMessage {
                id: Some("b1".into()),
                job: Job::Bulk { name: "amy".into(), sources: vec!["Product".into()] },
            },
        ),
    ]
}

#[tokio::test]
async fn memory_queue_holds_what_sqs_delivers() {
    let (clients, provisioned) = provisioned("queuecontract").await;
    let urls = QueueUrls {
        adapter: provisioned.adapter_queue_url.clone(),
        push: provisioned.push_queue_url.clone(),
        bulk: provisioned.bulk_queue_url.clone(),
    };
    let sqs = SqsJobQueue::new(clients.sqs.clone(), urls.clone());
    let memory = MemoryJobQueue::new();
    for (queue, message) in job_messages() {
        sqs.send(queue, &message).await.unwrap_or_else(|e| panic!("{e}"));
        memory.send(queue, &message).await.unwrap_or_else(|e| panic!("{e}"));
    }
    // Over the size limit: both refuse, and nothing arrives.
    let big = JobMessage { id: None, job: Job::ping(vec!["x".repeat(MAX_MESSAGE_BYTES)], Vec::new(), "api") };
    assert!(sqs.send(Queue::Push, &big).await.is_err(), "SQS refuses an oversized message");
    assert!(memory.send(Queue::Push, &big).await.is_err(), "the memory queue refuses it too");
    for queue in Queue::ALL {
        let expected = memory.bodies(queue);
        let mut received = receive_bodies(&clients.sqs, urls.url(queue), expected.len(), Duration::from_secs(20)).await;
        let extra = receive_bodies(&clients.sqs, urls.url(queue), 1, Duration::from_millis(1500)).await;
        assert!(extra.is_empty(), "the {queue} queue holds more than was sent: {extra:?}");
        let json = |bodies: &[String]| -> Vec<Value> {
            let mut values: Vec<Value> =
                bodies.iter().map(|b| serde_json::from_str(b).unwrap_or_else(|e| panic!("body {b}: {e}"))).collect();
            // A standard queue does not keep order.
            values.sort_by_key(|v| v.to_string());
            values
        };
        received.sort();
        assert_eq!(json(&received), json(&expected), "the {queue} queue");
        let parsed: Vec<JobMessage> = received.iter().filter_map(|b| serde_json::from_str(b).ok()).collect();
        assert_eq!(parsed.len(), expected.len(), "every body parses back into a job message");
    }
}

#[derive(Debug, Clone)]
enum BlobOp {
    Put(&'static str, Vec<u8>, Option<&'static str>),
    Get(&'static str),
    Head(&'static str),
    Delete(&'static str),
}

async fn run_blob(store: &dyn BlobStore, op: &BlobOp) -> String {
    let answer = match op {
        BlobOp::Put(key, bytes, content_type) => {
            store.put(key, bytes.clone(), *content_type).await.map(|()| "put".to_owned())
        }
        BlobOp::Get(key) => store.get(key).await.map(|b| format!("{b:?}")),
        BlobOp::Head(key) => store.head(key).await.map(|m| format!("{m:?}")),
        BlobOp::Delete(key) => store.delete(key).await.map(|()| "deleted".to_owned()),
    };
    answer.unwrap_or_else(|_| "Err".to_owned())
}

#[tokio::test]
async fn memory_blob_store_answers_like_s3() {
    let (clients, provisioned) = provisioned("blobcontract").await;
    let s3 = S3BlobStore::new(clients.s3.clone(), provisioned.bucket.clone());
    let memory = MemoryBlobStore::new();
    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let script = vec![
        BlobOp::Get("blobs/Product/k.1/create-photo-1"),
        BlobOp::Head("blobs/Product/k.1/create-photo-1"),
        BlobOp::Put("blobs/Product/k.1/create-photo-1", b"\xff\xd8\xff".to_vec(), Some("image/jpeg")),
        BlobOp::Get("blobs/Product/k.1/create-photo-1"),
        BlobOp::Head("blobs/Product/k.1/create-photo-1"),
        BlobOp::Put("cud/Product/k.2.json", br#"{"key":"k.2"}"#.to_vec(), Some("application/json")),
        BlobOp::Head("cud/Product/k.2.json"),
        BlobOp::Put("blobs/Product/k.3/update-file-7", binary, None),
        BlobOp::Head("blobs/Product/k.3/update-file-7"),
        BlobOp::Put("empty", Vec::new(), None),
        BlobOp::Get("empty"),
        BlobOp::Head("empty"),
        BlobOp::Put("blobs/Product/k.1/create-photo-1", b"again".to_vec(), None),
        BlobOp::Get("blobs/Product/k.1/create-photo-1"),
        BlobOp::Head("blobs/Product/k.1/create-photo-1"),
        BlobOp::Delete("blobs/Product/k.1/create-photo-1"),
        BlobOp::Get("blobs/Product/k.1/create-photo-1"),
        BlobOp::Head("blobs/Product/k.1/create-photo-1"),
        BlobOp::Delete("blobs/Product/k.1/create-photo-1"),
        BlobOp::Get("cud/Product/k.2.json"),
    ];
    let (mut real, mut fake) = (Vec::new(), Vec::new());
    for op in &script {
        real.push(run_blob(&s3, op).await);
        fake.push(run_blob(&memory, op).await);
    }
    let steps: Vec<String> = script.iter().map(|op| format!("{op:?}").chars().take(120).collect()).collect();
    assert_same_answers(&steps, &real, &fake);
    assert_eq!(s3.url("cud/x.json"), format!("s3://{}/cud/x.json", provisioned.bucket));
}
