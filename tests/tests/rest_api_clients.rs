//! The admin calls real tools make, in their exact shapes: the RhoConnect benchmark
//! (docs/rest-api.md §13), rhoconnect-rb, rhoconnect-java and rhoconnect.NET
//! (docs/rest-api.md §13). Plus the served OpenAPI description.

mod rest_api_common;

use reqwest::Method;
use rest_api_common::*;
use serde_json::json;

#[tokio::test]
async fn benchmark_admin_calls() {
    let api = Api::start("bench", REST_SETTINGS).await;
    // bench.rb: login with JSON, keep the token.
    let r = api
        .call(Method::POST, "/rc/v1/system/login", Auth::None, Body::Json(json!({"login": "rhoadmin", "password": ""})))
        .await;
    assert_text(&r, 200, TOKEN);
    let token = r.body.clone();
    let with = |t: &str| vec![("X-RhoConnect-API-TOKEN", t.to_owned())];
    let h = with(&token);
    let headers: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // reset, then users create
    let r = api.call_with(Method::POST, "/rc/v1/system/reset", Auth::None, Body::None, &headers).await;
    assert_text(&r, 200, "DB reset");
    for user in ["benchuser0", "benchuser1"] {
        let r = api
            .call_with(
                Method::POST,
                "/rc/v1/users",
                Auth::None,
                Body::Json(json!({"attributes": {"login": user, "password": "password"}})),
                &headers,
            )
            .await;
        assert_text(&r, 200, "User created");
    }
    // sources update (simulate_time), readstate
    let r = api
        .call_with(
            Method::PUT,
            "/rc/v1/sources/Product",
            Auth::None,
            Body::Json(json!({"data": {"simulate_time": 2}})),
            &headers,
        )
        .await;
    assert_text(&r, 200, "");
    let shown = api.admin(Method::GET, "/rc/v1/sources/Product", Body::None).await.json();
    assert_eq!(shown[19], json!({"name": "simulate_time", "value": 2, "type": "integer"}));
    let r = api
        .call_with(
            Method::PUT,
            "/rc/v1/readstate/users/benchuser0/sources/Product",
            Auth::None,
            Body::Json(json!({"poll_interval": 7, "refresh_time": 0})),
            &headers,
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    // store set / get (the mock adapter's backing store and a master document)
    let scratch = "test_db_storage:application:benchuser0";
    let data = json!({"1": {"name": "a"}, "2": {"name": "b"}});
    let r = api
        .call_with(
            Method::POST,
            &format!("/rc/v1/store/{scratch}"),
            Auth::None,
            Body::Json(json!({"data": data, "append": false})),
            &headers,
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    let r = api.call_with(Method::GET, &format!("/rc/v1/store/{scratch}"), Auth::None, Body::None, &headers).await;
    assert_json(&r, 200, &data);
    let r = api
        .call_with(
            Method::GET,
            "/rc/v1/store/source:application:benchuser1:Product:md",
            Auth::None,
            Body::None,
            &headers,
        )
        .await;
    assert_json(&r, 200, &json!({}));
    // users delete
    let r = api.call_with(Method::DELETE, "/rc/v1/users/benchuser1", Auth::None, Body::None, &headers).await;
    assert_text(&r, 200, "User deleted");
    let r = api.admin(Method::GET, "/rc/v1/users", Body::None).await;
    assert_json(&r, 200, &json!(["benchuser0"]));
    api.runner.shutdown().await;
}

#[tokio::test]
async fn rhoconnect_rb_shapes() {
    let api = Api::start("rb", REST_SETTINGS).await;
    // Rhoconnectrb configure: POST appserver with the header token.
    let r = api
        .admin(Method::POST, "/rc/v1/system/appserver", Body::Json(json!({"adapter_url": "http://user@backend:3000"})))
        .await;
    assert_text(&r, 200, "http://user@backend:3000");
    let r = api.admin(Method::GET, "/rc/v1/system/license", Body::None).await;
    assert_eq!(r.json()["licensee"], "RhoConnect");
    // README's read_state spelling, POST.
    let r = api
        .admin(Method::POST, "/rc/v1/read_state/users/app/sources/Product", Body::Json(json!({"refresh_time": 0})))
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    // Model callbacks: user_id "app", objects carrying an `id` attribute.
    let r = api
        .admin(
            Method::POST,
            "/app/v1/Product/push_objects",
            Body::Json(json!({"user_id": "app", "objects": {"5": {"id": 5, "name": "x"}}})),
        )
        .await;
    assert_text(&r, 200, "done");
    let r = api
        .admin(Method::POST, "/app/v1/Product/push_deletes", Body::Json(json!({"user_id": "app", "objects": [5]})))
        .await;
    assert_text(&r, 200, "done");
    // Routes that never existed answer 404.
    for path in ["/api/set_auth_callback", "/api/set_query_callback", "/rc/v1/clients/abc/sources/Product/docnames"] {
        let r = api.admin(Method::POST, path, Body::Json(json!({}))).await;
        assert_text(&r, 404, "Not Found");
    }
    api.runner.shutdown().await;
}

#[tokio::test]
async fn rhoconnect_java_shapes() {
    let api = Api::start("java", REST_SETTINGS).await;
    let untyped = |v: serde_json::Value| Body::Untyped(v.to_string());
    // JSON bodies without a Content-Type (UserResource / ClientResource helpers).
    let r = api
        .call(Method::POST, "/rc/v1/system/login", Auth::None, untyped(json!({"login": "rhoadmin", "password": ""})))
        .await;
    assert_text(&r, 200, TOKEN);
    let r = api
        .admin(Method::POST, "/rc/v1/users", untyped(json!({"attributes": {"login": "jdoe", "password": "p"}})))
        .await;
    assert_text(&r, 200, "User created");
    let r = api.admin(Method::PUT, "/rc/v1/users/jdoe", untyped(json!({"attributes": {"new_password": "q"}}))).await;
    assert_text(&r, 200, "User updated");
    let r = api.admin(Method::POST, "/rc/v1/system/appserver", untyped(json!({"adapter_url": "http://j:8080"}))).await;
    assert_text(&r, 200, "http://j:8080");
    let r = api.admin(Method::GET, "/rc/v1/system/appserver", Body::None).await;
    assert_json(&r, 200, &json!({"adapter_url": "http://j:8080"}));
    let r = api.admin(Method::GET, "/rc/v1/system/stats?names=*", Body::None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api
        .admin(
            Method::POST,
            "/rc/v1/users/ping",
            untyped(json!({"user_id": "jdoe", "sources": "Product", "message": "m"})),
        )
        .await;
    assert_text(&r, 200, "");
    let jobs = api.drain_push_queue().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!((jobs[0]["users"].clone(), jobs[0]["sources"].clone()), (json!(["jdoe"]), json!(["Product"])));
    let r = api
        .admin(Method::PUT, "/rc/v1/readstate/users/jdoe/sources/Product", untyped(json!({"refresh_time": 10})))
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    let r = api.admin(Method::POST, "/rc/v1/store/abc:abc", untyped(json!({"data": {"1": {"foo": "bar"}}}))).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    let r = api.admin(Method::GET, "/rc/v1/users/jdoe/clients", Body::None).await;
    assert_json(&r, 200, &json!([]));
    let r = api.admin(Method::DELETE, "/rc/v1/users/jdoe", Body::None).await;
    assert_text(&r, 200, "User deleted");
    api.runner.shutdown().await;
}

#[tokio::test]
async fn rhoconnect_net_shapes() {
    let api = Api::start("dotnet", REST_SETTINGS).await;
    // set_app_endpoint: token only in the JSON body, nested attributes, no header.
    let r = api
        .call(
            Method::POST,
            "/rc/v1/system/appserver",
            Auth::None,
            Body::Json(json!({"api_token": TOKEN, "attributes": {"adapter_url": "http://net:80"}})),
        )
        .await;
    assert_text(&r, 200, "http://net:80");
    api.user("netuser", "p").await;
    // Pushes with api_token and source_id in the body even on the v1 path.
    let r = api.call(Method::POST, "/app/v1/Product/push_objects", Auth::None, Body::Json(json!({"api_token": TOKEN, "source_id": "Product", "user_id": "netuser", "objects": {"1": {"name": "n"}}}))).await;
    assert_text(&r, 200, "done");
    let r = api
        .call(
            Method::POST,
            "/app/v1/Product/push_deletes",
            Auth::None,
            Body::Json(json!({"api_token": TOKEN, "source_id": "Product", "user_id": "netuser", "objects": ["1"]})),
        )
        .await;
    assert_text(&r, 200, "done");
    // Ping examples send source_id instead of sources (docs/rest-api.md §6.7).
    let r = api
        .call(
            Method::POST,
            "/rc/v1/users/ping",
            Auth::None,
            Body::Json(json!({"api_token": TOKEN, "user_id": ["netuser"], "source_id": "Product", "message": "hello"})),
        )
        .await;
    assert_text(&r, 200, "");
    let jobs = api.drain_push_queue().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["sources"], json!(["Product"]));
    api.runner.shutdown().await;
}

#[tokio::test]
async fn openapi_description_is_served_and_covers_the_v1_table() {
    let api = Api::start("openapi", REST_SETTINGS).await;
    let r = api.call(Method::GET, "/rc/v1/openapi.json", Auth::None, Body::None).await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let expected = [
        ("/rc/v1/system/login", "post"),
        ("/rc/v1/system/license", "get"),
        ("/rc/v1/system/reset", "post"),
        ("/rc/v1/system/appserver", "get"),
        ("/rc/v1/system/appserver", "post"),
        ("/rc/v1/system/stats", "get"),
        ("/rc/v1/system/rps_login", "get"),
        ("/rc/v1/system/import", "post"),
        ("/rc/v1/store/{doc}", "get"),
        ("/rc/v1/store/{doc}", "post"),
        ("/rc/v1/users", "get"),
        ("/rc/v1/users", "post"),
        ("/rc/v1/users/{user_id}", "get"),
        ("/rc/v1/users/{user_id}", "put"),
        ("/rc/v1/users/{user_id}", "delete"),
        ("/rc/v1/users/{user_id}/clients", "get"),
        ("/rc/v1/users/{user_id}/clients/{client_id}", "delete"),
        ("/rc/v1/users/{user_id}/sources/{source_id}/docnames", "get"),
        ("/rc/v1/users/{user_id}/sources/{source_id}/docs/{doc}", "get"),
        ("/rc/v1/users/{user_id}/sources/{source_id}/docs/{doc}", "post"),
        ("/rc/v1/users/ping", "post"),
        ("/rc/v1/clients/{client_id}", "get"),
        ("/rc/v1/clients/{client_id}/sources/{source_id}/docnames", "get"),
        ("/rc/v1/clients/{client_id}/sources/{source_id}/docs/{doc}", "get"),
        ("/rc/v1/clients/{client_id}/sources/{source_id}/docs/{doc}", "post"),
        ("/rc/v1/sources/type/{partition_type}", "get"),
        ("/rc/v1/sources/{source_id}", "get"),
        ("/rc/v1/sources/{source_id}", "put"),
        ("/rc/v1/readstate/users/{user_id}/sources/{source_id}", "put"),
        ("/app/v1/{source}/push_objects", "post"),
        ("/app/v1/{source}/push_deletes", "post"),
        ("/app/v1/{source}/fast_insert", "post"),
        ("/app/v1/{source}/fast_update", "post"),
        ("/app/v1/{source}/fast_delete", "post"),
        ("/rc/v1/bulk_data/users/{user_id}", "get"),
        ("/rc/v1/bulk_data/app", "get"),
        ("/rc/v1/system/jobs", "get"),
        ("/rc/v1/system/jobs/{queue}/dead_letters", "get"),
        ("/rc/v1/system/jobs/{queue}/dead_letters/replay", "post"),
        ("/rc/v1/system/jobs/{queue}/dead_letters/discard", "post"),
        ("/rc/v1/system/rejected_writes", "get"),
        ("/rc/v1/system/rejected_writes/retry", "post"),
        ("/rc/v1/system/rejected_writes/dismiss", "post"),
    ];
    for (path, method) in expected {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing");
    }
    let operations: usize = paths.values().map(|p| p.as_object().map_or(0, |o| o.len())).sum();
    assert_eq!(operations, expected.len(), "exactly the v1 table");
    assert_eq!(doc["components"]["securitySchemes"]["api_token"]["name"], "X-RhoConnect-API-TOKEN");
    api.runner.shutdown().await;
}
