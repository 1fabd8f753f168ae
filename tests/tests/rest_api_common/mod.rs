//! Shared helpers of the `rest_api*` tests: a runner on a fresh [`TestEnv`] (queue
//! consumers off, so tests can read what the API enqueued) and a small HTTP client that
//! keeps status, headers and the raw body of every answer.
#![allow(dead_code)]

use reqwest::header::HeaderMap;
use reqwest::Method;
use rhosync_e2e::{repo_root, TestEnv, TEST_API_TOKEN};
use rhosync_local::{Runner, RunnerOptions};
use serde_json::Value;

/// Settings with a user- and an app-partitioned source, stats on and a push server.
pub const REST_SETTINGS: &str = "\
:development:
  :poll_interval_default: 300
  :stats: true
  :push_server: http://rpsuser:rpspass@localhost:8675/
:sources:
  Product:
    adapter: demo
    partition_type: user
    priority: 1
  Catalog:
    adapter: demo
    partition_type: app
    priority: 2
    belongs_to:
      - brand: Product
";

pub const TOKEN: &str = TEST_API_TOKEN;

/// How a request carries the API token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Auth {
    None,
    /// `X-RhoConnect-API-TOKEN` header.
    Header,
    /// `api_token` member of the JSON body (or query string when there is no body).
    Param,
    /// A wrong token in the header.
    Wrong,
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(Value),
    Form(String),
    /// JSON text without a `Content-Type` (rhoconnect-java).
    Untyped(String),
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }
}

pub struct Api {
    pub env: TestEnv,
    pub runner: Runner,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn start(label: &str, settings: &str) -> Api {
        let env = TestEnv::new(label, settings).await;
        let options = RunnerOptions {
            bind: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
            template: repo_root().join("template.yaml"),
            static_dir: None,
            consumers: None,
        };
        let runner = rhosync_local::start(env.state.clone(), options).await.unwrap_or_else(|e| panic!("runner: {e}"));
        Api { env, runner, http: reqwest::Client::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.runner.base_url())
    }

    /// One request; `Auth::Param` puts the token in the JSON body, or the query string.
    pub async fn call(&self, method: Method, path: &str, auth: Auth, body: Body) -> Resp {
        self.call_with(method, path, auth, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        auth: Auth,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut url = self.url(path);
        let body = match (auth, body) {
            (Auth::Param, Body::Json(mut v)) => {
                v["api_token"] = Value::String(TOKEN.into());
                Body::Json(v)
            }
            (Auth::Param, Body::Form(f)) => Body::Form(format!("{f}&api_token={TOKEN}")),
            (Auth::Param, Body::None) => {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&format!("api_token={TOKEN}"));
                Body::None
            }
            (_, b) => b,
        };
        let mut req = self.http.request(method, &url);
        match auth {
            Auth::Header => req = req.header("X-RhoConnect-API-TOKEN", TOKEN),
            Auth::Wrong => req = req.header("X-RhoConnect-API-TOKEN", "not-a-token"),
            _ => {}
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.header("Content-Type", "application/json").body(v.to_string()),
            Body::Form(f) => req.header("Content-Type", "application/x-www-form-urlencoded").body(f),
            Body::Untyped(t) => req.body(t),
        };
        let response = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        Resp { status, headers, body }
    }

    /// A v1 call with the token header.
    pub async fn admin(&self, method: Method, path: &str, body: Body) -> Resp {
        self.call(method, path, Auth::Header, body).await
    }

    /// A legacy call (`POST`, token in the body as RhoSync-era scripts send it).
    pub async fn legacy(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Auth::Param, Body::Json(body)).await
    }

    /// Creates a user through the API.
    pub async fn user(&self, login: &str, password: &str) {
        let r = self
            .admin(
                Method::POST,
                "/rc/v1/users",
                Body::Json(serde_json::json!({"attributes": {"login": login, "password": password}})),
            )
            .await;
        assert_eq!((r.status, r.body.as_str()), (200, "User created"), "creating {login}");
    }

    /// Creates a client of `login` through the legacy `create_client` route; its id.
    pub async fn client(&self, login: &str) -> String {
        let r = self.legacy("/api/create_client", serde_json::json!({"user_id": login})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    }

    /// Messages waiting on the push queue (bodies), removed from it.
    pub async fn drain_push_queue(&self) -> Vec<Value> {
        let sqs = &self.env.state.aws.sqs;
        let queue = &self.env.provisioned.push_queue_url;
        let mut out = Vec::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap_or_else(|e| panic!("receive: {e}"));
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                out.push(serde_json::from_str(m.body().unwrap_or_default()).unwrap_or(Value::Null));
                if let Some(handle) = m.receipt_handle() {
                    let _ = sqs.delete_message().queue_url(queue).receipt_handle(handle).send().await;
                }
            }
        }
    }
}

/// The exact `Warning` header of a legacy call.
pub fn warning(method: &str, path: &str) -> String {
    format!("Use of the {method} {path} is deprecated. Use Rhoconnect API v1 instead.")
}

/// Asserts a plain-text answer.
#[track_caller]
pub fn assert_text(r: &Resp, status: u16, body: &str) {
    assert_eq!((r.status, r.body.as_str()), (status, body), "headers: {:?}", r.headers);
    assert!(r.content_type().starts_with("text/plain"), "content type {:?}", r.content_type());
}

/// Asserts a JSON answer, order-insensitively for objects.
#[track_caller]
pub fn assert_json(r: &Resp, status: u16, expected: &Value) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(&r.json(), expected);
    assert!(r.content_type().starts_with("application/json"), "content type {:?}", r.content_type());
}
