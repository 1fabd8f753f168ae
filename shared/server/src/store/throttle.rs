//! The login throttle's counters (`crate::auth::throttle` holds the rules): one small
//! integer per (login or source address, window), each under its own hash tag, checked and
//! incremented in one script so that simultaneous attempts cannot all slip under a limit.

use std::sync::OnceLock;

use async_trait::async_trait;
use redis::Script;

use super::keys;
use super::{StoreError, SyncStore};
use crate::auth::throttle::{Bucket, CounterError, ThrottleCounters};

/// Adds one unless the counter holds `ARGV[1]` already; a new counter expires after
/// `ARGV[2]` seconds. Returns 1 when added, 0 when full.
const RESERVE_SCRIPT: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return 0 end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
";

/// Takes one back; a counter at zero (or below: it expired meanwhile) is deleted.
const RELEASE_SCRIPT: &str = r"
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 1
";

fn reserve_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(RESERVE_SCRIPT))
}

fn release_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(RELEASE_SCRIPT))
}

impl SyncStore {
    fn throttle_key(&self, bucket: &Bucket) -> String {
        keys::throttle(self.keys(), bucket.scope.as_str(), &bucket.name, bucket.window_start)
    }

    /// Adds one to `bucket`'s counter unless it holds `limit` already; `true` when added.
    pub async fn throttle_reserve(&self, bucket: &Bucket, limit: u64, ttl_secs: u64) -> Result<bool, StoreError> {
        let added: i64 = reserve_script()
            .key(self.throttle_key(bucket))
            .arg(limit)
            .arg(ttl_secs)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(added == 1)
    }

    /// Takes one back from each counter (one script per counter: each is in its own slot).
    pub async fn throttle_release(&self, buckets: &[Bucket]) -> Result<(), StoreError> {
        for bucket in buckets {
            let _: i64 = release_script().key(self.throttle_key(bucket)).invoke_async(&mut self.conn()).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ThrottleCounters for SyncStore {
    async fn reserve(&self, bucket: &Bucket, limit: u64, ttl_secs: u64) -> Result<bool, CounterError> {
        self.throttle_reserve(bucket, limit, ttl_secs).await.map_err(|e| CounterError(e.to_string()))
    }

    async fn release(&self, buckets: &[Bucket]) -> Result<(), CounterError> {
        self.throttle_release(buckets).await.map_err(|e| CounterError(e.to_string()))
    }
}
