//! Start-up and the Lambda entry points that every function's `main` calls.
//!
//! Start-up reads the configuration, connects Redis and builds the AWS clients once, outside
//! any handler. Any failure prints one line naming the problem and exits non-zero: no panic,
//! no half-started function.

use std::process::ExitCode;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};

use crate::config::{Config, ConfigError};
use crate::edges::{AwsClients, RedisEdge, RedisError};
use crate::http::FunctionName;
use crate::jobs::workers::WorkerName;
use crate::jobs::{process_batch, JobLedger};
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Redis(#[from] RedisError),
}

/// Reads the configuration and connects the edges.
pub async fn bootstrap() -> Result<AppState, StartupError> {
    let config = Config::from_env()?;
    let timeouts = config.env.timeouts;
    let redis = RedisEdge::connect_with(
        &config.env.redis_url,
        &config.env.redis_namespace,
        std::time::Duration::from_millis(timeouts.redis_ms),
    )
    .await?;
    let aws = AwsClients::from_env_with(std::time::Duration::from_millis(timeouts.aws_ms)).await;
    Ok(AppState::new(config, redis, aws))
}

/// Prints a start-up failure as one line and returns the failing exit code.
pub fn fail(program: &str, err: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("{program}: {err}");
    ExitCode::FAILURE
}

/// `main` of an HTTP function under Lambda.
pub async fn run_http_function(function: FunctionName) -> ExitCode {
    crate::telemetry::init();
    let program = format!("rhosync-{}", function.as_str());
    let state = match bootstrap().await {
        Ok(state) => state,
        Err(err) => return fail(&program, &err),
    };
    if function != FunctionName::Sync {
        if let Err(err) = crate::http::admin::ensure_admin(&state).await {
            return fail(&program, &err);
        }
    }
    match lambda_http::run(function.router(state)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&program, &err),
    }
}

/// `main` of an SQS worker under Lambda: batches with partial failures reported.
pub async fn run_worker_function(worker: WorkerName) -> ExitCode {
    crate::telemetry::init();
    let program = format!("rhosync-{}", worker.as_str());
    let state = match bootstrap().await {
        Ok(state) => state,
        Err(err) => return fail(&program, &err),
    };
    let ledger = JobLedger::new(state.redis.clone());
    let handler = worker.handler(state.sync.clone());
    let handler = &*handler;
    let ledger = &ledger;
    let service = service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(process_batch(handler, ledger, event.payload).await)
    });
    match lambda_runtime::run(service).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&program, &err),
    }
}
