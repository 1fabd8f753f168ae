//! The `sync` Lambda function: builds its clients once, then serves the `sync` router
//! from `rhosync-server` under `lambda_http`.

use std::process::ExitCode;

use rhosync_server::http::FunctionName;

#[tokio::main]
async fn main() -> ExitCode {
    rhosync_server::runtime::run_http_function(FunctionName::Sync).await
}
