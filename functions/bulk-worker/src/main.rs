//! The `bulk-worker` Lambda function: SQS batches go to the worker from `rhosync-server`,
//! with failed messages reported as batch item failures.

use std::process::ExitCode;

use rhosync_server::jobs::workers::WorkerName;

#[tokio::main]
async fn main() -> ExitCode {
    rhosync_server::runtime::run_worker_function(WorkerName::Bulk).await
}
