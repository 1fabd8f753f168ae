//! Bad input over real HTTP: a clear error, nothing written, and the server lives on.

mod sync_support;

use sync_support::{World, SYNC_SETTINGS};

/// `a[b][b]…[b]=1`, nested `depth` levels (Rack counts `a` as the first).
fn nested_name(depth: usize) -> String {
    let mut name = String::from("a");
    for _ in 1..depth {
        name.push_str("[b]");
    }
    name
}

/// A parameter name nested 5,000 deep (15 KB) used to overflow the parser's stack and abort
/// the whole process. It is refused with 400 and the limit, in a query string and in a form
/// body, unauthenticated and authenticated, and the server keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_parameters_answer_400_and_the_server_lives() {
    let world = World::new("bad_input_nesting", SYNC_SETTINGS).await;
    let deep = format!("{}=1", nested_name(5_000));
    assert!(deep.len() >= 15_000);
    let message = "parameter nesting too deep (more than 100 levels)";

    let resp = world.http.get(world.url(&format!("/app/v1/MockAdapter?{deep}"))).send().await.expect("query");
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(resp.text().await.expect("body"), message);

    let resp = world
        .http
        .post(world.url("/rc/v1/app/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(deep.clone())
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(resp.text().await.expect("body"), message);

    let mut device = world.device("nester").await;
    let req = world
        .http
        .post(world.url("/app/v1/MockAdapter"))
        .header("X-RhoConnect-CLIENT-ID", device.client_id.clone())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(deep);
    let reply = device.send(req).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.text, message);

    // 100 levels are still a parameter like any other.
    let ok = format!("{}=1", nested_name(100));
    let reply = device.query("MockAdapter", &ok).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // Nothing was written by the refused write: the source has no pending links or errors.
    assert_eq!(reply.json()[5].get("links"), None, "{}", reply.text);

    // The process is alive and serves the next request.
    let (status, _) = world.admin("GET", "/rc/v1/users", None).await;
    assert_eq!(status, 200);
}

/// A login or a client id far longer than any real one (over 1 KB) used to reach DynamoDB
/// and come back as a 500 with its message. Now: a client error naming the limit, nothing
/// written, no internals.
#[tokio::test]
async fn overlong_logins_and_client_ids_are_refused_clearly() {
    let world = World::new("bad_input_long", SYNC_SETTINGS).await;
    let long = "x".repeat(3_000);
    let mut d = world.device("short").await;
    let r = d.post_json("/rc/v1/app/login", serde_json::json!({"login": long, "password": "x"})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.text, "login is too long (at most 255 bytes)");
    let (status, body) = world.admin("GET", "/rc/v1/users", None).await;
    assert_eq!(status, 200);
    assert!(!body.contains("xxxx"), "no user was created: {body}");
    d.client_id = long.clone();
    let r = d.query("MockAdapter", "").await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.text, "client id is too long (at most 255 bytes)");
    let r = d.cud("MockAdapter", serde_json::json!({"create": {"t": {"name": "n"}}})).await;
    assert_eq!(r.status, 400, "{}", r.text);
    for text in ["dynamodb", "aws_request_id", "ValidationException"] {
        assert!(!r.text.contains(text), "{}", r.text);
    }
}
