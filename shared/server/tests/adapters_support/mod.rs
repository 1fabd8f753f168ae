//! Test doubles for the adapter tests: a real HTTP backend on a local port that records
//! every call and answers from a script, plus minimal registry and scratch stores (not
//! under test, so as small as the trait allows).

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use rhosync_server::adapters::deps::AdapterDeps;
use rhosync_server::adapters::{http_backend, AdapterCtx, AdapterError, ScratchDocs};
use rhosync_server::config::Settings;
use rhosync_server::registry::{ClientRecord, Registry, RegistryError, SourceOverrides, User};

/// One call as the backend received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// Path and query, e.g. `/rhoconnect/query` or `/items?owner=ann`.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Call {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body {:?} is not JSON: {e}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// What the backend answers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub content_type: &'static str,
    pub delay: Duration,
}

impl Answer {
    pub fn json(status: u16, body: Value) -> Self {
        Self { status, body: body.to_string(), content_type: "application/json", delay: Duration::ZERO }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self { status, body: body.to_owned(), content_type: "text/plain", delay: Duration::ZERO }
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Script = dyn Fn(&Call) -> Answer + Send + Sync;

#[derive(Clone)]
struct Shared {
    calls: Arc<Mutex<Vec<Call>>>,
    script: Arc<Mutex<Arc<Script>>>,
}

/// A backend listening on `127.0.0.1:<random>`; stops when dropped.
pub struct Backend {
    pub base: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Backend {
    pub async fn start(script: impl Fn(&Call) -> Answer + Send + Sync + 'static) -> Self {
        let shared = Shared { calls: Arc::new(Mutex::new(Vec::new())), script: Arc::new(Mutex::new(Arc::new(script))) };
        let app = axum::Router::new().fallback(record).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base, shared, server }
    }

    /// Replaces the answering script.
    pub fn answer(&self, script: impl Fn(&Call) -> Answer + Send + Sync + 'static) {
        *self.shared.script.lock().unwrap() = Arc::new(script);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.shared.calls.lock().unwrap().clone()
    }

    /// The only call received since the last `take`; fails if there were more or none.
    pub fn take_one(&self) -> Call {
        let mut calls = std::mem::take(&mut *self.shared.calls.lock().unwrap());
        assert_eq!(calls.len(), 1, "expected exactly one backend call, got {calls:#?}");
        calls.remove(0)
    }

    pub fn clear(&self) {
        self.shared.calls.lock().unwrap().clear();
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(State(shared): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let call = Call {
        method: method.to_string(),
        uri: uri.path_and_query().map(|pq| pq.to_string()).unwrap_or_default(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    shared.calls.lock().unwrap().push(call.clone());
    let script = Arc::clone(&shared.script.lock().unwrap());
    let answer = script(&call);
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let status = StatusCode::from_u16(answer.status).unwrap();
    (status, [("content-type", answer.content_type)], answer.body).into_response()
}

/// A port with nothing listening on it.
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// A registry that only knows the admin token.
pub struct TokenRegistry(pub Option<String>);

fn unused<T>() -> Result<T, RegistryError> {
    Err(RegistryError::Store("not used by adapter tests".into()))
}

#[async_trait]
impl Registry for TokenRegistry {
    async fn user(&self, _: &str) -> Result<Option<User>, RegistryError> {
        unused()
    }
    async fn put_user(&self, _: &User) -> Result<(), RegistryError> {
        unused()
    }
    async fn put_admin(&self, _: &User) -> Result<(), RegistryError> {
        unused()
    }
    async fn ensure_user(&self, _: &str) -> Result<bool, RegistryError> {
        unused()
    }
    async fn delete_user(&self, _: &str) -> Result<(), RegistryError> {
        unused()
    }
    async fn users(&self) -> Result<Vec<String>, RegistryError> {
        unused()
    }
    async fn client(&self, _: &str) -> Result<Option<ClientRecord>, RegistryError> {
        unused()
    }
    async fn put_client(&self, _: &ClientRecord) -> Result<(), RegistryError> {
        unused()
    }
    async fn delete_client(&self, _: &str) -> Result<(), RegistryError> {
        unused()
    }
    async fn clients_of(&self, _: &str) -> Result<Vec<String>, RegistryError> {
        unused()
    }
    async fn token_user(&self, _: &str) -> Result<Option<String>, RegistryError> {
        unused()
    }
    async fn user_token(&self, login: &str) -> Result<Option<String>, RegistryError> {
        Ok(if login == "rhoadmin" { self.0.clone() } else { None })
    }
    async fn set_user_token(&self, _: &str, _: &str) -> Result<(), RegistryError> {
        unused()
    }
    async fn create_user(&self, _: &User) -> Result<bool, RegistryError> {
        unused()
    }
    async fn delete_token(&self, _: &str) -> Result<(), RegistryError> {
        unused()
    }
    async fn clear(&self) -> Result<(), RegistryError> {
        unused()
    }
    async fn source_overrides(&self, _: &str) -> Result<Option<SourceOverrides>, RegistryError> {
        unused()
    }
    async fn put_source_overrides(&self, _: &str, _: &SourceOverrides) -> Result<(), RegistryError> {
        unused()
    }
    async fn registered_sources(&self) -> Result<Vec<String>, RegistryError> {
        unused()
    }
}

/// Scratch documents in a map.
#[derive(Default)]
pub struct MemScratch(Mutex<BTreeMap<String, Value>>);

#[async_trait]
impl ScratchDocs for MemScratch {
    async fn get(&self, name: &str) -> Result<Option<Value>, AdapterError> {
        Ok(self.0.lock().unwrap().get(name).cloned())
    }
    async fn set(&self, name: &str, value: Value) -> Result<(), AdapterError> {
        self.0.lock().unwrap().insert(name.to_owned(), value);
        Ok(())
    }
}

pub const TOKEN: &str = "b6f22608fa8b4acf84e844808845e2fe";

/// Settings from YAML text (environment `test`).
pub fn settings(yaml: &str) -> Settings {
    Settings::parse(yaml, "test").unwrap_or_else(|e| panic!("settings: {e}"))
}

/// Adapter dependencies with the recommended client and a registry holding [`TOKEN`].
pub fn deps(settings: &Settings) -> AdapterDeps {
    deps_with_token(settings, Some(TOKEN))
}

pub fn deps_with_token(settings: &Settings, token: Option<&str>) -> AdapterDeps {
    AdapterDeps {
        http: http_backend::client(Duration::from_secs(settings.app.plugin_timeout)).unwrap(),
        registry: Arc::new(TokenRegistry(token.map(str::to_owned))),
        app: Arc::new(settings.app.clone()),
        app_server: None,
    }
}

/// The context of a call acting for `login` on `source`.
pub fn ctx(settings: &Settings, source: &str, login: &str, partition: &str) -> AdapterCtx {
    AdapterCtx {
        login: login.to_owned(),
        partition: partition.to_owned(),
        source: Arc::new(settings.source(source).unwrap().clone()),
        scratch: Arc::new(MemScratch::default()),
        idempotency_key: None,
    }
}

/// `{"k": "v", ...}` as an attribute map.
pub fn attrs(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}
