//! The registry records kept in the cache (`crate::registry::cache` holds their rules): the
//! counters `user:count` / `client:count`, the statistics `stat:<metric>`, the app server
//! URL `appserver_url` — and the flush of the whole namespace that `system/reset` starts
//! with. Every `SCAN` here goes through [`crate::edges::RedisConn::scan_step`], which walks
//! every master of a cluster.

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

/// One average series' update of a statistics flush (`crate::stats`): applied only if the
/// series' newest member is still `expected` (`None`: the series is empty), so concurrent
/// flushes of many processes never lose a sample — the loser reads again and retries.
#[derive(Debug, Clone, PartialEq)]
pub struct StatWrite {
    pub metric: String,
    pub expected: Option<String>,
    /// Members to remove (the merged top).
    pub remove: Vec<String>,
    /// (score, member) to add, in order.
    pub add: Vec<(i64, String)>,
    /// Members with a score at or below this are dropped (retention).
    pub prune_upto: i64,
}

/// The compare-and-set of [`StatWrite`]s, one script over the `stats` tag's keys (one slot).
const STAT_WRITE_SCRIPT: &str = r"
local conflicts = {}
local a = 1
for i, key in ipairs(KEYS) do
  local expected = ARGV[a]
  local nrem = tonumber(ARGV[a + 1])
  local top = redis.call('ZRANGE', key, -1, -1)
  local cur = top[1] and ('=' .. top[1]) or '-'
  a = a + 2
  if cur ~= expected then
    conflicts[#conflicts + 1] = i
    a = a + nrem
    a = a + 1 + 2 * tonumber(ARGV[a]) + 1
  else
    for j = 1, nrem do
      redis.call('ZREM', key, ARGV[a])
      a = a + 1
    end
    local nadd = tonumber(ARGV[a])
    a = a + 1
    for j = 1, nadd do
      redis.call('ZADD', key, ARGV[a], ARGV[a + 1])
      a = a + 2
    end
    redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[a])
    a = a + 1
  end
end
return conflicts
";

fn stat_write_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(STAT_WRITE_SCRIPT))
}

/// What a stats metric holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    Series(Vec<String>),
    Text(String),
    Missing,
}

pub use super::keys::escape_glob;

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

    /// The newest member and its score of each series `metrics` (one pipeline).
    pub async fn stat_tops(&self, metrics: &[String]) -> Result<Vec<Option<(String, i64)>>, StoreError> {
        if metrics.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for m in metrics {
            pipe.cmd("ZRANGE").arg(keys::stat(self.keys(), m)).arg(-1).arg(-1).arg("WITHSCORES");
        }
        let tops: Vec<Vec<(String, f64)>> = pipe.query_async(&mut self.conn()).await?;
        Ok(tops.into_iter().map(|mut t| t.pop().map(|(m, s)| (m, s as i64))).collect())
    }

    /// Applies `writes` in one script; the indices (into `writes`) of those whose series
    /// changed since it was read, which were left alone.
    pub async fn stat_write(&self, writes: &[StatWrite]) -> Result<Vec<usize>, StoreError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = stat_write_script().prepare_invoke();
        for w in writes {
            inv.key(keys::stat(self.keys(), &w.metric));
            inv.arg(w.expected.as_ref().map_or_else(|| "-".to_owned(), |m| format!("={m}")));
            inv.arg(w.remove.len());
            for m in &w.remove {
                inv.arg(m);
            }
            inv.arg(w.add.len());
            for (score, m) in &w.add {
                inv.arg(*score).arg(m);
            }
            inv.arg(w.prune_upto);
        }
        let conflicts: Vec<usize> = inv.invoke_async(&mut self.conn()).await?;
        Ok(conflicts.into_iter().filter_map(|i| i.checked_sub(1)).collect())
    }

    /// Metric names matching a Redis glob, sorted, without the `stat:` prefix.
    pub async fn stat_names(&self, glob: &str) -> Result<Vec<String>, StoreError> {
        let prefix = keys::stats_prefix(self.keys());
        let pattern = format!("{}{glob}", escape_glob(&prefix));
        let mut conn = self.conn();
        let mut names = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch) = conn.scan_step(cursor, &pattern, 1000).await?;
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

    /// One `SCAN cursor MATCH pattern COUNT count` step: the next cursor (0 at the end) and
    /// the keys of this step (a key may come twice over a whole walk). On a cluster the
    /// walk visits every master in turn ([`crate::edges::RedisConn::scan_step`]).
    pub async fn scan_keys(&self, cursor: u64, pattern: &str, count: usize) -> Result<(u64, Vec<String>), StoreError> {
        Ok(self.conn().scan_step(cursor, pattern, count).await?)
    }

    /// Pushes `value` at the head of list `key` and keeps its first `cap` entries (atomic).
    pub async fn push_capped(&self, key: &str, value: &str, cap: usize) -> Result<(), StoreError> {
        let _: () = redis::pipe()
            .atomic()
            .cmd("LPUSH")
            .arg(key)
            .arg(value)
            .ignore()
            .cmd("LTRIM")
            .arg(key)
            .arg(0)
            .arg(cap.saturating_sub(1))
            .ignore()
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// The entries of list `key`, head first.
    pub async fn list(&self, key: &str) -> Result<Vec<String>, StoreError> {
        Ok(redis::cmd("LRANGE").arg(key).arg(0).arg(-1).query_async(&mut self.conn()).await?)
    }

    /// Deletes `key` and says whether it existed (atomic: of two callers, one gets `true`).
    pub async fn take_key(&self, key: &str) -> Result<bool, StoreError> {
        let n: i64 = redis::cmd("DEL").arg(key).query_async(&mut self.conn()).await?;
        Ok(n > 0)
    }

    /// Deletes hash fields; how many existed.
    pub async fn hdel(&self, key: &str, fields: &[String]) -> Result<u64, StoreError> {
        if fields.is_empty() {
            return Ok(0);
        }
        Ok(redis::cmd("HDEL").arg(key).arg(fields).query_async(&mut self.conn()).await?)
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
            let (next, batch) = conn.scan_step(cursor, &pattern, 1000).await?;
            if !batch.is_empty() {
                // UNLINK frees memory in the background; one call per batch (on a cluster
                // the client splits it by slot: the keys of one batch come from one master).
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
