//! Token rules of docs/rest-api.md §1.3: every admin route, v1 and legacy, refuses a request
//! without a token and one with a wrong token (422 `No API token provided`) and writes
//! nothing; a non-admin user's credentials never reach another user's data; header
//! before parameter; the legacy SHA-1 password hash is accepted once and upgraded.

mod rest_api_common;

use reqwest::Method;
use rest_api_common::*;
use serde_json::json;

/// Every token route of docs/rest-api.md §2 in its v1 form (path parameters filled in).
const V1_ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/rc/v1/system/license"),
    ("POST", "/rc/v1/system/reset"),
    ("GET", "/rc/v1/system/appserver"),
    ("POST", "/rc/v1/system/appserver"),
    ("GET", "/rc/v1/system/stats"),
    ("GET", "/rc/v1/store/source:application:alice:Product:md"),
    ("POST", "/rc/v1/store/source:application:alice:Product:md"),
    ("GET", "/rc/v1/users"),
    ("GET", "/rc/v1/users/alice"),
    ("POST", "/rc/v1/users"),
    ("PUT", "/rc/v1/users/alice"),
    ("DELETE", "/rc/v1/users/alice"),
    ("GET", "/rc/v1/users/alice/clients"),
    ("DELETE", "/rc/v1/users/alice/clients/c1"),
    ("GET", "/rc/v1/users/alice/sources/Product/docnames"),
    ("GET", "/rc/v1/users/alice/sources/Product/docs/md"),
    ("POST", "/rc/v1/users/alice/sources/Product/docs/md"),
    ("POST", "/rc/v1/users/ping"),
    ("GET", "/rc/v1/clients/c1"),
    ("GET", "/rc/v1/clients/c1/sources/Product/docnames"),
    ("GET", "/rc/v1/clients/c1/sources/Product/docs/cd"),
    ("POST", "/rc/v1/clients/c1/sources/Product/docs/cd"),
    ("GET", "/rc/v1/sources/type/all"),
    ("GET", "/rc/v1/sources/Product"),
    ("PUT", "/rc/v1/sources/Product"),
    ("PUT", "/rc/v1/readstate/users/alice/sources/Product"),
    ("POST", "/rc/v1/readstate/users/alice/sources/Product"),
    ("PUT", "/rc/v1/read_state/users/alice/sources/Product"),
    ("POST", "/rc/v1/read_state/users/alice/sources/Product"),
    ("POST", "/app/v1/Product/push_objects"),
    ("POST", "/app/v1/Product/push_deletes"),
    ("POST", "/app/v1/Product/fast_insert"),
    ("POST", "/app/v1/Product/fast_update"),
    ("POST", "/app/v1/Product/fast_delete"),
];

/// A body that would change something if the call were let through.
fn harmful_body() -> serde_json::Value {
    json!({
        "attributes": {"login": "mallory", "password": "x", "email": "evil", "adapter_url": "http://evil"},
        "adapter_url": "http://evil",
        "data": {"1": {"evil": "1"}},
        "user_id": "alice", "client_id": "c1", "source_id": "Product", "doc": "source:application:alice:Product:md",
        "objects": {"1": {"evil": "1"}},
    })
}

#[tokio::test]
async fn every_admin_route_refuses_a_missing_or_wrong_token_and_writes_nothing() {
    let api = Api::start("authz", REST_SETTINGS).await;
    api.user("alice", "pw").await;
    let mut routes: Vec<(Method, String)> =
        V1_ADMIN_ROUTES.iter().map(|(m, p)| (m.parse().unwrap_or(Method::GET), (*p).to_owned())).collect();
    for (path, _) in rhosync_server::http::api::legacy::table() {
        // Logins authenticate by password; get_api_token by session (tested below).
        if !matches!(path, "/login" | "/api/admin/login" | "/api/get_api_token" | "/api/admin/get_api_token") {
            routes.push((Method::POST, path.to_owned()));
        }
    }
    assert!(routes.len() > 80, "{} routes", routes.len());
    for (method, path) in &routes {
        for auth in [Auth::None, Auth::Wrong] {
            let r = api.call(method.clone(), path, auth, Body::Json(harmful_body())).await;
            assert_text(&r, 422, "No API token provided");
            if path.starts_with("/api/") {
                assert_eq!(r.header("warning"), Some(warning("POST", path).as_str()), "{path}");
            }
        }
        // A wrong token in the body is no better.
        let mut body = harmful_body();
        body["api_token"] = json!("wrong");
        let r = api.call(method.clone(), path, Auth::None, Body::Json(body)).await;
        assert_text(&r, 422, "No API token provided");
    }
    // Nothing was written: alice intact, no mallory, no app server, no ping queued.
    let r = api.admin(Method::GET, "/rc/v1/users", Body::None).await;
    assert_json(&r, 200, &json!(["alice"]));
    let r = api.admin(Method::GET, "/rc/v1/system/appserver", Body::None).await;
    assert_json(&r, 200, &json!({"adapter_url": null}));
    assert!(api.drain_push_queue().await.is_empty());
    let r = api
        .call(Method::POST, "/rc/v1/system/login", Auth::None, Body::Json(json!({"login": "alice", "password": "pw"})))
        .await;
    assert_text(&r, 422, "Invalid/missing API user");
    api.runner.shutdown().await;
}

