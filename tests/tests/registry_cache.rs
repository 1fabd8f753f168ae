//! The registry read cache over real Redis and the AWS emulator (docs/registry.md §3):
//! changes made through the API take effect at once — a rotated token, a deleted user, a
//! reset — also under simultaneous requests; and the AWS call counts of the
//! `X-Rhosync-Aws-Calls` header (docs/registry.md §4) hold: a returning device
//! makes no DynamoDB call, a new one (also a new user's first) at most two.

mod sync_support;

use rhosync_e2e::TEST_API_TOKEN;
use rhosync_server::edges::aws::{AwsCalls, AwsService};
use rhosync_server::registry::{DynamoRegistry, Registry};
use serde_json::{json, Value};
use sync_support::{Device, Reply, World, SYNC_SETTINGS};

/// Devices log in with their password (the cache holds the user records they check).
const LOCAL_SETTINGS: &str = "\
:development:
  :poll_interval_default: 300
  :device_auth: local
:sources:
  MockAdapter:
    adapter: mock
    poll_interval: 300
";

async fn call(w: &World, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
    w.with_token(method, path, token, body).await
}

fn device(w: &World) -> Device {
    Device { http: w.http.clone(), base: w.runner.base_url(), cookie: None, client_id: String::new() }
}

async fn login(w: &World, login: &str, password: &str) -> Reply {
    device(w).post_json("/rc/v1/app/login", json!({"login": login, "password": password})).await
}

/// The registry itself, behind the cache.
fn truth(w: &World) -> DynamoRegistry {
    DynamoRegistry::new(w.env.state.aws.dynamodb.clone(), w.env.provisioned.table.clone())
}

#[tokio::test]
async fn a_rotated_token_is_refused_at_once_and_the_new_one_works() {
    let w = World::new("rc-rotate", SYNC_SETTINGS).await;
    // Used twice: the token and its user are cached now.
    for _ in 0..2 {
        assert_eq!(call(&w, TEST_API_TOKEN, "GET", "/rc/v1/users", None).await.0, 200);
    }
    let new = "rotated-token-0123456789abcdef";
    let (status, body) =
        call(&w, TEST_API_TOKEN, "PUT", "/rc/v1/users/rhoadmin", Some(json!({"attributes": {"token": new}}))).await;
    assert_eq!((status, body.as_str()), (200, "User updated"));
    let (status, body) = call(&w, TEST_API_TOKEN, "GET", "/rc/v1/users", None).await;
    assert_eq!((status, body.as_str()), (422, "No API token provided"), "the old token right after the rotation");
    assert_eq!(call(&w, new, "GET", "/rc/v1/users", None).await.0, 200);
    // And back: the token cached as refused is not (no negative entries).
    let (status, _) =
        call(&w, new, "PUT", "/rc/v1/users/rhoadmin", Some(json!({"attributes": {"token": TEST_API_TOKEN}}))).await;
    assert_eq!(status, 200);
    assert_eq!(call(&w, TEST_API_TOKEN, "GET", "/rc/v1/users", None).await.0, 200);
    assert_eq!(call(&w, new, "GET", "/rc/v1/users", None).await.0, 422);
}

#[tokio::test]
async fn a_deleted_user_or_a_changed_password_cannot_log_in_at_once() {
    let w = World::new("rc-delete", LOCAL_SETTINGS).await;
    let (status, body) =
        w.admin("POST", "/rc/v1/users", Some(json!({"attributes": {"login": "amy", "password": "pw1"}}))).await;
    assert_eq!(status, 200, "{body}");
    for _ in 0..2 {
        assert_eq!(login(&w, "amy", "pw1").await.status, 200);
    }
    let (status, _) = w.admin("PUT", "/rc/v1/users/amy", Some(json!({"attributes": {"new_password": "pw2"}}))).await;
    assert_eq!(status, 200);
    assert_eq!(login(&w, "amy", "pw1").await.status, 401, "the old password right after the change");
    assert_eq!(login(&w, "amy", "pw2").await.status, 200);
    let (status, body) = w.admin("DELETE", "/rc/v1/users/amy", None).await;
    assert_eq!((status, body.as_str()), (200, "User deleted"));
    let r = login(&w, "amy", "pw2").await;
    assert_eq!((r.status, r.text.as_str()), (401, "Unable to authenticate 'amy'"), "right after the deletion");
}

