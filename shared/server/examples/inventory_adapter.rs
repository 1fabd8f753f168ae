//! A complete source adapter written in Rust: the companion of `src/adapters/README.md`.
//!
//! `InventoryAdapter` syncs stock levels from an imaginary warehouse service that speaks
//! neither the plugin contract nor plain REST conventions:
//!
//! * `POST {url}/session` with the source's `login`/`password` returns a session token,
//!   sent as `X-Session` on the other calls and closed again with `DELETE {url}/session`;
//! * `GET {url}/stock?warehouse=<w>` returns `{"skus": [{"sku": "A1", "on_hand": 3}, ...]}`;
//! * `PUT {url}/stock/<sku>` creates or replaces a line, `DELETE {url}/stock/<sku>` drops it.
//!
//! Users are grouped by warehouse (`ann@north` and `bob@north` share one partition), the
//! session token lives in the scratch documents (the adapter object is shared by every
//! user), and backend failures become the messages devices see.
//!
//! Run it with `cargo run -p rhosync-server --example inventory_adapter`: `main` starts a
//! toy warehouse on a local port and drives the adapter the way the engine would.
//! `tests/adapters_example.rs` runs the same demo, so this file always compiles and works.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode, Url};
use serde_json::{json, Value};

use rhosync_server::adapters::deps::AdapterDeps;
use rhosync_server::adapters::http_backend::{self, json_request};
use rhosync_server::adapters::{AdapterCtx, AdapterError, RawAttrs, RawObjects, SourceAdapter};
use rhosync_server::config::SourceConfig;

/// The adapter. Everything in it is immutable: per-user state goes to `ctx.scratch`.
pub struct InventoryAdapter {
    http: reqwest::Client,
    base: Url,
    login: String,
    password: String,
    timeout: Duration,
}

impl InventoryAdapter {
    /// Same signature as the built-in kinds, so `factory::build` can call it. Check the
    /// settings here: a bad source should fail at start-up, not on every sync.
    pub fn new(source: &SourceConfig, deps: &AdapterDeps) -> Result<Self, AdapterError> {
        let base = http_backend::parse_url(&source.url)
            .map_err(|e| AdapterError::Backend(format!("source {}: url: {e}", source.name)))?;
        if source.login.is_empty() {
            return Err(AdapterError::Backend(format!("source {}: login is required", source.name)));
        }
        Ok(Self {
            http: deps.http.clone(),
            base,
            login: source.login.clone(),
            password: source.password.clone(),
            timeout: Duration::from_secs(deps.app.plugin_timeout.max(1)),
        })
    }

    fn url(&self, path: &str) -> Result<Url, AdapterError> {
        self.base.join(path).map_err(|e| AdapterError::Backend(format!("bad URL {path}: {e}")))
    }

    /// The scratch document holding the session token of the acting user.
    fn session_doc(ctx: &AdapterCtx) -> String {
        format!("inventory:session:{}", ctx.login)
    }

    async fn session(&self, ctx: &AdapterCtx) -> Result<String, AdapterError> {
        match ctx.scratch.get(&Self::session_doc(ctx)).await? {
            Some(Value::String(token)) => Ok(token),
            // The engine always calls login first; getting here is a bug, say so plainly.
            _ => Err(AdapterError::Login("no warehouse session: login was not called".into())),
        }
    }

    /// One authenticated call; failures carry `http_backend`'s device-facing messages
    /// (`500 Internal Server Error`, `Timed out reading data from server`, ...).
    async fn call(
        &self,
        ctx: &AdapterCtx,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<http_backend::Reply, AdapterError> {
        let token = self.session(ctx).await?;
        let request = json_request(&self.http, method, url, body).header("X-Session", token);
        http_backend::send(request, self.timeout).await
    }

    /// The warehouse part of `ann@north`; users without one share `main`.
    fn warehouse(login: &str) -> &str {
        login.split_once('@').map(|(_, w)| w).filter(|w| !w.is_empty()).unwrap_or("main")
    }

    /// Device attributes → the backend's stock line. Values arrive as strings.
    fn stock_line(attrs: &RawAttrs) -> Result<Value, AdapterError> {
        let on_hand = match attrs.get("on_hand") {
            Some(Value::String(s)) => s
                .parse::<i64>()
                .map_err(|_| AdapterError::Backend(format!("on_hand must be a whole number, not '{s}'")))?,
            Some(Value::Number(n)) => n.as_i64().unwrap_or_default(),
            _ => 0,
        };
        Ok(json!({ "on_hand": on_hand, "bin": attrs.get("bin").cloned().unwrap_or(Value::Null) }))
    }

    fn sku(attrs: &RawAttrs, key: &str) -> Result<String, AdapterError> {
        match attrs.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(AdapterError::Backend(format!("{key} is required"))),
        }
    }
}

