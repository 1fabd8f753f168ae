//! Test backends for the client-write tests, each a real HTTP server on a local port:
//!
//! * [`PluginBackend`] serves the plugin contract (docs/adapters.md §4.2–4.4): authenticate
//!   with renaming, query, create, update, delete, over an in-memory store per partition.
//!   It honours `Idempotency-Key` on writes (a repeated key gets the first answer and no
//!   second effect) and counts calls and effects separately, so tests can tell "the
//!   backend was called twice" from "the write happened twice".
//! * [`RestBackend`] is a plain JSON REST API (`/items`) for the `rest` adapter.
//!
//! Either can be told to fail a callback with a status, and the plugin backend can hold
//! its first create until the test opens a gate (crash tests).

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::Router;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

/// One call as a backend received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub body: Value,
    pub idempotency_key: Option<String>,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    /// Writes that changed the store (repeated idempotency keys excluded).
    effects: usize,
    /// partition → id → attributes.
    objects: BTreeMap<String, Map<String, Value>>,
    next_id: u64,
    /// idempotency key → (status, body) answered the first time.
    answered: HashMap<String, (u16, String)>,
    /// callback or route name → status to fail with.
    fail: HashMap<String, u16>,
    /// login → login to answer (renaming); logins not listed are refused unless the
    /// password is "secret".
    renames: HashMap<String, String>,
    /// Held once by the first create while set.
    gate: Option<Arc<Notify>>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Inner>>);

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap()
    }
}

async fn listen(app: Router) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, task)
}