#[tokio::test]
async fn a_system_reset_drops_the_cache() {
    let w = World::new("rc-reset", LOCAL_SETTINGS).await;
    let (status, _) =
        w.admin("POST", "/rc/v1/users", Some(json!({"attributes": {"login": "rita", "password": "pw"}}))).await;
    assert_eq!(status, 200);
    let mut d = device(&w);
    assert_eq!(d.post_json("/rc/v1/app/login", json!({"login": "rita", "password": "pw"})).await.status, 200);
    let c = d.post_json("/rc/v1/clients", Value::Null).await;
    assert_eq!(c.status, 200);
    let client_id = c.json()["client"]["client_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(w.admin("GET", &format!("/rc/v1/clients/{client_id}"), None).await.0, 200);

    let (status, body) = w.admin("POST", "/rc/v1/system/reset", None).await;
    assert_eq!((status, body.as_str()), (200, "DB reset"));
    assert_eq!(login(&w, "rita", "pw").await.status, 401, "the user went with the reset");
    assert_eq!(w.admin("GET", &format!("/rc/v1/clients/{client_id}"), None).await.0, 500, "and its client");
    // The caller's token survives the reset (docs/rest-api.md §4.3).
    assert_eq!(w.admin("GET", "/rc/v1/users", None).await.0, 200);
}

#[tokio::test]
async fn twenty_simultaneous_logins_and_clientcreates_of_one_user_leave_nothing_stale() {
    let w = World::new("rc-twenty", SYNC_SETTINGS).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let mut d = device(&w);
            tokio::spawn(async move {
                // The login throttle caps logins in flight per login (429): those wait and retry.
                let mut r = d.post_json("/rc/v1/app/login", json!({"login": "bob", "password": "x"})).await;
                for _ in 0..100 {
                    if r.status != 429 {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    r = d.post_json("/rc/v1/app/login", json!({"login": "bob", "password": "x"})).await;
                }
                assert_eq!(r.status, 200, "login: {}", r.text);
                let c = d.post_json("/rc/v1/clients", Value::Null).await;
                assert_eq!(c.status, 200, "clientcreate: {}", c.text);
                c.json()["client"]["client_id"].as_str().unwrap_or_default().to_owned()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap_or_else(|e| panic!("{e}")));
    }
    let (status, body) = w.admin("GET", "/rc/v1/users", None).await;
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap_or_default(), json!(["bob"]));
    let (_, body) = w.admin("GET", "/rc/v1/users/bob/clients", None).await;
    let mut listed: Vec<String> = serde_json::from_str(&body).unwrap_or_default();
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids);
    for id in &ids {
        let (status, body) = w.admin("GET", &format!("/rc/v1/clients/{id}"), None).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("bob"), "{body}");
    }
}

#[tokio::test]
async fn simultaneous_rotations_and_uses_leave_nothing_stale() {
    let w = World::new("rc-race", SYNC_SETTINGS).await;
    assert_eq!(call(&w, TEST_API_TOKEN, "GET", "/rc/v1/users", None).await.0, 200);
    let tokens: Vec<String> = (0..6).map(|i| format!("race-token-{i}-0123456789abcdef")).collect();
    let mut tasks = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        for auth in [TEST_API_TOKEN.to_owned(), tokens[(i + 5) % 6].clone()] {
            let (http, url) = (w.http.clone(), w.url("/rc/v1/users/rhoadmin"));
            let body = json!({"attributes": {"token": token}}).to_string();
            tasks.push(tokio::spawn(async move {
                let r = http
                    .put(url)
                    .header("X-RhoConnect-API-TOKEN", auth)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await;
                r.map(|r| r.status().as_u16()).unwrap_or(0)
            }));
        }
        let (http, url) = (w.http.clone(), w.url("/rc/v1/users"));
        tasks.push(tokio::spawn(async move {
            let r = http.get(url).header("X-RhoConnect-API-TOKEN", TEST_API_TOKEN).send().await;
            r.map(|r| r.status().as_u16()).unwrap_or(0)
        }));
    }
    for t in tasks {
        let status = t.await.unwrap_or(0);
        assert!([200, 400, 422].contains(&status), "status {status}");
    }
    // Whatever the registry ended with, every token answers as the registry says.
    let registry = truth(&w);
    let mut working = 0;
    for token in tokens.iter().map(String::as_str).chain([TEST_API_TOKEN]) {
        let owner = registry.token_user(token).await.unwrap_or_else(|e| panic!("{e}"));
        let expected = if owner.as_deref() == Some("rhoadmin") { 200 } else { 422 };
        working += usize::from(expected == 200);
        for _ in 0..2 {
            let (status, body) = call(&w, token, "GET", "/rc/v1/users", None).await;
            assert_eq!(status, expected, "{token}: {body}");
        }
    }
    assert!(working >= 1, "some token still works");
}

