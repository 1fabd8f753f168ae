//! `GET /health/<function>`: the function's name and version and whether Redis and the AWS
//! endpoint answer. Each check has a short deadline so a dead dependency shows as an error
//! in the body instead of hanging the probe.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use crate::state::AppState;

#[derive(Debug, Serialize)]
pub struct Health {
    pub function: &'static str,
    pub version: &'static str,
    pub redis: String,
    pub aws: String,
}

const DEADLINE: Duration = Duration::from_secs(2);

pub async fn check(function: &'static str, state: &AppState) -> (StatusCode, Health) {
    let redis = match tokio::time::timeout(DEADLINE, state.sync.store.ping()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(err)) => err.to_string(),
        Err(_) => "timeout".to_owned(),
    };
    let describe = state.aws.dynamodb.describe_table().table_name(&state.config.env.table).send();
    let aws = match tokio::time::timeout(DEADLINE, describe).await {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(err)) => crate::edges::AwsError::sdk("dynamodb", err).to_string(),
        Err(_) => "timeout".to_owned(),
    };
    let healthy = redis == "ok" && aws == "ok";
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Health { function, version: env!("CARGO_PKG_VERSION"), redis, aws })
}

/// An axum handler answering for `function`.
pub fn route(function: &'static str) -> axum::routing::MethodRouter<AppState> {
    axum::routing::get(move |State(state): State<AppState>| async move {
        let (status, body) = check(function, &state).await;
        (status, Json(body))
    })
}
