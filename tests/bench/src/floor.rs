//! The floor: the cheapest request a Redis-backed HTTP function can serve — a bare axum
//! handler doing one Redis round trip (`GET` of one key). Sync throughput is reported as a
//! share of it, measured in the same run with the same client and concurrency, so the
//! ratio says how much the protocol costs on top of HTTP + one Redis call.
//!
//! `rhosync-bench floor` serves it in its own process (like the runner), so its CPU can be
//! read from `/proc` the same way.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use redis::aio::ConnectionManager;

/// The key the floor reads.
pub const FLOOR_KEY: &str = "rhosync-bench:floor";
/// The route the floor serves.
pub const FLOOR_PATH: &str = "/floor";

async fn floor(State(mut redis): State<ConnectionManager>) -> Result<String, (StatusCode, String)> {
    let value: Option<String> = redis::cmd("GET")
        .arg(FLOOR_KEY)
        .query_async(&mut redis)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(value.unwrap_or_default())
}

/// The floor's router over a Redis connection.
pub fn router(redis: ConnectionManager) -> Router {
    Router::new().route(FLOOR_PATH, get(floor)).with_state(redis)
}

/// Binds `bind`, sets the floor key, and returns the bound address and the serving future.
pub async fn start(
    redis_url: &str,
    bind: SocketAddr,
) -> Result<(SocketAddr, impl std::future::Future<Output = Result<()>>)> {
    let client = redis::Client::open(redis_url).with_context(|| format!("bad Redis URL {redis_url}"))?;
    let mut manager = ConnectionManager::new(client).await.with_context(|| format!("connecting to {redis_url}"))?;
    let _: () = redis::cmd("SET")
        .arg(FLOOR_KEY)
        .arg("a short value, like a version number or a session")
        .query_async(&mut manager)
        .await
        .context("SET floor key")?;
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("binding {bind}"))?;
    let addr = listener.local_addr().context("local address")?;
    let app = router(manager);
    Ok((addr, async move { axum::serve(listener, app).await.context("serving the floor") }))
}

/// `rhosync-bench floor`: serve until killed, writing the port to `port_file` once bound.
pub async fn serve(redis_url: &str, bind: SocketAddr, port_file: Option<&Path>) -> Result<()> {
    let (addr, serving) = start(redis_url, bind).await?;
    if let Some(path) = port_file {
        std::fs::write(path, addr.port().to_string()).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("floor listening on http://{addr}{FLOOR_PATH}");
    serving.await
}
