//! Start-up time of the function binaries, measured the way Lambda starts them.
//!
//! A function binary under `lambda_runtime`/`lambda_http` does its initialisation (config,
//! Redis, AWS clients), then polls the Lambda runtime API for an invocation and posts the
//! answer back. [`measure`] plays that API on 127.0.0.1: it spawns the binary with
//! `AWS_LAMBDA_RUNTIME_API` pointing at itself, hands it one invocation — an HTTP API
//! (payload 2.0) `GET /health/<function>` for the HTTP functions, an empty SQS batch for
//! the workers — and records the time from spawn to the first `invocation/next` poll
//! (initialisation done) and to the posted response (first request served). The health
//! route pings Redis and DynamoDB (the emulator), so "served" includes real round trips.
//!
//! [`invoke`] is the general form: any event (the `bulk` scenario hands the bulk worker one
//! SQS message), and the process's CPU and peak resident set read from `/proc` after it
//! answered.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};

/// The HTTP functions; every other name is treated as an SQS worker.
pub const HTTP_FUNCTIONS: [&str; 3] = ["sync", "api", "console"];

/// One start of one binary.
#[derive(Debug, Clone, Serialize)]
pub struct Startup {
    pub function: String,
    /// Spawn → first `GET /runtime/invocation/next`.
    pub init_ms: f64,
    /// Spawn → response posted for the first invocation.
    pub first_response_ms: f64,
    /// `statusCode` of an HTTP function's answer; absent for workers.
    pub status: Option<u64>,
}

#[derive(Default)]
struct Seen {
    next_at: Option<Instant>,
    response_at: Option<Instant>,
    response: Option<Bytes>,
    error: Option<String>,
    handed_out: bool,
}

struct Fake {
    event: Value,
    seen: Mutex<Seen>,
}

const REQUEST_ID: &str = "rhosync-bench-0001";

async fn next(State(fake): State<Arc<Fake>>) -> impl IntoResponse {
    let first = match fake.seen.lock() {
        Ok(mut seen) => {
            seen.next_at.get_or_insert_with(Instant::now);
            !std::mem::replace(&mut seen.handed_out, true)
        }
        Err(_) => false,
    };
    if !first {
        // One invocation per process: later polls wait until the binary is stopped.
        tokio::time::sleep(Duration::from_secs(60)).await;
        return (StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new(), String::new());
    }
    let deadline =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64 + 30_000);
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", HeaderValue::from_static(REQUEST_ID));
    if let Ok(v) = HeaderValue::from_str(&deadline.to_string()) {
        headers.insert("lambda-runtime-deadline-ms", v);
    }
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:000000000000:function:bench"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (StatusCode::OK, headers, fake.event.to_string())
}

async fn response(State(fake): State<Arc<Fake>>, UrlPath(_id): UrlPath<String>, body: Bytes) -> StatusCode {
    if let Ok(mut seen) = fake.seen.lock() {
        seen.response_at.get_or_insert_with(Instant::now);
        seen.response.get_or_insert(body);
    }
    StatusCode::ACCEPTED
}

async fn invocation_error(State(fake): State<Arc<Fake>>, body: Bytes) -> StatusCode {
    if let Ok(mut seen) = fake.seen.lock() {
        seen.error.get_or_insert_with(|| String::from_utf8_lossy(&body).into_owned());
    }
    StatusCode::ACCEPTED
}

/// The invocation handed to `function`.
pub fn event_for(function: &str) -> Value {
    if !HTTP_FUNCTIONS.contains(&function) {
        return json!({"Records": []});
    }
    let path = format!("/health/{function}");
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "bench.local", "user-agent": "rhosync-bench"},
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "domainName": "bench.local",
            "domainPrefix": "bench",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "rhosync-bench"},
            "requestId": REQUEST_ID,
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2025:00:00:00 +0000",
            "timeEpoch": 1735689600000u64
        },
        "isBase64Encoded": false
    })
}

/// Starts `binary` (named `function`) against a fake runtime API and times its first
/// invocation. `env` is added to the inherited environment. Gives up after `timeout`.
pub async fn measure(
    binary: &Path,
    function: &str,
    env: &HashMap<String, String>,
    timeout: Duration,
) -> Result<Startup> {
    Ok(invoke(binary, function, env, event_for(function), timeout, |_| {}).await?.startup)
}

