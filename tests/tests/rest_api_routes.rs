//! The route table of docs/rest-api.md §2, row by row, in the v1 form and in every legacy form
//! of docs/rest-api.md §3: same status and body on both, plus the exact `Warning` header on
//! the legacy ones (docs/rest-api.md §1.4), `no-cache` everywhere. Rows S1–S7, U1–U7, U11,
//! C1, R1–R3, L1–L3 here; the document rows (D1–D2, U8–U10, C2–C4, T1, P1–P5) in
//! `document_routes_in_both_forms`.

mod rest_api_common;

use reqwest::Method;
use rest_api_common::*;
use serde_json::json;

/// Runs `check` on the v1 answer and on each legacy answer, which must also carry the
/// deprecation warning for its own path.
async fn both<F>(api: &Api, v1: (Method, &str, Auth, Body), legacy: &[(&str, Body)], check: F)
where
    F: Fn(&Resp),
{
    let (method, path, auth, body) = v1;
    let r = api.call(method, path, auth, body).await;
    check(&r);
    assert!(r.header("warning").is_none(), "v1 {path} must not warn");
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    for (legacy_path, body) in legacy {
        let r = api.call(Method::POST, legacy_path, Auth::Param, body.clone()).await;
        check(&r);
        assert_eq!(r.header("warning"), Some(warning("POST", legacy_path).as_str()), "{legacy_path}");
        assert_eq!(r.header("cache-control"), Some("no-cache"));
    }
}