#[tokio::test]
async fn a_non_admin_users_credentials_never_read_other_users_data() {
    let api = Api::start("isolation", REST_SETTINGS).await;
    api.user("alice", "alicepw").await;
    api.user("bob", "bobpw").await;
    let bob_client = api.client("bob").await;
    // Give alice a token without making her an admin (allowed, docs/rest-api.md §6.3).
    let r =
        api.admin(Method::PUT, "/rc/v1/users/alice", Body::Json(json!({"attributes": {"token": "alice-token"}}))).await;
    assert_text(&r, 200, "User updated");
    // Her own password does not turn into an API token.
    let r = api
        .call(
            Method::POST,
            "/rc/v1/system/login",
            Auth::None,
            Body::Json(json!({"login": "alice", "password": "alicepw"})),
        )
        .await;
    assert_text(&r, 422, "Invalid/missing API user");
    assert!(r.header("set-cookie").is_none());
    let r = api
        .call(
            Method::POST,
            "/api/get_api_token",
            Auth::None,
            Body::Json(json!({"login": "alice", "password": "alicepw"})),
        )
        .await;
    assert_text(&r, 422, "Invalid/missing API user");
    // Her token reads nothing of bob's, in either form, header or parameter.
    let reads = [
        (Method::GET, "/rc/v1/users/bob".to_owned()),
        (Method::GET, "/rc/v1/users/bob/clients".to_owned()),
        (Method::GET, format!("/rc/v1/clients/{bob_client}")),
        (Method::GET, "/rc/v1/store/source:application:bob:Product:md".to_owned()),
        (Method::GET, "/rc/v1/users/bob/sources/Product/docs/md".to_owned()),
        (Method::GET, "/rc/v1/users".to_owned()),
    ];
    for (method, path) in reads {
        let r = api
            .call_with(method.clone(), &path, Auth::None, Body::None, &[("X-RhoConnect-API-TOKEN", "alice-token")])
            .await;
        assert_text(&r, 422, "Invalid/missing API user");
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = api.call(method, &format!("{path}{sep}api_token=alice-token"), Auth::None, Body::None).await;
        assert_text(&r, 422, "Invalid/missing API user");
    }
    let r = api
        .call(
            Method::POST,
            "/api/list_clients",
            Auth::None,
            Body::Json(json!({"api_token": "alice-token", "user_id": "bob"})),
        )
        .await;
    assert_text(&r, 422, "Invalid/missing API user");
    // Nor can she make herself admin.
    let r = api
        .call_with(
            Method::PUT,
            "/rc/v1/users/alice",
            Auth::None,
            Body::Json(json!({"attributes": {"admin": 1}})),
            &[("X-RhoConnect-API-TOKEN", "alice-token")],
        )
        .await;
    assert_text(&r, 422, "Invalid/missing API user");
    let shown = api.admin(Method::GET, "/rc/v1/users/alice", Body::None).await.json();
    assert_eq!(shown[6]["value"], json!(null), "still not an admin");
    api.runner.shutdown().await;
}

