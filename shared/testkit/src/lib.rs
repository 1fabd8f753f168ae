//! Test support for storage and end-to-end tests: real parts, isolated per test.
//!
//! `infra/test` starts `redis-server` and `moto_server` and exports `REDIS_URL` and
//! `AWS_ENDPOINT_URL`; a plain `cargo test` without them starts both here (from PATH or the
//! `.local/venv` that `infra/` creates), once per test binary. When neither works the test
//! fails with a message saying what is missing — it never passes by skipping.
//!
//! Each [`TestEnv`] gets its own Redis key namespace and its own queues, table and bucket
//! under a random prefix, so tests run in parallel without seeing each other.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rand::Rng;
use rhosync_server::config::Config;
use rhosync_server::edges::{aws, AwsClients, RedisEdge};
use rhosync_server::AppState;

/// Where the shared servers of this test process are.
#[derive(Debug, Clone)]
pub struct Stack {
    pub redis_url: String,
    pub aws_endpoint_url: String,
}

static STACK: OnceLock<Stack> = OnceLock::new();

/// A settings file with one demo `Product` source, enough for most tests.
pub const DEMO_SETTINGS: &str = "\
:development:
  :poll_interval_default: 300
:sources:
  Product:
    adapter: demo
    partition_type: user
";

impl Stack {
    /// The running servers, starting them if `infra/test` did not.
    pub fn get() -> &'static Stack {
        STACK.get_or_init(|| {
            let redis_url = std::env::var("REDIS_URL").ok().unwrap_or_else(start_redis);
            let aws_endpoint_url = std::env::var("AWS_ENDPOINT_URL").ok().unwrap_or_else(start_moto);
            // The AWS SDK reads these from the process environment.
            for (key, value) in [
                ("AWS_ENDPOINT_URL", aws_endpoint_url.as_str()),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
            ] {
                if std::env::var(key).is_err() {
                    // Set once, before any test thread reads the environment through the SDK.
                    set_env_once(key, value);
                }
            }
            Stack { redis_url, aws_endpoint_url }
        })
    }
}

/// Called only inside the `OnceLock` initialisation, before this process's tests build AWS
/// clients, so no other thread reads the environment while it changes.
fn set_env_once(key: &str, value: &str) {
    std::env::set_var(key, value);
}

fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("template.yaml").exists() && !dir.join(".git").exists() {
        if !dir.pop() {
            break;
        }
    }
    dir
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// Runs `program` as a child that dies with this test process (a watchdog shell kills it
/// when its parent is gone), so aborted test runs leave no server behind.
fn spawn_tied_to_us(program: &Path, args: &[String]) {
    let quoted: Vec<String> = std::iter::once(program.display().to_string())
        .chain(args.iter().cloned())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let script = format!(
        "{} >/dev/null 2>&1 & child=$!; while kill -0 {} 2>/dev/null; do sleep 1; done; kill $child",
        quoted.join(" "),
        std::process::id()
    );
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    // The watchdog outlives every test of this process by design; a thread reaps it so it
    // never lingers as a zombie if it exits early.
    std::thread::spawn(move || {
        let mut watchdog = watchdog;
        let _ = watchdog.wait();
    });
}

fn find(program: &str) -> Option<PathBuf> {
    let venv = workspace_root().join(".local/venv/bin").join(program);
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(program)).find(|p| p.exists())
}

/// Waits (up to 20 s) until something listens on `port`.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start listening on 127.0.0.1:{port} within 20 s");
}

fn start_redis() -> String {
    let program = find("redis-server").unwrap_or_else(|| {
        panic!("redis-server is not installed and REDIS_URL is not set: run the tests through infra/test")
    });
    let port = free_port();
    let args =
        ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"].map(str::to_owned);
    spawn_tied_to_us(&program, &args);
    wait_for_port(port, "redis-server");
    format!("redis://127.0.0.1:{port}")
}

