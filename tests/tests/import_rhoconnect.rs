//! Moving from a running RhoConnect (docs/migrating.md): a Redis filled with RhoConnect 7's
//! and RhoSync 3's layout of users, API tokens, clients and source settings (in a database
//! index of the test Redis of its own) is imported with `rhosync-admin import-rhoconnect`
//! into the runner over real Redis and the AWS emulator; then, over HTTP, the old passwords
//! log in (and are upgraded), the old API tokens work, pings reach the registered device
//! tokens (fake APNs and webhook), a second import changes nothing, and empty, foreign or
//! malformed Redis databases are refused with nothing written. RhoConnect's own session
//! cookies are exchanged once for ours when its secret is configured.

mod push_support;
mod sync_support;

use clap::Parser;
use push_support::{ok, plain, tls_h2, Recorded};
use rhosync_admin::{run, Cli, CliError};
use rhosync_e2e::TEST_API_TOKEN;
use rhosync_server::auth::legacy_cookie::rack_sign;
use rhosync_server::auth::ruby_marshal::{dump, Value as Ruby};
use serde_json::{json, Value};
use sync_support::World;

const OLD_ADMIN_TOKEN: &str = "0ld7ok3n0ld7ok3n0ld7ok3n0ld7ok3n";
const CAROL_TOKEN: &str = "carol-backend-token-00000000000000";
const LEGACY_SECRET: &str = "the-old-config-ru-secret-of-rhoconnect-7";

/// The test Redis's database `db`, emptied.
async fn old_redis(db: u32) -> (String, redis::aio::MultiplexedConnection) {
    let base = rhosync_testkit::Stack::get().redis_url.trim_end_matches('/').to_owned();
    let url = format!("{base}/{db}");
    let client = redis::Client::open(url.as_str()).unwrap_or_else(|e| panic!("{e}"));
    let mut conn = client.get_multiplexed_async_connection().await.unwrap_or_else(|e| panic!("{e}"));
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    (url, conn)
}

async fn set(conn: &mut redis::aio::MultiplexedConnection, pairs: &[(String, String)]) {
    let mut cmd = redis::cmd("MSET");
    for (k, v) in pairs {
        cmd.arg(k).arg(v);
    }
    let _: () = cmd.query_async(conn).await.unwrap_or_else(|e| panic!("{e}"));
}

async fn sadd(conn: &mut redis::aio::MultiplexedConnection, key: &str, member: &str) {
    let _: i64 = redis::cmd("SADD").arg(key).arg(member).query_async(conn).await.unwrap_or_else(|e| panic!("{e}"));
}

fn sha1_hex(text: &str) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(text.as_bytes()))
}

/// A RhoConnect user record, as `Rhoconnect::User` writes it.
fn user_record(login: &str, password: &str, salt: &str, admin: bool, token: Option<&str>) -> Vec<(String, String)> {
    let mut pairs = vec![
        (format!("user:{login}:rho__id"), login.to_owned()),
        (format!("user:{login}:login"), login.to_owned()),
        (format!("user:{login}:email"), format!("{login}@example.com")),
        (format!("user:{login}:salt"), salt.to_owned()),
        (format!("user:{login}:hashed_password"), sha1_hex(&format!("{password}{salt}"))),
        (format!("user:{login}:admin"), if admin { "1" } else { "0" }.to_owned()),
    ];
    if let Some(token) = token {
        pairs.push((format!("user:{login}:token_id"), token.to_owned()));
        pairs.push((format!("api_token:{token}:rho__id"), token.to_owned()));
        pairs.push((format!("api_token:{token}:value"), token.to_owned()));
        pairs.push((format!("api_token:{token}:user_id"), login.to_owned()));
    }
    pairs
}

fn client_record(id: &str, user: &str, device: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs = vec![
        (format!("client:{id}:rho__id"), id.to_owned()),
        (format!("client:{id}:user_id"), user.to_owned()),
        (format!("client:{id}:app_id"), "application".to_owned()),
    ];
    pairs.extend(device.iter().map(|(k, v)| (format!("client:{id}:{k}"), (*v).to_owned())));
    pairs
}

