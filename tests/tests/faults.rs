//! Outages of the dependencies, with a Redis and an emulator of this test's own that it
//! kills, stops and restarts (docs/configuration.md §2): each request during an outage is
//! answered 503 with `Retry-After`, a short message naming the dependency and the request
//! id, within about 2 s; once the dependency is back the same server answers again, with no
//! restart.

mod sync_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rhosync_e2e::{start_http_runner, TestEnv};
use rhosync_local::Runner;
use rhosync_server::edges::aws;
use rhosync_testkit::{free_port, wait_for_port, Stack};
use serde_json::json;
use sync_support::{Device, Reply};

/// The longest an outage may keep a request waiting before its 503 (the timeouts are 1.5 s
/// for Redis and 1.8 s for AWS; the rest is slack for a loaded machine).
const ANSWER_WITHIN: Duration = Duration::from_millis(2_600);

/// A server process of this test's own, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    program: String,
    args: Vec<String>,
}

impl Server {
    fn start(program: &str, args: Vec<String>, port: u16) -> Server {
        let child = Command::new(program)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        wait_for_port(port, program);
        Server { child, port, program: program.to_owned(), args }
    }

    fn redis() -> Server {
        let port = free_port();
        let args = ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
        Server::start("redis-server", args.iter().map(|s| s.to_string()).collect(), port)
    }

    fn moto() -> Server {
        let program = std::env::var("RHOSYNC_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
        let port = free_port();
        Server::start(&program, vec!["-H".into(), "127.0.0.1".into(), "-p".into(), port.to_string()], port)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.kill();
        let again = Server::start(&self.program, self.args.clone(), self.port);
        *self = again;
    }

    fn signal(&self, sig: &str) {
        let status = Command::new("kill").arg(sig).arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill {sig}");
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-CONT").arg(self.child.id().to_string()).status();
        self.kill();
    }
}

const SETTINGS: &str = "\
:development:
  :poll_interval_default: 300
  :device_auth: open
:sources:
  MockAdapter:
    adapter: mock
    poll_interval: 300
";

struct Private {
    redis: Server,
    moto: Server,
    env: TestEnv,
    runner: Runner,
    http: reqwest::Client,
}

async fn private(label: &str) -> Private {
    let redis = Server::redis();
    let moto = Server::moto();
    let stack = Stack { redis_url: redis.url("redis"), aws_endpoint_url: moto.url("http") };
    let env = TestEnv::on(&stack, label, SETTINGS).await;
    let runner = start_http_runner(&env).await;
    Private { redis, moto, env, runner, http: reqwest::Client::new() }
}

impl Private {
    async fn device(&self) -> Device {
        let mut d =
            Device { http: self.http.clone(), base: self.runner.base_url(), cookie: None, client_id: String::new() };
        let r = d.post_json("/rc/v1/app/login", json!({"login": "ann", "password": "x"})).await;
        assert_eq!(r.status, 200, "login: {}", r.text);
        let r = d.post_json("/rc/v1/clients", serde_json::Value::Null).await;
        assert_eq!(r.status, 200, "clientcreate: {}", r.text);
        d.client_id = r.json()["client"]["client_id"].as_str().unwrap_or_default().to_owned();
        d
    }
}

/// Sends one request and checks the outage answer: 503, `Retry-After`, a short message
/// naming `what` and the request id, no internals, within [`ANSWER_WITHIN`].
async fn assert_outage(label: &str, what: &str, request: impl std::future::Future<Output = Reply>) {
    let started = Instant::now();
    let reply = request.await;
    let took = started.elapsed();
    eprintln!("{label}: {} in {} ms", reply.status, took.as_millis());
    assert_eq!(reply.status, 503, "{label}: {} {}", reply.status, reply.text);
    assert!(took <= ANSWER_WITHIN, "{label}: the 503 took {took:?}");
    assert_eq!(reply.header("retry-after").as_deref(), Some("2"), "{label}");
    let id = reply.header("x-request-id").unwrap_or_default();
    assert_eq!(id.len(), 16, "{label}: request id header");
    assert!(reply.text.contains(what), "{label}: names the dependency: {}", reply.text);
    assert!(reply.text.contains(&id), "{label}: the body names the request id: {}", reply.text);
    for internal in ["os error", "Connection refused", "dispatch failure", "127.0.0.1", "aws_request_id"] {
        assert!(!reply.text.contains(internal), "{label}: leaks {internal:?}: {}", reply.text);
    }
}

#[tokio::test]
async fn redis_killed_then_restarted() {
    let mut p = private("fault-redis-kill").await;
    let mut d = p.device().await;
    assert_eq!(d.query("MockAdapter", "").await.status, 200);
    p.redis.kill();
    assert_outage("redis killed", "Redis", d.query("MockAdapter", "")).await;
    assert_outage(
        "redis killed, login",
        "Redis",
        d.post_json("/rc/v1/app/login", json!({"login": "ann", "password": "x"})),
    )
    .await;
    p.redis.restart();
    // The cache is empty after the restart: the client record comes back from DynamoDB.
    let r = d.query("MockAdapter", "").await;
    assert_eq!(r.status, 200, "recovered without a restart: {}", r.text);
}

#[tokio::test]
async fn redis_stopped_then_continued() {
    let p = private("fault-redis-stop").await;
    let mut d = p.device().await;
    assert_eq!(d.query("MockAdapter", "").await.status, 200);
    p.redis.signal("-STOP");
    assert_outage("redis stopped", "Redis", d.query("MockAdapter", "")).await;
    p.redis.signal("-CONT");
    let mut answered = None;
    for _ in 0..20 {
        let r = d.query("MockAdapter", "").await;
        if r.status == 200 {
            answered = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered.is_some(), "no 200 within 2 s of SIGCONT");
}

#[tokio::test]
async fn emulator_killed_then_restarted() {
    let mut p = private("fault-moto").await;
    let mut d = p.device().await;
    p.moto.kill();
    // Logins and client creation read and write the registry (DynamoDB).
    let mut other = Device { http: p.http.clone(), base: p.runner.base_url(), cookie: None, client_id: String::new() };
    assert_outage(
        "emulator killed, login",
        "DynamoDB",
        other.post_json("/rc/v1/app/login", json!({"login": "bob", "password": "x"})),
    )
    .await;
    assert_outage("emulator killed, clientcreate", "DynamoDB", d.post_json("/rc/v1/clients", serde_json::Value::Null))
        .await;
    // The REST API checks the API token in the registry: the same answer.
    let admin = p
        .http
        .get(format!("{}/rc/v1/users", p.runner.base_url()))
        .header("X-RhoConnect-API-TOKEN", rhosync_e2e::TEST_API_TOKEN);
    let mut api = Device { http: p.http.clone(), base: p.runner.base_url(), cookie: None, client_id: String::new() };
    assert_outage("emulator killed, REST API", "DynamoDB", api.send(admin)).await;
    // Back, with its resources provisioned again (the emulator forgets them).
    p.moto.restart();
    aws::provision(&p.env.state.aws, &p.env.prefix).await.unwrap_or_else(|e| panic!("provision again: {e}"));
    let r = other.post_json("/rc/v1/app/login", json!({"login": "bob", "password": "x"})).await;
    assert_eq!(r.status, 200, "recovered without a restart: {}", r.text);
}