fn start_moto() -> String {
    let program = find("moto_server").unwrap_or_else(|| {
        panic!("moto_server is not installed and AWS_ENDPOINT_URL is not set: run the tests through infra/test")
    });
    let port = free_port();
    spawn_tied_to_us(&program, &["-H".into(), "127.0.0.1".into(), "-p".into(), port.to_string()]);
    wait_for_port(port, "moto_server");
    format!("http://127.0.0.1:{port}")
}

/// A random lowercase name prefix for one test's resources.
pub fn unique_prefix(label: &str) -> String {
    let n: u64 = rand::thread_rng().gen();
    format!(
        "t{}-{:012x}",
        label.chars().filter(char::is_ascii_alphanumeric).take(10).collect::<String>().to_lowercase(),
        n & 0xffff_ffff_ffff
    )
}

/// One test's isolated world: its resources, its settings file and a connected state.
pub struct TestEnv {
    pub prefix: String,
    pub state: AppState,
    pub provisioned: aws::Provisioned,
    pub settings_path: PathBuf,
    _dir: TempDir,
}

impl TestEnv {
    /// Provisions fresh resources and connects, with the given settings file text.
    pub async fn new(label: &str, settings_yaml: &str) -> TestEnv {
        let stack = Stack::get();
        Self::on(stack, label, settings_yaml).await
    }

