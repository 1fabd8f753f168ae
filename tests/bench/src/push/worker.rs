//! `rhosync-bench push-worker`: the push worker alone in its own process — the local
//! runner's SQS consumer (`rhosync_local::consumers`, the stand-in for Lambda's event
//! source mapping) feeding the push queue to `rhosync-server`'s push worker, configured
//! from the environment like the runner (`RHOSYNC_SETTINGS` names the settings file with
//! the push keys). Prints `ready` once started; stops when stdin closes.
//!
//! The consumer runs [`POLLERS`] pollers, as many batches at once as Lambda's event source
//! mapping starts an SQS queue with (five concurrent invocations).

use std::process::ExitCode;

use rhosync_local::ConsumerOptions;
use rhosync_server::jobs::workers::WorkerName;

/// Batches of the push queue in work at once.
pub const POLLERS: usize = 5;

pub async fn serve() -> ExitCode {
    rhosync_server::telemetry::init();
    let state = match rhosync_server::runtime::bootstrap().await {
        Ok(state) => state,
        Err(err) => return rhosync_server::runtime::fail("rhosync-bench push-worker", &err),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let options = ConsumerOptions { pollers: POLLERS, ..ConsumerOptions::default() };
    let consumer = tokio::spawn(rhosync_local::consumers::run(state, WorkerName::Push, options, stopped));
    println!("ready");
    super::stdin_closed().await;
    let _ = stop.send(true);
    let _ = consumer.await;
    ExitCode::SUCCESS
}
