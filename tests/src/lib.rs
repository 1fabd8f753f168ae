//! Helpers shared by the end-to-end tests in `tests/tests/`: start the local runner
//! in-process on port 0 against a [`TestEnv`], and talk to it over real HTTP.

use std::path::PathBuf;
use std::time::Duration;

use rhosync_local::{ConsumerOptions, Runner, RunnerOptions};
pub use rhosync_testkit::{TestEnv, DEMO_SETTINGS, TEST_API_TOKEN};

/// The repository root (where `template.yaml` lives).
pub fn repo_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

/// Starts the runner with queue consumers that retry failed jobs after `retry_delay_secs`.
pub async fn start_runner(env: &TestEnv, retry_delay_secs: i32) -> Runner {
    let options = RunnerOptions {
        bind: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        template: repo_root().join("template.yaml"),
        static_dir: Some(repo_root().join("console-static")),
        consumers: Some(ConsumerOptions {
            retry_delay_secs: Some(retry_delay_secs),
            idle_wait: Duration::from_millis(50),
            ..ConsumerOptions::default()
        }),
    };
    rhosync_local::start(env.state.clone(), options).await.unwrap_or_else(|e| panic!("runner: {e}"))
}

/// Starts the runner serving HTTP only: no queue consumers (tests that start, kill and
/// restart the adapter worker themselves use [`start_adapter_worker`]).
pub async fn start_http_runner(env: &TestEnv) -> Runner {
    let options = RunnerOptions {
        bind: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        template: repo_root().join("template.yaml"),
        static_dir: None,
        consumers: None,
    };
    rhosync_local::start(env.state.clone(), options).await.unwrap_or_else(|e| panic!("runner: {e}"))
}

/// The adapter worker's queue consumer, run on its own so a test can kill it.
pub struct AdapterWorker {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Starts consuming the adapter queue; failed jobs come back after `retry_delay_secs`.
pub fn start_adapter_worker(env: &TestEnv, retry_delay_secs: i32) -> AdapterWorker {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let options = ConsumerOptions {
        retry_delay_secs: Some(retry_delay_secs),
        idle_wait: Duration::from_millis(50),
        ..ConsumerOptions::default()
    };
    let task = tokio::spawn(rhosync_local::consumers::run(
        env.state.clone(),
        rhosync_server::jobs::workers::WorkerName::Adapter,
        options,
        stopped,
    ));
    AdapterWorker { stop, task }
}

impl AdapterWorker {
    /// Kills the consumer wherever it is (a crash): the job in progress is not settled.
    pub fn kill(self) {
        self.task.abort();
    }

    /// Stops after the batch in progress.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the queue at `queue_url` holds no message at all (visible, in flight or
/// delayed), i.e. every job sent so far has been handled; panics after `timeout`. The
/// producers answer only after SQS took the message, so calling this after a request
/// covers everything that request queued.
pub async fn settle_queue(env: &TestEnv, queue_url: &str, timeout: Duration) {
    settle_sqs(&env.state.aws.sqs, queue_url, timeout).await;
}

/// [`settle_queue`] for any SQS client.
pub async fn settle_sqs(sqs: &aws_sdk_sqs::Client, queue_url: &str, timeout: Duration) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let sqs = sqs.clone();
    let url = queue_url.to_owned();
    let settled = eventually(timeout, || {
        let sqs = sqs.clone();
        let url = url.clone();
        async move {
            let attrs = sqs
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(A::ApproximateNumberOfMessages)
                .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
                .attribute_names(A::ApproximateNumberOfMessagesDelayed)
                .send()
                .await
                .ok()?
                .attributes
                .unwrap_or_default();
            let total: u64 = attrs.values().filter_map(|v| v.parse::<u64>().ok()).sum();
            (total == 0).then_some(())
        }
    })
    .await;
    assert!(settled.is_some(), "queue {queue_url} still holds messages after {timeout:?}");
}

/// [`settle_queue`] for the adapter queue: queued client writes and refreshes are done.
pub async fn settle_adapter_queue(env: &TestEnv) {
    settle_queue(env, &env.provisioned.adapter_queue_url, Duration::from_secs(20)).await;
}
