//! A tiny in-memory stand-in for the server's device and push routes, used only to test
//! the generator itself (its parsing, paging and scenario bookkeeping) without the real
//! stack. It diffs naively — O(objects) per query — so its figures mean nothing; it only
//! has to follow the protocol's shapes: cookie login, client ids, six-element pages with
//! numeric tokens, acknowledge/resend/reset (docs/device-protocol.md §5.4), CUD 200s, and
//! `push_objects` / `push_deletes` with the API token.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

type Attrs = Map<String, Value>;

#[derive(Default)]
struct Db {
    app_sources: HashSet<String>,
    /// (partition, source) → master document.
    md: HashMap<(String, String), BTreeMap<String, Attrs>>,
    /// (client, source) → client document.
    cd: HashMap<(String, String), HashMap<String, Attrs>>,
    /// (client, source) → (token, page body) awaiting acknowledgement.
    pending: HashMap<(String, String), (String, String)>,
    clients: HashMap<String, String>,
    next_token: u64,
}

#[derive(Clone)]
struct Fake {
    db: Arc<Mutex<Db>>,
    api_token: String,
}

fn text(status: StatusCode, body: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], body.to_owned()).into_response()
}

fn login_of(headers: &HeaderMap) -> Option<String> {
    let cookie = headers.get(header::COOKIE)?.to_str().ok()?;
    cookie
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == "rhoconnect_session")
        .map(|(_, v)| v.to_owned())
}

fn client_of(headers: &HeaderMap) -> Option<String> {
    headers.get("x-rhoconnect-client-id")?.to_str().ok().map(str::to_owned)
}

// Handlers return their refusal as a ready response; its size does not matter in a test double.
#[allow(clippy::result_large_err)]
impl Fake {
    fn partition(db: &Db, source: &str, user: &str) -> String {
        if db.app_sources.contains(source) {
            "__shared__".to_owned()
        } else {
            user.to_owned()
        }
    }

    /// Login and client checks in the order of docs/device-protocol.md §2.6.
    fn device(&self, headers: &HeaderMap) -> Result<(String, String), Response> {
        let login = login_of(headers).ok_or_else(|| text(StatusCode::UNAUTHORIZED, "Not authenticated"))?;
        let client = client_of(headers).ok_or_else(|| text(StatusCode::INTERNAL_SERVER_ERROR, "Unknown client"))?;
        let known = self.db.lock().map(|db| db.clients.contains_key(&client)).unwrap_or(false);
        if !known {
            return Err(text(StatusCode::INTERNAL_SERVER_ERROR, "Unknown client"));
        }
        Ok((login, client))
    }

    fn admin(&self, headers: &HeaderMap) -> Result<(), Response> {
        match headers.get("x-rhoconnect-api-token").and_then(|v| v.to_str().ok()) {
            Some(t) if t == self.api_token => Ok(()),
            _ => Err(text(StatusCode::UNPROCESSABLE_ENTITY, "No API token provided")),
        }
    }
}

async fn health() -> &'static str {
    "ok"
}

async fn login(Json(body): Json<Value>) -> Response {
    let login = body.get("login").and_then(Value::as_str).unwrap_or_default();
    if login.is_empty() {
        return text(StatusCode::UNAUTHORIZED, "Unable to authenticate ''");
    }
    let cookie = format!("rhoconnect_session={login}; Path=/; HttpOnly");
    (StatusCode::OK, [(header::SET_COOKIE, cookie)], String::new()).into_response()
}

async fn client_create(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    let Some(login) = login_of(&headers) else {
        return text(StatusCode::UNAUTHORIZED, "Not authenticated");
    };
    let id = format!("{:032x}", rand::random::<u128>());
    if let Ok(mut db) = fake.db.lock() {
        db.clients.insert(id.clone(), login);
    }
    Json(json!({"client": {"client_id": id}})).into_response()
}

async fn client_register(State(fake): State<Fake>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(login) = login_of(&headers) else {
        return text(StatusCode::UNAUTHORIZED, "Not authenticated");
    };
    if let Ok(mut db) = fake.db.lock() {
        db.clients.insert(id, login);
    }
    text(StatusCode::OK, "")
}