/// One invocation of a function binary ([`invoke`]): its timing, what the process used
/// and the answer it posted.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    pub startup: Startup,
    pub pid: u32,
    /// `VmHWM` of `/proc/<pid>/status` (peak resident set) once the answer was posted, in bytes.
    pub peak_rss_bytes: Option<u64>,
    /// CPU seconds of the process once the answer was posted ([`crate::measure::cpu_seconds`]:
    /// every thread, live or exited).
    pub cpu_s: Option<f64>,
    /// The posted answer, as JSON.
    pub response: Option<Value>,
}

/// Peak resident set (`VmHWM`) of a live process, in bytes.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().strip_suffix("kB")?.trim().parse::<u64>();
    kb.ok().map(|kb| kb * 1024)
}

/// Starts `binary` (named `function`) against a fake runtime API, hands it `event` as its
/// one invocation and waits for the answer (at most `timeout`). `spawned` is called with
/// the child's pid as soon as it runs (to watch it meanwhile). The process's peak RSS and
/// CPU are read from `/proc` after the answer, before it is stopped. Its standard error
/// goes to a temporary file, so a chatty log can never block it.
pub async fn invoke(
    binary: &Path,
    function: &str,
    env: &HashMap<String, String>,
    event: Value,
    timeout: Duration,
    spawned: impl FnOnce(u32),
) -> Result<Invocation> {
    let fake = Arc::new(Fake { event, seen: Mutex::new(Seen::default()) });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
        .route("/2018-06-01/runtime/invocation/{id}/error", post(invocation_error))
        .route("/2018-06-01/runtime/init/error", post(invocation_error))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the fake runtime API")?;
    let addr = listener.local_addr().context("fake runtime API address")?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let stderr_file = stderr_path(function);
    let stderr = std::fs::File::create(&stderr_file).with_context(|| format!("creating {}", stderr_file.display()))?;

    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id().unwrap_or(0);
    spawned(pid);

    let outcome = loop {
        let done = fake.seen.lock().map(|s| s.response_at.is_some() || s.error.is_some()).unwrap_or(true);
        if done {
            break Ok(());
        }
        if let Some(status) = child.try_wait().context("polling the child")? {
            break Err(format!("exited with {status} before answering"));
        }
        if started.elapsed() > timeout {
            break Err(format!("no answer within {timeout:?}"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    // Read while the process still exists: it is polling for its next invocation.
    let peak_rss = peak_rss_bytes(pid);
    let cpu_s = crate::measure::cpu_seconds(pid).ok();
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    server.abort();
    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
    let _ = std::fs::remove_file(&stderr_file);
    let stderr = stderr.lines().take(5).collect::<Vec<_>>().join(" | ");
    if let Err(why) = outcome {
        bail!("{function}: {why}; stderr: {stderr}");
    }
    let seen = fake.seen.lock().map_err(|_| anyhow::anyhow!("fake runtime state poisoned"))?;
    if let Some(err) = &seen.error {
        bail!("{function}: reported an error: {err}; stderr: {stderr}");
    }
    let ms = |t: Option<Instant>| t.map_or(f64::NAN, |t| (t - started).as_secs_f64() * 1e3);
    let response = seen.response.as_ref().and_then(|b| serde_json::from_slice::<Value>(b).ok());
    let status = response.as_ref().and_then(|v| v.get("statusCode").and_then(Value::as_u64));
    Ok(Invocation {
        startup: Startup {
            function: function.to_owned(),
            init_ms: ms(seen.next_at),
            first_response_ms: ms(seen.response_at),
            status,
        },
        pid,
        peak_rss_bytes: peak_rss,
        cpu_s,
        response,
    })
}

/// A fresh path in the temporary directory for `function`'s standard error.
fn stderr_path(function: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "rhosync-bench-{function}-{}-{}.stderr",
        std::process::id(),
        rand::random::<u32>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_by_kind() {
        assert_eq!(event_for("sync")["rawPath"], "/health/sync");
        assert_eq!(event_for("push-worker"), json!({"Records": []}));
    }
}
