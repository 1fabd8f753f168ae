//! Support of `console_browser.rs`: a runner serving the console (no queue consumers, so
//! the jobs the console causes stay on their queues for the test to read), seeding through
//! the REST API and the registry, and running a `tests/browser/*.mjs` script under node
//! with headless Chromium (docs/console.md §6).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use futures::StreamExt;
use rhosync_e2e::{repo_root, TestEnv, TEST_API_TOKEN};
use rhosync_local::{Runner, RunnerOptions};
use rhosync_server::registry::ClientRecord;
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
    pub env: TestEnv,
    pub runner: Runner,
    pub http: reqwest::Client,
}

impl Console {
    pub async fn start(label: &str) -> Console {
        let tools = browser_tools();
        let env = TestEnv::new(label, CONSOLE_SETTINGS).await;
        let options = RunnerOptions {
            bind: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
            template: repo_root().join("template.yaml"),
            static_dir: Some(repo_root().join("console-static")),
            consumers: None,
        };
        let runner = rhosync_local::start(env.state.clone(), options).await.unwrap_or_else(|e| panic!("runner: {e}"));
        drop(tools);
        Console { env, runner, http: reqwest::Client::new() }
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

    /// Runs `tests/browser/<script>` against this server; panics with its output unless it exits 0.
    pub fn run_script(&self, script: &str) {
        let tools = browser_tools();
        let shots = repo_root().join(".local/screenshots");
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
        let sqs = &self.env.state.aws.sqs;
        let mut bodies = Vec::new();
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
                bodies.push(serde_json::from_str(&body).unwrap_or_else(|_| json!(body)));
            }
        }
        bodies
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