async fn query(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(source): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let (login, client) = match fake.device(&headers) {
        Ok(ids) => ids,
        Err(resp) => return resp,
    };
    let p_size: usize = params.get("p_size").and_then(|p| p.parse().ok()).unwrap_or(500);
    let Ok(mut db) = fake.db.lock() else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    let key = (client, source.clone());
    if let Some((stored, body)) = db.pending.get(&key).cloned() {
        match params.get("token") {
            Some(t) if *t == stored => {
                db.pending.remove(&key);
            }
            Some(_) => return page_response(&stored, body),
            None => {
                db.pending.remove(&key);
            }
        }
    }
    let partition = Fake::partition(&db, &source, &login);
    let md = db.md.get(&(partition, source)).cloned().unwrap_or_default();
    let cd = db.cd.entry(key.clone()).or_default();
    let (mut insert, mut remove) = (Map::new(), Map::new());
    let mut objects = 0;
    for (id, attrs) in &md {
        if objects >= p_size {
            break;
        }
        let have = cd.get(id).cloned().unwrap_or_default();
        let added: Attrs =
            attrs.iter().filter(|(k, v)| have.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let gone: Attrs =
            have.iter().filter(|(k, v)| attrs.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
        if added.is_empty() && gone.is_empty() {
            continue;
        }
        objects += 1;
        cd.insert(id.clone(), attrs.clone());
        if !added.is_empty() {
            insert.insert(id.clone(), Value::Object(added));
        }
        if !gone.is_empty() {
            remove.insert(id.clone(), Value::Object(gone));
        }
    }
    let stale: Vec<String> =
        cd.keys().filter(|id| !md.contains_key(*id)).take(p_size.saturating_sub(objects)).cloned().collect();
    for id in stale {
        if let Some(attrs) = cd.remove(&id) {
            remove.insert(id, Value::Object(attrs));
        }
    }
    let count = insert.len() + remove.len();
    let token = if count > 0 {
        db.next_token += 1;
        (473_402_519_234_881 + db.next_token).to_string()
    } else {
        String::new()
    };
    let mut command = Map::new();
    if !insert.is_empty() {
        command.insert("insert".into(), Value::Object(insert));
    }
    if !remove.is_empty() {
        command.insert("delete".into(), Value::Object(remove));
    }
    let body = json!([
        {"version": 3}, {"token": token}, {"count": count}, {"progress_count": 0},
        {"total_count": md.len()}, Value::Object(command)
    ])
    .to_string();
    if !token.is_empty() {
        db.pending.insert(key, (token.clone(), body.clone()));
    }
    page_response(&token, body)
}

fn page_response(token: &str, body: String) -> Response {
    let mut resp = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Ok(v) = token.parse() {
        resp.headers_mut().insert("x-rhoconnect-page-token", v);
    }
    resp
}

async fn cud(State(fake): State<Fake>, headers: HeaderMap) -> Response {
    match fake.device(&headers) {
        Ok(_) => text(StatusCode::OK, ""),
        Err(resp) => resp,
    }
}

async fn push(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path((source, op)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    if let Err(resp) = fake.admin(&headers) {
        return resp;
    }
    let Some(user) = body.get("user_id").and_then(Value::as_str) else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "Missing required attribute user_id");
    };
    let Ok(mut db) = fake.db.lock() else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    let partition = Fake::partition(&db, &source, user);
    let md = db.md.entry((partition, source)).or_default();
    match (op.as_str(), body.get("objects")) {
        ("push_objects", Some(Value::Object(objects))) => {
            for (id, attrs) in objects {
                let entry = md.entry(id.clone()).or_default();
                if let Value::Object(attrs) = attrs {
                    entry.extend(attrs.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        ("push_deletes", Some(Value::Array(ids))) => {
            for id in ids.iter().filter_map(Value::as_str) {
                md.remove(id);
            }
        }
        _ => return text(StatusCode::NOT_FOUND, "not found"),
    }
    text(StatusCode::OK, "done")
}

/// Serves the fake on 127.0.0.1 (any port) in a background task; returns its base URL.
/// Sources named in `app_sources` are app-partitioned, all others per user.
pub async fn start(app_sources: &[&str], api_token: &str) -> Result<String> {
    let db = Db { app_sources: app_sources.iter().map(|s| (*s).to_owned()).collect(), ..Db::default() };
    let fake = Fake { db: Arc::new(Mutex::new(db)), api_token: api_token.to_owned() };
    let app = Router::new()
        .route("/health/sync", get(health))
        .route("/rc/v1/app/login", post(login))
        .route("/rc/v1/clients", post(client_create))
        .route("/rc/v1/clients/{id}/register", post(client_register))
        .route("/app/v1/{source}", get(query).post(cud))
        .route("/app/v1/{source}/{id}", delete(cud).post(push))
        .with_state(fake);
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.context("binding the fake")?;
    let addr = listener.local_addr().context("fake address")?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}
