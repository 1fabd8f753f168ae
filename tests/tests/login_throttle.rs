//! The login throttle over real HTTP (`rhosync_server::auth::throttle`): after ten failed
//! logins within a minute a login is refused with 429 and `Retry-After` — the right
//! password too — on every admin and device login route, legacy aliases included, until its
//! window ends (the test world's clock moves instead of the test sleeping); other logins pass
//! at once; an address is refused after fifty failures over any number of logins; and
//! simultaneous wrong attempts never get more than the limit through, nor a 5xx.

mod sync_support;

use futures::future::join_all;
use rhosync_server::auth::throttle::{ADDRESS_FAILURE_LIMIT, LOGIN_FAILURE_LIMIT, WINDOW_SECS};
use rhosync_server::registry::{password, User};
use serde_json::json;
use sync_support::{Reply, World};

/// Local device logins (passwords are checked), one source.
const SETTINGS: &str = "\
:development:
  :poll_interval_default: 300
  :device_auth: local
:sources:
  MockAdapter:
    adapter: mock
    poll_interval: 300
";

/// rhoadmin's password in the test world (no `PSWRD`).
const ADMIN_PASSWORD: &str = "";

const ADMIN_LOGIN_ROUTES: [&str; 5] =
    ["/rc/v1/system/login", "/login", "/api/admin/login", "/api/get_api_token", "/api/admin/get_api_token"];
const DEVICE_LOGIN_ROUTES: [&str; 3] = ["/rc/v1/app/login", "/application/clientlogin", "/api/application/clientlogin"];