    /// [`TestEnv::new`] on another Redis and emulator than the shared ones (a test that stops
    /// and restarts its own).
    pub async fn on(stack: &Stack, label: &str, settings_yaml: &str) -> TestEnv {
        let _ = Stack::get(); // the AWS SDK's region and credentials
        let prefix = unique_prefix(label);
        let timeout = std::time::Duration::from_millis(rhosync_server::config::Timeouts::default().aws_ms);
        let aws_clients = AwsClients::with_endpoint(&stack.aws_endpoint_url, timeout).await;
        let provisioned = aws::provision(&aws_clients, &prefix)
            .await
            .unwrap_or_else(|e| panic!("provisioning on {} failed: {e}", stack.aws_endpoint_url));
        let dir = TempDir::new(&prefix);
        let settings_path = dir.path.join("settings.yml");
        std::fs::write(&settings_path, settings_yaml).unwrap_or_else(|e| panic!("writing settings: {e}"));
        let vars = env_vars(stack, &prefix, &provisioned, &settings_path);
        let config = Config::from_lookup(|key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
            .unwrap_or_else(|e| panic!("test configuration: {e}"));
        let redis = RedisEdge::connect(&config.env.redis_url, &config.env.redis_namespace)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let state = AppState::new(config, redis, aws_clients);
        rhosync_server::http::admin::ensure_admin(&state).await.unwrap_or_else(|e| panic!("admin bootstrap: {e}"));
        TestEnv { prefix, state, provisioned, settings_path, _dir: dir }
    }

    /// The environment a function process of this test would get.
    pub fn vars(&self) -> Vec<(String, String)> {
        env_vars(Stack::get(), &self.prefix, &self.provisioned, &self.settings_path)
    }
}

/// The test API token every [`TestEnv`] configures.
pub const TEST_API_TOKEN: &str = "test-api-token-0123456789abcdef";

fn env_vars(stack: &Stack, prefix: &str, p: &aws::Provisioned, settings: &Path) -> Vec<(String, String)> {
    [
        ("RHOSYNC_SETTINGS", settings.display().to_string()),
        ("REDIS_URL", stack.redis_url.clone()),
        ("RHOSYNC_REDIS_NAMESPACE", prefix.to_owned()),
        ("RHOCONNECT_SECRET", "test-secret-0123456789abcdef0123456789abcdef".to_owned()),
        ("API_TOKEN", TEST_API_TOKEN.to_owned()),
        ("RHOSYNC_TABLE", p.table.clone()),
        ("RHOSYNC_BUCKET", p.bucket.clone()),
        ("RHOSYNC_ADAPTER_QUEUE_URL", p.adapter_queue_url.clone()),
        ("RHOSYNC_PUSH_QUEUE_URL", p.push_queue_url.clone()),
        ("RHOSYNC_BULK_QUEUE_URL", p.bulk_queue_url.clone()),
        ("AWS_ENDPOINT_URL", stack.aws_endpoint_url.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A temporary directory removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("rhosync-{name}"));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        Self { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Runs a function binary under each kind of bad configuration and checks it refuses to
/// start with one clear line naming the problem, a non-zero exit status and no panic.
pub fn assert_bad_configuration_fails_cleanly(binary: &str) {
    let dir = TempDir::new(&unique_prefix("badcfg"));
    let good = dir.path.join("good.yml");
    std::fs::write(&good, DEMO_SETTINGS).unwrap_or_else(|e| panic!("{e}"));
    let malformed = dir.path.join("malformed.yml");
    std::fs::write(&malformed, ":sources: [unclosed\n").unwrap_or_else(|e| panic!("{e}"));
    let unknown_kind = dir.path.join("unknown.yml");
    std::fs::write(&unknown_kind, ":sources:\n  Product:\n    adapter: soap\n").unwrap_or_else(|e| panic!("{e}"));
    let base: Vec<(&str, String)> = vec![
        ("RHOSYNC_SETTINGS", good.display().to_string()),
        // Port 1 on loopback refuses connections at once.
        ("REDIS_URL", "redis://127.0.0.1:1".into()),
        ("RHOCONNECT_SECRET", "0123456789abcdef0123456789abcdef".into()),
        ("RHOSYNC_TABLE", "t".into()),
        ("RHOSYNC_BUCKET", "b".into()),
        ("RHOSYNC_ADAPTER_QUEUE_URL", "http://127.0.0.1:1/q".into()),
        ("RHOSYNC_PUSH_QUEUE_URL", "http://127.0.0.1:1/q".into()),
        ("RHOSYNC_BULK_QUEUE_URL", "http://127.0.0.1:1/q".into()),
    ];
    let with = |key: &str, value: Option<String>| -> Vec<(String, String)> {
        base.iter()
            .filter(|(k, _)| *k != key)
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .chain(value.map(|v| (key.to_owned(), v)))
            .collect()
    };
    /// (what is wrong, the environment, the text the one line must contain)
    type Case<'a> = (&'a str, Vec<(String, String)>, &'a str);
    let cases: Vec<Case> = vec![
        ("missing settings variable", with("RHOSYNC_SETTINGS", None), "RHOSYNC_SETTINGS is not set"),
        (
            "missing settings file",
            with("RHOSYNC_SETTINGS", Some("/nonexistent/settings.yml".into())),
            "cannot read settings file",
        ),
        ("malformed settings", with("RHOSYNC_SETTINGS", Some(malformed.display().to_string())), "malformed YAML"),
        (
            "unknown adapter kind",
            with("RHOSYNC_SETTINGS", Some(unknown_kind.display().to_string())),
            "unknown adapter kind 'soap'",
        ),
        ("missing secret", with("RHOCONNECT_SECRET", None), "RHOCONNECT_SECRET is not set"),
        ("missing queue", with("RHOSYNC_PUSH_QUEUE_URL", None), "RHOSYNC_PUSH_QUEUE_URL is not set"),
        (
            "unreachable Redis",
            base.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            "cannot reach Redis at redis://127.0.0.1:1",
        ),
    ];
    for (case, vars, expected) in cases {
        let output = Command::new(binary)
            .env_clear()
            .envs(vars)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!output.status.success(), "{case}: {binary} must exit non-zero");
        assert!(!stderr.contains("panicked"), "{case}: panicked:\n{stderr}");
        assert_eq!(lines.len(), 1, "{case}: expected one line, got:\n{stderr}");
        assert!(lines[0].contains(expected), "{case}: expected '{expected}' in: {}", lines[0]);
    }
}
