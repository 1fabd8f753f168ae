//! The Redis edge: one multiplexed, auto-reconnecting connection per process and the one
//! place that builds key names.
//!
//! Every key carries a hash tag (`{…}`) naming the unit that multi-key steps touch together
//! — a (partition, source) or a (client, source) — so each Lua script or MULTI touches one
//! slot and the system runs on ElastiCache with cluster mode on (docs/README.md §3 "Where data lives").

use std::time::Duration;

use redis::aio::ConnectionManager;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("cannot reach Redis at {url}: {source}")]
    Unreachable { url: String, source: redis::RedisError },
    #[error("Redis at {url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("redis: {0}")]
    Command(#[from] redis::RedisError),
}

/// Builds hash-tagged key names under a namespace.
///
/// `namespace` lets several deployments (or parallel tests) share one Redis.
#[derive(Debug, Clone)]
pub struct Keys {
    // Shared: every request's key set carries a copy of this handle.
    namespace: std::sync::Arc<str>,
}

impl Keys {
    pub fn new(namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        // A brace in the namespace would become the hash tag and put every key in one slot.
        assert!(!namespace.contains(['{', '}']), "namespace must not contain braces");
        Self { namespace: namespace.into() }
    }

    /// `<namespace>:{<tag>}:<name>` — keys with equal `tag` share a cluster slot.
    pub fn key(&self, tag: &str, name: &str) -> String {
        // Built by hand rather than with format!: a sync request builds a few dozen keys.
        let mut key = String::with_capacity(self.namespace.len() + tag.len() + name.len() + 4);
        key.push_str(&self.namespace);
        key.push_str(":{");
        key.push_str(tag);
        key.push_str("}:");
        key.push_str(name);
        key
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

/// A connected Redis handle; cheap to clone (the connection is shared).
#[derive(Clone)]
pub struct RedisEdge {
    conn: ConnectionManager,
    pub keys: Keys,
}

impl RedisEdge {
    /// Connects with the request timeout ([`crate::config::Timeouts`]'s default) and checks
    /// the server answers, so a bad `REDIS_URL` fails start-up clearly.
    pub async fn connect(url: &str, namespace: &str) -> Result<Self, RedisError> {
        Self::connect_with(url, namespace, Duration::from_millis(crate::config::Timeouts::default().redis_ms)).await
    }

    /// [`RedisEdge::connect`] with `timeout` for connecting and for each command's answer:
    /// a Redis that is down or stopped fails the command within it (the request answers
    /// 503), and the next command connects again, so the function recovers by itself.
    pub async fn connect_with(url: &str, namespace: &str, timeout: Duration) -> Result<Self, RedisError> {
        let unreachable = |source| RedisError::Unreachable { url: redact(url), source };
        let client = redis::Client::open(url).map_err(unreachable)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let secs = 5;
        let conn = tokio::time::timeout(Duration::from_secs(secs), ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| RedisError::Timeout { url: redact(url), secs })?
            .map_err(unreachable)?;
        let edge = Self { conn, keys: Keys::new(namespace) };
        edge.ping().await.map_err(|err| match err {
            RedisError::Command(source) => unreachable(source),
            other => other,
        })?;
        Ok(edge)
    }

    /// A connection handle for commands; clones share the underlying connection.
    pub fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub async fn ping(&self) -> Result<(), RedisError> {
        let mut conn = self.conn();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}

/// Drops a password from a URL before it reaches a log line or an error message.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_hash_tagged_under_the_namespace() {
        let keys = Keys::new("rs");
        assert_eq!(keys.key("Product:alice", "md"), "rs:{Product:alice}:md");
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("redis://:secret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
    }
}