#[async_trait]
impl SourceAdapter for InventoryAdapter {
    /// Everyone in a warehouse shares its data (only used for user-partitioned sources).
    fn partition_name(&self, login: &str) -> String {
        format!("warehouse-{}", Self::warehouse(login))
    }

    async fn login(&self, ctx: &AdapterCtx) -> Result<(), AdapterError> {
        let body = json!({ "user": self.login, "password": self.password });
        let request = json_request(&self.http, Method::POST, self.url("session")?, Some(&body));
        let reply = http_backend::exchange(request, self.timeout).await?;
        // A refusal is a login error (`login-error` for the device), anything else non-2xx
        // an ordinary backend error.
        match reply.status {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(AdapterError::Login(format!("warehouse refused user {}", self.login)))
            }
            s => return Err(AdapterError::Backend(http_backend::status_message(s))),
        }
        let token = serde_json::from_str::<Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| AdapterError::Login("warehouse login reply carries no token".into()))?;
        ctx.scratch.set(&Self::session_doc(ctx), Value::String(token)).await
    }

    async fn logoff(&self, ctx: &AdapterCtx) -> Result<(), AdapterError> {
        self.call(ctx, Method::DELETE, self.url("session")?, None).await?;
        ctx.scratch.set(&Self::session_doc(ctx), Value::Null).await
    }

    /// Schema for bulk data and `schema-changed`: JSON text with a `version`.
    async fn schema(&self, _ctx: &AdapterCtx) -> Result<Option<String>, AdapterError> {
        Ok(Some(json!({"version": "1", "property": {"on_hand": "integer", "bin": "string"}}).to_string()))
    }

    async fn query(&self, ctx: &AdapterCtx, _params: Option<&Value>) -> Result<RawObjects, AdapterError> {
        let mut url = self.url("stock")?;
        url.query_pairs_mut().append_pair("warehouse", Self::warehouse(&ctx.login));
        let reply = self.call(ctx, Method::GET, url, None).await?;
        let invalid = || AdapterError::Backend("Invalid query response".into());
        let document: Value = serde_json::from_str(&reply.body).map_err(|_| invalid())?;
        let lines = document.get("skus").and_then(Value::as_array).ok_or_else(invalid)?;
        let mut objects = RawObjects::new();
        for line in lines {
            let mut attrs = line.as_object().cloned().ok_or_else(invalid)?;
            let sku = Self::sku(&attrs, "sku").map_err(|_| invalid())?;
            attrs.remove("sku");
            // Raw values (numbers, null) are fine: the engine turns them into strings.
            objects.insert(sku, Value::Object(attrs));
        }
        Ok(objects)
    }

    /// The device names the SKU itself, so it is also the backend id.
    async fn create(&self, ctx: &AdapterCtx, attrs: &mut RawAttrs) -> Result<Option<String>, AdapterError> {
        let sku = Self::sku(attrs, "sku")?;
        let url = self.url(&format!("stock/{sku}"))?;
        self.call(ctx, Method::PUT, url, Some(&Self::stock_line(attrs)?)).await?;
        // What is stored is `attrs` after this call: keep the device's copy in step with
        // the object the query will return (which has no `sku` attribute).
        attrs.remove("sku");
        Ok(Some(sku))
    }

    async fn update(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError> {
        let sku = Self::sku(attrs, "id")?;
        let url = self.url(&format!("stock/{sku}"))?;
        self.call(ctx, Method::PUT, url, Some(&Self::stock_line(attrs)?)).await?;
        Ok(())
    }

    async fn delete(&self, ctx: &AdapterCtx, attrs: &RawAttrs) -> Result<(), AdapterError> {
        let sku = Self::sku(attrs, "id")?;
        let url = self.url(&format!("stock/{sku}"))?;
        self.call(ctx, Method::DELETE, url, None).await?;
        Ok(())
    }
}

/// A toy warehouse and a walk through the adapter, as the engine would drive it.
pub mod demo {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use axum::extract::{Path, Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::{post, put};
    use axum::{Json, Router};

