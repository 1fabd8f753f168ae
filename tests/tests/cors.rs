//! CORS for browser clients (docs/device-protocol.md §9, docs/device-protocol.md §9) through the
//! in-process runner, which routes by `template.yaml` as API Gateway would: preflights on
//! device and REST paths reach the functions and are answered there, and normal responses
//! carry the headers — shaped like the rhoconnect.js exchange of transcript 05.

mod sync_support;

use reqwest::header::HeaderMap;
use reqwest::Method;
use rhosync_e2e::TEST_API_TOKEN;
use serde_json::{json, Value};
use sync_support::{World, SYNC_SETTINGS};

const ORIGIN: &str = "http://localhost:9400";

fn cors_settings() -> String {
    SYNC_SETTINGS.replace(
        "  :page_byte_cap: 1048576\n",
        "  :page_byte_cap: 1048576\n  :cors_origins:\n    - http://localhost:9400\n    - file://\n",
    )
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(w: &World, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Answer {
    let mut req = w.http.request(method, w.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.header("Content-Type", "application/json").body(b.to_string());
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    Answer { status, headers, text: resp.text().await.unwrap_or_default() }
}

/// A browser preflight from `origin` for `method` with `X-Origin` (what rhoconnect.js asks).
async fn preflight(w: &World, path: &str, origin: &str, method: &str, requested: &str) -> Answer {
    let headers =
        [("Origin", origin), ("Access-Control-Request-Method", method), ("Access-Control-Request-Headers", requested)];
    send(w, Method::OPTIONS, path, &headers, None).await
}

fn assert_preflight(a: &Answer, origin: &str, requested: &str) {
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("access-control-allow-origin"), Some(origin));
    assert_eq!(a.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(a.header("access-control-allow-methods"), Some("GET, POST, PUT, DELETE"));
    assert_eq!(a.header("access-control-allow-headers"), Some(requested));
    assert_eq!(a.header("access-control-max-age"), Some("1728000"));
}

fn assert_cors(a: &Answer, origin: &str) {
    assert_eq!(a.header("access-control-allow-origin"), Some(origin), "{}", a.text);
    assert_eq!(a.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(a.header("access-control-allow-methods"), Some("GET, POST, PUT, DELETE"));
    assert_eq!(a.header("access-control-max-age"), Some("1728000"));
    assert!(a.header("access-control-allow-headers").is_none(), "only preflights echo the requested headers");
    let exposed = a.header("access-control-expose-headers").unwrap_or_default();
    assert!(exposed.contains("X-Rhoconnect-PAGE-TOKEN"), "page headers are readable by scripts: {exposed}");
}

#[tokio::test]
async fn rhoconnect_js_from_another_origin_logs_in_and_syncs() {
    let w = World::new("cors-js", &cors_settings()).await;
    w.set_backend("jsuser3", json!({"1": {"mock_id": "1", "name": "one"}})).await;
    let from = [("Origin", ORIGIN), ("X-Origin", ORIGIN)];

    let p = preflight(&w, "/application/clientlogin", ORIGIN, "POST", "X-Origin").await;
    assert_preflight(&p, ORIGIN, "X-Origin");
    let login = send(
        &w,
        Method::POST,
        "/application/clientlogin",
        &from,
        Some(json!({"login": "jsuser3", "password": "secret", "rememberme": 1})),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_cors(&login, ORIGIN);
    let cookie = login.header("set-cookie").and_then(|c| c.split(';').next()).map(str::to_owned);
    let cookie = cookie.unwrap_or_else(|| panic!("login sets the session cookie"));

    let p = preflight(&w, "/application/clientcreate?_=1795725877344", ORIGIN, "GET", "X-Origin").await;
    assert_preflight(&p, ORIGIN, "X-Origin");
    let with_cookie = [("Origin", ORIGIN), ("X-Origin", ORIGIN), ("Cookie", cookie.as_str())];
    let created = send(&w, Method::GET, "/application/clientcreate?_=1795725877344", &with_cookie, None).await;
    assert_eq!(created.status, 200, "{}", created.text);
    assert_cors(&created, ORIGIN);
    let client: Value = serde_json::from_str(&created.text).unwrap_or(Value::Null);
    let client_id = client["client"]["client_id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(client_id.len(), 32, "{}", created.text);

    let query =
        format!("/application?version=3&client_id={client_id}&p_size=2000&source_name=MockAdapter&_=1795725877420");
    let p = preflight(&w, &query, ORIGIN, "GET", "X-Origin").await;
    assert_preflight(&p, ORIGIN, "X-Origin");
    let page = send(&w, Method::GET, &query, &with_cookie, None).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_cors(&page, ORIGIN);
    let body: Value = serde_json::from_str(&page.text).unwrap_or(Value::Null);
    assert_eq!(body[5]["insert"]["1"]["name"], "one", "{}", page.text);
    // Errors carry the headers too, so the page's script can read the 401.
    let denied = send(&w, Method::GET, &query, &from, None).await;
    assert_eq!(denied.status, 401);
    assert_cors(&denied, ORIGIN);
}

#[tokio::test]
async fn rest_routes_null_and_x_origin_and_refused_origins() {
    let w = World::new("cors-rest", &cors_settings()).await;
    // REST API (the api function), and a path whose own route is POST-only
    // (`POST /rc/v1/clients` → sync function): its preflight reaches the api function's
    // `ANY /rc/v1/{proxy+}` route, which answers it.
    for path in ["/rc/v1/users", "/rc/v1/clients", "/app/v1/MockAdapter/push_objects", "/api/application/query"] {
        let p = preflight(&w, path, ORIGIN, "POST", "X-RhoConnect-API-TOKEN, Content-Type").await;
        assert_preflight(&p, ORIGIN, "X-RhoConnect-API-TOKEN, Content-Type");
    }
    let listed =
        send(&w, Method::GET, "/rc/v1/users", &[("Origin", ORIGIN), ("X-RhoConnect-API-TOKEN", TEST_API_TOKEN)], None)
            .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_cors(&listed, ORIGIN);

    // A page opened from disk sends `Origin: null`: allowed as file://, echoed as sent.
    let p = preflight(&w, "/application/clientlogin", "null", "POST", "X-Origin").await;
    assert_preflight(&p, "null", "X-Origin");
    // No Origin header: X-Origin speaks for the page.
    let login = send(
        &w,
        Method::POST,
        "/application/clientlogin",
        &[("X-Origin", ORIGIN)],
        Some(json!({"login": "x", "password": "y"})),
    )
    .await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_cors(&login, ORIGIN);

    // Another origin gets no CORS headers, on preflights or otherwise.
    let p = preflight(&w, "/application/clientlogin", "http://evil.test", "POST", "X-Origin").await;
    assert!(p.header("access-control-allow-origin").is_none(), "{:?}", p.headers);
    let login = send(
        &w,
        Method::POST,
        "/application/clientlogin",
        &[("Origin", "http://evil.test")],
        Some(json!({"login": "x", "password": "y"})),
    )
    .await;
    assert_eq!(login.status, 200);
    assert!(login.header("access-control-allow-origin").is_none());
    assert!(login.header("access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn without_cors_origins_nothing_is_added() {
    let w = World::new("cors-off", SYNC_SETTINGS).await;
    let p = preflight(&w, "/application/clientlogin", ORIGIN, "POST", "X-Origin").await;
    assert!(p.header("access-control-allow-origin").is_none(), "{:?}", p.headers);
    let login = send(
        &w,
        Method::POST,
        "/application/clientlogin",
        &[("Origin", ORIGIN)],
        Some(json!({"login": "x", "password": "y"})),
    )
    .await;
    assert_eq!(login.status, 200);
    assert!(login.header("access-control-allow-origin").is_none());
}
