//! Support of `console_browser.rs`: a runner serving the console (no queue consumers, so
//! the jobs the console causes stay on their queues for the test to read), seeding through
//! the REST API and the registry, and running a `tests/browser/*.mjs` script under node
//! with headless Chromium (docs/console.md §6).
//!
//! Each test gets a moto_server of its own (Redis is the shared one): thousands of users in
//! one DynamoDB table make every call of that emulator slow, and the other tests running at
//! the same time must not feel it. For the same reason its server waits up to 10 s for the
//! emulator instead of the production 1.8 s (`RHOSYNC_AWS_TIMEOUT_MS`): moto lists 2,000
//! users in about a second on an idle machine and takes longer on a loaded one.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use rhosync_e2e::{repo_root, TEST_API_TOKEN};
use rhosync_local::{Runner, RunnerOptions};
use rhosync_server::config::Config;
use rhosync_server::edges::{aws, AwsClients, RedisEdge};
use rhosync_server::registry::ClientRecord;
use rhosync_server::AppState;
use rhosync_testkit::{free_port, unique_prefix, wait_for_port, Stack};
use serde_json::{json, Value};

/// A user- and an app-partitioned source, stats on.
pub const CONSOLE_SETTINGS: &str = "\
:development:
  :poll_interval_default: 300
  :stats: true
:sources:
  Product:
    adapter: demo
    partition_type: user
    priority: 1
  Catalog:
    adapter: demo
    partition_type: app
    priority: 2
";

pub struct Console {
    pub env: Env,
    pub runner: Runner,
    pub http: reqwest::Client,
    _moto: Moto,
}

/// What the tests use of their server: its state and its queues.
pub struct Env {
    pub state: AppState,
    pub provisioned: aws::Provisioned,
    _dir: tempfile::TempDir,
}