    use super::*;
    use rhosync_server::adapters::ScratchDocs;
    use rhosync_server::config::Settings;
    use rhosync_server::registry::Registry;

    type Stock = Arc<Mutex<BTreeMap<String, Value>>>;

    fn authorised(headers: &HeaderMap) -> bool {
        headers.get("x-session").and_then(|v| v.to_str().ok()) == Some("tok-1")
    }

    /// Serves the warehouse API on a local port; returns its base URL.
    pub async fn start_warehouse() -> Result<String, Box<dyn std::error::Error>> {
        let stock: Stock =
            Arc::new(Mutex::new(BTreeMap::from([("A1".to_owned(), json!({"sku": "A1", "on_hand": 3, "bin": "B-7"}))])));
        let app = Router::new()
            .route(
                "/session",
                post(|Json(body): Json<Value>| async move {
                    if body["password"] == "secret" {
                        (StatusCode::OK, Json(json!({"token": "tok-1"})))
                    } else {
                        (StatusCode::UNAUTHORIZED, Json(json!({})))
                    }
                })
                .delete(|| async { StatusCode::NO_CONTENT }),
            )
            .route(
                "/stock",
                axum::routing::get(
                    |State(stock): State<Stock>,
                     headers: HeaderMap,
                     Query(q): Query<BTreeMap<String, String>>| async move {
                        if !authorised(&headers) || q.get("warehouse").map(String::as_str) != Some("north") {
                            return Err(StatusCode::FORBIDDEN);
                        }
                        let lines: Vec<Value> = stock
                            .lock()
                            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
                            .values()
                            .cloned()
                            .collect();
                        Ok(Json(json!({ "skus": lines })))
                    },
                ),
            )
            .route(
                "/stock/{sku}",
                put(
                    |State(stock): State<Stock>,
                     headers: HeaderMap,
                     Path(sku): Path<String>,
                     Json(mut line): Json<Value>| async move {
                        if !authorised(&headers) {
                            return StatusCode::FORBIDDEN;
                        }
                        line["sku"] = Value::String(sku.clone());
                        match stock.lock() {
                            Ok(mut stock) => {
                                stock.insert(sku, line);
                                StatusCode::NO_CONTENT
                            }
                            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
                        }
                    },
                )
                .delete(
                    |State(stock): State<Stock>, headers: HeaderMap, Path(sku): Path<String>| async move {
                        if !authorised(&headers) {
                            return StatusCode::FORBIDDEN;
                        }
                        match stock.lock().map(|mut stock| stock.remove(&sku)) {
                            Ok(Some(_)) => StatusCode::NO_CONTENT,
                            Ok(None) => StatusCode::NOT_FOUND,
                            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
                        }
                    },
                ),
            )
            .with_state(stock);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}/", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(base)
    }

    /// Scratch documents in memory (the server keeps them in Redis).
    #[derive(Default)]
    pub struct MemScratch(Mutex<BTreeMap<String, Value>>);

    #[async_trait]
    impl ScratchDocs for MemScratch {
        async fn get(&self, name: &str) -> Result<Option<Value>, AdapterError> {
            let docs = self.0.lock().map_err(|_| AdapterError::Backend("poisoned".into()))?;
            Ok(docs.get(name).cloned())
        }
        async fn set(&self, name: &str, value: Value) -> Result<(), AdapterError> {
            let mut docs = self.0.lock().map_err(|_| AdapterError::Backend("poisoned".into()))?;
            docs.insert(name.to_owned(), value);
            Ok(())
        }
    }