/// One login attempt without cookies, from `address` (`X-Forwarded-For`) if given.
async fn attempt(w: &World, path: &str, login: &str, pass: &str, address: Option<&str>) -> Reply {
    let mut req = w
        .http
        .post(w.url(path))
        .header("Content-Type", "application/json")
        .body(json!({"login": login, "password": pass}).to_string());
    if let Some(address) = address {
        req = req.header("X-Forwarded-For", address);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    Reply { status, headers, text: resp.text().await.unwrap_or_default() }
}

/// The status a wrong password gets on `path` when not throttled.
fn wrong_password_status(path: &str) -> u16 {
    if path.contains("get_api_token") {
        422
    } else {
        401
    }
}

/// Asserts the throttle's refusal and returns its `Retry-After` seconds.
fn assert_throttled(r: &Reply, what: &str) -> u64 {
    assert_eq!(r.status, 429, "{what}: {}", r.text);
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no Retry-After in {:?}", r.headers));
    assert!((1..=WINDOW_SECS).contains(&retry), "{what}: Retry-After {retry}");
    assert_eq!(r.text, format!("Too many failed logins; retry in {retry} seconds"), "{what}");
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"), "{what}");
    retry
}

async fn create_user(w: &World, login: &str, pass: &str) {
    let (status, body) =
        w.admin("POST", "/rc/v1/users", Some(json!({"attributes": {"login": login, "password": pass}}))).await;
    assert_eq!(status, 200, "{body}");
}

/// A second admin with its own API token.
async fn create_admin(w: &World, login: &str, pass: &str, token: &str) {
    let user = User { login: login.to_owned(), password_hash: Some(password::hash(pass)), email: None, admin: true };
    let registry = w.env.state.registry();
    registry.put_admin(&user).await.unwrap_or_else(|e| panic!("{e}"));
    registry.set_user_token(login, token).await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn admin_logins_lock_after_the_limit_on_every_route_until_the_window_ends() {
    let w = World::new("thr-admin", SETTINGS).await;
    create_admin(&w, "root2", "pw2", "root2-token").await;
    // Right passwords are given back: any number of them passes.
    for i in 0..2 * LOGIN_FAILURE_LIMIT {
        let r = attempt(&w, "/rc/v1/system/login", "root2", "pw2", None).await;
        assert_eq!((r.status, r.text.as_str()), (200, "root2-token"), "success {i}");
    }
    for i in 0..LOGIN_FAILURE_LIMIT as usize {
        let path = ADMIN_LOGIN_ROUTES[i % ADMIN_LOGIN_ROUTES.len()];
        let r = attempt(&w, path, "rhoadmin", "wrong", None).await;
        assert_eq!(r.status, wrong_password_status(path), "failure {i} on {path}: {}", r.text);
    }
    // The 11th attempt within the minute is refused on every route, the right password too.
    let mut retry = 0;
    for path in ADMIN_LOGIN_ROUTES {
        for pass in ["wrong", ADMIN_PASSWORD] {
            let r = attempt(&w, path, "rhoadmin", pass, None).await;
            retry = assert_throttled(&r, path);
            if path != "/rc/v1/system/login" {
                assert!(r.header("warning").is_some_and(|v| v.contains("deprecated")), "{path}: {:?}", r.headers);
            }
        }
    }
    // The API token still works, and another admin logs in at once.
    let (status, _) = w.admin("GET", "/rc/v1/users", None).await;
    assert_eq!(status, 200);
    let r = attempt(&w, "/rc/v1/system/login", "root2", "pw2", None).await;
    assert_eq!((r.status, r.text.as_str()), (200, "root2-token"));
    // So does a device login of another user with the right password.
    create_user(&w, "alice", "pa").await;
    assert_eq!(attempt(&w, "/rc/v1/app/login", "alice", "pa", None).await.status, 200);

    // Once the window is over the right password works again.
    w.clock.advance_secs(retry);
    let r = attempt(&w, "/rc/v1/system/login", "rhoadmin", ADMIN_PASSWORD, None).await;
    assert_eq!(r.status, 200, "after the window: {}", r.text);
    assert!(r.header("set-cookie").is_some());
}

#[tokio::test]
async fn device_logins_lock_after_the_limit_on_every_route_until_the_window_ends() {
    let w = World::new("thr-device", SETTINGS).await;
    create_user(&w, "dana", "pw").await;
    create_user(&w, "eve", "pe").await;
    for i in 0..2 * LOGIN_FAILURE_LIMIT as usize {
        let path = DEVICE_LOGIN_ROUTES[i % DEVICE_LOGIN_ROUTES.len()];
        assert_eq!(attempt(&w, path, "dana", "pw", None).await.status, 200, "success {i} on {path}");
    }
    for i in 0..LOGIN_FAILURE_LIMIT as usize {
        let path = DEVICE_LOGIN_ROUTES[i % DEVICE_LOGIN_ROUTES.len()];
        let r = attempt(&w, path, "dana", "wrong", None).await;
        assert_eq!((r.status, r.text.as_str()), (401, "Unable to authenticate 'dana'"), "failure {i} on {path}");
    }
    let mut retry = 0;
    for path in DEVICE_LOGIN_ROUTES {
        for pass in ["wrong", "pw"] {
            let r = attempt(&w, path, "dana", pass, None).await;
            retry = assert_throttled(&r, path);
            assert!(r.header("set-cookie").is_none(), "{path}");
            if path != "/rc/v1/app/login" {
                assert!(r.header("warning").is_some_and(|v| v.contains("deprecated")), "{path}: {:?}", r.headers);
            }
        }
    }
    // The admin login of the same name is the same login: locked too.
    assert_throttled(&attempt(&w, "/rc/v1/system/login", "dana", "pw", None).await, "admin route");
    // Another user passes at once.
    let r = attempt(&w, "/rc/v1/app/login", "eve", "pe", None).await;
    assert_eq!(r.status, 200, "{}", r.text);

    w.clock.advance_secs(retry);
    for path in DEVICE_LOGIN_ROUTES {
        let r = attempt(&w, path, "dana", "pw", None).await;
        assert_eq!(r.status, 200, "{path} after the window: {}", r.text);
    }
    // A fresh window: ten more failures before the next lock.
    for i in 0..LOGIN_FAILURE_LIMIT {
        assert_eq!(attempt(&w, "/rc/v1/app/login", "dana", "wrong", None).await.status, 401, "failure {i}");
    }
    assert_throttled(&attempt(&w, "/rc/v1/app/login", "dana", "pw", None).await, "second window");
}

#[tokio::test]
async fn an_address_is_locked_after_its_limit_over_many_logins_and_only_that_address() {
    let w = World::new("thr-addr", SETTINGS).await;
    create_user(&w, "frank", "pf").await;
    let from = Some("198.51.100.7");
    // Fewer failures per login than its own limit, spread over admin and device routes.
    let per_login = LOGIN_FAILURE_LIMIT / 2;
    let logins = ADDRESS_FAILURE_LIMIT / per_login;
    for l in 0..logins {
        for i in 0..per_login {
            let path = if i % 2 == 0 { "/rc/v1/app/login" } else { "/rc/v1/system/login" };
            let r = attempt(&w, path, &format!("guess{l}"), "wrong", from).await;
            assert_eq!(r.status, 401, "login {l} failure {i}: {}", r.text);
        }
    }
    // A login that never failed is refused from that address, right password or not …
    assert_throttled(&attempt(&w, "/rc/v1/app/login", "frank", "pf", from).await, "locked address");
    assert_throttled(&attempt(&w, "/rc/v1/system/login", "rhoadmin", ADMIN_PASSWORD, from).await, "admin");
    // … also when the client puts another address in front (API Gateway appends the real one).
    let forged = Some("203.0.113.1, 198.51.100.7");
    assert_throttled(&attempt(&w, "/rc/v1/app/login", "frank", "pf", forged).await, "forged entry");
    // … and passes from another address, or without one (counted per login only).
    assert_eq!(attempt(&w, "/rc/v1/app/login", "frank", "pf", Some("198.51.100.8")).await.status, 200);
    assert_eq!(attempt(&w, "/rc/v1/app/login", "frank", "pf", None).await.status, 200);
    let r = attempt(&w, "/rc/v1/system/login", "rhoadmin", ADMIN_PASSWORD, Some("2001:db8::1")).await;
    assert_eq!(r.status, 200, "{}", r.text);

    w.clock.advance_secs(WINDOW_SECS);
    assert_eq!(attempt(&w, "/rc/v1/app/login", "frank", "pf", from).await.status, 200, "after the window");
}

#[tokio::test]
async fn a_locked_login_does_not_lock_its_address_for_other_logins() {
    let w = World::new("thr-same", SETTINGS).await;
    create_user(&w, "gina", "pg").await;
    let from = Some("192.0.2.44");
    for _ in 0..LOGIN_FAILURE_LIMIT {
        assert_eq!(attempt(&w, "/rc/v1/system/login", "rhoadmin", "wrong", from).await.status, 401);
    }
    // Hammering the locked login far past the address limit: refusals are not counted.
    for _ in 0..ADDRESS_FAILURE_LIMIT + 10 {
        assert_eq!(attempt(&w, "/rc/v1/system/login", "rhoadmin", "wrong", from).await.status, 429);
    }
    let r = attempt(&w, "/rc/v1/app/login", "gina", "pg", from).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn simultaneous_wrong_attempts_never_get_more_than_the_limit_through() {
    let w = World::new("thr-race", SETTINGS).await;
    create_user(&w, "hank", "ph").await;
    for (path, login) in [("/rc/v1/system/login", "rhoadmin"), ("/rc/v1/app/login", "hank")] {
        let replies: Vec<Reply> = join_all((0..30).map(|_| attempt(&w, path, login, "wrong", None))).await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{path}: {statuses:?}");
        let through = statuses.iter().filter(|s| **s == 401).count() as u64;
        assert_eq!(through, LOGIN_FAILURE_LIMIT, "{path}: {statuses:?}");
        for r in replies.iter().filter(|r| r.status == 429) {
            assert_throttled(r, path);
        }
    }
    // Over many logins from one address at once: at most the address limit gets through.
    let from = Some("198.51.100.99");
    let attempts = (0..2 * ADDRESS_FAILURE_LIMIT).map(|i| {
        let login = format!("race{}", i % 20);
        let path = if i % 2 == 0 { "/rc/v1/app/login" } else { "/login" };
        let w = &w;
        async move { attempt(w, path, &login, "wrong", from).await }
    });
    let replies: Vec<Reply> = join_all(attempts).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    let through = statuses.iter().filter(|s| **s == 401).count() as u64;
    assert_eq!(through, ADDRESS_FAILURE_LIMIT, "{statuses:?}");
}