/// The header's counts of one reply.
fn calls(r: &Reply) -> AwsCalls {
    let text = r.header("x-rhosync-aws-calls").unwrap_or_else(|| panic!("no X-Rhosync-Aws-Calls header: {r:?}"));
    AwsCalls::parse(&text).unwrap_or_else(|| panic!("bad header {text}"))
}

fn dynamodb(r: &Reply) -> u64 {
    calls(r).of(AwsService::DynamoDb)
}

/// One device session: login, clientcreate (new) or clientregister (returning), a sync
/// to the end; the DynamoDB calls of each request.
async fn session(w: &World, login: &str, client_id: Option<&str>) -> (String, Vec<(&'static str, u64)>) {
    let mut d = device(w);
    let mut out = Vec::new();
    let r = d.post_json("/rc/v1/app/login", json!({"login": login, "password": "x"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    out.push(("login", dynamodb(&r)));
    match client_id {
        None => {
            let r = d.post_json("/rc/v1/clients", Value::Null).await;
            assert_eq!(r.status, 200, "{}", r.text);
            out.push(("clientcreate", dynamodb(&r)));
            d.client_id = r.json()["client"]["client_id"].as_str().unwrap_or_default().to_owned();
        }
        Some(id) => {
            d.client_id = id.to_owned();
            let body = json!({"device_type": "Android", "device_pin": "pin-1"});
            let r = d.post_json(&format!("/rc/v1/clients/{id}/register"), body).await;
            assert_eq!(r.status, 200, "{}", r.text);
            out.push(("clientregister", dynamodb(&r)));
        }
    }
    for page in d.sync_all("MockAdapter", 100).await {
        out.push(("query", dynamodb(&page)));
    }
    (d.client_id.clone(), out)
}

#[tokio::test]
async fn a_returning_device_makes_no_dynamodb_call_and_a_new_one_at_most_two() {
    std::env::set_var(rhosync_server::http::aws_calls::ENV, "1");
    let w = World::new("rc-calls", SYNC_SETTINGS).await;
    w.set_backend("dana", json!({"1": {"name": "a"}, "2": {"name": "b"}})).await;
    // A warm instance: the source's settings were read once (by another device).
    session(&w, "warm-up", None).await;
    // A new user's first device: the user with its membership (one transaction) and the
    // client (another).
    let (client_id, new) = session(&w, "dana", None).await;
    let total: u64 = new.iter().map(|(_, n)| n).sum();
    assert!(total <= 2, "a new user's first device makes at most two DynamoDB calls: {new:?}");
    // A new device of an existing user: at most two (clientcreate and, when not cached, the user).
    let (_, second) = session(&w, "dana", None).await;
    assert!(second.iter().map(|(_, n)| n).sum::<u64>() <= 2, "a new device makes at most two: {second:?}");
    // The first clientregister stores the device fields (a write); then the device returns.
    let (_, first) = session(&w, "dana", Some(&client_id)).await;
    assert!(first.iter().map(|(_, n)| n).sum::<u64>() <= 1, "{first:?}");
    let (_, returning) = session(&w, "dana", Some(&client_id)).await;
    assert!(returning.iter().all(|(_, n)| *n == 0), "a returning device makes no DynamoDB call: {returning:?}");
    // The admin token check of a REST call is cached too.
    let mut admin = device(&w);
    for _ in 0..2 {
        let req = w.http.get(w.url("/rc/v1/users")).header("X-RhoConnect-API-TOKEN", TEST_API_TOKEN);
        let r = admin.send(req).await;
        assert_eq!(r.status, 200);
        assert_eq!(calls(&r).0[1..], [0, 0, 0], "no SQS, S3 or Secrets Manager call");
    }
    let req = w.http.get(w.url("/rc/v1/users/dana")).header("X-RhoConnect-API-TOKEN", TEST_API_TOKEN);
    let r = admin.send(req).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The header does count: the user's token (she has none, and "none" is not cached) is read.
    assert!(dynamodb(&r) >= 1, "{r:?}");
}