/// A RhoConnect 7 deployment: rhoadmin, two app users (one an admin with a backend token),
/// a device registered for the webhook, a RhoSync 3-era device (no push type: APNs from
/// its device type) and a poll interval changed through the API.
async fn fill_rhoconnect(conn: &mut redis::aio::MultiplexedConnection) {
    let mut pairs = vec![
        ("app:application:rho__id".to_owned(), "application".to_owned()),
        ("app:application:name".to_owned(), "application".to_owned()),
        ("user:count".to_owned(), "4".to_owned()),
        ("client:count".to_owned(), "2".to_owned()),
        ("source:Product:poll_interval".to_owned(), "600".to_owned()),
    ];
    pairs.extend(user_record("rhoadmin", "old-admin-pw", "Zx9Yw8Vu7T", true, Some(OLD_ADMIN_TOKEN)));
    pairs.extend(user_record("alice", "alice-pw", "Ab3dE6gH9j", false, None));
    pairs.extend(user_record("carol", "carol-pw", "Qr5St6Uv7W", true, Some(CAROL_TOKEN)));
    // RhoSync 3 wrote users the same way; its clients had only device_type/pin/port.
    pairs.extend(user_record("dave", "dave-pw", "Mn1Op2Qr3S", false, None));
    pairs.extend(client_record(
        "c-alice",
        "alice",
        &[("device_type", "APPLE"), ("device_push_type", "webhook"), ("device_pin", "hook-alice")],
    ));
    pairs.extend(client_record(
        "c-dave",
        "dave",
        &[("device_type", "iPhone"), ("device_pin", "abcdef02"), ("device_port", "100")],
    ));
    set(conn, &pairs).await;
    for user in ["alice", "carol", "dave"] {
        sadd(conn, "app:application:users", user).await;
    }
    sadd(conn, "user:alice:clients", "c-alice").await;
    sadd(conn, "user:dave:clients", "c-dave").await;
}

async fn admin_cli(base: &str, token: &str, args: &[&str]) -> Result<String, CliError> {
    let mut argv = vec!["rhosync-admin", "--server", base, "--token", token];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"))).await
}

async fn call(w: &World, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, String) {
    w.with_token(method, path, token, body).await
}

