//! The registry-side records RhoConnect kept in its cache and that this port keeps in Redis
//! too, because they are meant to vanish on `system/reset` (rest-api.md §4.3–4.5, §5.1):
//! the counters `user:count` / `client:count`, the app server URL `appserver_url`, and the
//! statistics `stat:<metric>` (auth-and-settings.md §7).
//!
//! [`redis_key`] maps those RhoConnect document names to the real keys, so the store API
//! (`GET /rc/v1/store/user:count`) resolves them to the same place. [`flush_namespace`]
//! is the cache half of `system/reset`.

use redis::AsyncCommands;

use crate::edges::{RedisEdge, RedisError};
use crate::AppState;

/// Hash tag of the small registry records (counters, app server URL).
const RECORDS_TAG: &str = "registry";
/// Hash tag of the statistics.
const STATS_TAG: &str = "stats";
/// The app server URL's RhoConnect name.
pub const APPSERVER_DOC: &str = "appserver_url";
/// Stats bucket size and retention in seconds (auth-and-settings.md §7.3 defaults).
pub const STATS_RESOLUTION: i64 = 60;
pub const STATS_RETENTION: i64 = 44_640;

/// The Redis key of a RhoConnect document name this module owns, else `None`.
pub fn redis_key(redis: &RedisEdge, docname: &str) -> Option<String> {
    match docname {
        "user:count" | "client:count" | APPSERVER_DOC => Some(redis.keys.key(RECORDS_TAG, docname)),
        name if name.starts_with("stat:") => Some(redis.keys.key(STATS_TAG, name)),
        _ => None,
    }
}

fn key(redis: &RedisEdge, docname: &str) -> String {
    redis.keys.key(if docname.starts_with("stat:") { STATS_TAG } else { RECORDS_TAG }, docname)
}

/// Which counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Users,
    Clients,
}

impl Counter {
    fn docname(self) -> &'static str {
        match self {
            Self::Users => "user:count",
            Self::Clients => "client:count",
        }
    }

    /// The stats metric that follows this counter.
    fn metric(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Clients => "clients",
        }
    }
}

/// Adds `delta` to a counter and, when stats are on, records the new value in its series.
pub async fn bump(state: &AppState, counter: Counter, delta: i64) -> Result<i64, RedisError> {
    let mut conn = state.redis.conn();
    let value: i64 = conn.incr(key(&state.redis, counter.docname()), delta).await?;
    if state.config.settings.app.stats {
        record_counter(state, counter.metric(), value).await?;
    }
    Ok(value)
}

/// The bucket update of auth-and-settings.md §7.3 for a counter series, in one script.
const RECORD_SCRIPT: &str = r"
local start = tonumber(ARGV[1])
local resolution = tonumber(ARGV[2])
local retention = tonumber(ARGV[3])
local score = start
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[1] and tonumber(top[2]) > start - resolution then
  redis.call('ZREM', KEYS[1], top[1])
  score = tonumber(top[2])
end
redis.call('ZADD', KEYS[1], score, ARGV[4] .. ':' .. ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', start - retention)
return 1
";

/// Records `value` as the current bucket of counter metric `metric`.
pub async fn record_counter(state: &AppState, metric: &str, value: i64) -> Result<(), RedisError> {
    let now = crate::auth::session::now() as i64;
    let start = now / STATS_RESOLUTION * STATS_RESOLUTION;
    let mut conn = state.redis.conn();
    let _: i64 = redis::Script::new(RECORD_SCRIPT)
        .key(key(&state.redis, &format!("stat:{metric}")))
        .arg(start)
        .arg(STATS_RESOLUTION)
        .arg(STATS_RETENTION)
        .arg(value)
        .invoke_async(&mut conn)
        .await?;
    Ok(())
}

/// What a stats metric holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    Series(Vec<String>),
    Text(String),
    Missing,
}

/// Metric names matching a Redis glob, without the `stat:` prefix.
pub async fn metric_names(state: &AppState, glob: &str) -> Result<Vec<String>, RedisError> {
    let prefix = key(&state.redis, "stat:");
    let pattern = format!("{}{glob}", escape_glob(&prefix));
    let mut conn = state.redis.conn();
    let mut names = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).query_async(&mut conn).await?;
        names.extend(batch.into_iter().filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)));
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Members `start..=finish` of a series (oldest first), or a string metric's value.
pub async fn metric(state: &AppState, name: &str, start: i64, finish: i64) -> Result<Metric, RedisError> {
    let key = key(&state.redis, &format!("stat:{name}"));
    let mut conn = state.redis.conn();
    let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut conn).await?;
    Ok(match kind.as_str() {
        "zset" => Metric::Series(conn.zrange(&key, start as isize, finish as isize).await?),
        "string" => Metric::Text(conn.get(&key).await?),
        _ => Metric::Missing,
    })
}

/// The app server URL set through the API (`None` when unset).
pub async fn appserver_url(state: &AppState) -> Result<Option<String>, RedisError> {
    let mut conn = state.redis.conn();
    Ok(conn.get(key(&state.redis, APPSERVER_DOC)).await?)
}

/// Stores the app server URL verbatim; `None` or `""` clears it.
pub async fn set_appserver_url(state: &AppState, url: Option<&str>) -> Result<(), RedisError> {
    let mut conn = state.redis.conn();
    let key = key(&state.redis, APPSERVER_DOC);
    match url.filter(|u| !u.is_empty()) {
        Some(url) => conn.set::<_, _, ()>(key, url).await?,
        None => conn.del::<_, ()>(key).await?,
    }
    Ok(())
}

/// Escapes Redis glob metacharacters so `text` matches only itself.
fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Deletes every key of this deployment's namespace (`<ns>:{…}:…`), in SCAN batches so a
/// large cache never blocks Redis the way `FLUSHDB` or `KEYS` would. Returns the count.
pub async fn flush_namespace(redis: &RedisEdge) -> Result<u64, RedisError> {
    let pattern = format!("{}:{{*", escape_glob(redis.keys.namespace()));
    let mut conn = redis.conn();
    let mut cursor: u64 = 0;
    let mut deleted = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) =
            redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).query_async(&mut conn).await?;
        if !batch.is_empty() {
            // UNLINK frees memory in the background; one call per batch.
            let n: u64 = redis::cmd("UNLINK").arg(&batch).query_async(&mut conn).await?;
            deleted += n;
        }
        cursor = next;
        if cursor == 0 {
            return Ok(deleted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_metacharacters_are_escaped() {
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(escape_glob("rs-1"), "rs-1");
    }
}