/// Like `TestEnv::on`, with the longer AWS timeout (above).
async fn env_on(redis_url: &str, aws_endpoint_url: &str, label: &str, settings_text: &str) -> Env {
    let prefix = unique_prefix(label);
    let timeout_ms = 10_000;
    let aws_clients = AwsClients::with_endpoint(aws_endpoint_url, Duration::from_millis(timeout_ms)).await;
    let provisioned = aws::provision(&aws_clients, &prefix).await.unwrap_or_else(|e| panic!("provisioning: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let settings = dir.path().join("settings.yml");
    std::fs::write(&settings, settings_text).unwrap_or_else(|e| panic!("writing settings: {e}"));
    let vars: Vec<(&str, String)> = vec![
        ("RHOSYNC_SETTINGS", settings.display().to_string()),
        ("REDIS_URL", redis_url.to_owned()),
        ("RHOSYNC_REDIS_NAMESPACE", prefix.clone()),
        ("RHOCONNECT_SECRET", "test-secret-0123456789abcdef0123456789abcdef".to_owned()),
        ("API_TOKEN", TEST_API_TOKEN.to_owned()),
        ("RHOSYNC_TABLE", provisioned.table.clone()),
        ("RHOSYNC_BUCKET", provisioned.bucket.clone()),
        ("RHOSYNC_ADAPTER_QUEUE_URL", provisioned.adapter_queue_url.clone()),
        ("RHOSYNC_PUSH_QUEUE_URL", provisioned.push_queue_url.clone()),
        ("RHOSYNC_BULK_QUEUE_URL", provisioned.bulk_queue_url.clone()),
        ("RHOSYNC_AWS_TIMEOUT_MS", timeout_ms.to_string()),
    ];
    let config = Config::from_lookup(|key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))
        .unwrap_or_else(|e| panic!("test configuration: {e}"));
    let redis =
        RedisEdge::connect(&config.env.redis_url, &config.env.redis_namespace).await.unwrap_or_else(|e| panic!("{e}"));
    let state = AppState::new(config, redis, aws_clients);
    rhosync_server::http::admin::ensure_admin(&state).await.unwrap_or_else(|e| panic!("admin bootstrap: {e}"));
    Env { state, provisioned, _dir: dir }
}

/// A moto_server child, killed when dropped.
struct Moto(Child);

impl Moto {
    fn start() -> (Moto, String) {
        // infra/test exports the venv's binary; a plain cargo test finds it in .local/venv or on PATH.
        let program = std::env::var_os("RHOSYNC_MOTO_SERVER")
            .map(PathBuf::from)
            .or_else(|| Some(repo_root().join(".local/venv/bin/moto_server")).filter(|p| p.exists()))
            .or_else(|| on_path("moto_server"))
            .unwrap_or_else(|| panic!("moto_server is not installed: run the tests through infra/test"));
        let port = free_port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let moto = Moto(child);
        wait_for_port(port, "moto_server");
        (moto, format!("http://127.0.0.1:{port}"))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Console {
    pub async fn start(label: &str) -> Console {
        Self::start_with(label, CONSOLE_SETTINGS).await
    }

    /// [`Console::start`] with another settings file.
    pub async fn start_with(label: &str, settings: &str) -> Console {
        let tools = browser_tools();
        let (moto, aws_endpoint_url) = Moto::start();
        let env = env_on(&Stack::get().redis_url, &aws_endpoint_url, label, settings).await;
        let options = RunnerOptions {
            bind: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
            template: repo_root().join("template.yaml"),
            static_dir: Some(repo_root().join("console-static")),
            consumers: None,
        };
        let runner = rhosync_local::start(env.state.clone(), options).await.unwrap_or_else(|e| panic!("runner: {e}"));
        drop(tools);
        Console { env, runner, http: reqwest::Client::new(), _moto: moto }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.runner.base_url())
    }

    /// A REST call with the admin token; panics unless it answers 200.
    pub async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> String {
        let mut request = self.http.request(method, self.url(path)).header("X-RhoConnect-API-TOKEN", TEST_API_TOKEN);
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status();
        let text = response.text().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(status.is_success(), "{path}: {status} {text}");
        text
    }

    /// Users `user0000`..: straight into the registry (no password hashing), 32 at a time.
    pub async fn seed_users(&self, count: usize) {
        let registry = self.env.state.registry();
        let results: Vec<_> = futures::stream::iter(0..count)
            .map(|i| async move { registry.ensure_user(&format!("user{i:04}")).await })
            .buffer_unordered(32)
            .collect()
            .await;
        for result in results {
            result.unwrap_or_else(|e| panic!("seeding users: {e}"));
        }
    }

    /// A registered iPhone of `user`; its id.
    pub async fn seed_device(&self, user: &str) -> String {
        let id = format!("c{:016x}", rand_id());
        let device = [("device_type", "APPLE"), ("device_pin", "abcd1234"), ("device_app_id", "com.example.app")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let client = ClientRecord {
            id: id.clone(),
            user_id: user.to_owned(),
            app_id: "application".into(),
            device,
            last_sync: None,
        };
        self.env.state.registry().create_client(&client).await.unwrap_or_else(|e| panic!("seeding a client: {e}"));
        id
    }

    /// A device of `user` as a phone makes one, over HTTP: login, clientcreate, then
    /// clientregister as an iPhone (`abcd1234`, `com.example.app`).
    pub async fn device(&self, user: &str, password: &str) -> Phone {
        let mut phone =
            Phone { http: self.http.clone(), base: self.runner.base_url(), cookie: None, client_id: String::new() };
        phone.call("POST", "/rc/v1/app/login", Some(json!({"login": user, "password": password})), 200).await;
        let created = phone.call("POST", "/rc/v1/clients", None, 200).await;
        phone.client_id = created["client"]["client_id"].as_str().unwrap_or_default().to_owned();
        assert_eq!(phone.client_id.len(), 32, "clientcreate: {created}");
        let register = json!({"device_type": "APPLE", "device_pin": "abcd1234", "device_app_id": "com.example.app"});
        let path = format!("/rc/v1/clients/{}/register", phone.client_id);
        phone.call("POST", &path, Some(register), 200).await;
        phone
    }

    /// Runs `tests/browser/<script>` against this server; panics with its output unless it exits 0.
    pub fn run_script(&self, script: &str) {
        let tools = browser_tools();
        let shots = repo_root().join(".local/console-shots");
        let output = Command::new(&tools.node)
            .arg(repo_root().join("tests/browser").join(script))
            .arg(self.runner.base_url())
            .arg(TEST_API_TOKEN)
            .env("RHOSYNC_CHROMIUM", &tools.chromium)
            .env("RHOSYNC_SCREENSHOTS", &shots)
            .current_dir(repo_root().join("tests/browser"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run node: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{script} failed ({}):\n{stdout}\n{stderr}", output.status);
    }

    /// Every message body now on the queue at `url` (received, then made visible again).
    pub async fn queue_bodies(&self, url: &str) -> Vec<Value> {
        let messages = self.receive_all(url).await;
        let bodies = messages.iter().map(|(body, _)| body.clone()).collect();
        self.release(url, messages.into_iter().map(|(_, handle)| handle)).await;
        bodies
    }

    /// Deletes the messages on the queue at `url` whose body `doomed` picks; the others
    /// are made visible again. How many were deleted.
    pub async fn delete_where(&self, url: &str, doomed: impl Fn(&Value) -> bool) -> usize {
        let (gone, kept): (Vec<_>, Vec<_>) = self.receive_all(url).await.into_iter().partition(|(b, _)| doomed(b));
        for (_, handle) in &gone {
            let deleting = self.env.state.aws.sqs.delete_message().queue_url(url).receipt_handle(handle);
            deleting.send().await.unwrap_or_else(|e| panic!("deleting a message of {url}: {e}"));
        }
        self.release(url, kept.into_iter().map(|(_, handle)| handle)).await;
        gone.len()
    }

    /// Every message now on the queue at `url` (its body as JSON, else as a string, and its
    /// receipt handle), each left invisible for 30 s so that none is received twice.
    async fn receive_all(&self, url: &str) -> Vec<(Value, String)> {
        let sqs = &self.env.state.aws.sqs;
        let mut received = Vec::new();
        for _ in 0..10 {
            let out = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .wait_time_seconds(0)
                .send()
                .await
                .unwrap_or_else(|e| panic!("receiving from {url}: {e}"));
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                let body = m.body.unwrap_or_default();
                let body = serde_json::from_str(&body).unwrap_or_else(|_| json!(body));
                received.extend(m.receipt_handle.map(|handle| (body, handle)));
            }
        }
        received
    }

    /// Makes received messages visible again at once, so a worker started next finds them.
    async fn release(&self, url: &str, handles: impl Iterator<Item = String>) {
        for handle in handles {
            let visible = self.env.state.aws.sqs.change_message_visibility().queue_url(url).receipt_handle(handle);
            visible
                .visibility_timeout(0)
                .send()
                .await
                .unwrap_or_else(|e| panic!("making a message of {url} visible again: {e}"));
        }
    }

    pub async fn send(&self, url: &str, body: &Value) {
        self.env
            .state
            .aws
            .sqs
            .send_message()
            .queue_url(url)
            .message_body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("sending to {url}: {e}"));
    }
}

/// A device talking to the server (cookie kept by hand).
pub struct Phone {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    pub client_id: String,
}

impl Phone {
    /// One request; panics unless it answers `expect`; the answer as JSON (`null` when it is not).
    pub async fn call(&mut self, method: &str, path: &str, body: Option<Value>, expect: u16) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("Cookie", cookie.clone());
        }
        if !self.client_id.is_empty() {
            request = request.header("X-RhoConnect-CLIENT-ID", self.client_id.clone());
        }
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        if let Some(set) = response.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(status, expect, "{path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The pages of `source` until the token is empty, each acknowledged.
    pub async fn sync(&mut self, source: &str) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut query = "p_size=100".to_owned();
        for _ in 0..100 {
            let page = self.call("GET", &format!("/app/v1/{source}?{query}"), None, 200).await;
            let token = page.as_array().and_then(|parts| parts.iter().find_map(|p| p["token"].as_str())).unwrap_or("");
            let token = token.to_owned();
            pages.push(page);
            if token.is_empty() {
                return pages;
            }
            query = format!("p_size=100&token={token}");
        }
        panic!("the sync of {source} did not finish");
    }
}

/// A REST backend of `/items` (docs/adapters.md): lists nothing, and refuses the first
/// `refusals` creates with 422 before it accepts them (ids `r1`, `r2`, …); the creates it got.
pub async fn refusing_backend(refusals: usize) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<Value>>>;
    async fn list() -> Response {
        axum::Json(json!({"items": []})).into_response()
    }
    async fn create(State((seen, refusals)): State<(Seen, usize)>, body: String) -> Response {
        let n = {
            let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.push(serde_json::from_str(&body).unwrap_or_else(|_| json!(body)));
            seen.len()
        };
        if n <= refusals {
            return (StatusCode::UNPROCESSABLE_ENTITY, "{\"error\":\"refused\"}").into_response();
        }
        (StatusCode::CREATED, axum::Json(json!({"id": format!("r{}", n - refusals)}))).into_response()
    }
    let seen: Seen = Default::default();
    let app =
        axum::Router::new().route("/items", axum::routing::get(list).post(create)).with_state((seen.clone(), refusals));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

fn rand_id() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// node, Chromium and the npm packages the scripts need; panics saying `infra/test` installs them.
pub struct Tools {
    pub node: PathBuf,
    pub chromium: PathBuf,
}

pub fn browser_tools() -> Tools {
    const HINT: &str =
        "run the tests through infra/test, which installs node, chromium and tests/browser's npm packages";
    let node = on_path("node").unwrap_or_else(|| panic!("node is not installed: {HINT}"));
    let chromium = std::env::var_os("RHOSYNC_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| on_path("chromium"))
        .unwrap_or_else(|| panic!("chromium is not installed: {HINT}"));
    let package = repo_root().join("tests/browser/node_modules/playwright-core/package.json");
    assert!(package.exists(), "{} is missing: {HINT}", package.display());
    Tools { node, chromium }
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(program)).find(|p| p.exists())
}