async fn device_login(w: &World, login: &str, password: &str) -> u16 {
    let resp = w
        .http
        .post(w.url("/rc/v1/app/login"))
        .header("Content-Type", "application/json")
        .body(json!({"login": login, "password": password}).to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    resp.status().as_u16()
}

/// A Rack session cookie as RhoConnect 7 set it: Marshal, base64, HMAC, URL-escaped.
fn rack_cookie(secret: &str, login: &str) -> String {
    let session = Ruby::Hash(vec![
        (Ruby::Str(b"session_id".to_vec()), Ruby::SessionId(format!("{login:0>64}").into_bytes())),
        (Ruby::Str(b"login".to_vec()), Ruby::Str(login.as_bytes().to_vec())),
        (Ruby::Str(b"app_name".to_vec()), Ruby::Str(b"application".to_vec())),
    ]);
    let value = rack_sign(secret, &dump(&session));
    percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// clientcreate with `cookie`; status and the `Set-Cookie` value it answered.
async fn create_client_with(w: &World, cookie: &str) -> (u16, Option<String>) {
    let resp =
        w.http.post(w.url("/rc/v1/clients")).header("Cookie", cookie).send().await.unwrap_or_else(|e| panic!("{e}"));
    let set = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    (resp.status().as_u16(), set)
}

#[tokio::test]
async fn a_rhoconnect_deployment_is_imported_once_and_its_users_tokens_devices_and_sessions_work() {
    let (apns, ca_pem) = tls_h2(ok()).await;
    let hook = plain(ok()).await;
    let keys = push_support::keys("import", "http://127.0.0.1:1/token", &ca_pem);
    let settings = format!(
        "\
:development:
  :poll_interval_default: 300
  :legacy_secret: {LEGACY_SECRET}
  :apns_endpoint: {apns}
  :apns_ca_file: {ca}
  :apns_key_file: {p8}
  :apns_key_id: ABC123DEFG
  :apns_team_id: TEAM123456
  :apns_topic: com.example.ios
  :push_webhook: {hook}/hook
:sources:
  Product:
    adapter: demo
    poll_interval: 300
",
        apns = apns.url,
        ca = keys.ca_file.display(),
        p8 = keys.apns_key.display(),
        hook = hook.url,
    );
    let w = World::new("import", &settings).await;
    let base = w.runner.base_url();
    let (url, mut conn) = old_redis(12).await;
    fill_rhoconnect(&mut conn).await;

    let out = admin_cli(&base, TEST_API_TOKEN, &["import-rhoconnect", "--redis", &url, "--batch", "2"])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.starts_with("RhoConnect 4-7 layout"), "{out}");
    assert!(out.contains("4 users (2 admins), 2 API tokens, 2 clients (2 with a push registration)"), "{out}");
    assert!(out.contains("users: 3 created, 0 already there, 1 updated"), "{out}");
    assert!(out.contains("tokens: 1 created, 0 already there, 1 updated"), "{out}");
    assert!(out.contains("clients: 2 created, 0 already there, 0 updated"), "{out}");
    assert!(out.contains("sources: 1 created, 0 already there, 0 updated"), "{out}");

    // The old passwords log in, and are upgraded to argon2id on the way.
    assert_eq!(device_login(&w, "alice", "wrong").await, 401);
    let stored = w.env.state.registry().user("alice").await.ok().flatten().and_then(|u| u.password_hash);
    assert!(stored.is_some_and(|h| h.starts_with("sha1$")));
    assert_eq!(device_login(&w, "alice", "alice-pw").await, 200);
    let stored = w.env.state.registry().user("alice").await.ok().flatten().and_then(|u| u.password_hash);
    assert!(stored.is_some_and(|h| h.starts_with("$argon2id$")), "upgraded");
    assert_eq!(device_login(&w, "alice", "alice-pw").await, 200, "and still logs in");
    let (status, token) =
        call(&w, "POST", "/rc/v1/system/login", "", Some(json!({"login": "rhoadmin", "password": "old-admin-pw"})))
            .await;
    assert_eq!((status, token.as_str()), (200, OLD_ADMIN_TOKEN), "rhoadmin: the old password gives the old token");

    // The old API tokens work; the bootstrap token is gone.
    let (status, users) = call(&w, "GET", "/rc/v1/users", OLD_ADMIN_TOKEN, None).await;
    assert_eq!(status, 200, "{users}");
    let mut listed: Vec<String> = serde_json::from_str(&users).unwrap_or_default();
    listed.sort();
    assert_eq!(listed, ["alice", "carol", "dave"]);
    assert_eq!(call(&w, "GET", "/rc/v1/users", CAROL_TOKEN, None).await.0, 200);
    assert_eq!(call(&w, "GET", "/rc/v1/users", TEST_API_TOKEN, None).await.0, 422);
    let (status, source) = call(&w, "GET", "/rc/v1/sources/Product", OLD_ADMIN_TOKEN, None).await;
    assert!(status == 200 && source.contains(r#""name":"poll_interval","value":600"#), "{source}");

    // Pings reach the device tokens the clients had registered.
    let ping = json!({"user_id": ["alice", "dave"], "sources": ["Product"], "message": "welcome"});
    let (status, text) = call(&w, "POST", "/rc/v1/users/ping", OLD_ADMIN_TOKEN, Some(ping)).await;
    assert_eq!((status, text.as_str()), (200, ""));
    let hooked: Recorded = hook.wait_for("/hook", 1).await.remove(0);
    assert_eq!(hooked.json()["device"]["client_id"], "c-alice");
    assert_eq!(hooked.json()["device"]["device_pin"], "hook-alice");
    let pushed = apns.wait_for("/3/device/", 1).await.remove(0);
    assert_eq!(pushed.path, "/3/device/abcdef02", "the RhoSync 3 device");

    // A second import changes nothing.
    let again = admin_cli(&base, OLD_ADMIN_TOKEN, &["import-rhoconnect", "--redis", &url])
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for line in again.lines().skip(1).filter(|l| !l.starts_with("skipped")) {
        assert!(line.contains(" 0 created,") && line.ends_with(" 0 updated"), "{again}");
    }
    assert!(again.contains("users: 0 created, 4 already there, 0 updated"), "{again}");
    let stored = w.env.state.registry().user("alice").await.ok().flatten().and_then(|u| u.password_hash);
    assert!(stored.is_some_and(|h| h.starts_with("$argon2id$")), "the upgraded password is kept");

    // Devices keep their RhoConnect session: accepted once, replaced by ours.
    let forged = rack_cookie("not-the-secret", "dave");
    assert_eq!(create_client_with(&w, &format!("rhoconnect_session={forged}")).await, (401, None));
    let unknown = rack_cookie(LEGACY_SECRET, "nobody");
    assert_eq!(create_client_with(&w, &format!("rhoconnect_session={unknown}")).await.0, 401);
    let legacy = format!("rhoconnect_session={}", rack_cookie(LEGACY_SECRET, "dave"));
    // rhoconnect.js sends two requests at once: both are served, with the same new session.
    let (a, b) = tokio::join!(create_client_with(&w, &legacy), create_client_with(&w, &legacy));
    assert_eq!((a.0, b.0), (200, 200));
    let ours = a.1.unwrap_or_default();
    assert!(ours.starts_with("rhoconnect_session=v1."), "{ours}");
    assert_eq!(b.1.as_deref(), Some(ours.as_str()));
    let (status, set) = create_client_with(&w, &ours).await;
    assert_eq!((status, set), (200, None), "our cookie works on its own");
    w.clock.advance_secs(rhosync_server::auth::legacy_cookie::GRACE_SECS + 1);
    assert_eq!(create_client_with(&w, &legacy).await.0, 401, "the legacy cookie was spent");
    assert_eq!(create_client_with(&w, &ours).await.0, 200);
    w.runner.shutdown().await;
}

#[tokio::test]
async fn empty_foreign_and_malformed_databases_are_refused_and_nothing_is_written() {
    let w = World::new("importno", rhosync_testkit::DEMO_SETTINGS).await;
    let base = w.runner.base_url();
    let (url, mut conn) = old_redis(13).await;
    let import = |args: Vec<String>| {
        let base = base.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            admin_cli(&base, TEST_API_TOKEN, &args).await
        }
    };
    let args = || vec!["import-rhoconnect".to_owned(), "--redis".to_owned(), url.clone()];
    let users = || async { w.admin("GET", "/rc/v1/users", None).await };

    match import(args()).await {
        Err(CliError::Import(m)) => assert!(m.contains("is empty"), "{m}"),
        other => panic!("{other:?}"),
    }
    set(&mut conn, &[("session:abc".to_owned(), "x".to_owned()), ("rs:{t}:k".to_owned(), "1".to_owned())]).await;
    match import(args()).await {
        Err(CliError::Import(m)) => {
            assert!(m.contains("does not hold a RhoConnect or RhoSync layout") && m.contains("session:abc"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    // A malformed record aborts the whole import, naming its key.
    let _: () = redis::cmd("FLUSHDB").query_async(&mut conn).await.unwrap_or_else(|e| panic!("{e}"));
    let mut pairs = user_record("erin", "pw", "Ab3dE6gH9j", false, None);
    pairs.extend(user_record("frank", "pw", "Ab3dE6gH9j", false, None));
    pairs.push(("user:frank:hashed_password".to_owned(), "not-a-digest".to_owned()));
    pairs.push(("appserver_url".to_owned(), "http://backend.example:3000".to_owned()));
    set(&mut conn, &pairs).await;
    match import(args()).await {
        Err(CliError::Import(m)) => assert_eq!(m, "user:frank:hashed_password: not a SHA-1 hex digest"),
        other => panic!("{other:?}"),
    }
    assert_eq!(users().await, (200, "[]".to_owned()), "nothing written");

    // A dry run reads and counts, and sends nothing.
    set(&mut conn, &user_record("frank", "pw", "Ab3dE6gH9j", false, None)).await;
    let mut dry = args();
    dry.push("--dry-run".to_owned());
    let out = import(dry).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(out.starts_with("RhoSync 3 layout") && out.contains("2 users (0 admins)"), "{out}");
    assert!(out.ends_with("dry run: nothing was sent"), "{out}");
    assert_eq!(users().await, (200, "[]".to_owned()), "nothing written");

    let out = import(args()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(out.contains("users: 2 created") && out.contains("app server URL: 1 created"), "{out}");
    let (status, appserver) = w.admin("GET", "/rc/v1/system/appserver", None).await;
    assert_eq!((status, appserver.as_str()), (200, r#"{"adapter_url":"http://backend.example:3000"}"#));
    w.runner.shutdown().await;
}