    /// Logs in, queries, creates, updates and deletes through the adapter; returns the
    /// object set after each step so callers can check it.
    pub async fn run(registry: Arc<dyn Registry>, password: &str) -> Result<Vec<RawObjects>, AdapterError> {
        let base = start_warehouse().await.map_err(|e| AdapterError::Backend(e.to_string()))?;
        let yaml = format!(
            ":development:\n  :plugin_timeout: 5\n:sources:\n  Stock:\n    url: {base}\n    login: clerk\n    password: {password}\n"
        );
        // Once registered as a kind (see the README) the source would say `adapter: inventory`.
        let settings = Settings::parse(&yaml, "development").map_err(|e| AdapterError::Backend(e.to_string()))?;
        let source =
            settings.source("Stock").cloned().ok_or_else(|| AdapterError::Backend("no Stock source".into()))?;
        let deps = AdapterDeps {
            http: http_backend::client(Duration::from_secs(5))?,
            registry,
            app: Arc::new(settings.app.clone()),
            app_server: None,
        };
        let adapter: Arc<dyn SourceAdapter> = Arc::new(InventoryAdapter::new(&source, &deps)?);
        let ctx = AdapterCtx {
            login: "ann@north".into(),
            partition: adapter.partition_name("ann@north"),
            source: Arc::new(source),
            scratch: Arc::new(MemScratch::default()),
            idempotency_key: None,
        };

        let mut seen = Vec::new();
        adapter.login(&ctx).await?;
        seen.push(adapter.query(&ctx, None).await?);
        let mut new_line = serde_json::Map::from_iter([
            ("sku".to_owned(), json!("C3")),
            ("on_hand".to_owned(), json!("12")),
            ("bin".to_owned(), json!("A-1")),
        ]);
        let id = adapter.create(&ctx, &mut new_line).await?;
        if id.as_deref() != Some("C3") {
            return Err(AdapterError::Backend(format!("unexpected id {id:?}")));
        }
        let change = serde_json::Map::from_iter([("id".to_owned(), json!("A1")), ("on_hand".to_owned(), json!("2"))]);
        adapter.update(&ctx, &change).await?;
        seen.push(adapter.query(&ctx, None).await?);
        adapter.delete(&ctx, &serde_json::Map::from_iter([("id".to_owned(), json!("A1"))])).await?;
        seen.push(adapter.query(&ctx, None).await?);
        adapter.logoff(&ctx).await?;
        Ok(seen)
    }
}

/// A registry is part of `AdapterDeps`; this adapter never uses it.
mod no_registry {
    use async_trait::async_trait;
    use rhosync_server::registry::{ClientRecord, Registry, RegistryError, SourceOverrides, User};

    pub struct NoRegistry;

    fn none<T>() -> Result<T, RegistryError> {
        Err(RegistryError::Store("the example has no registry".into()))
    }

    #[async_trait]
    impl Registry for NoRegistry {
        async fn user(&self, _: &str) -> Result<Option<User>, RegistryError> {
            none()
        }
        async fn put_user(&self, _: &User) -> Result<(), RegistryError> {
            none()
        }
        async fn put_admin(&self, _: &User) -> Result<(), RegistryError> {
            none()
        }
        async fn ensure_user(&self, _: &str) -> Result<bool, RegistryError> {
            none()
        }
        async fn delete_user(&self, _: &str) -> Result<(), RegistryError> {
            none()
        }
        async fn users(&self) -> Result<Vec<String>, RegistryError> {
            none()
        }
        async fn client(&self, _: &str) -> Result<Option<ClientRecord>, RegistryError> {
            none()
        }
        async fn put_client(&self, _: &ClientRecord) -> Result<(), RegistryError> {
            none()
        }
        async fn delete_client(&self, _: &str) -> Result<(), RegistryError> {
            none()
        }
        async fn clients_of(&self, _: &str) -> Result<Vec<String>, RegistryError> {
            none()
        }
        async fn token_user(&self, _: &str) -> Result<Option<String>, RegistryError> {
            none()
        }
        async fn user_token(&self, _: &str) -> Result<Option<String>, RegistryError> {
            none()
        }
        async fn set_user_token(&self, _: &str, _: &str) -> Result<(), RegistryError> {
            none()
        }
        async fn create_user(&self, _: &User) -> Result<bool, RegistryError> {
            none()
        }
        async fn delete_token(&self, _: &str) -> Result<(), RegistryError> {
            none()
        }
        async fn clear(&self) -> Result<(), RegistryError> {
            none()
        }
        async fn source_overrides(&self, _: &str) -> Result<Option<SourceOverrides>, RegistryError> {
            none()
        }
        async fn put_source_overrides(&self, _: &str, _: &SourceOverrides) -> Result<(), RegistryError> {
            none()
        }
        async fn registered_sources(&self) -> Result<Vec<String>, RegistryError> {
            none()
        }
    }
}

pub use no_registry::NoRegistry;

#[tokio::main]
async fn main() -> Result<(), AdapterError> {
    let steps = demo::run(Arc::new(NoRegistry), "secret").await?;
    for (label, objects) in ["after login", "after create + update", "after delete"].iter().zip(&steps) {
        println!("{label}: {}", Value::Object(objects.clone()));
    }
    Ok(())
}
