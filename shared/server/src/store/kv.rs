//! Plain string and hash documents (client records, poll-interval overrides, scratch and
//! store-API documents, read-state fields) and the deletion of whole documents. The
//! callers name the keys through [`super::keys`].

use super::keys::{self, ClientKeys, PartitionKeys};
use super::{StoreError, SyncStore};

/// A pipeline of one `GET` per key.
pub(super) fn gets(keys: &[&str]) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    for k in keys {
        pipe.cmd("GET").arg(*k);
    }
    pipe
}

impl SyncStore {
    /// A string value.
    pub async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(redis::cmd("GET").arg(key).query_async(&mut self.conn()).await?)
    }

    /// Sets (or deletes, for `None`) a string value, with an optional TTL.
    pub async fn set(&self, key: &str, value: Option<&str>, ttl_secs: Option<u64>) -> Result<(), StoreError> {
        let cmd = match value {
            None => {
                let mut c = redis::cmd("DEL");
                c.arg(key);
                c
            }
            Some(v) => {
                let mut c = redis::cmd("SET");
                c.arg(key).arg(v);
                if let Some(ttl) = ttl_secs {
                    c.arg("EX").arg(ttl);
                }
                c
            }
        };
        let _: () = cmd.query_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Replaces the string at `key` with `value` only if it still holds `expected` (`None`:
    /// absent), atomically; `false` when another writer changed it first. A compare-and-set
    /// for documents that several requests rewrite whole (the bench adapters' backends).
    pub async fn set_if(&self, key: &str, expected: Option<&str>, value: &str) -> Result<bool, StoreError> {
        static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
            redis::Script::new(
                "local cur = redis.call('GET', KEYS[1]) \
                 if (ARGV[1] == '1' and cur == ARGV[2]) or (ARGV[1] == '0' and not cur) then \
                   redis.call('SET', KEYS[1], ARGV[3]) return 1 end return 0",
            )
        });
        let mut inv = SCRIPT.key(key);
        inv.arg(if expected.is_some() { "1" } else { "0" }).arg(expected.unwrap_or("")).arg(value);
        let done: i64 = inv.invoke_async(&mut self.conn()).await?;
        Ok(done == 1)
    }

    /// Two string values in one round trip (a pipeline; the keys may live in different slots).
    pub async fn get_two(&self, a: &str, b: &str) -> Result<(Option<String>, Option<String>), StoreError> {
        Ok(redis::pipe().cmd("GET").arg(a).cmd("GET").arg(b).query_async(&mut self.conn()).await?)
    }

    /// String values of keys in any slots, in one round trip (a pipeline of `GET`s).
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, StoreError> {
        Ok(gets(keys).query_async(&mut self.conn()).await?)
    }

    /// Deletes keys of one slot.
    pub async fn del(&self, keys: &[&str]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let _: () = redis::cmd("DEL").arg(keys).query_async(&mut self.conn()).await?;
        Ok(())
    }

    pub async fn hgetall(&self, key: &str) -> Result<Vec<(String, String)>, StoreError> {
        Ok(redis::cmd("HGETALL").arg(key).query_async(&mut self.conn()).await?)
    }

    pub async fn hget(&self, key: &str, field: &str) -> Result<Option<String>, StoreError> {
        Ok(redis::cmd("HGET").arg(key).arg(field).query_async(&mut self.conn()).await?)
    }

    /// Sets (or deletes, for `None`) hash fields.
    pub async fn hset(&self, key: &str, fields: &[(&str, Option<String>)]) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (f, v) in fields {
            match v {
                Some(v) => pipe.cmd("HSET").arg(key).arg(*f).arg(v).ignore(),
                None => pipe.cmd("HDEL").arg(key).arg(*f).ignore(),
            };
        }
        let _: () = pipe.query_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Adds fields to a hash.
    pub async fn hset_many(&self, key: &str, pairs: &[(String, String)]) -> Result<(), StoreError> {
        if pairs.is_empty() {
            return Ok(());
        }
        let _: () = redis::cmd("HSET").arg(key).arg(pairs).query_async(&mut self.conn()).await?;
        Ok(())
    }

    /// Deletes every document of one client for one source (one slot: one `DEL`).
    pub async fn purge_client_docs(&self, ck: &ClientKeys) -> Result<(), StoreError> {
        self.del(&ck.all()).await
    }

    /// Deletes every document of one (source, partition), the clients' documents aside.
    pub async fn purge_partition(&self, pk: &PartitionKeys) -> Result<(), StoreError> {
        self.del(&pk.all()).await
    }

    /// Deletes a client's cached record.
    pub async fn purge_client_record(&self, client_id: &str) -> Result<(), StoreError> {
        self.del(&[keys::client_record(self.keys(), client_id).as_str()]).await
    }
}
