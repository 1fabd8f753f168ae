//! The registry records kept in the cache (`crate::registry::cache` holds their rules): the
//! counters `user:count` / `client:count`, the statistics `stat:<metric>`, the app server
//! URL `appserver_url` — and the flush of the whole namespace that `system/reset` starts
//! with.

use std::sync::OnceLock;

use redis::{AsyncCommands, Script};

use super::keys;
use super::{StoreError, SyncStore};

/// The bucket update of docs/rest-api.md §4.5 for a counter series, in one script.
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

fn record_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(RECORD_SCRIPT))
}

/// What a stats metric holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    Series(Vec<String>),
    Text(String),
    Missing,
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

impl SyncStore {
    /// Adds `delta` to the counter `docname` (`user:count`, `client:count`); the new value.
    pub async fn incr_counter(&self, docname: &str, delta: i64) -> Result<i64, StoreError> {
        Ok(self.conn().incr(keys::registry_record(self.keys(), docname), delta).await?)
    }

    /// Records `value` as the bucket starting at `start` of series `metric`, merging into
    /// the newest bucket when it is less than `resolution` old and dropping buckets older
    /// than `retention` seconds.
    pub async fn record_stat(
        &self,
        metric: &str,
        start: i64,
        resolution: i64,
        retention: i64,
        value: i64,
    ) -> Result<(), StoreError> {
        let _: i64 = record_script()
            .key(keys::stat(self.keys(), metric))
            .arg(start)
            .arg(resolution)
            .arg(retention)
            .arg(value)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// Metric names matching a Redis glob, sorted, without the `stat:` prefix.
    pub async fn stat_names(&self, glob: &str) -> Result<Vec<String>, StoreError> {
        let prefix = keys::stats_prefix(self.keys());
        let pattern = format!("{}{glob}", escape_glob(&prefix));
        let mut conn = self.conn();
        let mut names = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            names.extend(batch.into_iter().filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)));
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        // SCAN may return a key more than once.
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Members `start..=finish` of a series (oldest first), or a string metric's value.
    pub async fn stat(&self, metric: &str, start: i64, finish: i64) -> Result<Metric, StoreError> {
        let key = keys::stat(self.keys(), metric);
        let mut conn = self.conn();
        let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut conn).await?;
        Ok(match kind.as_str() {
            "zset" => Metric::Series(conn.zrange(&key, start as isize, finish as isize).await?),
            "string" => Metric::Text(conn.get(&key).await?),
            _ => Metric::Missing,
        })
    }

    /// The stored app server URL.
    pub async fn app_server_url(&self) -> Result<Option<String>, StoreError> {
        Ok(self.conn().get(keys::registry_record(self.keys(), keys::APPSERVER_DOC)).await?)
    }

    /// Stores the app server URL verbatim, or deletes it for `None`.
    pub async fn set_app_server_url(&self, url: Option<&str>) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let key = keys::registry_record(self.keys(), keys::APPSERVER_DOC);
        match url {
            Some(url) => conn.set::<_, _, ()>(key, url).await?,
            None => conn.del::<_, ()>(key).await?,
        }
        Ok(())
    }

    /// Deletes every key of this deployment's namespace (`<ns>:{…}:…`), in SCAN batches so a
    /// large cache never blocks Redis the way `FLUSHDB` or `KEYS` would. Returns the count.
    pub async fn flush_namespace(&self) -> Result<u64, StoreError> {
        let pattern = format!("{}:{{*", escape_glob(self.keys().namespace()));
        let mut conn = self.conn();
        let mut cursor: u64 = 0;
        let mut deleted = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
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