#[tokio::test]
async fn header_token_wins_then_parameter_and_rotation_takes_effect_at_once() {
    let api = Api::start("tokens", REST_SETTINGS).await;
    // A wrong header falls back to a good parameter (docs/rest-api.md §1.3 step 2).
    let r = api
        .call_with(
            Method::GET,
            &format!("/rc/v1/users?api_token={TOKEN}"),
            Auth::None,
            Body::None,
            &[("X-RhoConnect-API-TOKEN", "nope")],
        )
        .await;
    assert_json(&r, 200, &json!([]));
    // Form bodies carry it too.
    let r = api.call(Method::POST, "/api/list_users", Auth::None, Body::Form(format!("api_token={TOKEN}"))).await;
    assert_json(&r, 200, &json!([]));
    // Rotation: the old token stops working immediately, the new one works.
    let r = api
        .admin(Method::PUT, "/rc/v1/users/rhoadmin", Body::Json(json!({"attributes": {"token": "rotated-token"}})))
        .await;
    assert_text(&r, 200, "User updated");
    let r = api.admin(Method::GET, "/rc/v1/users", Body::None).await;
    assert_text(&r, 422, "No API token provided");
    let r = api
        .call_with(Method::GET, "/rc/v1/users", Auth::None, Body::None, &[("x-rhoconnect-api-token", "rotated-token")])
        .await;
    assert_json(&r, 200, &json!([]));
    api.runner.shutdown().await;
}

#[tokio::test]
async fn legacy_sha1_passwords_log_in_once_and_are_upgraded_to_argon2() {
    let api = Api::start("sha1", REST_SETTINGS).await;
    let registry = api.env.state.registry();
    // A RhoConnect-migrated admin: SHA-1 of password + salt.
    let mut admin = registry.user("rhoadmin").await.expect("get").expect("rhoadmin");
    let digest = sha1_hex(b"oldpassSALT123");
    admin.password_hash = Some(format!("sha1$SALT123${digest}"));
    registry.put_admin(&admin).await.expect("put");
    let login = |p: &str| json!({"login": "rhoadmin", "password": p});
    let r = api.call(Method::POST, "/rc/v1/system/login", Auth::None, Body::Json(login("wrong"))).await;
    assert_text(&r, 401, "Unable to authenticate 'rhoadmin'");
    let r = api.call(Method::POST, "/rc/v1/system/login", Auth::None, Body::Json(login("oldpass"))).await;
    assert_text(&r, 200, TOKEN);
    let stored = registry.user("rhoadmin").await.expect("get").expect("rhoadmin").password_hash.unwrap_or_default();
    assert!(stored.starts_with("$argon2id$"), "upgraded: {stored}");
    let r = api.call(Method::POST, "/rc/v1/system/login", Auth::None, Body::Json(login("oldpass"))).await;
    assert_text(&r, 200, TOKEN);
    assert_eq!(registry.user_token("rhoadmin").await.expect("token").as_deref(), Some(TOKEN), "token kept");
    // Changing the password keeps the token; reset restores the bootstrap password.
    let r = api
        .admin(Method::PUT, "/rc/v1/users/rhoadmin", Body::Json(json!({"attributes": {"new_password": "123"}})))
        .await;
    assert_text(&r, 200, "User updated");
    let r = api.call(Method::POST, "/rc/v1/system/login", Auth::None, Body::Json(login("123"))).await;
    assert_text(&r, 200, TOKEN);
    let r = api.admin(Method::POST, "/rc/v1/system/reset", Body::None).await;
    assert_text(&r, 200, "DB reset");
    let r = api.call(Method::POST, "/rc/v1/system/login", Auth::None, Body::Json(login(""))).await;
    assert_text(&r, 200, TOKEN);
    let r = api.call(Method::POST, "/rc/v1/system/login", Auth::None, Body::Json(login("123"))).await;
    assert_text(&r, 401, "Unable to authenticate 'rhoadmin'");
    // A JSON body sent as a form yields no login (docs/rest-api.md §4.1).
    let r = api
        .call_with(
            Method::POST,
            "/rc/v1/system/login",
            Auth::None,
            Body::Untyped(login("").to_string()),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_text(&r, 401, "Unable to authenticate ''");
    api.runner.shutdown().await;
}

fn sha1_hex(data: &[u8]) -> String {
    // Tiny SHA-1 so the test does not depend on the server's own hashing code.
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([chunk[4 * i], chunk[4 * i + 1], chunk[4 * i + 2], chunk[4 * i + 3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}