#[tokio::test]
async fn system_user_client_and_source_routes_in_both_forms() {
    let api = Api::start("routes", REST_SETTINGS).await;

    // S1 login: no token needed; the body is the token, with a session cookie.
    let login = json!({"login": "rhoadmin", "password": ""});
    for path in ["/rc/v1/system/login", "/login", "/api/admin/login"] {
        let r = api.call(Method::POST, path, Auth::None, Body::Json(login.clone())).await;
        assert_text(&r, 200, TOKEN);
        assert!(r.header("set-cookie").is_some_and(|c| c.starts_with("rhoconnect_session=")), "{path}");
        let expected = (path != "/rc/v1/system/login").then(|| warning("POST", path));
        assert_eq!(r.header("warning").map(str::to_owned), expected);
    }

    // S2 license: the RhoSync 3.0 aliases call the version key rhosync_version.
    let r = api.admin(Method::GET, "/rc/v1/system/license", Body::None).await;
    assert_json(
        &r,
        200,
        &json!({"rhoconnect_version": env!("CARGO_PKG_VERSION"), "licensee": "RhoConnect", "seats": 0, "issued": "", "available": 0}),
    );
    for path in ["/api/get_license_info", "/api/admin/get_license_info"] {
        let r = api.legacy(path, json!({})).await;
        assert_json(
            &r,
            200,
            &json!({"rhosync_version": env!("CARGO_PKG_VERSION"), "licensee": "RhoConnect", "seats": 0, "issued": "", "available": 0}),
        );
        assert_eq!(r.header("warning"), Some(warning("POST", path).as_str()));
    }

    // S4/S5 app server URL.
    both(
        &api,
        (Method::GET, "/rc/v1/system/appserver", Auth::Header, Body::None),
        &[("/api/get_adapter", Body::Json(json!({}))), ("/api/source/get_adapter", Body::Json(json!({})))],
        |r| assert_json(r, 200, &json!({"adapter_url": null})),
    )
    .await;
    let set = |url: &str| Body::Json(json!({"attributes": {"adapter_url": url}}));
    let r = api.admin(Method::POST, "/rc/v1/system/appserver", Body::Json(json!({"adapter_url": "http://a:1"}))).await;
    assert_text(&r, 200, "http://a:1");
    for (path, url) in [("/api/save_adapter", "http://b:2"), ("/api/source/save_adapter", "http://c:3")] {
        let r = api.call(Method::POST, path, Auth::Param, set(url)).await;
        assert_text(&r, 200, url);
        assert_eq!(r.header("warning"), Some(warning("POST", path).as_str()));
        let r = api.admin(Method::GET, "/rc/v1/system/appserver", Body::None).await;
        assert_json(&r, 200, &json!({"adapter_url": url}));
    }

    // U3 create, in every form.
    let create = |login: &str| Body::Json(json!({"attributes": {"login": login, "password": "pw"}}));
    let r = api.admin(Method::POST, "/rc/v1/users", create("testuser")).await;
    assert_text(&r, 200, "User created");
    for (path, login) in [("/api/create_user", "legacy1"), ("/api/user/create_user", "legacy2")] {
        let r = api.call(Method::POST, path, Auth::Param, create(login)).await;
        assert_text(&r, 200, "User created");
        assert_eq!(r.header("warning"), Some(warning("POST", path).as_str()));
    }

    // U1 list: sorted, without rhoadmin.
    both(
        &api,
        (Method::GET, "/rc/v1/users", Auth::Header, Body::None),
        &[("/api/list_users", Body::Json(json!({}))), ("/api/user/list_users", Body::Json(json!({})))],
        |r| assert_json(r, 200, &json!(["legacy1", "legacy2", "testuser"])),
    )
    .await;

    // S6 stats (on in these settings): the `users` counter series exists.
    both(
        &api,
        (Method::GET, "/rc/v1/system/stats?names=user*", Auth::Header, Body::None),
        &[
            ("/api/stats", Body::Json(json!({"names": "user*"}))),
            ("/api/admin/stats", Body::Json(json!({"names": "user*"}))),
        ],
        |r| assert_json(r, 200, &json!(["users"])),
    )
    .await;
    let r = api.admin(Method::GET, "/rc/v1/system/stats?metric=users", Body::None).await;
    let members = r.json();
    let last = members.as_array().and_then(|m| m.last()).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    assert!(last.starts_with("4:"), "rhoadmin + 3 users counted: {members}");
    both(
        &api,
        (Method::GET, "/rc/v1/system/stats?metric=nope", Auth::Header, Body::None),
        &[("/api/stats", Body::Json(json!({"metric": "nope"})))],
        |r| assert_text(r, 404, "Unknown metric"),
    )
    .await;

    // L2 create_client (legacy only) and U6 list clients.
    let c1 = api.client("testuser").await;
    assert!(c1.len() == 32 && c1.bytes().all(|b| b.is_ascii_hexdigit()), "{c1}");
    let r = api
        .call(Method::POST, "/api/client/create_client", Auth::Param, Body::Json(json!({"user_id": "nobody"})))
        .await;
    assert_text(&r, 500, "Unknown user 'nobody'");
    both(
        &api,
        (Method::GET, "/rc/v1/users/testuser/clients", Auth::Header, Body::None),
        &[
            ("/api/list_clients", Body::Json(json!({"user_id": "testuser"}))),
            ("/api/client/list_clients", Body::Json(json!({"user_id": "testuser"}))),
        ],
        |r| assert_json(r, 200, &json!([c1])),
    )
    .await;

    // C1 client params.
    let expected_client = json!([
        {"name": "rho__id", "type": "string", "value": c1},
        {"name": "device_type", "type": "string", "value": null},
        {"name": "device_push_type", "type": "string", "value": null},
        {"name": "device_pin", "type": "string", "value": null},
        {"name": "device_port", "type": "string", "value": null},
        {"name": "device_app_id", "type": "string", "value": null},
        {"name": "device_app_version", "type": "string", "value": null},
        {"name": "phone_id", "type": "string", "value": null},
        {"name": "user_id", "type": "string", "value": "testuser"},
        {"name": "last_sync", "type": "datetime", "value": null},
        {"name": "app_id", "type": "string", "value": "application"},
    ]);
    both(
        &api,
        (Method::GET, &format!("/rc/v1/clients/{c1}"), Auth::Header, Body::None),
        &[
            ("/api/get_client_params", Body::Json(json!({"client_id": c1}))),
            ("/api/client/get_client_params", Body::Json(json!({"client_id": c1}))),
        ],
        |r| assert_json(r, 200, &expected_client),
    )
    .await;

    // U2 show user (v1 only).
    let r = api.admin(Method::GET, "/rc/v1/users/testuser", Body::None).await;
    assert_json(
        &r,
        200,
        &json!([
            {"name": "rho__id", "type": "string", "value": "testuser"},
            {"name": "login", "type": "string", "value": "testuser"},
            {"name": "email", "type": "string", "value": null},
            {"name": "salt", "type": "string", "value": null},
            {"name": "hashed_password", "type": "string", "value": null},
            {"name": "clients", "type": "set", "value": [c1]},
            {"name": "admin", "type": "integer", "value": null},
            {"name": "token_id", "type": "string", "value": null},
        ]),
    );

    // U4 update in every form; the legacy form without user_id updates the token's user.
    let r = api.admin(Method::PUT, "/rc/v1/users/testuser", Body::Json(json!({"attributes": {"email": "t@x"}}))).await;
    assert_text(&r, 200, "User updated");
    for path in ["/api/update_user", "/api/user/update_user"] {
        let r = api
            .call(
                Method::POST,
                path,
                Auth::Param,
                Body::Json(json!({"user_id": "legacy1", "attributes": {"email": path}})),
            )
            .await;
        assert_text(&r, 200, "User updated");
        assert_eq!(r.header("warning"), Some(warning("POST", path).as_str()));
        let shown = api.admin(Method::GET, "/rc/v1/users/legacy1", Body::None).await.json();
        assert_eq!(shown[2], json!({"name": "email", "type": "string", "value": path}));
    }
    let r = api.legacy("/api/update_user", json!({"attributes": {"email": "admin@x"}})).await;
    assert_text(&r, 200, "User updated");
    let admin = api.admin(Method::GET, "/rc/v1/users/rhoadmin", Body::None).await.json();
    assert_eq!(admin[2]["value"], "admin@x");
    assert_eq!(admin[6]["value"], 1);
    assert_eq!(admin[7]["value"], TOKEN);

    // U11 ping in every form: one queued job each, never carrying the token.
    let ping = json!({"user_id": ["testuser"], "sources": ["Product"], "message": "hi", "badge": 5, "vibrate": 2000, "sound": "s.mp3"});
    both(
        &api,
        (Method::POST, "/rc/v1/users/ping", Auth::Param, Body::Json(ping.clone())),
        &[("/api/ping", Body::Json(ping.clone())), ("/api/client/ping", Body::Json(ping.clone()))],
        |r| assert_text(r, 200, ""),
    )
    .await;
    let jobs = api.drain_push_queue().await;
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    for job in &jobs {
        assert!(!job.to_string().contains(TOKEN), "the token never reaches the queue: {job}");
        assert_eq!(job["kind"], "ping");
        assert_eq!(job["users"], json!(["testuser"]));
        assert_eq!(job["sources"], json!(["Product"]));
        assert_eq!(job["message"], "hi");
        assert_eq!(job["badge"], "5");
        assert_eq!(job["vibrate"], "2000");
        assert_eq!(job["sound"], "s.mp3");
        assert_eq!(job["origin"], "api");
    }

    // R1 list sources (the legacy form defaults to `all`), R2 params, R3 update.
    both(
        &api,
        (Method::GET, "/rc/v1/sources/type/all", Auth::Header, Body::None),
        &[
            ("/api/list_sources", Body::Json(json!({}))),
            ("/api/source/list_sources", Body::Json(json!({"partition_type": "all"}))),
        ],
        |r| assert_json(r, 200, &json!(["Product", "Catalog"])),
    )
    .await;
    let r = api.admin(Method::GET, "/rc/v1/sources/type/app", Body::None).await;
    assert_json(&r, 200, &json!(["Catalog"]));
    let r = api.admin(Method::GET, "/rc/v1/sources/type/other", Body::None).await;
    assert_json(&r, 200, &json!([]));
    let r = api
        .admin(
            Method::PUT,
            "/rc/v1/sources/Product",
            Body::Json(json!({"data": {"poll_interval": "99", "simulate_time": 5}, "user_name": "x"})),
        )
        .await;
    assert_text(&r, 200, "");
    let expected_source = json!([
        {"name": "id", "value": "Product", "type": "string"},
        {"name": "rho__id", "value": "Product", "type": "string"},
        {"name": "name", "value": "Product", "type": "string"},
        {"name": "url", "value": "", "type": "string"},
        {"name": "login", "value": "", "type": "string"},
        {"name": "password", "value": "", "type": "string"},
        {"name": "callback_url", "value": null, "type": "string"},
        {"name": "partition_type", "value": "user", "type": "string"},
        {"name": "sync_type", "value": "incremental", "type": "string"},
        {"name": "queue", "value": null, "type": "string"},
        {"name": "query_queue", "value": null, "type": "string"},
        {"name": "cud_queue", "value": null, "type": "string"},
        {"name": "belongs_to", "value": null, "type": "string"},
        {"name": "has_many", "value": "Catalog,brand", "type": "string"},
        {"name": "pass_through", "value": null, "type": "string"},
        {"name": "push_notify", "value": "false", "type": "string"},
        {"name": "source_id", "value": null, "type": "integer"},
        {"name": "priority", "value": 1, "type": "integer"},
        {"name": "retry_limit", "value": 0, "type": "integer"},
        {"name": "simulate_time", "value": 5, "type": "integer"},
        {"name": "poll_interval", "value": 99, "type": "integer"},
    ]);
    both(
        &api,
        (Method::GET, "/rc/v1/sources/Product", Auth::Header, Body::None),
        &[
            ("/api/get_source_params", Body::Json(json!({"source_id": "Product"}))),
            ("/api/source/get_source_params", Body::Json(json!({"source_id": "Product"}))),
        ],
        |r| assert_json(r, 200, &expected_source),
    )
    .await;
    let catalog = api.admin(Method::GET, "/rc/v1/sources/Catalog", Body::None).await.json();
    assert_eq!(catalog[12]["value"], r#"[{"brand":"Product"}]"#);
    let r = api
        .admin(
            Method::PUT,
            "/rc/v1/sources/Product",
            Body::Json(json!({"data": {"retry_limit": 2, "name": "x", "priority": 9}})),
        )
        .await;
    assert_text(&r, 500, "undefined method `name=' for Rhoconnect::Source");
    let after = api.admin(Method::GET, "/rc/v1/sources/Product", Body::None).await.json();
    assert_eq!(
        (after[18]["value"].clone(), after[17]["value"].clone()),
        (json!(2), json!(1)),
        "applied up to the bad field"
    );
    let r = api.admin(Method::GET, "/rc/v1/sources/Nope", Body::None).await;
    assert_text(&r, 500, "Unknown source");

    // U7 delete client in every form.
    let c2 = api.client("testuser").await;
    let c3 = api.client("testuser").await;
    let r = api.admin(Method::DELETE, &format!("/rc/v1/users/testuser/clients/{c1}"), Body::None).await;
    assert_text(&r, 200, "Client deleted");
    for (path, id) in [("/api/delete_client", &c2), ("/api/client/delete_client", &c3)] {
        let r = api
            .call(Method::POST, path, Auth::Param, Body::Json(json!({"user_id": "testuser", "client_id": id})))
            .await;
        assert_text(&r, 200, "Client deleted");
        assert_eq!(r.header("warning"), Some(warning("POST", path).as_str()));
    }
    let r = api.admin(Method::GET, "/rc/v1/users/testuser/clients", Body::None).await;
    assert_json(&r, 200, &json!([]));
    both(
        &api,
        (Method::DELETE, "/rc/v1/users/testuser/clients/gone", Auth::Header, Body::None),
        &[("/api/delete_client", Body::Json(json!({"user_id": "testuser", "client_id": "gone"})))],
        |r| assert_text(r, 500, "Unknown client"),
    )
    .await;

    // U5 delete user in every form.
    let r = api.admin(Method::DELETE, "/rc/v1/users/testuser", Body::None).await;
    assert_text(&r, 200, "User deleted");
    for (path, login) in [("/api/delete_user", "legacy1"), ("/api/user/delete_user", "legacy2")] {
        let r = api.call(Method::POST, path, Auth::Param, Body::Json(json!({"user_id": login}))).await;
        assert_text(&r, 200, "User deleted");
    }
    both(
        &api,
        (Method::DELETE, "/rc/v1/users/testuser", Auth::Header, Body::None),
        &[
            ("/api/delete_user", Body::Json(json!({"user_id": "testuser"}))),
            ("/api/delete_user", Body::Json(json!({}))),
        ],
        |r| assert!(r.status == 500 && r.body.starts_with("Unknown user '"), "{r:?}"),
    )
    .await;
    let r = api.admin(Method::GET, "/rc/v1/users", Body::None).await;
    assert_json(&r, 200, &json!([]));

    // S7 rps_login: Basic credentials of :push_server:.
    let basic = |c: &str| format!("Basic {}", base64_encode(c));
    let r = api
        .call_with(
            Method::GET,
            "/rc/v1/system/rps_login",
            Auth::None,
            Body::None,
            &[("authorization", &basic("rpsuser:rpspass"))],
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    let r = api
        .call_with(
            Method::GET,
            "/rc/v1/system/rps_login",
            Auth::None,
            Body::None,
            &[("authorization", &basic("rpsuser:nope"))],
        )
        .await;
    assert_text(&r, 401, "Invalid RhoConnect Push server credentials");
    let r = api.call(Method::GET, "/rc/v1/system/rps_login", Auth::None, Body::None).await;
    assert_text(&r, 401, "Invalid Basic Authorization header");

    // L1 get_api_token: with the cookie of POST /login, or with login + password.
    let r = api.call(Method::POST, "/login", Auth::None, Body::Json(login.clone())).await;
    let cookie = r.header("set-cookie").and_then(|c| c.split(';').next()).unwrap_or_default().to_owned();
    for path in ["/api/get_api_token", "/api/admin/get_api_token"] {
        let r = api.call_with(Method::POST, path, Auth::None, Body::None, &[("cookie", &cookie)]).await;
        assert_text(&r, 200, TOKEN);
        assert_eq!(r.header("warning"), Some(warning("POST", path).as_str()));
    }
    let r = api.call(Method::POST, "/api/get_api_token", Auth::None, Body::Json(login.clone())).await;
    assert_text(&r, 200, TOKEN);
    let r = api.call(Method::POST, "/api/get_api_token", Auth::None, Body::None).await;
    assert_text(&r, 422, "Invalid/missing API user");

    // L3 upload_file: not applicable to Lambda.
    for path in ["/api/upload_file", "/api/source/upload_file"] {
        let r = api.legacy(path, json!({})).await;
        assert_text(&r, 501, "Not supported");
        assert_eq!(r.header("warning"), Some(warning("POST", path).as_str()));
    }

    // Unknown routes and methods: 404 Not Found; set_auth_callback never existed.
    for (method, path) in [
        (Method::GET, "/rc/v1/nothing"),
        (Method::GET, "/api/list_users"),
        (Method::POST, "/api/set_auth_callback"),
        (Method::DELETE, "/rc/v1/system/login"),
    ] {
        let r = api.admin(method, path, Body::None).await;
        assert_text(&r, 404, "Not Found");
    }

    // S3 reset last, in each form: data gone, the caller's token still works.
    for (path, auth) in
        [("/rc/v1/system/reset", Auth::Header), ("/api/reset", Auth::Param), ("/api/admin/reset", Auth::Param)]
    {
        api.user("doomed", "x").await;
        let r = api.call(Method::POST, path, auth, Body::Json(json!({}))).await;
        assert_text(&r, 200, "DB reset");
        let r = api.admin(Method::GET, "/rc/v1/users", Body::None).await;
        assert_json(&r, 200, &json!([]));
        let r = api.admin(Method::GET, "/rc/v1/system/appserver", Body::None).await;
        assert_json(&r, 200, &json!({"adapter_url": null}));
    }
    api.runner.shutdown().await;
}

#[tokio::test]
async fn document_routes_in_both_forms() {
    let api = Api::start("docroutes", REST_SETTINGS).await;
    api.user("testuser", "pw").await;
    let client = api.client("testuser").await;

    // D2 set / D1 get by RhoConnect name.
    let doc = "source:application:testuser:Product:md";
    let data = json!({"data": {"1": {"name": "a"}}});
    both(
        &api,
        (Method::POST, &format!("/rc/v1/store/{doc}"), Auth::Header, Body::Json(data.clone())),
        &[
            ("/api/set_db_doc", Body::Json(json!({"doc": doc, "data": {"1": {"name": "a"}}}))),
            ("/api/source/set_db_doc", Body::Json(json!({"doc": doc, "data": {"1": {"name": "a"}}}))),
        ],
        |r| assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}"),
    )
    .await;
    both(
        &api,
        (Method::GET, &format!("/rc/v1/store/{doc}"), Auth::Header, Body::None),
        &[
            ("/api/get_db_doc", Body::Json(json!({"doc": doc}))),
            ("/api/source/get_db_doc", Body::Json(json!({"doc": doc, "data_type": "x"}))),
        ],
        |r| assert_json(r, 200, &json!({"1": {"name": "a"}})),
    )
    .await;

    // U8 docnames, U9/U10 user source documents.
    let names = json!({
        "md": "source:application:testuser:Product:md",
        "errors": "source:application:testuser:Product:errors",
        "md_size": "source:application:testuser:Product:md_size",
        "md_copy": "source:application:testuser:Product:md_copy",
    });
    both(
        &api,
        (Method::GET, "/rc/v1/users/testuser/sources/Product/docnames", Auth::Header, Body::None),
        &[
            ("/api/list_source_docs", Body::Json(json!({"user_id": "testuser", "source_id": "Product"}))),
            ("/api/source/list_source_docs", Body::Json(json!({"user_id": "testuser", "source_id": "Product"}))),
        ],
        |r| assert_json(r, 200, &names),
    )
    .await;
    let r = api
        .admin(
            Method::POST,
            "/rc/v1/users/testuser/sources/Product/docs/md",
            Body::Json(json!({"data": {"2": {"x": "y"}}, "append": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.admin(Method::GET, "/rc/v1/users/testuser/sources/Product/docs/md", Body::None).await;
    assert_json(&r, 200, &json!({"1": {"name": "a"}, "2": {"x": "y"}}));

    // C2 docnames (24 entries), C3/C4 client documents.
    let check_names = |r: &Resp| {
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        let map = v.as_object().cloned().unwrap_or_default();
        assert_eq!(map.len(), 24, "{v}");
        assert_eq!(map["cd"], format!("client:application:testuser:{client}:Product:cd"));
    };
    both(
        &api,
        (Method::GET, &format!("/rc/v1/clients/{client}/sources/Product/docnames"), Auth::Header, Body::None),
        &[
            ("/api/list_client_docs", Body::Json(json!({"client_id": client, "source_id": "Product"}))),
            ("/api/client/list_client_docs", Body::Json(json!({"client_id": client, "source_id": "Product"}))),
        ],
        check_names,
    )
    .await;
    let r = api.admin(Method::POST, &format!("/rc/v1/clients/{client}/sources/Product/docnames"), Body::None).await;
    assert_text(&r, 404, "Not Found");
    let r = api.admin(Method::GET, &format!("/rc/v1/clients/{client}/sources/Product/docs/cd"), Body::None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.admin(Method::GET, &format!("/rc/v1/clients/{client}/sources/Product/docs/bogus"), Body::None).await;
    assert_text(&r, 500, "Invalid document type bogus for Rhoconnect::Client");

    // T1 read state: v1, the three compat spellings (no warning), two legacy forms.
    let rs = json!({"refresh_time": 100});
    for (method, path) in [
        (Method::PUT, "/rc/v1/readstate/users/testuser/sources/Product"),
        (Method::POST, "/rc/v1/readstate/users/testuser/sources/Product"),
        (Method::PUT, "/rc/v1/read_state/users/testuser/sources/Product"),
        (Method::POST, "/rc/v1/read_state/users/testuser/sources/Product"),
    ] {
        let r = api.admin(method.clone(), path, Body::Json(rs.clone())).await;
        assert_eq!((r.status, r.body.as_str()), (200, ""), "{method} {path}");
        assert!(r.header("warning").is_none(), "{path}");
    }
    for path in ["/api/set_refresh_time", "/api/source/set_refresh_time"] {
        let r =
            api.legacy(path, json!({"user_name": "testuser", "source_name": "Product", "poll_interval": null})).await;
        assert_eq!((r.status, r.body.as_str()), (200, ""), "{path}");
        assert_eq!(r.header("warning"), Some(warning("POST", path).as_str()));
    }

    // P1–P5 backend pushes, v1 and both legacy forms (source in source_id).
    let pushes = [
        ("push_objects", json!({"user_id": "testuser", "objects": {"3": {"name": "c"}}})),
        ("push_deletes", json!({"user_id": "testuser", "objects": ["3"]})),
        ("fast_insert", json!({"user_id": "testuser", "data": {"4": {"name": "d"}}})),
        ("fast_update", json!({"user_id": "testuser", "data": {"4": {"name": "e"}}})),
        ("fast_delete", json!({"user_id": "testuser", "data": {"4": {"name": "e"}}})),
    ];
    for (name, body) in pushes {
        let mut legacy_body = body.clone();
        legacy_body["source_id"] = json!("Product");
        both(
            &api,
            (Method::POST, &format!("/app/v1/Product/{name}"), Auth::Header, Body::Json(body)),
            &[
                (&format!("/api/{name}"), Body::Json(legacy_body.clone())),
                (&format!("/api/source/{name}"), Body::Json(legacy_body)),
            ],
            |r| assert_text(r, 200, "done"),
        )
        .await;
    }
    api.runner.shutdown().await;
}

fn base64_encode(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
