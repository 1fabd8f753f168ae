//! The Redis edge: one multiplexed, auto-reconnecting connection per process and the one
//! place that builds key names.
//!
//! Every key carries a hash tag (`{…}`) naming the unit that multi-key steps touch together
//! — a (partition, source) or a (client, source) — so each Lua script or MULTI touches one
//! slot and the system runs on ElastiCache with cluster mode on (docs/README.md §3 "Where data lives").
//!
//! The URL's scheme picks the connection ([`super::redis_conn::RedisConn`]): `redis://` and
//! `rediss://` reach one node, `redis+cluster://` and `rediss+cluster://` a Redis Cluster
//! through any of its nodes (ElastiCache's configuration endpoint). `rediss` is TLS: the
//! server's certificate is always verified, against the system's roots or, when
//! `REDIS_CA_FILE` names a PEM file, against the CAs in it (docs/configuration.md §2).

use std::path::{Path, PathBuf};
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::cluster::ClusterClientBuilder;

pub use super::redis_conn::{RedisConn, SlotLog, SlotUnit};

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("cannot reach Redis at {url}: {source}")]
    Unreachable { url: String, source: redis::RedisError },
    #[error("Redis at {url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("redis: {0}")]
    Command(#[from] redis::RedisError),
    #[error("cannot read the Redis CA file {path}: {source}")]
    CaFile { path: String, source: std::io::Error },
}

/// How to connect: the timeout of connecting and of each answer, and the CA file that
/// verifies a TLS server (`None`: the system's roots).
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
}

impl ConnectOptions {
    /// `timeout`, and the CA file `REDIS_CA_FILE` names, if any.
    pub fn from_env(timeout: Duration) -> Self {
        let ca_file = std::env::var_os("REDIS_CA_FILE").filter(|v| !v.is_empty()).map(PathBuf::from);
        Self { timeout, ca_file }
    }
}

/// A URL's connection kind and the URL the `redis` crate understands.
fn parse_url(url: &str) -> (bool, String) {
    for (scheme, plain) in [("redis+cluster://", "redis://"), ("rediss+cluster://", "rediss://")] {
        if let Some(rest) = url.strip_prefix(scheme) {
            return (true, format!("{plain}{rest}"));
        }
    }
    (false, url.to_owned())
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
    conn: RedisConn,
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
    /// A TLS server is verified against `REDIS_CA_FILE` when it is set
    /// ([`ConnectOptions::from_env`]).
    pub async fn connect_with(url: &str, namespace: &str, timeout: Duration) -> Result<Self, RedisError> {
        Self::connect_opts(url, namespace, &ConnectOptions::from_env(timeout)).await
    }

    /// [`RedisEdge::connect_with`] with every option explicit.
    pub async fn connect_opts(url: &str, namespace: &str, opts: &ConnectOptions) -> Result<Self, RedisError> {
        let unreachable = |source| RedisError::Unreachable { url: redact(url), source };
        let (cluster, crate_url) = parse_url(url);
        let tls = crate_url.starts_with("rediss://");
        let certs = match (&opts.ca_file, tls) {
            (Some(path), true) => Some(read_ca(path)?),
            _ => None,
        };
        let timeout = opts.timeout;
        let secs = 5;
        let connecting = async {
            if cluster {
                let mut builder = ClusterClientBuilder::new([crate_url.as_str()])
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(1)
                    .max_retry_wait(200);
                if let Some(certs) = certs {
                    builder = builder.certs(certs);
                }
                let client = builder.build()?;
                Ok(RedisConn::Cluster(client.get_async_connection().await?))
            } else {
                let client = match certs {
                    Some(certs) => redis::Client::build_with_tls(crate_url.as_str(), certs)?,
                    None => redis::Client::open(crate_url.as_str())?,
                };
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(200));
                Ok(RedisConn::Single(ConnectionManager::new_with_config(client, config).await?))
            }
        };
        let conn = tokio::time::timeout(Duration::from_secs(secs), connecting)
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
    pub fn conn(&self) -> RedisConn {
        self.conn.clone()
    }

    /// Whether this edge talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
    }

    /// This edge, recording the keys of every script and transaction sent through it into
    /// the returned log (the slot proof of `shared/server/tests/slots.rs`).
    pub fn recording(&self) -> (Self, SlotLog) {
        let log = SlotLog::default();
        (Self { conn: self.conn.clone().recorded(log.clone()), keys: self.keys.clone() }, log)
    }

    pub async fn ping(&self) -> Result<(), RedisError> {
        let mut conn = self.conn();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}

/// The CAs of a PEM file, for verifying a TLS server.
fn read_ca(path: &Path) -> Result<redis::TlsCertificates, RedisError> {
    let pem = std::fs::read(path).map_err(|source| RedisError::CaFile { path: path.display().to_string(), source })?;
    Ok(redis::TlsCertificates { client_tls: None, root_cert: Some(pem) })
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
    fn the_scheme_picks_single_node_or_cluster() {
        assert_eq!(parse_url("redis://h:6379"), (false, "redis://h:6379".to_owned()));
        assert_eq!(parse_url("rediss://h:6379"), (false, "rediss://h:6379".to_owned()));
        assert_eq!(parse_url("redis+cluster://h:7000"), (true, "redis://h:7000".to_owned()));
        assert_eq!(parse_url("rediss+cluster://:pw@h:6379"), (true, "rediss://:pw@h:6379".to_owned()));
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("redis://:secret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
    }
}
