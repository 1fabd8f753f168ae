//! Helpers for the sync tests: a device talking HTTP to the runner (cookie kept by hand,
//! like the bench does), admin calls with the test API token, and the settings the tests
//! share.

#![allow(dead_code)]

use std::sync::Arc;

use reqwest::header::HeaderMap;
use rhosync_e2e::{start_runner, TestEnv, TEST_API_TOKEN};
use rhosync_local::Runner;
use rhosync_server::ports::ManualClock;
use serde_json::Value;

/// Bench-style settings: mock sources in every partition flavour, a pass-through source and
/// a demo source; devices log in with any non-empty login.
pub const SYNC_SETTINGS: &str = "\
:development:
  :poll_interval_default: 300
  :device_auth: open
  :page_byte_cap: 1048576
:sources:
  MockAdapter:
    adapter: mock
    poll_interval: 300
  AppMock:
    adapter: mock
    partition_type: app
    poll_interval: 300
  PassMock:
    adapter: mock
    pass_through: true
    poll_interval: 0
  Product:
    adapter: demo
";

/// A test world: env, runner, a controllable clock, an HTTP client.
pub struct World {
    pub env: TestEnv,
    pub runner: Runner,
    pub clock: ManualClock,
    pub http: reqwest::Client,
}

impl World {
    pub async fn new(label: &str, settings: &str) -> World {
        let mut env = TestEnv::new(label, settings).await;
        let clock = ManualClock::new();
        env.state = env.state.clone().with_clock(Arc::new(clock.clone()));
        let runner = start_runner(&env, 1).await;
        World { env, runner, clock, http: reqwest::Client::new() }
    }

    /// A world whose runner serves HTTP only; the test runs the adapter worker itself
    /// (`rhosync_e2e::start_adapter_worker`).
    pub async fn http_only(label: &str, settings: &str) -> World {
        let mut env = TestEnv::new(label, settings).await;
        let clock = ManualClock::new();
        env.state = env.state.clone().with_clock(Arc::new(clock.clone()));
        let runner = rhosync_e2e::start_http_runner(&env).await;
        World { env, runner, clock, http: reqwest::Client::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.runner.base_url(), path)
    }

    /// An admin call with the test API token; returns status and body text.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        self.with_token(method, path, TEST_API_TOKEN, body).await
    }

    /// A REST call with `token` as the API token (empty: none that works); status and body.
    pub async fn with_token(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(method, self.url(path)).header("X-RhoConnect-API-TOKEN", token);
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// Replaces a mock adapter's backend data (`test_db_storage:application:<owner>`).
    pub async fn set_backend(&self, owner: &str, data: Value) {
        let (status, body) = self
            .admin(
                "POST",
                &format!("/rc/v1/store/test_db_storage:application:{owner}"),
                Some(serde_json::json!({"data": data, "append": false})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// Waits until the adapter worker has applied every queued client write.
    pub async fn settle_writes(&self) {
        rhosync_e2e::settle_adapter_queue(&self.env).await;
    }

    /// Forces a refresh on the next query (read state refresh_time 0).
    pub async fn force_refresh(&self, user: &str, source: &str) {
        let (status, body) = self
            .admin(
                "PUT",
                &format!("/rc/v1/readstate/users/{user}/sources/{source}"),
                Some(serde_json::json!({"refresh_time": 0})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// A logged-in device with a client (any password: the sync tests' logins are open).
    pub async fn device(&self, login: &str) -> Device {
        self.device_with_password(login, "x").await
    }

    /// A device logged in with `password` (a backend may check it), with a client.
    pub async fn device_with_password(&self, login: &str, password: &str) -> Device {
        let mut d =
            Device { http: self.http.clone(), base: self.runner.base_url(), cookie: None, client_id: String::new() };
        let resp = d.post_json("/rc/v1/app/login", serde_json::json!({"login": login, "password": password})).await;
        assert_eq!(resp.status, 200, "login: {}", resp.text);
        let resp = d.post_json("/rc/v1/clients", Value::Null).await;
        assert_eq!(resp.status, 200, "clientcreate: {}", resp.text);
        d.client_id = resp.json()["client"]["client_id"].as_str().unwrap_or_default().to_owned();
        assert_eq!(d.client_id.len(), 32);
        d
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// The page token (element 2 of a query page).
    pub fn token(&self) -> String {
        self.json()[1]["token"].as_str().unwrap_or_default().to_owned()
    }

    pub fn count(&self) -> u64 {
        self.json()[2]["count"].as_u64().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.json()[4]["total_count"].as_u64().unwrap_or(0)
    }

    pub fn command(&self) -> Value {
        self.json()[5].clone()
    }

    pub fn insert_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> =
            self.command()["insert"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        ids.sort();
        ids
    }
}

/// A device: session cookie and client id.
pub struct Device {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: Option<String>,
    pub client_id: String,
}

impl Device {
    pub async fn send(&mut self, req: reqwest::RequestBuilder) -> Reply {
        let req = match &self.cookie {
            Some(c) => req.header("Cookie", c.clone()),
            None => req,
        };
        let resp = req.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        if let Some(set) = headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        Reply { status, headers, text: resp.text().await.unwrap_or_default() }
    }

    pub async fn post_json(&mut self, path: &str, body: Value) -> Reply {
        let mut req = self.http.post(format!("{}{path}", self.base));
        if !body.is_null() {
            req = req.header("Content-Type", "application/json").body(body.to_string());
        }
        self.send(req).await
    }

    /// `GET /app/v1/{source}?<query>` with the client id header.
    pub async fn query(&mut self, source: &str, query: &str) -> Reply {
        let sep = if query.is_empty() { "" } else { "?" };
        let req = self
            .http
            .get(format!("{}/app/v1/{source}{sep}{query}", self.base))
            .header("X-RhoConnect-CLIENT-ID", self.client_id.clone());
        self.send(req).await
    }

    /// Pulls pages (acknowledging each) until the token is empty; returns the pages.
    pub async fn sync_all(&mut self, source: &str, p_size: usize) -> Vec<Reply> {
        let mut pages = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..1000 {
            let q = match &token {
                Some(t) => format!("p_size={p_size}&token={t}"),
                None => format!("p_size={p_size}"),
            };
            let page = self.query(source, &q).await;
            assert_eq!(page.status, 200, "{}", page.text);
            let t = page.token();
            pages.push(page);
            if t.is_empty() {
                return pages;
            }
            token = Some(t);
        }
        panic!("sync of {source} did not finish");
    }

    pub async fn cud(&mut self, source: &str, body: Value) -> Reply {
        let req = self
            .http
            .post(format!("{}/app/v1/{source}", self.base))
            .header("X-RhoConnect-CLIENT-ID", self.client_id.clone())
            .header("Content-Type", "application/json")
            .body(body.to_string());
        self.send(req).await
    }
}
