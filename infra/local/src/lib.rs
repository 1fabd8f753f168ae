//! rhosync's local runner, as a library so end-to-end tests can start it in-process on
//! port 0 (the binary in `main.rs` is a thin CLI over it).
//!
//! One listener serves all three HTTP functions: each request goes to the function that
//! `template.yaml`'s HTTP API routes it to ([`template_routes`]), `/console/` serves the
//! static console, and [`consumers`] feed the SQS queues into the workers.

pub mod consumers;
pub mod fake_apns;
pub mod template_routes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rhosync_server::http::FunctionName;
use rhosync_server::jobs::workers::WorkerName;
use rhosync_server::AppState;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;
use tower_http::services::ServeDir;

pub use consumers::ConsumerOptions;
pub use template_routes::RouteTable;

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub bind: SocketAddr,
    pub template: PathBuf,
    pub static_dir: Option<PathBuf>,
    /// `None` runs no queue consumers (HTTP only).
    pub consumers: Option<ConsumerOptions>,
}

/// A started runner; dropping it does not stop it, call [`Runner::shutdown`].
pub struct Runner {
    pub addr: SocketAddr,
    state: AppState,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Runner {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the runner without letting anything finish, as a crashed process would: a
    /// job in progress stops wherever it is and its message stays on the queue, to come
    /// back after the visibility timeout (crash tests).
    pub fn abort(self) {
        for task in &self.tasks {
            task.abort();
        }
    }

    /// Stops accepting requests and polling queues, and waits for both to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        // Samples of the last second would otherwise be lost (`rhosync_server::stats`).
        self.state.sync.stats.flush(&*self.state.sync.store).await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Template(#[from] template_routes::TemplateError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// Builds the single router: a request goes to the function whose template route matches
/// it; otherwise paths under `/console` are the static console (as an S3/CloudFront origin
/// would serve them next to the API); anything else is API Gateway's 404.
pub fn router(state: AppState, table: RouteTable, static_dir: Option<PathBuf>) -> Router {
    // Shared, not cloned per request: the route table is dozens of owned strings.
    let functions: Arc<HashMap<FunctionName, Router>> =
        Arc::new(FunctionName::ALL.into_iter().map(|f| (f, f.router(state.clone()))).collect());
    let table = Arc::new(table);
    let files = static_dir.map(|dir| ServeDir::new(dir).append_index_html_on_directories(true));
    let dispatch = move |request: Request| {
        let picked =
            table.select(request.method().as_str(), request.uri().path()).and_then(|f| functions.get(&f).cloned());
        let files = files.clone();
        async move {
            if let Some(router) = picked {
                return router.oneshot(request).await.into_response();
            }
            let path = request.uri().path().to_owned();
            match files {
                Some(files) if path == "/console" || path.starts_with("/console/") => {
                    let (mut parts, body) = request.into_parts();
                    let rest = path.strip_prefix("/console").unwrap_or(&path);
                    let rest = if rest.is_empty() { "/" } else { rest };
                    parts.uri = rest.parse::<Uri>().unwrap_or_else(|_| Uri::from_static("/"));
                    files.oneshot(Request::from_parts(parts, body)).await.into_response()
                }
                _ => not_found(),
            }
        }
    };
    Router::new().fallback(dispatch)
}

/// API Gateway's answer for a path no route matches.
fn not_found() -> Response {
    let mut response = Response::new(Body::from(r#"{"message":"Not Found"}"#));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// Binds, then serves HTTP and (optionally) the queue consumers in background tasks.
pub async fn start(state: AppState, options: RunnerOptions) -> Result<Runner, RunnerError> {
    let table = RouteTable::load(&options.template)?;
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|source| RunnerError::Bind { addr: options.bind, source })?;
    let addr = listener.local_addr().map_err(|source| RunnerError::Bind { addr: options.bind, source })?;
    let (stop, stopped) = watch::channel(false);
    let app = router(state.clone(), table, options.static_dir);
    let mut http_stop = stopped.clone();
    let mut tasks = vec![tokio::spawn(async move {
        let shutdown = async move {
            let _ = http_stop.wait_for(|s| *s).await;
        };
        if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %err, "HTTP server stopped");
        }
    })];
    if let Some(consumer_options) = options.consumers {
        for worker in WorkerName::ALL {
            tasks.push(tokio::spawn(consumers::run(state.clone(), worker, consumer_options.clone(), stopped.clone())));
        }
    }
    Ok(Runner { addr, state, stop, tasks })
}