fn key_of(headers: &HeaderMap) -> Option<String> {
    headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn text(status: u16, body: impl Into<String>) -> Response {
    (StatusCode::from_u16(status).unwrap(), [("content-type", "text/plain")], body.into()).into_response()
}

/// A plugin-contract backend.
pub struct PluginBackend {
    pub base: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PluginBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PluginBackend {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let app = Router::new().route("/rhoconnect/{callback}", post(plugin_call)).with_state(shared.clone());
        let (base, task) = listen(app).await;
        Self { base, shared, task }
    }

    /// Calls to `callback` (`create`, `update`, ...), in order.
    pub fn calls(&self, callback: &str) -> Vec<Call> {
        let path = format!("/rhoconnect/{callback}");
        self.shared.lock().calls.iter().filter(|c| c.path == path).cloned().collect()
    }

    pub fn effects(&self) -> usize {
        self.shared.lock().effects
    }

    pub fn objects(&self, partition: &str) -> Map<String, Value> {
        self.shared.lock().objects.get(partition).cloned().unwrap_or_default()
    }

    pub fn set_objects(&self, partition: &str, objects: Value) {
        let objects = objects.as_object().cloned().unwrap_or_default();
        self.shared.lock().objects.insert(partition.to_owned(), objects);
    }

    pub fn fail(&self, callback: &str, status: u16) {
        self.shared.lock().fail.insert(callback.to_owned(), status);
    }

    pub fn heal(&self, callback: &str) {
        self.shared.lock().fail.remove(callback);
    }

    pub fn rename(&self, login: &str, to: &str) {
        self.shared.lock().renames.insert(login.to_owned(), to.to_owned());
    }

    /// Makes the next create wait for the returned gate (after being counted as a call).
    pub fn hold_next_create(&self) -> Arc<Notify> {
        let gate = Arc::new(Notify::new());
        self.shared.lock().gate = Some(gate.clone());
        gate
    }
}

async fn plugin_call(
    State(shared): State<Shared>,
    Path(callback): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let key = key_of(&headers);
    let gate = {
        let mut inner = shared.lock();
        inner.calls.push(Call {
            path: format!("/rhoconnect/{callback}"),
            body: body.clone(),
            idempotency_key: key.clone(),
        });
        if let Some(status) = inner.fail.get(&callback) {
            return text(*status, "refused");
        }
        if callback == "create" {
            inner.gate.take()
        } else {
            None
        }
    };
    if let Some(gate) = gate {
        gate.notified().await;
    }
    let mut inner = shared.lock();
    if let Some((status, answer)) = key.as_ref().and_then(|k| inner.answered.get(k)) {
        return text(*status, answer.clone());
    }
    let partition = body["partition"].as_str().unwrap_or_default().to_owned();
    let attrs = body["attributes"].as_object().cloned().unwrap_or_default();
    let (status, answer) = match callback.as_str() {
        "authenticate" => {
            let login = body["login"].as_str().unwrap_or_default();
            match inner.renames.get(login) {
                Some(to) => (200, to.clone()),
                None if body["password"] == "secret" => (200, login.to_owned()),
                None => (401, String::new()),
            }
        }
        "query" => (200, Value::Object(inner.objects.get(&partition).cloned().unwrap_or_default()).to_string()),
        "create" => {
            inner.next_id += 1;
            let id = format!("{}", 100 + inner.next_id);
            inner.objects.entry(partition).or_default().insert(id.clone(), Value::Object(attrs));
            inner.effects += 1;
            (200, id)
        }
        "update" => {
            let id = attrs.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            let stored = inner.objects.entry(partition).or_default().entry(id.clone()).or_insert_with(|| json!({}));
            if let Some(obj) = stored.as_object_mut() {
                obj.extend(attrs.into_iter().filter(|(k, _)| k != "id"));
            }
            inner.effects += 1;
            (200, id)
        }
        "delete" => {
            let id = attrs.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            inner.objects.entry(partition).or_default().remove(&id);
            inner.effects += 1;
            (200, id)
        }
        _ => (404, String::new()),
    };
    if let Some(k) = key {
        inner.answered.insert(k, (status, answer.clone()));
    }
    text(status, answer)
}

/// A plain REST backend: `GET/POST /items`, `PUT/DELETE /items/{id}`.
pub struct RestBackend {
    pub base: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RestBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RestBackend {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let app = Router::new()
            .route("/items", axum::routing::get(rest_list).post(rest_create))
            .route("/items/{id}", put(rest_update).delete(rest_delete))
            .with_state(shared.clone());
        let (base, task) = listen(app).await;
        Self { base, shared, task }
    }

    /// Calls as `METHOD /path`.
    pub fn calls(&self, method_path: &str) -> Vec<Call> {
        self.shared.lock().calls.iter().filter(|c| c.path == method_path).cloned().collect()
    }

    pub fn all_calls(&self) -> Vec<Call> {
        self.shared.lock().calls.clone()
    }

    pub fn items(&self) -> Map<String, Value> {
        self.shared.lock().objects.get("").cloned().unwrap_or_default()
    }

    /// Fails calls named `METHOD /items` or `METHOD /items/{id}` with `status`.
    pub fn fail(&self, route: &str, status: u16) {
        self.shared.lock().fail.insert(route.to_owned(), status);
    }
}

fn rest_record(shared: &Shared, path: String, route: &str, headers: &HeaderMap, body: &Bytes) -> Option<Response> {
    let body = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut inner = shared.lock();
    inner.calls.push(Call { path, body, idempotency_key: key_of(headers) });
    inner
        .fail
        .get(route)
        .map(|status| (StatusCode::from_u16(*status).unwrap(), "{\"error\":\"refused\"}").into_response())
}

async fn rest_list(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = rest_record(&shared, "GET /items".into(), "GET /items", &headers, &Bytes::new()) {
        return r;
    }
    let items: Vec<Value> =
        shared.lock().objects.get("").cloned().unwrap_or_default().into_iter().map(|(_, v)| v).collect();
    axum::Json(json!({ "items": items })).into_response()
}

async fn rest_create(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = rest_record(&shared, "POST /items".into(), "POST /items", &headers, &body) {
        return r;
    }
    let mut item = serde_json::from_slice::<Map<String, Value>>(&body).unwrap_or_default();
    let mut inner = shared.lock();
    inner.next_id += 1;
    let id = format!("r{}", inner.next_id);
    item.insert("id".into(), json!(id));
    inner.objects.entry(String::new()).or_default().insert(id.clone(), Value::Object(item));
    inner.effects += 1;
    (StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response()
}

async fn rest_update(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = rest_record(&shared, format!("PUT /items/{id}"), "PUT /items/{id}", &headers, &body) {
        return r;
    }
    let changes = serde_json::from_slice::<Map<String, Value>>(&body).unwrap_or_default();
    let mut inner = shared.lock();
    let items = inner.objects.entry(String::new()).or_default();
    let Some(Value::Object(item)) = items.get_mut(&id) else { return StatusCode::NOT_FOUND.into_response() };
    item.extend(changes.into_iter().filter(|(k, _)| k != "id"));
    inner.effects += 1;
    StatusCode::NO_CONTENT.into_response()
}

async fn rest_delete(State(shared): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(r) = rest_record(&shared, format!("DELETE /items/{id}"), "DELETE /items/{id}", &headers, &Bytes::new())
    {
        return r;
    }
    let mut inner = shared.lock();
    inner.objects.entry(String::new()).or_default().remove(&id);
    inner.effects += 1;
    StatusCode::NO_CONTENT.into_response()
}

/// A `multipart/form-data` body: text parts, then file parts `(name, filename, bytes)`.
pub fn multipart(boundary: &str, texts: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in texts {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (name, filename, bytes) in files {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}
